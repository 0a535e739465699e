"""The alert lifecycle: inactive -> pending -> firing -> resolved, with acks, escalation,
reminders, silences, maintenance windows and inhibition, stored so that it survives restarts.

The Monitor calls ``evaluate`` once per tick (synchronous and quick: the rules are judged
in memory; the database sees one small transaction per evaluation, and only when something
changed). Notifications come back to the caller, which hands them to the outbox.

Who is told what, per alert (one per (rule, target), id = fingerprint):

* ``firing`` when it starts firing, once (and again if its severity rises while firing);
  an alert that was muted when it fired is announced when the mute ends, if still firing.
* ``reminder`` every ``cooldown`` while firing and unacknowledged (``cooldown = 0``: never).
* ``escalated`` (``Notification.escalation``) once, ``[alerts] escalate_after`` after the
  firing notification, if still unacknowledged: one severity step up.
* ``acknowledged`` when an ack is seen (PagerDuty mirrors it); an ack stops reminders and
  escalation; ``[alerts] ack_timeout`` re-notifies (a ``reminder`` with
  ``extra["reason"] = "ack_timeout"``) every that long while it still fires.
* ``resolved`` when it resolves (``send_resolved``), if ``firing`` was sent.

Muted alerts (a matching silence, an open maintenance window, or inhibited by another
firing alert on the same target) are evaluated and shown with ``silenced=True`` and are
not notified at all. Acks and silences are re-read from the database every evaluation,
so the command line in another process takes effect on the next tick.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsmon_tui.alerts.db import AlertDB, UnknownAlert, report_alerts, row_to_view
from wsmon_tui.alerts.defaults import default_rules
from wsmon_tui.alerts.maintenance import MaintenanceWindow
from wsmon_tui.alerts.notification import Notification, NotificationKind
from wsmon_tui.alerts.rules import (
    OVERALL,
    CompiledRule,
    MetricReader,
    Tier,
    compile_rule,
    make_rule,
    render,
    step_up,
)
from wsmon_tui.config import Config
from wsmon_tui.errors import ReadOnlyError, StoreError, WsmonError
from wsmon_tui.model import SEVERITY_ORDER, AlertView, Snapshot, Windows

__all__ = ["AlertEngine", "UnknownAlert", "build_rules", "fingerprint", "report_alerts"]

log = logging.getLogger(__name__)

RECENT_RESOLVED_S = 900.0
"""Resolved alerts stay in the snapshot this long (screens show what just cleared)."""
RECENT_RESOLVED_MAX = 100
EXTERNAL_COOLDOWN = 300.0
VALUE_SAVE_S = 60.0
"""A firing alert's changing value is written at most this often (screens see it every tick)."""
HISTORY_BACKLOG = 10_000
"""History rows kept for a retry while the database cannot be written."""
_MISSING = object()


def fingerprint(rule: str, target: str, deployment: str = "") -> str:
    """The stable id of (deployment, rule, target): 16 hex digits, the dedup key everywhere."""
    raw = f"{deployment}\x00{rule}\x00{target}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:16]


def build_rules(config: Config) -> list[CompiledRule]:
    """The level's default rules (unless turned off), replaced by configured rules of the same name."""
    configured = [compile_rule(r) for r in config.alerts.rules]
    names = {r.name for r in configured}
    rules = []
    if config.alerts.default_rules:
        rules = [r for r in default_rules(config.monitor.level) if r.name not in names]
    return rules + configured


