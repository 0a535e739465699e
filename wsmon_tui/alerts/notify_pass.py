"""The alert engine's notification pass: acks and silences read back from the database,
mutes (silences, maintenance, inhibition), and who is told what, when (firing, reminder,
escalated, acknowledged, resolved; see ``alerts/engine.py``'s module docstring).

Separate from the tick, which only decides each alert's state: this decides what is said
about it.
"""

from __future__ import annotations

import fnmatch
import logging
import sqlite3

from wsmon_tui.alerts.alert import _Alert
from wsmon_tui.alerts.defaults import MONITOR_OFFLINE
from wsmon_tui.alerts.engine_state import EXTERNAL_COOLDOWN, AlertEngineState
from wsmon_tui.alerts.notification import Notification, NotificationKind
from wsmon_tui.alerts.rules import OVERALL, CompiledRule, render, step_up
from wsmon_tui.fmt import metric_value

log = logging.getLogger(__name__)
_told: set[str] = set()
"""Template failures already logged (once per rule and reason, not once per tick)."""


class NotifyPass(AlertEngineState):
    """Acks, silences, mutes and notifications (see the module docstring)."""

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
        alert.acted_on = True
        alert.ack_renotified_at = None
        alert.touch()
        if alert.notified_firing and not alert.muted:
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
        inhibited = self._inhibitor(rule, alert)
        silenced = in_maintenance or self._matches_silence(alert)
        if silenced != alert.silenced or inhibited != alert.inhibited_by:
            alert.silenced, alert.inhibited_by = silenced, inhibited
            alert.touch()
            muted = silenced or bool(inhibited)
            self._event(alert, "muted" if muted else "unmuted", now,
                        detail=f"inhibited by {inhibited}" if inhibited else
                        ("maintenance" if in_maintenance else ""))
        if alert.state != "firing" or alert.muted:
            return
        cfg = self.config.alerts
        if not alert.notified_firing:
            if alert.last_true_at is not None and alert.last_true_at < now:
                return  # held by keep_firing_for after a mute, no longer true: nothing to announce
            alert.notified_firing = True
            alert.first_notified_at = now
            alert.severity_rose = False
            self._notify(alert, "firing", now, out)
            if alert.ack_user is not None:  # acknowledged while pending: PagerDuty's incident too
                self._notify(alert, "acknowledged", now, out)
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

    def _inhibitor(self, rule: CompiledRule | None, alert: _Alert) -> str:
        """The rule whose alert on the same target holds this one back ("" when none).

        A pending inhibitor counts too: a refused target's TargetDown is pending from its first
        failed probe, and the error-rate rules it covers must not page in the meantime."""
        if rule is not None:
            for name in rule.inhibited_by:
                other = self._active.get((name, alert.target))
                if other is not None and other.state in ("pending", "firing"):
                    return name
        if alert.target != OVERALL and not alert.external and (MONITOR_OFFLINE, OVERALL) in self._active:
            return MONITOR_OFFLINE  # this machine looks offline: pending too, its `for` is TargetDown's
        return ""

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

    def _render(self, alert: _Alert, rule: CompiledRule) -> None:
        probes, span = alert.evidence if alert.evidence is not None else (None, None)
        fields = {"target": alert.target, "value": alert.value, "threshold": alert.threshold,
                  "rule": rule.name, "severity": alert.severity, "metric": rule.metric,
                  "deployment": self.deployment, "site": self.site, "probes": probes,
                  "span": None if span is None else round(span)}
        # the default summary says the figures in the metric's unit ("rtt_p95 > 100.0 ms (now
        # 378.9 ms)"); the names in it are literal text, not template fields
        said = (f"{rule.name} on {alert.target}: {rule.metric} {rule.op} "
                f"{metric_value(rule.metric, alert.threshold)} (now {metric_value(rule.metric, alert.value)}")
        default = said.replace("{", "{{").replace("}", "}}")
        default += " over {probes} probes in {span} s)" if alert.evidence is not None else ")"
        errors: list[str] = []  # a template that fails is sent as written; the log and history say why
        alert.summary = render(rule.summary or default, fields, errors)
        alert.description = render(rule.description, fields, errors)
        alert.runbook = render(rule.runbook, fields, errors)
        if errors:
            note = f"rule {rule.name}: template not filled, sent as written: {'; '.join(errors)}"
            if note not in _told:
                _told.add(note)
                log.warning("%s", note)
                self._event(alert, "template_error", self.clock(), detail=note[:500])
