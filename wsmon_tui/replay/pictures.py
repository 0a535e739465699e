"""The alerts and the rollback exactly as a session's faces were given them.

Since the recorder writes them (``engine/recorder.py``: an ``alerts`` event holding the
AlertViews that appeared or changed on a tick and the ids of those gone, a ``rollback`` event
holding the RollbackView, each written on the tick it changed), a replay shows them from that
tick on, as they were: pending alerts that never fired, acks, mutes and escalations included.
A session recorded before has none; its alerts and rollbacks are then rebuilt from the stored
rows (``episodes.py``).

An alert's value and summary are those of the tick it last changed (a value moving while its
state holds is not a change, or every tick would be written).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, TypeVar

from wsmon_tui.model import AlertView, RollbackView
from wsmon_tui.replay.episodes import (
    ACK,
    ALERT_FIRED,
    ALERT_RESOLVED,
    ROLLBACK_FINISHED,
    ROLLBACK_STARTED,
    ROLLBACK_STEP,
    ROLLBACK_VERIFYING,
    UNACK,
    live_order,
)
from wsmon_tui.seam import ReplayEvent
from wsmon_tui.wire import from_wire

T = TypeVar("T")
AlertPictures = tuple[tuple[float, tuple[AlertView, ...]], ...]
RollbackPictures = tuple[tuple[float, RollbackView | None], ...]
FINAL = frozenset({"verified", "failed_verification", "failed", "dry_run"})


def read_pictures(events: list[dict[str, Any]]) -> tuple[AlertPictures, RollbackPictures]:
    """The ``alerts`` and ``rollback`` events of one session (oldest first) as pictures."""
    alerts: list[tuple[float, tuple[AlertView, ...]]] = []
    rollbacks: list[tuple[float, RollbackView | None]] = []
    shown: dict[str, AlertView] = {}
    for event in events:
        data = event["data"]
        if event["kind"] == "alerts":  # what changed on that tick: applied to what was shown
            for raw in data.get("changed") or ():
                view = from_wire(AlertView, raw)
                shown[view.id] = view
            for gone in data.get("gone") or ():
                shown.pop(gone, None)
            alerts.append((float(event["at"]), live_order(shown.values())))
        elif event["kind"] == "rollback":
            raw = data.get("rollback")
            rollbacks.append((float(event["at"]), None if raw is None else from_wire(RollbackView, raw)))
    return tuple(alerts), tuple(rollbacks)


def picture_at(pictures: tuple[tuple[float, T], ...], t: float, default: T) -> T:
    """The picture taken last at or before ``t``."""
    i = bisect_right([at for at, _ in pictures], t) - 1
    return pictures[i][1] if i >= 0 else default


def _name(alert: AlertView) -> str:
    return f"{alert.rule} on {alert.target or 'overall'}"


def alert_events(pictures: AlertPictures) -> list[ReplayEvent]:
    """Alerts fired and resolved, acks given and taken back: each at the tick that first showed it."""
    out: list[ReplayEvent] = []
    before: dict[str, AlertView] = {}
    for at, views in pictures:
        for a in views:
            was = before.get(a.id)
            if a.state == "firing" and (was is None or was.state != "firing"):
                out.append(ReplayEvent(at, ALERT_FIRED, f"{_name(a)} fired ({a.severity})"))
            if a.state == "resolved" and was is not None and was.state != "resolved":
                out.append(ReplayEvent(at, ALERT_RESOLVED, f"{_name(a)} resolved"))
            if a.acknowledged_by and (was is None or (was.acknowledged_by, was.acknowledged_at)
                                      != (a.acknowledged_by, a.acknowledged_at)):
                note = f": {a.ack_comment}" if a.ack_comment else ""
                out.append(ReplayEvent(at, ACK, f"{a.acknowledged_by} acknowledged {_name(a)}{note}"))
            if not a.acknowledged_by and was is not None and was.acknowledged_by and a.state != "resolved":
                out.append(ReplayEvent(at, UNACK, f"the ack of {_name(a)} was taken back"))
        before = {a.id: a for a in views}
    return out


def rollback_events(pictures: RollbackPictures) -> list[ReplayEvent]:
    """A rollback started, each step's result, verification, the outcome."""
    out: list[ReplayEvent] = []
    was: RollbackView | None = None
    for at, rb in pictures:
        if rb is None or rb.id is None:
            was = rb
            continue
        same = was is not None and was.id == rb.id
        name = f"rollback #{rb.id}"
        if not same:
            out.append(ReplayEvent(at, ROLLBACK_STARTED,
                                   f"{name} started (trigger {rb.trigger or 'manual'})"))
        done = len(was.steps) if same and was is not None else 0
        for seq, step in enumerate(rb.steps[done:], start=done + 1):
            ok = step.get("ok")
            result = "not run" if ok is None else "ok" if ok else "failed"
            detail = f": {step.get('detail')}" if step.get("detail") else ""
            out.append(ReplayEvent(at, ROLLBACK_STEP,
                                   f"{name} step {seq} {step.get('name', '')} {result}{detail}"))
        moved = not same or (was is not None and was.state != rb.state)
        if rb.state == "verifying" and moved:
            out.append(ReplayEvent(at, ROLLBACK_VERIFYING, f"{name} verifying health"))
        if rb.state in FINAL and moved:
            out.append(ReplayEvent(at, ROLLBACK_FINISHED, f"{name} {rb.state}"))
        was = rb
    return out
