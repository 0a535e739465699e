"""The state a Monitor keeps: one place for every attribute its parts share.

``Monitor`` (``engine/monitor.py``) is assembled from parts named for what they do:
``Collectors`` (the probe, scrape and host loops), ``Evaluation`` (the tick), and
``Recorder`` (history, the store, the session log). They all work on the state set up
here, so a newcomer finds every attribute, with its meaning, in this one file.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from wsmon_tui.config import Config
from wsmon_tui.engine.exporter import ProbeMetrics
from wsmon_tui.engine.hold import HoldConnection
from wsmon_tui.engine.promapi import PrometheusSource
from wsmon_tui.engine.readmodel import HISTORY_POINTS
from wsmon_tui.engine.resources import ResourceSampler
from wsmon_tui.engine.schedule import Grid
from wsmon_tui.engine.scoring import Baseline
from wsmon_tui.engine.scrape import Scraper, ScrapeResult
from wsmon_tui.engine.series import EngineWindows, SeriesBook
from wsmon_tui.engine.stages import Stages
from wsmon_tui.engine.state import TargetState
from wsmon_tui.engine.wake import SleepWatch
from wsmon_tui.levels import LEVELS, evaluation_window
from wsmon_tui.model import ProbeResult, ResourceView, Snapshot

SnapshotHook = Callable[[Snapshot], Awaitable[Snapshot]]
"""Later refinements of each snapshot before it is published (the CLI's rollback watch)."""


class MonitorBase:
    """The Monitor's state (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        store: Any | None = None,
        *,
        state_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        stages: bool = True,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
    ) -> None:
        self.config = config
        self.store = store
        self.state_dir = state_dir
        self.clock = clock
        self.level = LEVELS[config.monitor.level]
        self.interval = config.interval
        self.window = evaluation_window(self.level.window, self.interval)
        """Rates and percentiles are judged over the last ten probe intervals (at most the
        level's window): long enough to smooth one bad probe, short enough that health
        recovers within a rollback's verify window."""
        self.tick_period = min(max(self.interval, 1.0), 5.0)
        """Seconds between snapshots: once per probe interval (at most 5 s, at least 1 s)."""
        self.session_id = ""
        self.session_started = 0.0
        self.tick = 0
        self.latest: Snapshot | None = None
        self.samples = SeriesBook(capacity=self._series_capacity())
        """Raw per-probe ``handshake_ms`` and ``rtt_ms``: collector state the read model reads."""
        self.history = SeriesBook(capacity=self._series_capacity())
        """The read model's values of each tick (appended by ``_record``, never read back into
        the record itself): what rule windows and sparklines read."""
        self.windows = EngineWindows(self.samples, self.history)
        self.probe_metrics = ProbeMetrics(config.deployment.name, config.monitor.site)
        self.metrics_port = metrics_port
        """Serve wsmon's own view as Prometheus text at this port (0: any free one)."""
        self.metrics_host = metrics_host
        """The address ``/metrics`` binds: the loopback unless ``--metrics-port HOST:PORT`` says."""
        self.metrics_server: Any = None
        """The running ``/metrics`` server (its ``port`` is the bound one)."""
        self.hooks: list[SnapshotHook] = []
        self.read_only = False
        self.lease: Any | None = None
        """The engine lease (``store/lease.py``) when this engine may act for the state dir: given
        by the host that waited for it, else taken at session start. Only its holder evaluates
        alerts, notifies, rolls back and throttles."""
        self.acting = True
        """False when another engine holds the lease (this one watches) or this one lost it."""
        self._lease_lost = ""
        self._lease_task: asyncio.Task[None] | None = None
        """Set when a renewal found another holder: the tick says so, then the session ends."""
        self.alert_engine: Any | None = None
        """The alert lifecycle stage, when alerting is configured for this run."""
        self.rollback_controller: Any | None = None
        self._with_stages = stages
        self.stages: Stages | None = None
        """Alerting, delivery and rollback (``stages=False`` runs collection alone)."""
        self._subscribers: list[Callable[[Snapshot], None]] = []
        self._states = {
            t.name: TargetState(t, deque(maxlen=self._recent_cap())) for t in config.targets
        }
        self._holds: dict[str, HoldConnection] = {}
        self._http: httpx.AsyncClient | None = None
        """One shared keep-alive client (a new client per scrape costs ~7x the CPU)."""
        self._scraper: Scraper | None = None
        self._scrape_results: dict[str, ScrapeResult] = {}
        """Latest result per metrics_url (targets sharing a URL share one scrape)."""
        self._prom_source: PrometheusSource | None = None
        self._prom_result: ScrapeResult | None = None
        self._resources = ResourceSampler(config.resources)
        self._resource_view: ResourceView | None = None
        self._baseline = Baseline(config.baseline.window, config.baseline.ratio)
        self._semaphore = asyncio.Semaphore(max(1, config.monitor.max_concurrency))
        self._stop = asyncio.Event()
        self._stop_reason = "duration"
        self._tasks: list[asyncio.Task[None]] = []
        self._last_sampled = 0.0
        self._log_file: Any = None
        self._notes: list[str] = []
        self._probes_in_flight = 0
        self._probes_idle = asyncio.Event()
        self._probes_idle.set()
        self._grid = Grid(time.monotonic())
        """Replaced when the session starts; every loop schedules on it."""
        self._waves = 1
        self._wake: asyncio.Future[None] | None = None
        """The tick's sleep (``request_stop`` ends it)."""
        self._resources_next = 0
        """Index on the interval grid of the next host sample taken on the tick."""
        self._sleep = SleepWatch(self.tick_period, self.interval, clock)
        """Notices a tick that came far too late: the machine slept (``engine/wake.py``)."""
        self._fresh_since = float("-inf")
        """Wall time inside the last sleep: windows start after it, probes started before it are
        dropped (they straddle the sleep)."""
        self._judge_from = float("-inf")
        """No rule is judged before this wall time: a probe interval of evidence after a sleep."""
        self._gap_note = ""
        self._unsaved_probes: list[ProbeResult] = []
        self._recorded: tuple[str, ...] | None = None
        """The metrics ``_record`` keeps in the history (known once the alert rules are)."""
        self._hold_drops_stored: dict[str, float] = {}
        """Per target, the time of the last held-connection drop written as an event."""
        self._statuses_stored: dict[str, str] = {}
        """Per target ("" for the fleet), the status last written as a ``status`` event."""
        self._pictures_stored: dict[str, Any] = {}
        """The alerts and the rollback as last written as ``alerts`` and ``rollback`` events (what
        a change is judged against; ``Recorder._store_pictures``)."""
        self.schedule_lag: deque[float] = deque(maxlen=4096)
        """Seconds each probe started after its slot, the last 4096 (for the benchmark's lag
        figures; at 10 probes a second a longer window only grew memory for half an hour)."""

    def _series_capacity(self) -> int:
        """Points per series: enough for the longest window judged, at the tick rate.

        Memory is targets x metrics x capacity x 16 bytes, so this is sized, not defaulted.
        """
        longest = max([self.window, *(r.window or 0 for r in self.config.alerts.rules)])
        points = int(2 * longest / self.tick_period) + HISTORY_POINTS
        return min(max(points, 128), 4096)

    def _recent_cap(self) -> int:
        per_window = int(self.window / max(self.interval, 0.1)) + 5
        return min(max(per_window * 2, 32), 4096)

    # What one part calls on another: declared for the type checker only, implemented by the part
    # named (Monitor combines the parts; nothing here runs).
    if TYPE_CHECKING:

        def _log(self, event: str, **data: Any) -> None:
            """Write an event to the session log (``Recorder``)."""
            ...

        def _sample_resources(self) -> None:
            """Host and process figures on the tick, once per interval (``Collectors``)."""
            ...

        def _wake_check(self) -> None:
            """Notice a sleep since the last check, first thing after it (``Evaluation``)."""
            ...

        def _record(self, record: Snapshot) -> None:
            """Append the record's values to the history (``Recorder``)."""
            ...

        def request_stop(self, reason: str = "user") -> None:
            """Stop after the current tick (``Monitor``)."""
            ...

        def _kick_lease(self) -> None:
            """Renew the engine lease in the background, never delaying the tick (``Monitor``)."""
            ...

        def _persist(self, snap: Snapshot) -> None:
            """Hand the tick's rows to the store (``Recorder``)."""
            ...
