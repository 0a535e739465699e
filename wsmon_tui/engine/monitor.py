"""The Monitor: one async engine that the headless command and the TUI both run.

It owns the collectors (probes, scrapes, the Prometheus source, resources), the
in-memory series, the scores and the store, and publishes an immutable ``Snapshot``
every tick. Faces reach it through the seam (``wsmon_tui.seam``), usually hosted on a
thread of its own (``wsmon_tui.host``); they never open sockets of their own.

The class is assembled from parts, each in a module named for what it holds:

- ``engine/base.py``: the state every part shares;
- ``engine/schedule.py``: the clock grid, waves and chains (when things run);
- ``engine/collectors.py``: the probe, scrape, Prometheus and host loops;
- ``engine/evaluate.py``: the tick (read model, alerting and rollback, publishing);
- ``engine/recorder.py``: history, the store's rows, the session log, retention;
- this module: the session's start and end, and the commands the faces send.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsmon_tui.config import Config
from wsmon_tui.engine.collectors import Collectors
from wsmon_tui.engine.evaluate import Evaluation
from wsmon_tui.engine.hold import HoldConnection
from wsmon_tui.engine.probe import ssl_context_for
from wsmon_tui.engine.promapi import PrometheusSource
from wsmon_tui.engine.recorder import Recorder
from wsmon_tui.engine.schedule import Grid, plan_chains, resolve, sleep_until
from wsmon_tui.engine.scrape import Scraper, make_client
from wsmon_tui.engine.stages import Stages
from wsmon_tui.errors import MetricsPortError, ReadOnlyError, WsmonError
from wsmon_tui.model import Snapshot
from wsmon_tui.redact import redact_text, redact_url
from wsmon_tui.seam import RuleInfo

if TYPE_CHECKING:
    from wsmon_tui.alerts.rules import CompiledRule

log = logging.getLogger(__name__)


def config_digest(config: Config) -> str:
    """A short digest of the config file's bytes (or of the built-in defaults)."""
    data = b"defaults"
    if config.source:
        with contextlib.suppress(OSError):
            data = Path(config.source).read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


def describe_rules(rules: Iterable[CompiledRule]) -> list[RuleInfo]:
    """What a face is told of each rule (``EngineLink.rules``)."""
    return [RuleInfo(name=r.name, metric=r.metric, op=r.op,
                     threshold=r.tiers[-1].threshold if r.tiers else None, for_=r.for_,
                     window=r.window, aggregate=r.aggregate, runbook=r.runbook,
                     tiers=tuple((t.threshold, str(t.severity)) for t in r.tiers),
                     targets=tuple(sorted(r.targets or ())), relative=r.relative_baseline is not None)
            for r in rules]


