"""The metrics view: plotext charts over 5 m (memory) or 1 h / 6 h / 24 h (the store).

The points come from the engine through the seam (``EngineLink.metric_ranges``) on a
worker: the screen paints what it has, asks for what it needs, and paints again when
the answer arrives. Nothing here touches the store or the engine's series.
"""

from __future__ import annotations

import math
import time
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from wsmon_tui.model import ERROR_CLASSES, Snapshot
from wsmon_tui.seam import Points, RangeRequest
from wsmon_tui.tui.screens.base import ViewScreen
from wsmon_tui.tui.widgets.charts import Chart, ChartData, Line, relative_minutes

RANGES = (("5m", 300.0), ("1h", 3600.0), ("6h", 21600.0), ("24h", 86400.0))
MAX_LINES = 6
STORE_REFETCH_S = 15.0
"""Store-backed ranges are re-read at most this often (the store holds minute rollups)."""
MEMORY_REFETCH_S = 1.0
"""The 5 m range is re-read at most this often."""
CHARTS = ("handshake", "rtt", "throughput", "errors", "connections", "adoption", "resources")


class MetricsScreen(ViewScreen):
    MODE = "metrics"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right_square_bracket", "range(1)", "Longer range", id="metrics.longer",
                tooltip="Next chart range: 5m, 1h, 6h, 24h"),
        Binding("left_square_bracket", "range(-1)", "Shorter range", id="metrics.shorter",
                tooltip="Previous chart range"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.range_index = 0
        self._points_cache: dict[tuple[str, str, str], Points] = {}
        """(range, target, metric) -> the points last answered by the engine."""
        self._fetched: dict[str, float] = {}
        """When each range was last asked for (monotonic)."""
        self._wanted: set[tuple[str, str]] = set()

    @property
    def range_name(self) -> str:
        return RANGES[self.range_index][0]

    def compose_body(self) -> ComposeResult:
        yield Static("", id="range-line")
        with VerticalScroll(id="metrics-body"), Grid(id="charts"):
            for key in CHARTS:
                yield Chart(id=f"chart-{key}")

    def on_resize(self) -> None:
        self.query_one("#charts", Grid).styles.grid_size_columns = 2 if self.size.width >= 100 else 1

    def action_range(self, step: int) -> None:
        self.range_index = (self.range_index + step) % len(RANGES)
        self.paint(force=True)

    def _points(self, target: str, metric: str, now: float) -> Points:
        self._wanted.add((target, metric))
        return self._points_cache.get((self.range_name, target, metric), [])

    def _fetch(self, now: float) -> None:
        """Ask the engine for the range's points when they are due (answers repaint the charts)."""
        name, span = RANGES[self.range_index]
        wanted = sorted(self._wanted)
        if not wanted:
            return
        due = MEMORY_REFETCH_S if name == "5m" else STORE_REFETCH_S
        fetched = self._fetched.get(name)
        clock = time.monotonic()
        known = all((name, t, m) in self._points_cache for t, m in wanted)
        if known and fetched is not None and clock - fetched < due:
            return
        self._fetched[name] = clock
        # the live range runs up to whatever the engine holds; older ranges end at the snapshot
        until = math.inf if name == "5m" else now
        self._load(name, [RangeRequest(t, m) for t, m in wanted], now - span, until)

    @work(group="metrics-range", exclusive=True, exit_on_error=False, description="chart ranges")
    async def _load(self, name: str, wanted: list[RangeRequest], since: float, until: float) -> None:
        answer = await self.wsmon.engine.metric_ranges(wanted, since, until)
        for req, points in answer.items():
            self._points_cache[(name, req.target, req.metric)] = points
        if name == self.range_name:
            self.paint(force=True)

    def _lines(self, targets: list[tuple[str, str]], metric: str, now: float,
               scale: float = 1.0) -> tuple[Line, ...]:
        lines = []
        for label, target in targets[:MAX_LINES]:
            xs, ys = relative_minutes(self._points(target, metric, now), now)
            if scale != 1.0:
                ys = tuple(v * scale for v in ys)
            lines.append(Line(label, xs, ys))
        return tuple(lines)

    def chart_data(self, snapshot: Snapshot, now: float) -> dict[str, ChartData]:
        targets = [(t.name, t.name) for t in snapshot.targets]
        fleet = [("fleet", "")]
        xl = "minutes ago"
        errors: dict[str, float] = dict.fromkeys(ERROR_CLASSES, 0.0)
        for t in snapshot.targets:
            for cls, n in t.errors.items():
                errors[cls] = errors.get(cls, 0.0) + n
        rollout = snapshot.deployment.rollout_percent
        adoption = self._lines([("adoption %", "")], "adoption", now, scale=100.0)
        if rollout is not None and adoption and adoption[0].xs:
            xs = adoption[0].xs
            adoption = (*adoption, Line("rollout %", (xs[0], xs[-1]), (rollout, rollout)))
        return {
            "handshake": ChartData("Handshake p95 (ms)", self._lines(targets, "handshake_p95", now),
                                   xlabel=xl),
            "rtt": ChartData("Round-trip p95 (ms)", self._lines(targets, "rtt_p95", now), xlabel=xl),
            "throughput": ChartData("Messages/s", self._lines(fleet, "messages_per_s", now), xlabel=xl),
            "errors": ChartData("Errors by class (session)",
                                bars=tuple((k, v) for k, v in errors.items() if v),
                                empty_text="no errors"),
            "connections": ChartData("Connections", self._lines(fleet, "connections", now), xlabel=xl),
            "adoption": ChartData("Adoption and rollout (%)", adoption, xlabel=xl),
            "resources": ChartData("Host CPU and memory (%)",
                                   self._lines([("cpu %", "")], "cpu_percent", now)
                                   + self._lines([("mem %", "")], "memory_percent", now), xlabel=xl),
        }

    def show(self, snapshot: Snapshot) -> None:
        now = snapshot.taken_at
        name = self.range_name
        source = "memory" if name == "5m" else "the store"
        self.set_text("#range-line", Content.assemble(
            ("Range ", "bold"), *[((f"[{n}]" if n == name else f" {n} ") + " ",
                                   "bold $primary" if n == name else "$text-muted") for n, _ in RANGES],
            (f" from {source}   [ ] change range", "$text-muted")))
        self._wanted.clear()
        data = self.chart_data(snapshot, now)
        for key, chart_data in data.items():
            self.query_one(f"#chart-{key}", Chart).show(chart_data)
        self._fetch(now)
