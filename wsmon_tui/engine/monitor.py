"""The Monitor: one async engine that the headless command and the TUI both run.

It owns the collectors (probes, scrapes, the Prometheus source, resources), the
in-memory series, the scores and the store, and publishes an immutable ``Snapshot``
every tick. Faces subscribe to snapshots and call methods back; they never open
sockets of their own.

Scheduling: every target has its own probe loop. A target's next probe starts only
after its last one ended (or timed out); a slot missed because the last probe ran
long is counted as an overrun, never stacked. A semaphore bounds the probes in flight
(``max_concurrency``).

Everything runs on one clock grid (``Grid``): probes go out in *waves* of at most
``max_concurrency`` targets, the waves spread evenly over the interval, and the tick
(snapshot), resource sampling and scrapes fall on the same instants as the first wave.
Timers due at the same instant fire in one turn of the event loop, and each wake-up
of an idle process is what costs most CPU at small target counts (on a VM, more than
the probe itself): 10 targets at 1 s spread over the second cost ~4x the CPU of the
same probes sent together (benchmarks/bench_tui.py measures it).

Within a wave, targets on the same endpoint (scheme, host and port) form *chains* of
at most ``CHAIN_MAX``: each probe starts when the one before it has completed its
handshake, so wsmon never sends one server a burst of simultaneous handshakes and then
reports its own burst as handshake latency (10 at once against a small server read
~10x the handshake p50 of one at a time), while the rest of each probe (message, close)
overlaps the next handshake, which keeps the wake-ups shared. Distinct endpoints and
chains run concurrently. A handshake that is slow to complete holds its chain for at
most ``CHAIN_STAGGER`` (a dead host must not delay the healthy targets behind it by N
timeouts). With one wave the tick waits briefly for
its probes (``SETTLE_MAX``), so a snapshot shows the probes of its own instant and the
repaint rides on the same wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import getpass
import hashlib
import json
import logging
import math
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import httpx

from wsmon_tui.alerts.db import prune_alerts
from wsmon_tui.config import Config, TargetConfig
from wsmon_tui.engine.exporter import ProbeMetrics
from wsmon_tui.engine.hold import HoldConnection
from wsmon_tui.engine.probe import probe_once, ssl_context_for
from wsmon_tui.engine.promapi import PrometheusSource
from wsmon_tui.engine.readmodel import HISTORY_POINTS, TargetInputs, read_fleet, read_target
from wsmon_tui.engine.resources import ResourceSampler
from wsmon_tui.engine.scoring import Baseline, overall
from wsmon_tui.engine.scrape import Scraper, ScrapeResult, make_client
from wsmon_tui.engine.series import EngineWindows, SeriesBook
from wsmon_tui.engine.stages import Stages
from wsmon_tui.engine.state import TargetState
from wsmon_tui.errors import ReadOnlyError, WsmonError
from wsmon_tui.levels import LEVELS
from wsmon_tui.metrics import STORED_METRICS
from wsmon_tui.model import (
    DeploymentView,
    ProbeResult,
    ResourceView,
    Snapshot,
    Status,
)
from wsmon_tui.redact import redact_text, redact_url
from wsmon_tui.seam import RuleInfo

log = logging.getLogger(__name__)

SnapshotHook = Callable[[Snapshot], Awaitable[Snapshot]]
"""Later stages (alerting, rollback) refine each snapshot before it is published."""

CLEANUP_EVERY = 3600.0
"""Seconds between store cleanups (rollups and retention) while a session runs."""
SETTLE_MAX = 0.5
"""Longest a tick waits (seconds, and at most half a tick) for the probes of its own instant."""
CHAIN_MAX = 10
"""Most targets of one endpoint probed one after another in a wave (more form parallel chains)."""
CHAIN_STAGGER = 0.1
"""Longest a chain waits for a probe before starting the next one (seconds)."""


class Grid:
    """Instants on the event loop's clock: ``origin + offset + k * period``.

    Every loop computes its instants with the same formula, so timers meant to coincide
    are equal floats and fire in one turn of the event loop (``asyncio.sleep`` adds the
    delay to the time it is called at, which scatters them).
    """

    def __init__(self, origin: float) -> None:
        self.origin = origin

    def at(self, k: int, period: float, offset: float = 0.0) -> float:
        return self.origin + offset + k * period

    @staticmethod
    def next_index(now: float, origin: float, period: float) -> int:
        """The first k whose instant ``origin + k * period`` is not before ``now``."""
        return max(0, math.ceil((now - origin) / period - 1e-9))


async def sleep_until(when: float, fut: asyncio.Future[None] | None = None) -> None:
    """Sleep until loop time ``when`` (exactly, see ``Grid``); resolving ``fut`` ends it early."""
    loop = asyncio.get_running_loop()
    if when <= loop.time():
        return
    fut = loop.create_future() if fut is None else fut
    handle = loop.call_at(when, _resolve, fut)
    try:
        await fut
    finally:
        handle.cancel()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def wave_offsets(count: int, interval: float, per_wave: int) -> list[float]:
    """Start offset of each of ``count`` targets: waves of at most ``per_wave``, spread evenly."""
    if count <= 0:
        return []
    waves = math.ceil(count / max(per_wave, 1))
    size = math.ceil(count / waves)  # balanced: 250 targets at 100 a wave -> 84, 83, 83
    return [interval * (i // size) / waves for i in range(count)]


def endpoint_key(url: str) -> str:
    """``scheme://host:port`` of a target URL (the URL itself when it does not parse)."""
    try:
        parts = urlsplit(url)
        default = 443 if parts.scheme.lower() == "wss" else 80
        return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{parts.port or default}"
    except ValueError:
        return url


