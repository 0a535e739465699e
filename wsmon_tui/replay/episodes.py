"""What happened to alerts and rollbacks during a recorded session, and how each looked at any
instant of it.

An alert occurrence is read from its stored row (``alert_alerts``), its transitions
(``alert_history``: pending, firing, resolved, muted, ``notify:escalated``) and its
acknowledgements (``alert_acks``); a rollback from ``rollback_actions`` and its steps. The row
holds how the alert *ended*; its state at an earlier instant comes from the times and
transitions, never from the final row alone (an alert acknowledged at 14:03 is not shown
acknowledged at 14:01).
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from wsmon_tui.model import SEVERITY_ORDER, AlertView, RollbackView
from wsmon_tui.seam import ReplayEvent

RECENT_RESOLVED_S = 900.0
"""A resolved alert stays in a snapshot this long, as the alert engine keeps it
(``alerts.engine_state.RECENT_RESOLVED_S``)."""
ROLLBACK_RECOMMENDED = "RollbackRecommended"

# The kinds of timeline events (``seam.REPLAY_EVENT_KINDS``).
ALERT_FIRED = "alert_fired"
ALERT_RESOLVED = "alert_resolved"
ACK = "ack"
UNACK = "unack"
ROLLBACK_STARTED = "rollback_started"
ROLLBACK_STEP = "rollback_step"
ROLLBACK_VERIFYING = "rollback_verifying"
ROLLBACK_FINISHED = "rollback_finished"
ALERT_KINDS = frozenset({ALERT_FIRED, ALERT_RESOLVED})
ACK_KINDS = frozenset({ACK, UNACK})
ROLLBACK_KINDS = frozenset({ROLLBACK_STARTED, ROLLBACK_STEP, ROLLBACK_VERIFYING, ROLLBACK_FINISHED})


@dataclass(frozen=True, slots=True)
class Ack:
    user: str
    at: float
    comment: str
    cleared_at: float | None
    cleared_by: str | None

    def open_at(self, t: float) -> bool:
        """Whether this acknowledgement holds at ``t``. One cleared because its alert resolved
        still shows on the resolved alert, as the live view keeps it."""
        if self.at > t:
            return False
        return self.cleared_at is None or self.cleared_at > t or self.cleared_by == "resolved"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One stored alert occurrence with its transitions (``(at, event, value, detail)``, oldest first)."""

    row: Mapping[str, Any]
    transitions: tuple[tuple[float, str, float | None, str], ...] = ()
    acks: tuple[Ack, ...] = ()

    @property
    def started_at(self) -> float:
        return float(self.row["started_at"])

    @property
    def label(self) -> str:
        return f"{self.row['rule']} on {self.row['target'] or 'overall'}"

    def _last(self, t: float, events: frozenset[str]) -> tuple[float, str, float | None, str] | None:
        found = None
        for tr in self.transitions:
            if tr[0] > t:
                break
            if tr[1] in events:
                found = tr
        return found

    def state_at(self, t: float) -> str | None:
        """pending | firing | resolved at ``t``; None before it started. A ``stale`` occurrence
        (its session ended while it was active) stays active to the end of the recording."""
        row = self.row
        if self.started_at > t:
            return None
        if row["state"] == "resolved" and row["resolved_at"] is not None and row["resolved_at"] <= t:
            return "resolved"
        if row["firing_at"] is not None and row["firing_at"] <= t:
            return "firing"
        return "pending"

    def view_at(self, t: float) -> AlertView | None:
        """The alert as a snapshot taken at ``t`` showed it (None: not in such a snapshot)."""
        state = self.state_at(t)
        if state is None:
            return None
        row = self.row
        if state == "resolved" and t - float(row["resolved_at"]) > RECENT_RESOLVED_S:
            return None
        escalated = self._last(t, frozenset({"notify:escalated"})) is not None
        severity = row["severity"] if escalated else (row["base_severity"] or row["severity"])
        muted = self._last(t, frozenset({"muted", "unmuted"}))
        silenced, inhibited_by = False, ""
        if muted is not None and muted[1] == "muted":
            if muted[3].startswith("inhibited by "):
                inhibited_by = muted[3].removeprefix("inhibited by ")
            else:
                silenced = True
        valued = [tr[2] for tr in self.transitions if tr[0] <= t and tr[2] is not None]
        ack = next((a for a in reversed(self.acks) if a.open_at(t)), None)
        try:
            labels = json.loads(row["labels"] or "{}")
        except ValueError:
            labels = {}
        return AlertView(
            id=row["fingerprint"], rule=row["rule"], target=row["target"], severity=severity, state=state,
            value=valued[-1] if valued else None, threshold=row["threshold"], summary=row["summary"],
            description=row["description"], runbook=row["runbook"], started_at=row["started_at"],
            firing_at=row["firing_at"] if state != "pending" else None,
            resolved_at=row["resolved_at"] if state == "resolved" else None,
            acknowledged_by=ack.user if ack else None, acknowledged_at=ack.at if ack else None,
            ack_comment=ack.comment if ack else "", silenced=silenced, escalated=escalated,
            labels=MappingProxyType({str(k): str(v) for k, v in labels.items()})
            if isinstance(labels, dict) else MappingProxyType({}),
            inhibited_by=inhibited_by)

    def events(self) -> list[ReplayEvent]:
        row = self.row
        out: list[ReplayEvent] = []
        if row["firing_at"] is not None:
            sev = row["base_severity"] or row["severity"]
            out.append(ReplayEvent(float(row["firing_at"]), ALERT_FIRED, f"{self.label} fired ({sev})"))
        if row["state"] == "resolved" and row["resolved_at"] is not None:
            out.append(ReplayEvent(float(row["resolved_at"]), ALERT_RESOLVED, f"{self.label} resolved"))
        for ack in self.acks:
            note = f": {ack.comment}" if ack.comment else ""
            out.append(ReplayEvent(ack.at, ACK, f"{ack.user} acknowledged {self.label}{note}"))
            if ack.cleared_at is not None and (ack.cleared_by or "").startswith("unack:"):
                who = (ack.cleared_by or "").removeprefix("unack:")
                out.append(ReplayEvent(ack.cleared_at, UNACK, f"{who} took back the ack of {self.label}"))
        return out


