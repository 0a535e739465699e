"""The incident's moments, read from the snapshots: the fault's first alert, the rollback's
start, and its verification (or failure). The charts mark them on every time axis.

The first alert is remembered across snapshots (``FaultMemo``): a snapshot keeps
resolved alerts for a while only, and a chart over the last hour should still show when
the fault began. A fault ends when none of its alerts is pending or firing; the next
alert that fires after that begins a new one. Rollback times come from the snapshot's
rollback state (the latest rollback of the session). Pure: no Textual.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from wsmon_tui.fmt import duration
from wsmon_tui.model import AlertView, RollbackView, Snapshot
from wsmon_tui.tui.chartmodel import Event
from wsmon_tui.tui.fmt import safe
from wsmon_tui.tui.thresholds import Thresholds

FAULT_SEVERITIES = frozenset({"warning", "critical"})
EVENT_WORDS = {"alert": "first alert", "rollback": "rollback started", "verifying": "verifying",
               "verified": "rollback verified", "failed": "rollback failed"}


@dataclass(frozen=True, slots=True)
class FaultMemo:
    """What is remembered between snapshots: the current (or last) fault's first alert, and
    since when no alert of it has been active (None while one is)."""

    first: Event | None = None
    quiet_since: float | None = None


def _counts(alert: AlertView, rules: Collection[str] | None) -> bool:
    """An alert of the fault: a warning or critical from a monitoring rule, not held back by
    another alert (inhibited). ``rules`` None: any rule (the engine's list is not known yet)."""
    return (alert.severity in FAULT_SEVERITIES and not alert.inhibited_by
            and (rules is None or alert.rule in rules))


def _alert_event(alert: AlertView) -> Event:
    assert alert.firing_at is not None
    where = f" · {safe(alert.target, 40)}" if alert.target else ""
    return Event(alert.firing_at, "alert", f"{safe(alert.rule, 40)}{where}")


def next_fault(memo: FaultMemo, snapshot: Snapshot, rules: Collection[str] | None = None) -> FaultMemo:
    """The memo after ``snapshot``: its first alert is the earliest firing alert of the fault."""
    ours = [a for a in snapshot.alerts if _counts(a, rules)]
    fired = [a for a in ours if a.firing_at is not None]
    active = any(a.state in ("pending", "firing") for a in ours)
    first, quiet_since = memo.first, memo.quiet_since
    if quiet_since is not None:
        fresh = [a for a in fired if a.firing_at is not None and a.firing_at >= quiet_since]
        if fresh:  # fired after the last fault went quiet: a new fault
            first = _alert_event(min(fresh, key=lambda a: a.firing_at or 0.0))
            quiet_since = None
    elif fired:
        earliest = min(fired, key=lambda a: a.firing_at or 0.0)
        if first is None or (earliest.firing_at or 0.0) < first.at:
            first = _alert_event(earliest)
    if active:
        quiet_since = None
    elif quiet_since is None and first is not None:
        quiet_since = snapshot.taken_at
    return FaultMemo(first, quiet_since)


def rollback_events(rb: RollbackView | None) -> tuple[Event, ...]:
    """The rollback's start, when its verification began, and how it ended."""
    if rb is None or rb.started_at is None or rb.state in ("idle", "dry_run"):
        return ()
    out = [Event(rb.started_at, "rollback", f"#{rb.id}" if rb.id is not None else "")]
    steps_s = 0.0
    for step in rb.steps:
        took = step.get("duration_ms")
        if isinstance(took, int | float):
            steps_s += float(took) / 1000.0
    if rb.state == "verifying":
        out.append(Event(rb.started_at + steps_s, "verifying", ""))
    elif rb.finished_at is not None and rb.state == "verified":
        out.append(Event(rb.finished_at, "verified", ""))
    elif rb.finished_at is not None and rb.state in ("failed", "failed_verification"):
        out.append(Event(rb.finished_at, "failed", "health did not recover"
                         if rb.state == "failed_verification" else "a step failed"))
    return tuple(out)


def incident_events(memo: FaultMemo, snapshot: Snapshot) -> tuple[Event, ...]:
    """Every marker of the incident, oldest first."""
    events = ((memo.first,) if memo.first is not None else ()) + rollback_events(snapshot.rollback)
    return tuple(sorted(events, key=lambda e: e.at))


def events_line(events: tuple[Event, ...], now: float) -> tuple[tuple[str, str], ...]:
    """The screen's one-line key to its markers, as (text, role) pairs: what each marker is,
    and how long ago."""
    if not events:
        return (("no alert or rollback to mark", "muted"),)
    parts: list[tuple[str, str]] = []
    for e in events:
        label = f" {e.label}" if e.label else ""
        parts.append((f"┊ {EVENT_WORDS.get(e.kind, e.kind)}{label} {duration(now - e.at)} ago   ",
                      f"marker-{e.kind}"))
    return tuple(parts)


class IncidentMemo:
    """The app's memo of the current fault, fed every snapshot (the metrics view may be hidden
    while the fault begins)."""

    def __init__(self) -> None:
        self.memo = FaultMemo()

    def see(self, snapshot: Snapshot, thresholds: Thresholds) -> None:
        self.memo = next_fault(self.memo, snapshot, thresholds.rule_metrics if thresholds else None)

    def events(self, snapshot: Snapshot) -> tuple[Event, ...]:
        return incident_events(self.memo, snapshot)
