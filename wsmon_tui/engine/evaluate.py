"""The tick: the read model over the collectors, then alerting and rollback, then publishing.

``build_snapshot`` is the tick's record (``engine/readmodel.py``); ``_publish`` records
it, lets the stages (alerts, rollback, notifications) decide within the same tick,
and hands the one Snapshot to the store and every subscriber.
"""

from __future__ import annotations

import dataclasses
import logging
from functools import partial
from types import MappingProxyType

from wsmon_tui.engine.base import MonitorBase
from wsmon_tui.engine.readmodel import TargetInputs, read_fleet, read_target
from wsmon_tui.engine.scoring import overall
from wsmon_tui.engine.wake import Gap
from wsmon_tui.fmt import timestamp
from wsmon_tui.model import DeploymentView, Snapshot, Status

log = logging.getLogger("wsmon_tui.engine.monitor")


class Evaluation(MonitorBase):
    """The tick of one Monitor."""

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
        window = min(self.window, max(now - self._fresh_since, 0.0))  # afresh after a sleep
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
                now=now, window=window, level=self.level, connection_limit=limit)
            state.status = view.status
            views.append(view)
        score, status = overall([(v.health_score, v.status) for v in views])
        res = self._resource_view
        fleet = read_fleet(list(self._scrape_results.values()), self._prom_result, connection_limit=limit,
                           health_score=score, resources=res, targets=views)
        notes = [self._gap_note, *self._notes] if self._gap_note else list(self._notes)
        dropped: int = getattr(self.store, "dropped_writes", 0)  # a store may not count (a test's fake)
        if self.store is not None and dropped:
            notes.append(f"{dropped} samples not stored: "
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

    def _wake_check(self) -> None:
        """Called as each tick wakes and before each probe result is taken in: whichever runs
        first after a sleep notices it, so a probe that straddled it is never evidence."""
        gap = self._sleep.check()
        if gap is not None:
            self._resumed(gap)

    def _resumed(self, gap: Gap) -> None:
        """The monitor slept (``engine/wake.py``): the gap is marked, and nothing is judged over
        it: windows start afresh, probes that straddle it are dropped, pending alerts start
        their ``for`` again, and no rule is judged before a probe interval of new evidence."""
        self._fresh_since = self.windows.floor = gap.cutoff
        self._judge_from = gap.end + self.interval
        self._gap_note = (f"resumed after {gap.asleep:.0f} s asleep ({timestamp(gap.start)} to "
                          f"{timestamp(gap.end)}): no rule judged over the gap, windows start afresh")
        log.warning("%s", self._gap_note)
        data = {"start": gap.start, "end": gap.end, "asleep_s": round(gap.asleep, 1)}
        self._log("gap", **data)
        if self.store is not None:
            try:
                self.store.record_event(self.session_id, "gap", gap.end, data)
            except Exception as exc:  # the session log has it; the note says what is not stored
                log.warning("gap not stored: %s", exc)
        if self.alert_engine is not None and self.acting:
            self.alert_engine.resume(gap.end)

    def _judge_baseline(self, name: str, now: float, handshake_p95: float | None,
                        error_rate: float | None) -> bool:
        """Observe the tick's figures into the session baseline, then judge them against it."""
        self._baseline.observe(name, now, self.session_started, handshake_p95, error_rate)
        return self._baseline.degraded(name, handshake_p95, error_rate)[0]

    async def _publish(self) -> Snapshot:
        self.tick += 1
        self._sample_resources()
        record = self.build_snapshot()
        self._record(record)
        snapshot = record
        if self.lease is not None:
            self._kick_lease()  # a locked database must not delay the tick
        if self._lease_lost:
            if self._lease_lost not in snapshot.notes:
                snapshot = dataclasses.replace(snapshot, notes=(*snapshot.notes, self._lease_lost))
            self.request_stop("lease_lost")
        elif self.stages is not None:
            judge = record.taken_at >= self._judge_from  # not just after a sleep (engine/wake.py)
            snapshot = await self.stages.refine(record, self.windows, judge=judge)
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