def alert_views_at(occurrences: tuple[Occurrence, ...], t: float) -> tuple[AlertView, ...]:
    return live_order(v for o in occurrences if (v := o.view_at(t)) is not None)


def live_order(alerts: Iterable[AlertView]) -> tuple[AlertView, ...]:
    """Active alerts first (firing, then by severity and age), then the recently resolved, newest
    first: the order of the live snapshot."""
    views = list(alerts)
    active = sorted((v for v in views if v.state != "resolved"), key=lambda a: (
        a.state != "firing", -SEVERITY_ORDER.get(a.severity, 0), a.started_at or 0.0))
    resolved = sorted((v for v in views if v.state == "resolved"), key=lambda a: -(a.resolved_at or 0.0))
    return (*active, *resolved)


@dataclass(frozen=True, slots=True)
class Step:
    seq: int
    type: str
    name: str
    ok: bool | None
    duration_ms: float | None
    detail: str
    started_at: float | None

    @property
    def done_at(self) -> float | None:
        """When the step's result was known (its start plus its duration)."""
        if self.started_at is None:
            return None
        return self.started_at + (self.duration_ms or 0.0) / 1000.0

    def brief(self) -> Mapping[str, object]:
        """The form a live ``RollbackView`` carries (``StepResult.brief``)."""
        took = None if self.duration_ms is None else round(self.duration_ms, 1)
        return MappingProxyType({"type": self.type, "name": self.name, "ok": self.ok, "duration_ms": took,
                                 "detail": self.detail})


VERIFIED_PATH = frozenset({"verifying", "verified", "failed_verification"})
"""Outcomes reached through verification: the action verified from its last step's end."""


@dataclass(frozen=True, slots=True)
class RollbackAction:
    """One stored rollback with its steps."""

    row: Mapping[str, Any]
    steps: tuple[Step, ...] = field(default_factory=tuple)

    @property
    def id(self) -> int:
        return int(self.row["id"])

    @property
    def started_at(self) -> float:
        return float(self.row["started_at"])

    @property
    def steps_done_at(self) -> float | None:
        ends = [s.done_at for s in self.steps if s.done_at is not None]
        return max(ends) if ends and len(ends) == len(self.steps) else None

    def state_at(self, t: float) -> str:
        row = self.row
        finished = row["finished_at"]
        if finished is not None and finished <= t:
            return str(row["outcome"])
        done = self.steps_done_at
        if row["outcome"] in VERIFIED_PATH and done is not None and done <= t:
            return "verifying"
        return "running"

    def view_at(self, t: float, *, auto_count: int, recommended: bool) -> RollbackView:
        row = self.row
        finished = row["finished_at"] if row["finished_at"] is not None and row["finished_at"] <= t else None
        steps = tuple(s.brief() for s in self.steps if s.done_at is not None and s.done_at <= t)
        return RollbackView(id=self.id, state=self.state_at(t), trigger=row["trigger"], reason=row["reason"],
                            started_at=self.started_at, finished_at=finished, steps=steps,
                            auto_count=auto_count, recommended=recommended)

    def events(self) -> list[ReplayEvent]:
        row = self.row
        name = f"rollback #{self.id}"
        how = "automatic" if row["automatic"] else f"by {row['user']}"
        out = [ReplayEvent(self.started_at, ROLLBACK_STARTED,
                           f"{name} started ({how}; trigger {row['trigger'] or 'manual'})")]
        for s in self.steps:
            if s.done_at is not None:
                result = "not run" if s.ok is None else "ok" if s.ok else "failed"
                detail = f": {s.detail}" if s.detail else ""
                out.append(ReplayEvent(s.done_at, ROLLBACK_STEP,
                                       f"{name} step {s.seq} {s.name} {result}{detail}"))
        done = self.steps_done_at
        if row["outcome"] in VERIFIED_PATH and done is not None:
            out.append(ReplayEvent(done, ROLLBACK_VERIFYING, f"{name} verifying health"))
        if row["finished_at"] is not None:
            out.append(ReplayEvent(float(row["finished_at"]), ROLLBACK_FINISHED, f"{name} {row['outcome']}"))
        return out


def rollback_view_at(actions: tuple[RollbackAction, ...], t: float, *, auto_times: tuple[float, ...],
                     alerts: tuple[AlertView, ...]) -> RollbackView:
    """The session's latest rollback started by ``t``, or idle. ``auto_times``: when every
    automatic rollback of the deployment's version started (sorted), what ``auto_count`` counts."""
    recommended = any(a.rule == ROLLBACK_RECOMMENDED and a.state == "firing" for a in alerts)
    auto_count = bisect_right(auto_times, t)
    current = None
    for action in actions:
        if action.started_at <= t:
            current = action
    if current is None:
        return RollbackView(id=None, state="idle", auto_count=auto_count, recommended=recommended)
    return current.view_at(t, auto_count=auto_count, recommended=recommended)