def plan_chains(targets: list[TargetConfig], interval: float, per_wave: int,
                chain_max: int = CHAIN_MAX) -> list[tuple[float, list[TargetConfig]]]:
    """(offset, targets probed one after another) for every chain, in config order."""
    groups: dict[tuple[float, str], list[TargetConfig]] = {}
    for target, offset in zip(targets, wave_offsets(len(targets), interval, per_wave), strict=True):
        groups.setdefault((offset, endpoint_key(target.url)), []).append(target)
    chains: list[tuple[float, list[TargetConfig]]] = []
    for (offset, _), members in groups.items():
        parts = math.ceil(len(members) / max(chain_max, 1))
        chains += [(offset, members[i::parts]) for i in range(parts)]
    return chains


def config_digest(config: Config) -> str:
    """A short digest of the config file's bytes (or of the built-in defaults)."""
    data = b"defaults"
    if config.source:
        with contextlib.suppress(OSError):
            data = Path(config.source).read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


class Monitor:
    """Runs the collection loop and publishes snapshots.

    ``store`` may be None (tests, or a store that cannot be opened: probing goes on in
    memory and the snapshot's notes say what is not stored).
    """

    def __init__(
        self,
        config: Config,
        store: Any | None = None,
        *,
        state_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        stages: bool = True,
    ) -> None:
        self.config = config
        self.store = store
        self.state_dir = state_dir
        self.clock = clock
        self.level = LEVELS[config.monitor.level]
        self.interval = config.interval
        self.window = max(min(self.level.window, self.interval * 10), self.interval * 3)
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
        self.probe_metrics = ProbeMetrics()
        self.hooks: list[SnapshotHook] = []
        self.read_only = False
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
        self._resources_due = 0.0
        self._unsaved_probes: list[ProbeResult] = []
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

    # -- subscription and commands -------------------------------------------------

    def subscribe(self, callback: Callable[[Snapshot], None]) -> None:
        """Call ``callback`` with every snapshot (on the engine's loop)."""
        self._subscribers.append(callback)

    def request_stop(self, reason: str = "user") -> None:
        """Stop after the current tick; ``reason`` is recorded as how the session ended."""
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()
            if self._wake is not None:
                _resolve(self._wake)
            self._probes_idle.set()  # a tick waiting for its probes (_settle) stops waiting

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def refresh_now(self) -> Snapshot:
        """Build and publish a snapshot immediately (the TUI's `r`)."""
        return await self._publish()

    # Commands from the faces. Each is recorded in the store with who and when by the
    # stage that owns it; ``read_only`` refuses them all.

    def _require(self, stage: Any, what: str) -> Any:
        if self.read_only:
            raise ReadOnlyError(f"this session is read-only: {what} is not allowed")
        if stage is None:
            raise WsmonError(f"{what} is not available in this session")
        return stage

    async def acknowledge(self, alert_id: str, user: str, comment: str = "") -> Any:
        engine = self._require(self.alert_engine, "acknowledging alerts")
        view = engine.acknowledge(alert_id, user, comment)
        self._log("acknowledged", alert_id=alert_id, user=user, comment=comment)
        return view

    async def unacknowledge(self, alert_id: str, user: str) -> Any:
        engine = self._require(self.alert_engine, "taking back acknowledgements")
        view = engine.unacknowledge(alert_id, user)
        self._log("unacknowledged", alert_id=alert_id, user=user)
        return view

    async def silence(self, *, rule: str, target: str | None, duration: float, comment: str, user: str,
                      severity: str | None = None) -> Any:
        engine = self._require(self.alert_engine, "silencing alerts")
        result = engine.silence(rule=rule, target=target, severity=severity, duration=duration,
                                comment=comment, user=user)
        self._log("silenced", rule=rule, target=target, duration=duration, user=user, comment=comment)
        return result

    async def deliveries(self, alert_id: str) -> list[dict]:
        """Delivery status of every notification of one alert."""
        return self.stages.deliveries(alert_id) if self.stages is not None else []

    async def rule_info(self, name: str) -> RuleInfo | None:
        """The rule behind alerts of this name: the config's, else a default rule."""
        for rule in self.config.alerts.rules:
            if rule.name == name:
                return RuleInfo(name=rule.name, metric=rule.metric, op=rule.op, threshold=rule.threshold,
                                for_=rule.for_, window=rule.window, aggregate=rule.aggregate,
                                runbook=rule.runbook)
        engine = self.alert_engine
        for compiled in engine.rules if engine is not None else ():
            if compiled.name == name:
                return RuleInfo(name=compiled.name, metric=compiled.metric, op=compiled.op,
                                threshold=compiled.tiers[-1].threshold if compiled.tiers else None,
                                for_=compiled.for_, window=compiled.window, aggregate=compiled.aggregate,
                                runbook=compiled.runbook)
        return None

    async def rollback(self, *, reason: str, user: str, dry_run: bool = False) -> Any:
        controller = self._require(self.rollback_controller, "rollback")
        return await controller.rollback(reason=reason, user=user, trigger="manual", automatic=False,
                                         dry_run=dry_run)

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self, duration: float | None = None) -> str:
        """Run until ``duration`` seconds pass or a stop is requested; return how it ended."""
        await self._start()
        loop = asyncio.get_running_loop()
        try:
            deadline = None if duration is None else loop.time() + duration
            k = None  # the first tick is the first wave's instant: a snapshot as soon as it is probed
            while not self._stop.is_set():
                k = 0 if k is None else max(k + 1, Grid.next_index(loop.time(), self._grid.origin,
                                                                      self.tick_period))
                when = self._grid.at(k, self.tick_period)
                if deadline is not None:
                    when = min(when, deadline)
                self._wake = loop.create_future()
                try:
                    await sleep_until(when, self._wake)
                finally:
                    self._wake = None
                if self._stop.is_set():
                    break
                await self._settle()
                if self._stop.is_set():
                    break
                await self._publish()
                if deadline is not None and loop.time() >= deadline:
                    self._stop_reason = "duration"
                    break
        except asyncio.CancelledError:
            self._stop_reason = self._stop_reason if self._stop.is_set() else "cancelled"
            raise
        except Exception:
            self._stop_reason = "error"
            raise
        finally:
            await self._finish()
        return self._stop_reason

    async def _start(self) -> None:
        now = self.clock()
        self.session_started = now
        # tokens in URLs (by shape, or from ${}) never reach the store or the session log
        targets = [(t.name, redact_text(redact_url(t.url), self.config.secrets)) for t in self.config.targets]
        if self.store is not None:
            try:
                self.store.mark_crashed_sessions(stale_after=max(self.interval * 3, 30.0))
                await asyncio.to_thread(self._cleanup)
                self.session_id = self.store.begin_session(
                    deployment=self.config.deployment.name,
                    version=self.config.deployment.version,
                    level=self.config.monitor.level,
                    config_digest=config_digest(self.config),
                    interval=self.interval,
                    targets=targets,
                    host=socket.gethostname(),
                    user=_user(),
                    started_at=now,
                )
            except Exception as exc:
                self._notes.append(f"history is not being stored: {exc}")
                self.store = None
        if not self.session_id:
            self.session_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-mem"
        self._open_log()
        self._log("session_start", deployment=self.config.deployment.name,
                  version=self.config.deployment.version, level=self.config.monitor.level,
                  interval=self.interval, targets=[n for n, _ in targets])
        self._seed_baseline()
        if self._with_stages:
            self.stages = Stages(self, getattr(self.store, "path", None))
            await self.stages.start()
            self.alert_engine = self.stages.alerts
            self.rollback_controller = self.stages.rollback
        if any(t.metrics_url for t in self.config.targets) or self.config.prometheus.url:
            # TLS context creation costs ~25 ms: only when there is something to scrape
            self._http = make_client()
            self._scraper = Scraper(self.config.metrics, self._http)
        if self.config.prometheus.url:
            client = self._http
            assert client is not None
            if not self.config.prometheus.verify_tls:
                client = make_client(verify=False, timeout=self.config.prometheus.timeout)
            self._prom_source = PrometheusSource(self.config.prometheus, client)
        await asyncio.to_thread(self._resources.sample)  # primes psutil's cpu_percent
        loop_targets = list(self.config.targets)
        self._grid = Grid(asyncio.get_running_loop().time())
        chains = plan_chains(loop_targets, self.interval, self.config.monitor.max_concurrency)
        self._waves = len({offset for offset, _ in chains}) or 1
        for offset, members in chains:
            self._spawn(self._chain_loop(members, offset), f"probe:{members[0].name}")
        for target in loop_targets:
            if target.hold:
                hold = HoldConnection(target, ssl_context=ssl_context_for(target))
                hold.start()
                self._holds[target.name] = hold
        urls = {t.metrics_url for t in loop_targets if t.metrics_url}
        for url in sorted(urls):
            target = next(t for t in loop_targets if t.metrics_url == url)
            self._spawn(self._scrape_loop(target), f"scrape:{url}")
        if self._prom_source is not None:
            self._spawn(self._prom_loop(), "prometheus")
        if self.store is not None:
            self._spawn(self._cleanup_loop(), "cleanup")
        if self.config.resources.port:  # walking the TCP table is not cheap: off the loop
            self._spawn(self._resource_loop(), "resources")

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        self._tasks.append(asyncio.ensure_future(coro))
        self._tasks[-1].set_name(name)

    async def _finish(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=3)
        self._tasks.clear()
        for hold in self._holds.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(hold.stop(), 2)
        self._holds.clear()
        for closer in (self._scraper, self._prom_source, self._http):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(closer.aclose(), 2)
        if self.stages is not None:
            await self.stages.close()
        now = self.clock()
        self._log("session_end", ended_by=self._stop_reason, ticks=self.tick)
        if self.store is not None:
            try:
                self._save_probes()
                self.store.end_session(self.session_id, self._stop_reason, ended_at=now)
                await asyncio.to_thread(self.store.flush, 3.0)
            except Exception as exc:
                log.warning("could not close the session in the store: %s", exc)
        if self._log_file is not None:
            try:
                self._log_file.close()
            except OSError as exc:  # disk full: the last lines are lost, the session still ends
                log.warning("session log %s: %s", self.session_id, exc.strerror or exc)
            self._log_file = None

    # -- collectors ------------------------------------------------------------------

    async def _chain_loop(self, targets: list[TargetConfig], offset: float) -> None:
        """Probe ``targets`` one after another at every grid instant of their wave.

        A target whose last probe is still running when its next instant comes is not
        probed again (an overrun, counted); instants missed because the chain itself ran
        late count as overruns for every member.
        """
        loop = asyncio.get_running_loop()
        contexts = {t.name: ssl_context_for(t) for t in targets}
        running: dict[str, asyncio.Task[None]] = {}
        stagger = min(CHAIN_STAGGER, self.interval / (2 * len(targets)))
        k = 0
        try:
            while True:
                slot = self._grid.at(k, self.interval, offset)
                await sleep_until(slot)
                self._probe_started()  # the chain counts as in flight until its last probe starts
                try:
                    for i, target in enumerate(targets):
                        previous = running.get(target.name)
                        if previous is not None and not previous.done():
                            self._states[target.name].overruns += 1
                            continue
                        self._probe_started()
                        opened: asyncio.Future[None] = loop.create_future()
                        task = running[target.name] = asyncio.ensure_future(
                            self._probe(target, slot, contexts[target.name], partial(_resolve, opened)))
                        if i < len(targets) - 1:
                            task.add_done_callback(lambda _t, f=opened: _resolve(f))
                            await asyncio.wait((opened,), timeout=stagger)
                finally:
                    self._probe_ended()
                k += 1
                behind = Grid.next_index(loop.time(), self._grid.origin + offset, self.interval) - k
                if behind > 0:
                    for target in targets:
                        self._states[target.name].overruns += behind
                    k += behind
        finally:
            pending = [t for t in running.values() if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def _probe(self, target: TargetConfig, slot: float, ssl_context: Any,
                     on_open: Callable[[], None] | None = None) -> None:
        """One probe (already counted by ``_probe_started``) and what follows from its result."""
        try:
            async with self._semaphore:
                self.schedule_lag.append(max(0.0, asyncio.get_running_loop().time() - slot))
                result = await probe_once(target, ssl_context=ssl_context, on_open=on_open)
        finally:
            self._probe_ended()
        self._on_probe(self._states[target.name], result)

    def _probe_started(self) -> None:
        self._probes_in_flight += 1
        self._probes_idle.clear()

    def _probe_ended(self) -> None:
        self._probes_in_flight -= 1
        if self._probes_in_flight <= 0:
            self._probes_in_flight = 0
            self._probes_idle.set()

    async def _settle(self) -> None:
        """Let the probes that start at this tick's instant finish (bounded), so the snapshot
        shows them. Only with one wave: with several, some wave is always in flight."""
        await asyncio.sleep(0)  # the probe loops woken at this same instant take their turn
        if self._waves > 1 or self._probes_idle.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._probes_idle.wait(), min(SETTLE_MAX, self.tick_period / 2))

    def _on_probe(self, state: TargetState, result: ProbeResult) -> None:
        state.observe(result)
        self.probe_metrics.observe(result)
        if result.handshake_ms is not None:
            self.samples.add(state.config.name, "handshake_ms", result.started_at, result.handshake_ms)
        if result.rtt_ms is not None:
            self.samples.add(state.config.name, "rtt_ms", result.started_at, result.rtt_ms)
        if self.store is not None:
            self._unsaved_probes.append(result)  # stored with the tick (one write, see _persist)
        if not result.ok:
            self._log("probe_failed", target=result.target, error_class=result.error_class,
                      detail=result.detail[:300], close_code=result.close_code,
                      http_status=result.http_status)

    async def _scrape_loop(self, target: TargetConfig) -> None:
        scraper = self._scraper
        assert scraper is not None
        url = target.metrics_url or ""
        while True:
            started = asyncio.get_running_loop().time()
            try:
                result = await asyncio.wait_for(scraper.scrape(target, self.clock()), self.interval + 10)
            except TimeoutError:
                result = ScrapeResult(ok=False, values={}, instances={}, error="scrape timed out")
            self._scrape_results[url] = result
            for state in self._states.values():
                if state.config.metrics_url == url:
                    if result.ok:
                        state.metrics = dict(result.values)
                        state.instances = dict(result.instances)
                        state.scrape_failing = 0
                    else:
                        state.scrape_errors += 1
                        state.scrape_failing += 1
                        state.last_scrape_error = result.error
            if not result.ok:
                self._log("scrape_failed", url=url, error=result.error[:300])
            await self._next_interval(started)

    async def _prom_loop(self) -> None:
        assert self._prom_source is not None
        while True:
            started = asyncio.get_running_loop().time()
            try:
                self._prom_result = await asyncio.wait_for(
                    self._prom_source.query_all(self.clock()), self.interval + 10
                )
            except TimeoutError:
                self._prom_result = ScrapeResult(ok=False, values={}, instances={},
                                                 error="Prometheus query timed out")
            await self._next_interval(started)

    async def _next_interval(self, started: float) -> None:
        """Sleep to the first grid instant at least one interval after ``started``."""
        k = Grid.next_index(started + self.interval, self._grid.origin, self.interval)
        await sleep_until(self._grid.at(k, self.interval))

    def _cleanup(self) -> None:
        """Roll raw samples older than ``retention_raw`` into rollups; drop what is past ``retention``."""
        assert self.store is not None
        now = self.clock()
        self.store.cleanup(now, retention_raw=self.config.monitor.retention_raw,
                           retention=self.config.monitor.retention)
        stages = self.stages
        if stages is not None:
            if stages.outbox is not None:
                stages.outbox.prune(now - self.config.monitor.retention)
            if stages.db_path is not None and not self.read_only:
                prune_alerts(stages.db_path, now - self.config.monitor.retention)

    async def _cleanup_loop(self) -> None:
        """Cleanup at start (in ``_start``), then hourly, off the event loop (more often when
        ``retention_raw`` is short): retention holds during a long session too, not only at the
        next start, or a monitor left running for weeks grows its database without bound."""
        period = min(CLEANUP_EVERY, max(self.config.monitor.retention_raw / 4, 10.0))
        while True:
            await asyncio.sleep(period)
            if self.store is None:
                return
            try:
                await asyncio.to_thread(self._cleanup)
            except Exception as exc:  # a failed cleanup must not stop probing
                self._log("cleanup_failed", error=str(exc))
                note = f"old history not cleaned up: {exc}"
                if note not in self._notes:
                    self._notes.append(note)

    async def _resource_loop(self) -> None:
        """Resources with a port to count, in a thread (see ``_sample_resources`` for the rest)."""
        while True:
            started = asyncio.get_running_loop().time()
            self._resource_view = await asyncio.to_thread(self._resources.sample)
            await self._next_interval(started)

    def _sample_resources(self) -> None:
        """Host and process figures on the tick, once per interval: a few /proc reads, cheaper
        than handing them to a thread and back (two more wake-ups)."""
        cfg = self.config.resources
        if cfg.port or not (cfg.host or cfg.process):
            return
        now = time.monotonic()
        if now + 0.05 * self.interval < self._resources_due:
            return
        self._resources_due = now + self.interval
        self._resource_view = self._resources.sample()

    # -- evaluation ----------------------------------------------------------------

    def _seed_baseline(self) -> None:
        cfg = self.config
        if cfg.baseline.source != "previous_version" or self.store is None:
            return
        if not cfg.deployment.previous_version:
            return
        try:
            sessions = self.store.sessions(deployment=cfg.deployment.name,
                                           version=cfg.deployment.previous_version)
            if not sessions:
                return
            last = sessions[-1]
            summary = self.store.probe_summary(since=0, session_id=last["id"])
        except Exception as exc:
            self._notes.append(f"baseline from {cfg.deployment.previous_version} unavailable: {exc}")
            return
        for name, row in summary.items():
            probes = row.get("probes") or 0
            err = (probes - (row.get("ok") or 0)) / probes if probes else None
            self._baseline.seed(name, (row.get("handshake_ms") or {}).get("p95"), err)

    def build_snapshot(self) -> Snapshot:
        """The tick's record (before alerting and rollback): the read model over the collectors."""
        now = self.clock()
        limit = self.config.deployment.connection_limit
        views = []
        for state in self._states.values():
            name = state.config.name
            url = state.config.metrics_url
            hold = self._holds.get(name)
            view = read_target(
                TargetInputs(state=state, samples=self.samples, history=self.history,
                             scrape=self._scrape_results.get(url) if url else None,
                             hold=hold.view() if hold else None,
                             baseline=partial(self._judge_baseline, name, now)),
                now=now, window=self.window, level=self.level, connection_limit=limit)
            state.status = view.status
            views.append(view)
        score, status = overall([(v.health_score, v.status) for v in views])
        res = self._resource_view
        fleet = read_fleet(list(self._scrape_results.values()), self._prom_result, connection_limit=limit,
                           health_score=score, resources=res)
        notes = list(self._notes)
        if self.store is not None and getattr(self.store, "dropped_writes", 0):
            notes.append(f"{self.store.dropped_writes} samples not stored: "
                         f"{getattr(self.store, 'last_write_error', '')}")
        if self._prom_result is not None and not self._prom_result.ok:
            notes.append(f"Prometheus source: {self._prom_result.error}")
        dep = self.config.deployment
        return Snapshot(
            taken_at=now, tick=self.tick, session_id=self.session_id,
            deployment=DeploymentView(dep.name, dep.version, dep.previous_version),
            level=self.config.monitor.level, interval=self.interval,
            status=status if views else Status.UNKNOWN, health_score=score, targets=tuple(views),
            resources=res, notes=tuple(notes), overall=MappingProxyType(fleet),
        )

    def _judge_baseline(self, name: str, now: float, handshake_p95: float | None,
                        error_rate: float | None) -> bool:
        """Observe the tick's figures into the session baseline, then judge them against it."""
        self._baseline.observe(name, now, self.session_started, handshake_p95, error_rate)
        return self._baseline.degraded(name, handshake_p95, error_rate)[0]

    def _record(self, record: Snapshot) -> None:
        """Append the record's values to the history its later windows and sparklines read."""
        add = self.history.add
        now = record.taken_at
        for view in record.targets:
            name = view.name
            for metric, value in view.values.items():
                if value is not None:
                    add(name, metric, now, float(value))
        for metric, value in record.overall.items():
            if value is not None:
                add("", metric, now, float(value))

    async def _publish(self) -> Snapshot:
        self.tick += 1
        self._sample_resources()
        record = self.build_snapshot()
        self._record(record)
        snapshot = record
        if self.stages is not None:
            snapshot = await self.stages.refine(record, self.windows)
        for hook in self.hooks:
            snapshot = await hook(snapshot)
        self.latest = snapshot
        self.probe_metrics.snapshot = snapshot
        self._persist(snapshot)
        for callback in list(self._subscribers):
            try:
                callback(snapshot)
            except Exception:  # a face's bug must not stop the engine
                log.exception("snapshot subscriber failed")
        return snapshot

    def _persist(self, snap: Snapshot) -> None:
        if self.store is None:
            return
        try:
            with self.store.batch():
                self._persist_into_batch(snap)
        except Exception as exc:
            if not any("history" in n for n in self._notes):
                self._notes.append(f"history is not being stored: {exc}")

    def _save_probes(self) -> None:
        """Queue the probe results not yet handed to the store."""
        if self.store is not None and self._unsaved_probes:
            probes, self._unsaved_probes = self._unsaved_probes, []
            self.store.record_probes(self.session_id, probes)

    def _persist_into_batch(self, snap: Snapshot) -> None:
        assert self.store is not None
        self._save_probes()
        self.store.heartbeat(self.session_id, at=snap.taken_at, status=snap.status,
                             health_score=snap.health_score, summary=snapshot_summary(snap))
        # once per interval; half a tick of slack, as ticks land a little late or early
        if snap.taken_at - self._last_sampled >= self.interval - self.tick_period / 2:
            self._last_sampled = snap.taken_at
            rows: list[tuple[str, str, float]] = []
            for tv in snap.targets:
                values = tv.values
                rows.extend((tv.name, k, float(v)) for k in STORED_METRICS
                            if (v := values.get(k)) is not None)
            rows.extend(("", k, float(v)) for k, v in snap.overall.items() if v is not None)
            self.store.record_samples(self.session_id, snap.taken_at, rows)

    # -- session log -------------------------------------------------------------------

    def _open_log(self) -> None:
        if self.state_dir is None:
            return
        try:
            logs = self.state_dir / "sessions"
            logs.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = logs / f"{self.session_id}.jsonl"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._log_file = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
        except OSError as exc:
            self._notes.append(f"session log not written: {exc}")

    def _log(self, event: str, **data: Any) -> None:
        if self._log_file is None:
            return
        from wsmon_tui.redact import redact_text

        record = {"at": self.clock(), "event": event, **data}
        line = redact_text(json.dumps(record, default=str), self.config.secrets)
        try:
            self._log_file.write(line + "\n")
        except OSError as exc:
            note = f"session log not written: {exc.strerror or exc}"
            if note not in self._notes:
                self._notes.append(note)

    def log_event(self, event: str, **data: Any) -> None:
        """Write an event to the session log (used by alerting and rollback)."""
        self._log(event, **data)


def snapshot_summary(snap: Snapshot) -> dict[str, Any]:
    """A compact JSON-able digest of a snapshot: what ``wsmon-tui status`` shows."""
    return {
        "taken_at": snap.taken_at,
        "status": snap.status,
        "health_score": snap.health_score,
        "interval": snap.interval,
        "deployment": dataclasses.asdict(snap.deployment),
        "targets": [
            {"name": t.name, "status": t.status, "health_score": t.health_score,
             "success_rate": t.success_rate, "handshake_p95": t.handshake_ms.p95,
             "rtt_p95": t.rtt_ms.p95, "probes": t.probes,
             "last_error": (t.last_probe.detail[:200] if t.last_probe and not t.last_probe.ok else "")}
            for t in snap.targets
        ],
        "alerts": [{"id": a.id, "rule": a.rule, "target": a.target, "severity": a.severity,
                    "state": a.state} for a in snap.alerts if a.state in ("pending", "firing")],
        "notes": list(snap.notes),
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER", "unknown")