@dataclass(slots=True)
class _Alert:
    fingerprint: str
    rule: str
    target: str
    deployment: str
    base_severity: str
    severity: str
    state: str
    started_at: float
    metric: str = ""
    value: float | None = None
    threshold: float | None = None
    summary: str = ""
    description: str = ""
    runbook: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    row_id: int | None = None
    firing_at: float | None = None
    resolved_at: float | None = None
    last_true_at: float | None = None
    ack_user: str | None = None
    ack_at: float | None = None
    ack_comment: str = ""
    silenced: bool = False
    inhibited_by: str = ""
    escalated: bool = False
    external: bool = False
    seq: int = 0
    notified_firing: bool = False
    first_notified_at: float | None = None
    last_notified_at: float | None = None
    ack_renotified_at: float | None = None
    severity_rose: bool = False
    dirty: bool = True
    dropped: bool = False
    cached: AlertView | None = None
    stale_value: bool = False
    saved_at: float = 0.0

    def touch(self) -> None:
        """Something shown or stored changed: write the row, rebuild the view."""
        self.dirty = True
        self.cached = None

    def touch_value(self) -> None:
        """Only the current value (and the summary quoting it) changed: shown at once, stored
        at most every VALUE_SAVE_S (or with the next real change)."""
        self.stale_value = True
        self.cached = None

    def values(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "rule": self.rule, "target": self.target,
            "deployment": self.deployment, "severity": self.severity, "base_severity": self.base_severity,
            "state": self.state, "value": self.value, "threshold": self.threshold, "summary": self.summary,
            "description": self.description, "runbook": self.runbook,
            "labels": json.dumps(self.labels, ensure_ascii=False), "started_at": self.started_at,
            "firing_at": self.firing_at, "resolved_at": self.resolved_at, "last_true_at": self.last_true_at,
            "acknowledged_by": self.ack_user, "acknowledged_at": self.ack_at, "ack_comment": self.ack_comment,
            "silenced": int(self.silenced), "escalated": int(self.escalated), "external": int(self.external),
            "seq": self.seq, "notified_firing": int(self.notified_firing),
            "first_notified_at": self.first_notified_at, "last_notified_at": self.last_notified_at,
            "ack_renotified_at": self.ack_renotified_at,
        }

    def view(self) -> AlertView:
        if self.cached is None:
            self.cached = self._build_view()
        return self.cached

    def _build_view(self) -> AlertView:
        labels = dict(self.labels)
        if self.inhibited_by:
            labels["inhibited_by"] = self.inhibited_by
        return AlertView(
            id=self.fingerprint, rule=self.rule, target=self.target, severity=self.severity,
            state=self.state, value=self.value, threshold=self.threshold, summary=self.summary,
            description=self.description, runbook=self.runbook, started_at=self.started_at,
            firing_at=self.firing_at, resolved_at=self.resolved_at, acknowledged_by=self.ack_user,
            acknowledged_at=self.ack_at, ack_comment=self.ack_comment, silenced=self.silenced,
            escalated=self.escalated, labels=labels,
        )

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> _Alert:
        try:
            labels = json.loads(r["labels"] or "{}")
        except ValueError:
            labels = {}
        return cls(
            fingerprint=r["fingerprint"], rule=r["rule"], target=r["target"], deployment=r["deployment"],
            base_severity=r["base_severity"], severity=r["severity"], state=r["state"],
            started_at=r["started_at"], value=r["value"], threshold=r["threshold"], summary=r["summary"],
            description=r["description"], runbook=r["runbook"],
            labels=labels if isinstance(labels, dict) else {}, row_id=r["id"], firing_at=r["firing_at"],
            resolved_at=r["resolved_at"], last_true_at=r["last_true_at"], ack_user=r["acknowledged_by"],
            ack_at=r["acknowledged_at"], ack_comment=r["ack_comment"] or "", silenced=bool(r["silenced"]),
            escalated=bool(r["escalated"]), external=bool(r["external"]), seq=r["seq"],
            notified_firing=bool(r["notified_firing"]), first_notified_at=r["first_notified_at"],
            last_notified_at=r["last_notified_at"], ack_renotified_at=r["ack_renotified_at"], dirty=False,
        )


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: AlertEngine, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class AlertEngine:
    """Judges the rules every tick and keeps each alert's lifecycle (see the module doc)."""

    def __init__(self, config: Config, db_path: Path | None, *, clock: Callable[[], float] = time.time,
                 read_only: bool = False) -> None:
        self.config = config
        self.clock = clock
        self.read_only = read_only
        self.deployment = config.deployment.name
        self.rules = build_rules(config)
        self._rules = {r.name: r for r in self.rules}
        self._external_rules: dict[str, CompiledRule] = {}
        self._maintenance = [MaintenanceWindow(m) for m in config.alerts.maintenance]
        self.last_error = ""
        """The last database error ("" when none): alerts go on in memory, the face shows it."""
        self._lock = threading.RLock()
        """evaluate() runs in the engine's loop; a face may call ack/silence from another thread."""
        try:
            self._db = AlertDB(db_path, readonly=read_only) if db_path is not None else AlertDB(None)
        except StoreError as exc:
            if not read_only:
                raise
            self.last_error = str(exc) if db_path is not None and db_path.exists() else ""
            self._db = AlertDB(None)
        self._active: dict[tuple[str, str], _Alert] = {}
        self._resolved: deque[_Alert] = deque(maxlen=RECENT_RESOLVED_MAX)
        self._history: list[tuple[_Alert, str, float, str | None, str]] = []
        self._deleted: list[int] = []
        self._ack_clears: list[tuple[int, float]] = []
        self._queued: list[Notification] = []
        self._silences: list[dict[str, Any]] = []
        self._baselines: dict[tuple[str, str, float], float] = {}
        self._seqs = self._db.max_seqs()
        for row in self._db.active_rows():
            if row["deployment"] != self.deployment:
                continue
            alert = _Alert.from_row(row)
            alert.seq = max(alert.seq, self._seqs.get(alert.fingerprint, 0))
            self._active[(alert.rule, alert.target)] = alert

    # -- the tick ------------------------------------------------------------------------

    @_locked
    def evaluate(self, snapshot: Snapshot,
                 windows: Windows) -> tuple[tuple[AlertView, ...], list[Notification]]:
        now = self.clock()
        out: list[Notification] = self._queued
        self._queued = []
        self._apply_acks(self._read_external(now), now, out)
        reader = MetricReader(snapshot, windows, now, self._baselines)
        views = reader.target_views
        names = list(views)
        active = self._active
        seen: set[tuple[str, str]] = set()
        alerted: dict[str, set[str]] = {}
        for rule_name, target in active:
            alerted.setdefault(rule_name, set()).add(target)
        values_for = reader.values_for
        tvalues = {n: values_for(n) for n in names}
        current = reader.current
        missing: Any = _MISSING  # a sentinel; Any keeps .get(metric, missing) typed as the value
        columns: dict[tuple[Any, ...], dict[str, Any]] = {}
        # the hot loop: 1,000 rules x 200 targets must stay well under 5 % of an interval, so the
        # common case (a plain per-target rule, no alert yet) costs two dict lookups and a compare
        for rule in self.rules:
            if rule.fleet:
                targets: list[str] | tuple[str, ...] = (OVERALL,)
            elif rule.targets is None:
                targets = names
            else:
                targets = [n for n in names if n in rule.targets]
            has = alerted.get(rule.name, ())
            metric, match = rule.metric, rule.match
            if not rule.window and rule.relative_baseline is None and not rule.fleet \
                    and not rule.require_probes:
                for target in targets:
                    value = tvalues[target].get(metric, missing)
                    if value is missing:
                        value = current(metric, target)
                    tier = match(value) if value is not None else None
                    if tier is None and target not in has:
                        continue
                    self._judge(rule, target, tier, value, now, out, seen)
                continue
            # windowed / relative / fleet rules: rules sharing (metric, window, aggregate) share values
            sig = (metric, rule.window, rule.aggregate, rule.relative_baseline)
            col = columns.get(sig)
            if col is None:
                col = columns[sig] = {}
            for target in targets:
                if rule.require_probes and not views[target].probes:
                    value = None
                else:
                    value = col.get(target, missing)
                    if value is missing:
                        value = col[target] = reader.value(rule, target)
                tier = match(value) if value is not None else None
                if tier is None and target not in has:
                    continue
                self._judge(rule, target, tier, value, now, out, seen)
        for key, alert in list(active.items()):
            if key not in seen and not alert.external:
                self._step(alert, self._rules.get(alert.rule), None, None, None, now, out)
        in_maintenance = any(w.active(now) for w in self._maintenance)
        for alert in list(active.values()):
            self._notify_pass(alert, now, in_maintenance, out)
        self._flush()
        return self._views(now), out

    def _judge(self, rule: CompiledRule, target: str, tier: Tier | None, value: float | None, now: float,
               out: list[Notification], seen: set[tuple[str, str]]) -> None:
        key = (rule.name, target)
        alert = self._active.get(key)
        if alert is None:
            if tier is None:
                return
            alert = self._start(rule, target, now)
        seen.add(key)
        self._step(alert, rule, tier.threshold if tier else None, tier.severity if tier else None, value,
                   now, out)

    def _start(self, rule: CompiledRule, target: str, now: float) -> _Alert:
        fp = fingerprint(rule.name, target, self.deployment)
        alert = _Alert(fingerprint=fp, rule=rule.name, target=target, deployment=self.deployment,
                       base_severity=rule.severity, severity=rule.severity, state="pending", started_at=now,
                       metric=rule.metric, runbook="", labels=dict(rule.labels),
                       seq=self._seqs.get(fp, 0))
        self._active[(rule.name, target)] = alert
        self._event(alert, "pending", now)
        return alert

    def _step(self, alert: _Alert, rule: CompiledRule | None, threshold: float | None, severity: str | None,
              value: float | None, now: float, out: list[Notification]) -> None:
        if severity is not None and rule is not None:
            alert.last_true_at = now
            structural = threshold != alert.threshold or not alert.summary
            if severity != alert.base_severity:
                if SEVERITY_ORDER[severity] > SEVERITY_ORDER[alert.base_severity] and alert.state == "firing":
                    alert.severity_rose = True
                alert.base_severity = severity
                alert.severity = step_up(severity) if alert.escalated else severity
                structural = True
            if structural or value != alert.value:
                alert.value, alert.threshold = value, threshold
                self._render(alert, rule)
                if structural:
                    alert.touch()
                else:
                    alert.touch_value()
            if alert.state == "pending" and now - alert.started_at >= rule.for_:
                alert.state = "firing"
                alert.firing_at = now
                alert.touch()
                self._event(alert, "firing", now)
            return
        if alert.state == "pending":
            self._drop(alert)
            return
        if value is not None and value != alert.value:
            alert.value = value
            alert.touch_value()
        hold = rule.keep_firing_for if rule is not None else 0.0
        last = alert.last_true_at if alert.last_true_at is not None else alert.started_at
        if now - last >= hold:
            self._resolve(alert, now, out)

    def _render(self, alert: _Alert, rule: CompiledRule) -> None:
        fields = {"target": alert.target, "value": alert.value, "threshold": alert.threshold,
                  "rule": rule.name, "severity": alert.severity, "metric": rule.metric,
                  "deployment": self.deployment}
        default = f"{rule.name} on {alert.target}: {rule.metric} {rule.op} {{threshold}} (now {{value}})"
        alert.summary = render(rule.summary or default, fields)
        alert.description = render(rule.description, fields)
        alert.runbook = render(rule.runbook, fields)

    def _drop(self, alert: _Alert) -> None:
        del self._active[(alert.rule, alert.target)]
        if alert.row_id is not None:
            self._deleted.append(alert.row_id)
        alert.dropped = True

    def _resolve(self, alert: _Alert, now: float, out: list[Notification]) -> None:
        del self._active[(alert.rule, alert.target)]
        alert.state = "resolved"
        alert.resolved_at = now
        alert.touch()
        self._event(alert, "resolved", now)
        if alert.row_id is not None and alert.ack_user is not None:
            self._ack_clears.append((alert.row_id, now))
        if self.config.alerts.send_resolved and alert.notified_firing and not alert.silenced:
            self._notify(alert, "resolved", now, out)
        self._resolved.append(alert)

    # -- acks, silences, mutes -------------------------------------------------------------

    def _read_external(self, now: float) -> dict[int, tuple[str, float, str]]:
        try:
            acks = self._db.open_acks()
            self._silences = self._db.active_silences(now)
        except sqlite3.Error as exc:
            self.last_error = f"alert database: {exc}"
            return {a.row_id: (a.ack_user, a.ack_at or now, a.ack_comment) for a in self._active.values()
                    if a.row_id is not None and a.ack_user is not None}
        return acks

    def _apply_acks(self, acks: dict[int, tuple[str, float, str]], now: float,
                    out: list[Notification]) -> None:
        for alert in self._active.values():
            ack = acks.get(alert.row_id) if alert.row_id is not None else None
            if ack is not None:
                if (alert.ack_user, alert.ack_at) != (ack[0], ack[1]):
                    self._set_ack(alert, ack[0], ack[1], ack[2], out)
            elif alert.ack_user is not None:
                alert.ack_user, alert.ack_at, alert.ack_comment = None, None, ""
                alert.ack_renotified_at = None
                alert.touch()

    def _set_ack(self, alert: _Alert, user: str, at: float, comment: str, out: list[Notification]) -> None:
        alert.ack_user, alert.ack_at, alert.ack_comment = user, at, comment
        alert.ack_renotified_at = None
        alert.touch()
        if alert.notified_firing and not alert.silenced:
            self._notify(alert, "acknowledged", at, out)

    def _matches_silence(self, alert: _Alert) -> bool:
        for s in self._silences:
            if not fnmatch.fnmatchcase(alert.rule, s["rule"]):
                continue
            if s["target"] and not fnmatch.fnmatchcase(alert.target, s["target"]):
                continue
            if s["severity"] and s["severity"] != alert.severity:
                continue
            return True
        return False

    def _rule_for(self, alert: _Alert) -> CompiledRule | None:
        return self._rules.get(alert.rule) if not alert.external else self._external_rules.get(alert.rule)

    def _notify_pass(self, alert: _Alert, now: float, in_maintenance: bool, out: list[Notification]) -> None:
        rule = self._rule_for(alert)
        inhibited = ""
        if rule is not None:
            for name in rule.inhibited_by:
                other = self._active.get((name, alert.target))
                if other is not None and other.state == "firing":
                    inhibited = name
                    break
        muted = in_maintenance or bool(inhibited) or self._matches_silence(alert)
        if muted != alert.silenced or inhibited != alert.inhibited_by:
            alert.silenced, alert.inhibited_by = muted, inhibited
            alert.touch()
            self._event(alert, "muted" if muted else "unmuted", now,
                        detail=f"inhibited by {inhibited}" if inhibited else
                        ("maintenance" if in_maintenance else ""))
        if alert.state != "firing" or muted:
            return
        cfg = self.config.alerts
        if not alert.notified_firing:
            alert.notified_firing = True
            alert.first_notified_at = now
            alert.severity_rose = False
            self._notify(alert, "firing", now, out)
            return
        if alert.severity_rose:
            alert.severity_rose = False
            self._notify(alert, "firing", now, out, extra={"reason": "severity_raised"})
            return
        if alert.ack_user is not None:
            since = alert.ack_renotified_at or alert.ack_at or now
            if cfg.ack_timeout and now - since >= cfg.ack_timeout:
                alert.ack_renotified_at = now
                self._notify(alert, "reminder", now, out, extra={"reason": "ack_timeout"})
            return
        first = alert.first_notified_at if alert.first_notified_at is not None else now
        if cfg.escalate_after and not alert.escalated and now - first >= cfg.escalate_after:
            alert.escalated = True
            alert.severity = step_up(alert.base_severity)
            self._render_if(alert)
            self._notify(alert, "escalated", now, out, escalation=True)
            return
        cooldown = rule.cooldown if rule is not None else EXTERNAL_COOLDOWN
        last = alert.last_notified_at if alert.last_notified_at is not None else now
        if cooldown > 0 and now - last >= cooldown:
            self._notify(alert, "reminder", now, out, extra={"reason": "cooldown"})

    def _render_if(self, alert: _Alert) -> None:
        rule = self._rules.get(alert.rule)
        if rule is not None and not alert.external:
            self._render(alert, rule)

    def _notify(self, alert: _Alert, kind: NotificationKind, now: float, out: list[Notification], *,
                escalation: bool = False, extra: dict[str, str] | None = None) -> None:
        alert.touch()
        alert.seq += 1
        self._seqs[alert.fingerprint] = alert.seq
        if kind in ("firing", "reminder", "escalated"):
            alert.last_notified_at = now
        rule = self._rule_for(alert)
        out.append(Notification(
            fingerprint=alert.fingerprint, seq=alert.seq, kind=kind, alert=alert.view(), created_at=now,
            deployment=self.deployment, channels=rule.channels if rule is not None else (),
            escalation=escalation, extra=dict(extra or {}),
        ))
        self._event(alert, f"notify:{kind}", now)

    def _event(self, alert: _Alert, event: str, at: float, *, user: str | None = None,
               detail: str = "") -> None:
        self._history.append((alert, event, at, user, detail))

    # -- storage --------------------------------------------------------------------------

    def _flush(self, *, force: bool = False) -> None:
        if self.read_only:
            self._history.clear()
            self._deleted.clear()
            self._ack_clears.clear()
            return
        now = self.clock()
        dirty = [a for a in self._active.values()
                 if a.dirty or (a.stale_value and (force or now - a.saved_at >= VALUE_SAVE_S))]
        dirty += [a for a in self._resolved if a.dirty or (force and a.stale_value)]
        if not (dirty or self._history or self._deleted or self._ack_clears):
            return
        db = self._db
        try:
            with db.transaction() as conn:
                ids: dict[int, int] = {}
                for alert in dirty:
                    if alert.row_id is None:
                        ids[id(alert)] = db.save_alert(conn, None, alert.values())
                    else:
                        ids[id(alert)] = alert.row_id
                db.update_alerts(conn, [(a.row_id, a.values()) for a in dirty if a.row_id is not None])
                for row_id in self._deleted:
                    conn.execute("DELETE FROM alert_alerts WHERE id = ?", (row_id,))
                for row_id, at in self._ack_clears:
                    conn.execute("UPDATE alert_acks SET cleared_at = ?, cleared_by = 'resolved' "
                                 "WHERE alert_id = ? AND cleared_at IS NULL", (at, row_id))
                conn.executemany(
                    "INSERT INTO alert_history (alert_id, fingerprint, at, event, severity, value, user, "
                    "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(ids.get(id(alert), alert.row_id), alert.fingerprint, at, event, alert.severity,
                      alert.value, user, detail)
                     for alert, event, at, user, detail in self._history if not alert.dropped])
        except sqlite3.Error as exc:
            self.last_error = f"alerts not stored: {exc}"
            log.warning("alert database write failed: %s", exc)
            del self._history[:-HISTORY_BACKLOG]  # retried next tick; bounded while the disk is full
            return
        for alert in dirty:
            alert.row_id = ids[id(alert)]
            alert.dirty = alert.stale_value = False
            alert.saved_at = now
        self._history.clear()
        self._deleted.clear()
        self._ack_clears.clear()
        self.last_error = ""

    def _views(self, now: float) -> tuple[AlertView, ...]:
        active = sorted(self._active.values(),
                        key=lambda a: (a.state != "firing", -SEVERITY_ORDER.get(a.severity, 0), a.started_at))
        recent = [a for a in reversed(self._resolved)
                  if a.resolved_at is not None and now - a.resolved_at <= RECENT_RESOLVED_S]
        return tuple(a.view() for a in (*active, *recent))

    # -- what faces and the CLI call -------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError("read-only mode: acknowledgements and silences are disabled")

    def _by_row(self, row_id: int) -> _Alert | None:
        for alert in self._active.values():
            if alert.row_id == row_id:
                return alert
        return None

    @_locked
    def acknowledge(self, alert_id: str, user: str, comment: str = "") -> AlertView:
        """Acknowledge the active alert ``alert_id`` (or a unique prefix); UnknownAlert if none."""
        self._writable()
        now = self.clock()
        row = self._db.acknowledge(alert_id, user, comment, now)
        alert = self._by_row(row["id"])
        if alert is None:
            return row_to_view(row)
        self._set_ack(alert, user, now, comment, self._queued)
        self._flush()
        return alert.view()

    @_locked
    def unacknowledge(self, alert_id: str, user: str) -> AlertView:
        self._writable()
        now = self.clock()
        row = self._db.unacknowledge(alert_id, user, now)
        alert = self._by_row(row["id"])
        if alert is None:
            return row_to_view(row)
        alert.ack_user, alert.ack_at, alert.ack_comment, alert.ack_renotified_at = None, None, "", None
        alert.touch()
        self._flush()
        return alert.view()

    @_locked
    def silence(self, *, rule: str, target: str | None, severity: str | None, duration: float, comment: str,
                user: str) -> dict:
        """Mute alerts matching rule (and target, severity; shell patterns) for ``duration`` seconds."""
        self._writable()
        if duration <= 0:
            raise WsmonError("a silence needs a duration greater than zero")
        now = self.clock()
        made = self._db.add_silence(rule=rule, target=target, severity=severity, created_at=now,
                                    duration=duration, comment=comment, user=user)
        self._silences.append(made)
        return made

    @_locked
    def silences(self, *, active_only: bool = True) -> list[dict]:
        now = self.clock()
        return self._db.active_silences(now) if active_only else self._db.all_silences(now)

    @_locked
    def alerts(self, state: str = "active") -> list[AlertView]:
        """active | pending | firing | acknowledged | resolved | silenced | all."""
        live = sorted(self._active.values(), key=lambda a: a.started_at)
        if state in ("resolved", "all"):
            if self.read_only:
                done = [a.view() for a in reversed(self._resolved)]
            else:
                done = [row_to_view(r) for r in self._db.rows("resolved")]
            return done if state == "resolved" else [a.view() for a in live] + done
        pick: dict[str, Callable[[_Alert], bool]] = {
            "active": lambda a: True,
            "pending": lambda a: a.state == "pending",
            "firing": lambda a: a.state == "firing",
            "acknowledged": lambda a: a.ack_user is not None,
            "silenced": lambda a: a.silenced,
        }
        if state not in pick:
            raise WsmonError(f"unknown alert state {state!r}")
        return [a.view() for a in live if pick[state](a)]

    @_locked
    def stats(self) -> dict:
        """Counts by severity, state and rule, MTTA and MTTR over every stored occurrence."""
        return self._db.stats()

    @_locked
    def views(self) -> tuple[AlertView, ...]:
        """Active and recently resolved alerts now (after ``raise_alert`` within a tick)."""
        return self._views(self.clock())

    @_locked
    def raise_alert(self, *, rule: str, target: str, severity: str, summary: str, description: str = "",
                    value: float | None = None) -> list[Notification]:
        """An alert raised by another part (rollback): firing at once, same lifecycle, cleared
        by ``resolve_alert``. Raising it again while it fires updates it without re-notifying
        (unless its severity rose)."""
        now = self.clock()
        out: list[Notification] = []
        compiled = self._external_rules.get(rule)
        if compiled is None or compiled.severity != severity:
            compiled = make_rule(rule, OVERALL, ">", [(0.0, severity)], cooldown=EXTERNAL_COOLDOWN)
            self._external_rules[rule] = compiled
        key = (rule, target)
        alert = self._active.get(key)
        if alert is None:
            fp = fingerprint(rule, target, self.deployment)
            alert = _Alert(fingerprint=fp, rule=rule, target=target, deployment=self.deployment,
                           base_severity=severity, severity=severity, state="firing", started_at=now,
                           firing_at=now, external=True, seq=self._seqs.get(fp, 0))
            self._active[key] = alert
            self._event(alert, "firing", now)
        elif SEVERITY_ORDER.get(severity, 0) > SEVERITY_ORDER.get(alert.base_severity, 0):
            alert.base_severity = severity
            alert.severity = step_up(severity) if alert.escalated else severity
            alert.severity_rose = alert.notified_firing
        alert.summary, alert.description, alert.value = summary, description, value
        alert.last_true_at = now
        alert.touch()
        in_maintenance = any(w.active(now) for w in self._maintenance)
        self._notify_pass(alert, now, in_maintenance, out)
        self._flush()
        return out

    @_locked
    def resolve_alert(self, rule: str, target: str) -> list[Notification]:
        alert = self._active.get((rule, target))
        out: list[Notification] = []
        if alert is None:
            return out
        now = self.clock()
        if alert.state == "pending":
            self._drop(alert)
        else:
            self._resolve(alert, now, out)
        self._flush()
        return out

    @_locked
    def close(self) -> None:
        self._flush(force=True)
        self._db.close()