class Monitor(Collectors, Evaluation, Recorder):
    """Runs the collection loop and publishes snapshots.

    ``store`` may be None (tests, or a store that cannot be opened: probing goes on in
    memory and the snapshot's notes say what is not stored).
    """

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
                resolve(self._wake)
            self._probes_idle.set()  # a tick waiting for its probes (_settle) stops waiting

    def add_note(self, text: str) -> None:
        """Something the user must know about this engine, shown in every Snapshot from now on."""
        if text and text not in self._notes:
            self._notes.append(text)

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
        for info in self._rule_infos():
            if info.name == name:
                return info
        return None

    async def rules(self) -> list[RuleInfo]:
        """Every rule judged in this session (the level's defaults and the config's)."""
        return self._rule_infos()

    def _rule_infos(self) -> list[RuleInfo]:
        engine = self.alert_engine
        if engine is not None:
            compiled = list(engine.rules)
        else:  # no alert engine (a session without engines): the rules it would judge
            from wsmon_tui.alerts.engine_state import build_rules

            compiled = build_rules(self.config)
        return describe_rules(compiled)

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
                self._wake_check()  # before the probes of this instant are waited for
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
        if self.metrics_port is not None:  # first: a port in use fails before a session is opened
            from wsmon_tui.engine.exporter import MetricsServer

            server = MetricsServer(self.probe_metrics, self.metrics_host, self.metrics_port)
            try:
                await server.start()
            except OSError as exc:
                where = f"{self.metrics_host}:{self.metrics_port}"
                raise MetricsPortError(f"--metrics-port {where}: {exc.strerror or exc}") from None
            self.metrics_server = server
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
            self._take_lease()
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
            self._prom_source = PrometheusSource(self.config.prometheus, client,
                                                 instance_label=self.config.metrics.instance_label)
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
            self._spawn(self._scrape_loop(target), f"scrape:{target.name}")  # a URL may hold a token
        if self._prom_source is not None:
            self._spawn(self._prom_loop(), "prometheus")
        if self.store is not None:
            self._spawn(self._cleanup_loop(), "cleanup")
        if self.config.resources.port:  # walking the TCP table is not cheap: off the loop
            self._spawn(self._resource_loop(), "resources")

    def _take_lease(self) -> None:
        """Hold the engine lease for this session, or watch without acting (``store/lease.py``)."""
        if self.read_only or self.store is None:
            return
        from wsmon_tui.store.lease import EngineLease, lease_ttl

        try:
            if self.lease is None:
                self.lease = EngineLease(self.store.path, ttl=lease_ttl(self.interval))
                holder = self.lease.try_acquire(self.session_id)
                if holder is not None:
                    self.acting = False
                    self.read_only = True
                    self._notes.append(f"another engine acts for this state dir ({holder.describe()}): "
                                       "this one only watches (no alerts, notifications or rollback)")
                    self.lease.close()
                    self.lease = None
                    return
            elif not self.lease.renew(self.session_id):
                raise WsmonError("the engine lease was taken by another process before the session began")
        except sqlite3.Error as exc:  # no lease table can be written: act, as one process always did
            self._notes.append(f"engine lease not held ({exc}): another engine may act too")
            self.lease = None
            return
        self._spawn(self._lease_loop(), "lease")

    async def _lease_loop(self) -> None:
        """Renew the lease every third of its TTL (the tick renews it too): a slow tick never
        loses it. A renewal that finds another holder stops this engine acting at once."""
        lease = self.lease
        assert lease is not None
        while not self._stop.is_set() and not self._lease_lost:
            await asyncio.sleep(lease.ttl / 3)
            self._kick_lease()

    def _kick_lease(self) -> None:
        if self._lease_task is None or self._lease_task.done():
            self._lease_task = asyncio.ensure_future(self._renew_lease())

    async def _renew_lease(self) -> None:
        lease = self.lease
        if lease is None or self._lease_lost:
            return
        try:
            ok = await asyncio.to_thread(lease.renew)
        except sqlite3.Error as exc:  # locked or full: keep acting; a real takeover shows on the next renewal
            log.warning("engine lease not renewed: %s", exc)
            return
        if ok:
            return
        current = await asyncio.to_thread(lease.current)
        who = current.describe() if current is not None else "nobody (it was released)"
        self._lease_lost = f"this engine lost the lease to {who}: it stopped acting (no alerts, " \
                           "notifications, rollback or throttle from here); this session ends"
        self.acting = False
        log.warning("%s", self._lease_lost)
        if self.stages is not None:
            self.stages.halt()

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        self._tasks.append(asyncio.ensure_future(coro))
        self._tasks[-1].set_name(name)

    async def _finish(self) -> None:
        if self.metrics_server is not None:
            await self.metrics_server.stop()
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
        if self._lease_task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._lease_task, 2)
        if self.lease is not None:
            await asyncio.to_thread(self.lease.release)
            self.lease.close()
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














    # -- evaluation ----------------------------------------------------------------









    # -- session log -------------------------------------------------------------------







def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER", "unknown")
