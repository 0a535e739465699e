"""What a Monitor writes down: the tick's history, stored rows, the session log, retention.

``_record`` appends the tick's record to the in-memory history (what later windows and
sparklines read); ``_persist`` queues the tick's probes, heartbeat and (once per
interval) samples to the store as one batch; the session log is JSON lines under
``sessions/``. Cleanup rolls raw samples up and applies retention, off the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from typing import Any

from wsmon_tui.alerts.db import prune_alerts
from wsmon_tui.engine.base import MonitorBase
from wsmon_tui.metrics import CHART_METRICS, HISTORY_METRICS, STORED_METRICS
from wsmon_tui.model import Snapshot
from wsmon_tui.redact import redact_text
from wsmon_tui.wire import to_wire

CLEANUP_EVERY = 3600.0
"""Seconds between store cleanups (rollups and retention) while a session runs."""


class Recorder(MonitorBase):
    """History, store rows, the session log and retention of one Monitor."""

    def _record(self, record: Snapshot) -> None:
        """Append the record's values to the history its later windows and sparklines read:
        the metrics something reads back (``_recorded``), not every figure of the record."""
        add = self.history.add
        now = record.taken_at
        keep = self._recorded_metrics()
        for view in record.targets:
            name = view.name
            values = view.values
            for metric in keep:
                value = values.get(metric)
                if value is not None:
                    add(name, metric, now, float(value))
        for metric, value in record.overall.items():
            if value is not None:
                add("", metric, now, float(value))

    def _recorded_metrics(self) -> tuple[str, ...]:
        """Sparklines, the metrics view's recent range, and every metric an alert rule judges
        (its windows, its baseline, the alert detail's sparkline)."""
        if self._recorded is None:
            names = {"health_score", *HISTORY_METRICS, *CHART_METRICS}
            engine = self.alert_engine
            for rule in (engine.rules if engine is not None else ()):
                names.add("health_score" if rule.metric == "overall" else rule.metric)
            self._recorded = tuple(sorted(names))
        return self._recorded

    def _persist(self, snap: Snapshot) -> None:
        if self.store is None:
            return
        try:
            self._store_hold_drops(snap)
            self._store_statuses(snap)
            self._store_pictures(snap)
        except Exception as exc:  # like the rest of history: said, never fatal
            if not any("history" in n for n in self._notes):
                self._notes.append(f"history is not being stored: {exc}")
        try:
            with self.store.batch():
                self._persist_into_batch(snap)
        except Exception as exc:
            if not any("history" in n for n in self._notes):
                self._notes.append(f"history is not being stored: {exc}")

    def _store_hold_drops(self, snap: Snapshot) -> None:
        """Each new drop of a held connection as a ``hold_drop`` event (target, close code), so a
        report from history alone counts them as the live one does."""
        assert self.store is not None
        for tv in snap.targets:
            hold = tv.hold
            if hold is None or not hold.drops:
                continue
            seen = self._hold_drops_stored.get(tv.name, float("-inf"))
            for at, code in hold.drops:
                if at > seen:
                    self.store.record_event(self.session_id, "hold_drop", at,
                                            {"target": tv.name, "code": code})
                    seen = at
            self._hold_drops_stored[tv.name] = seen

    def _store_statuses(self, snap: Snapshot) -> None:
        """The fleet's ("") and the targets' statuses that changed this tick, as one ``status``
        event: the store keeps scores once per interval, but a status is not a function of its
        score, so ``replay`` reads the status from these."""
        assert self.store is not None
        stored = self._statuses_stored
        changed = {name: status for name, status in (("", str(snap.status)),
                                                     *((tv.name, str(tv.status)) for tv in snap.targets))
                   if stored.get(name) != status}
        if changed:
            self.store.record_event(self.session_id, "status", snap.taken_at, {"statuses": changed})
            stored.update(changed)

    def _store_pictures(self, snap: Snapshot) -> None:
        """The tick's alerts and rollback, as the faces were given them, when they change: an
        ``alerts`` event with each alert that appeared or changed state, severity, ack or mute
        (its whole AlertView) and the ids of those no longer shown; a ``rollback`` event (the
        RollbackView) when the rollback changes state or finishes a step. ``replay`` shows them
        from the tick they were shown live. A value moving within a state is not a change (it
        would write every tick)."""
        assert self.store is not None
        stored = self._pictures_stored
        before: dict[str, tuple[object, ...]] = stored.get("alerts") or {}
        keys = {a.id: (a.state, a.severity, a.acknowledged_by, a.acknowledged_at, a.silenced, a.escalated,
                       a.inhibited_by) for a in snap.alerts}
        changed = [to_wire(a) for a in snap.alerts if before.get(a.id) != keys[a.id]]
        gone = [i for i in before if i not in keys]
        if changed or gone or "alerts" not in stored:
            self.store.record_event(self.session_id, "alerts", snap.taken_at,
                                    {"changed": changed, "gone": gone})
            stored["alerts"] = keys
        rb = snap.rollback
        key = None if rb is None else (rb.id, rb.state, len(rb.steps), rb.recommended, rb.auto_count)
        if stored.get("rollback") != key and not (key is None and "rollback" not in stored):
            self.store.record_event(self.session_id, "rollback", snap.taken_at, {"rollback": to_wire(rb)})
            stored["rollback"] = key

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
        "hold_drops": {t.name: dict(t.hold.disconnects) for t in snap.targets
                       if t.hold is not None and t.hold.disconnects},
        "notes": list(snap.notes),
    }
