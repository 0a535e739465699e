"""The metrics view: plotext charts over 5 m (memory) or 1 h / 6 h / 24 h (the store).

The points come from the engine through the seam (``EngineLink.metric_ranges``) on a
worker: the screen paints what it has, asks for what it needs, and paints again when
the answer arrives. Nothing here touches the store or the engine's series. What each
chart shows is decided by ``tui/metrics_charts.py`` (pure); this screen lays the charts
out, keeps the range and the per-target metric, and says what the markers are.
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

from wsmon_tui.model import Snapshot
from wsmon_tui.seam import Points, RangeRequest
from wsmon_tui.tui.chartmodel import time_axis
from wsmon_tui.tui.incident import events_line
from wsmon_tui.tui.metrics_charts import FLEET_CHARTS, SMALL, TARGET_METRICS, MetricsPlan, rest_summary
from wsmon_tui.tui.screens.base import ViewScreen
from wsmon_tui.tui.widgets.charts import Chart

RANGES = (("5m", 300.0), ("1h", 3600.0), ("6h", 21600.0), ("24h", 86400.0))
STORE_REFETCH_S = 15.0
"""Store-backed ranges are re-read at most this often (the store holds minute rollups)."""
MEMORY_REFETCH_S = 1.0
"""The 5 m range is re-read at most this often."""
ROLE_STYLE = {"marker-alert": "bold $text-error", "marker-rollback": "bold $text-accent",
              "marker-verifying": "bold $text-warning", "marker-verified": "bold $text-success",
              "marker-failed": "bold $text-error", "muted": "$text-muted"}


class MetricsScreen(ViewScreen):
    MODE = "metrics"
    DEFAULT_CSS = """
    #events-line, #targets-line, #targets-rest { height: auto; padding: 0 1; }
    #targets-rest { color: $text-muted; margin-bottom: 1; }
    #target-charts { grid-size: 2; grid-gutter: 0 1; grid-rows: 10; height: auto; }
    #target-charts > Chart { height: 10; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right_square_bracket", "range(1)", "Longer range", id="metrics.longer",
                tooltip="Next chart range: 5m, 1h, 6h, 24h"),
        Binding("left_square_bracket", "range(-1)", "Shorter range", id="metrics.shorter",
                tooltip="Previous chart range"),
        Binding("m", "target_metric", "Target metric", id="metrics.metric",
                tooltip="Per-target charts: handshake p95, round-trip p95, error rate"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.range_index = 0
        self.metric_index = 0
        """Which of ``TARGET_METRICS`` the small chart per target shows."""
        self._points_cache: dict[tuple[str, str, str], Points] = {}
        """(range, target, metric) -> the points last answered by the engine."""
        self._fetched: dict[str, float] = {}
        """When each range was last asked for (monotonic)."""
        self._wanted: set[tuple[str, str]] = set()
        self._small: list[Chart] = []

    @property
    def range_name(self) -> str:
        return RANGES[self.range_index][0]

    def compose_body(self) -> ComposeResult:
        yield Static("", id="range-line")
        yield Static("", id="events-line")
        with VerticalScroll(id="metrics-body"):
            yield Static("", id="targets-line")
            with Grid(id="target-charts"):
                for i in range(SMALL):
                    yield Chart(id=f"chart-target-{i}", classes="chart small-chart")
            yield Static("", id="targets-rest")
            with Grid(id="charts"):
                for key in FLEET_CHARTS:
                    yield Chart(id=f"chart-{key}")

    def on_resize(self) -> None:
        width = self.size.width
        self.query_one("#charts", Grid).styles.grid_size_columns = 2 if width >= 100 else 1
        self.query_one("#target-charts", Grid).styles.grid_size_columns = \
            3 if width >= 150 else 2 if width >= 90 else 1

    def action_range(self, step: int) -> None:
        self.range_index = (self.range_index + step) % len(RANGES)
        self.paint(force=True)

    def action_target_metric(self) -> None:
        self.metric_index = (self.metric_index + 1) % len(TARGET_METRICS)
        self.paint(force=True)

    def _points(self, target: str, metric: str) -> Points:
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

    def plan(self, snapshot: Snapshot) -> MetricsPlan:
        """What this paint plots (the points it reads are asked for by ``_fetch``)."""
        app = self.wsmon
        return MetricsPlan(snapshot, time_axis(RANGES[self.range_index][1], snapshot.taken_at), self._points,
                           app.thresholds, app.incident.events(snapshot))

    def show(self, snapshot: Snapshot) -> None:
        now = snapshot.taken_at
        name = self.range_name
        source = "memory" if name == "5m" else "the store"
        plan = self.plan(snapshot)
        self.set_text("#range-line", Content.assemble(
            ("Range ", "bold"), *[((f"[{n}]" if n == name else f" {n} ") + " ",
                                   "bold $primary" if n == name else "$text-muted") for n, _ in RANGES],
            (f" from {source}, x in {plan.axis.axis.label}   [ ] change range   m target metric",
             "$text-muted")))
        marks = events_line(plan.events, now)
        self.set_text("#events-line", Content.assemble(
            ("Markers  ", "bold"), *[(text, ROLE_STYLE.get(role, "")) for text, role in marks]))
        self._wanted.clear()
        tm = TARGET_METRICS[self.metric_index]
        shown, rest = plan.targets(tm)
        total = len(snapshot.targets)
        self.set_text("#targets-line", Content.assemble(
            ("Per target  ", "bold"), f"{tm.title} ({tm.unit})",
            (f"   {'worst ' if rest else ''}{len(shown)} of {total}, worst first   m: next metric",
             "$text-muted")))
        if not self._small:
            self._small = [self.query_one(f"#chart-target-{i}", Chart) for i in range(SMALL)]
        for chart, spec in zip(self._small, plan.target_charts(tm, shown), strict=False):
            chart.show(spec)
        for i, chart in enumerate(self._small):
            if chart.display != (i < len(shown)):
                chart.display = i < len(shown)
        summary = rest_summary(rest, tm)
        self.set_text("#targets-rest", Content(summary))
        rest_line = self.query_one("#targets-rest", Static)
        if rest_line.display != bool(summary):
            rest_line.display = bool(summary)
        for key, spec in plan.fleet_charts().items():
            self.query_one(f"#chart-{key}", Chart).show(spec)
        self._fetch(now)
