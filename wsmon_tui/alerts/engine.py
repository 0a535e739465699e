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

A pending alert that clears (or is still pending when the session ends) leaves no trace, unless
someone acknowledged it while pending: what a person did is history, so it ends ``resolved``
(or ``stale``) and stays listed with its acknowledgement, like one that fired.

Muted alerts are evaluated and shown, and not notified at all: silenced (a matching
silence or an open maintenance window: ``silenced=True``) or inhibited (another pending or
firing alert on the same target holds it back, e.g. TargetDown over HighErrorRate:
``inhibited_by="TargetDown"``; shown as inhibited, never as silenced). Acks and silences
are re-read from the database every evaluation, so the command line in another process
takes effect on the next tick.

Here: the tick (each alert's state) and what faces and the CLI call. The parts it is built
on: ``alerts/alert.py`` (one alert's record, its fingerprint), ``alerts/engine_state.py``
(the shared state and its storage), ``alerts/notify_pass.py`` (acks, mutes, notifications).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from wsmon_tui.alerts.alert import _Alert, fingerprint
from wsmon_tui.alerts.db import UnknownAlert, report_alerts, row_to_view
from wsmon_tui.alerts.engine_state import EXTERNAL_COOLDOWN, _locked, build_rules
from wsmon_tui.alerts.notification import Notification
from wsmon_tui.alerts.notify_pass import NotifyPass
from wsmon_tui.alerts.rules import OVERALL, CompiledRule, MetricReader, Tier, make_rule, step_up
from wsmon_tui.errors import ReadOnlyError, WsmonError
from wsmon_tui.metrics import RATE_METRICS
from wsmon_tui.model import SEVERITY_ORDER, AlertView, Snapshot, Windows

__all__ = ["AlertEngine", "UnknownAlert", "build_rules", "fingerprint", "report_alerts"]

_MISSING = object()


class AlertEngine(NotifyPass):
    """Judges the rules every tick and keeps each alert's lifecycle (see the module doc)."""

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
            rated = rule.metric in RATE_METRICS and not rule.fleet
            if not rule.window and rule.relative_baseline is None and not rule.fleet \
                    and not rule.require_probes and not rated:
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
            needs_evidence = rule.needs_evidence
            evidence: tuple[int, float] | None = None
            for target in targets:
                if rule.require_probes and not views[target].probes:
                    value = None
                else:
                    value = col.get(target, missing)
                    if value is missing:
                        value = col[target] = reader.value(rule, target)
                if rated:
                    evidence = reader.evidence(rule, target)
                    if needs_evidence and not reader.enough(*evidence):
                        value = None  # too few probes to call it a rate: not judged yet
                tier = match(value) if value is not None else None
                if tier is None and target not in has:
                    continue
                self._judge(rule, target, tier, value, now, out, seen, evidence)
        for key, alert in list(active.items()):
            if key not in seen and not alert.external:
                self._step(alert, self._rules.get(alert.rule), None, None, None, now, out)
        in_maintenance = any(w.active(now) for w in self._maintenance)
        for alert in list(active.values()):
            self._notify_pass(alert, now, in_maintenance, out)
        self._flush()
        return self._views(now), out

    def _judge(self, rule: CompiledRule, target: str, tier: Tier | None, value: float | None, now: float,
               out: list[Notification], seen: set[tuple[str, str]],
               evidence: tuple[int, float] | None = None) -> None:
        key = (rule.name, target)
        alert = self._active.get(key)
        if alert is None:
            if tier is None:
                return
            alert = self._start(rule, target, now)
        seen.add(key)
        self._step(alert, rule, tier.threshold if tier else None, tier.severity if tier else None, value,
                   now, out, evidence)

    def _start(self, rule: CompiledRule, target: str, now: float) -> _Alert:
        fp = fingerprint(rule.name, target, self.deployment, self.site)
        alert = _Alert(fingerprint=fp, rule=rule.name, target=target, deployment=self.deployment,
                       base_severity=rule.severity, severity=rule.severity, state="pending", started_at=now,
                       metric=rule.metric, runbook="", labels=self._labels(rule.labels),
                       seq=self._seqs.get(fp, 0), session_id=self.session_id)
        self._continue(alert, rule, now)
        self._active[(rule.name, target)] = alert
        self._event(alert, "pending", now)
        return alert

    def _continue(self, alert: _Alert, rule: CompiledRule, now: float) -> None:
        """A new occurrence of an alert whose last one ended stale (its session stopped) within
        the rule's cooldown continues its notifications: the page already sent stands, the next
        is a reminder when the cooldown is up. A restarted monitor does not page again."""
        prev = self._carry.pop(alert.fingerprint, None)
        if prev is None or not prev.notified_firing:
            return
        last = prev.last_notified_at or prev.first_notified_at
        window = rule.cooldown if rule.cooldown > 0 else EXTERNAL_COOLDOWN
        if last is None or now - last >= window:
            return
        alert.notified_firing = True
        alert.first_notified_at, alert.last_notified_at = prev.first_notified_at, prev.last_notified_at
        alert.escalated = prev.escalated

    def _step(self, alert: _Alert, rule: CompiledRule | None, threshold: float | None, severity: str | None,
              value: float | None, now: float, out: list[Notification],
              evidence: tuple[int, float] | None = None) -> None:
        if severity is not None and rule is not None:
            alert.last_true_at = now
            structural = threshold != alert.threshold or not alert.summary or alert.metric != rule.metric
            alert.metric = rule.metric  # a row stored before metrics were kept learns its own
            if severity != alert.base_severity:
                if SEVERITY_ORDER[severity] > SEVERITY_ORDER[alert.base_severity] and alert.state == "firing":
                    alert.severity_rose = True
                alert.base_severity = severity
                alert.severity = step_up(severity) if alert.escalated else severity
                structural = True
            if structural or value != alert.value or evidence != alert.evidence:
                alert.value, alert.threshold, alert.evidence = value, threshold, evidence
                self._render(alert, rule)
                if structural:
                    alert.touch()
                else:
                    alert.touch_value()
            if alert.state == "pending" and now - alert.started_at >= rule.for_:
                alert.state = "firing"
                alert.firing_at = now
                alert.fired_value = alert.value
                alert.touch()
                self._event(alert, "firing", now)
            return
        if alert.state == "pending" and not alert.acted_on:
            self._drop(alert)
            return
        if value is not None and value != alert.value:
            alert.value = value
            alert.touch_value()
        hold = rule.keep_firing_for if rule is not None else 0.0
        last = alert.last_true_at if alert.last_true_at is not None else alert.started_at
        if now - last >= hold:
            self._resolve(alert, now, out)

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
        if self.config.alerts.send_resolved and alert.notified_firing and not alert.muted:
            self._notify(alert, "resolved", now, out)
        self._resolved.append(alert)

    @_locked
    def resume(self, now: float) -> None:
        """The monitor slept (``engine/wake.py``) and judged nothing meanwhile: a pending alert
        starts its ``for`` again from the next judged tick, and a firing one is held
        (``keep_firing_for`` counts from now), as no evidence either way was seen."""
        for alert in list(self._active.values()):
            if alert.external:
                continue
            if alert.state == "pending" and not alert.acted_on:
                self._drop(alert)
            else:
                alert.last_true_at = now
        self._flush()

    # -- sessions ---------------------------------------------------------------------------

    @_locked
    def begin_session(self, session_id: str) -> int:
        """Evaluate for ``session_id`` from now on. Alerts left active by sessions that are no
        longer running (ended or crashed; only the lease holder acts, so no other is) end
        ``stale``: never resolved as if fixed, no longer firing. Returns how many ended."""
        self.session_id = session_id
        if self.read_only:
            return 0
        now = self.clock()
        ended = 0
        for alert in list(self._active.values()):
            if alert.session_id != session_id:
                self._end_stale(alert, alert.last_true_at or alert.firing_at or alert.started_at,
                                "its session is no longer running")
                ended += 1
        self._flush()
        try:
            ended += self._db.end_stale(session_id, now)  # other deployments' too
        except sqlite3.Error as exc:
            self.last_error = f"alert database: {exc}"
        return ended

    @_locked
    def end_session(self) -> None:
        """The session ends: its active alerts end ``stale`` (no longer evaluated; nothing is
        said about whether their cause was fixed, and nothing is notified)."""
        if self.read_only:
            return
        now = self.clock()
        for alert in list(self._active.values()):
            self._end_stale(alert, now, "the session ended")
        self._flush(force=True)

    def _end_stale(self, alert: _Alert, at: float, why: str) -> None:
        if alert.state == "pending" and not alert.acted_on:
            self._drop(alert)  # never fired: not kept, as when its condition clears
            return
        del self._active[(alert.rule, alert.target)]
        alert.state = "stale"
        alert.resolved_at = max(at, alert.started_at)
        alert.touch()
        self._event(alert, "stale", alert.resolved_at, detail=why)
        self._ended.append(alert)
        self._carry[alert.fingerprint] = alert

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
        """active | pending | firing | acknowledged | resolved | stale | silenced | inhibited | all."""
        live = sorted(self._active.values(), key=lambda a: a.started_at)
        if state in ("resolved", "stale", "all"):
            if self.read_only:
                done = [a.view() for a in reversed(self._resolved)]
            else:
                done = [row_to_view(r) for r in self._db.rows("all" if state == "all" else state,
                                                                deployment=self.deployment)
                        if r["state"] not in ("pending", "firing")]
            return [a.view() for a in live] + done if state == "all" else done
        pick: dict[str, Callable[[_Alert], bool]] = {
            "active": lambda a: True,
            "pending": lambda a: a.state == "pending",
            "firing": lambda a: a.state == "firing",
            "acknowledged": lambda a: a.ack_user is not None,
            "silenced": lambda a: a.silenced,
            "inhibited": lambda a: bool(a.inhibited_by),
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
            fp = fingerprint(rule, target, self.deployment, self.site)
            alert = _Alert(fingerprint=fp, rule=rule, target=target, deployment=self.deployment,
                           base_severity=severity, severity=severity, state="firing", started_at=now,
                           firing_at=now, fired_value=value, external=True, seq=self._seqs.get(fp, 0),
                           labels=self._labels(),
                           session_id=self.session_id)
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
        if alert.state == "pending" and not alert.acted_on:
            self._drop(alert)
        else:
            self._resolve(alert, now, out)
        self._flush()
        return out

    @_locked
    def close(self) -> None:
        self._flush(force=True)
        self._db.close()
