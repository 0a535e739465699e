"""The one-line header on every view: deployment, version, session, state, age of the data, PAUSED.

The state never reads better than the alerts: while a critical alert fires it says
CRITICAL and how many fire, whatever the score (shown apart). The age is the age of the
data on screen, in whole seconds; the app updates it every second between repaints.
"""

from __future__ import annotations

import time

from textual.content import Content
from textual.widgets import Static

from wsmon_tui.model import Snapshot
from wsmon_tui.tui.fmt import duration, num, safe

BADGE = {"healthy": "bold $text-success", "degraded": "bold $text-warning",
         "critical": "bold $text-error", "unknown": "bold $text-muted"}


def critical_firing(snapshot: Snapshot) -> int:
    """Critical alerts firing (muted or not: a silence hides the page, not the fire)."""
    return sum(1 for a in snapshot.alerts if a.state == "firing" and a.severity == "critical")


def age_text(age: float) -> str:
    """The data's age in whole seconds (it counts up once a second): "0s", "59s", "3m 20s"."""
    age = max(0.0, age)
    return f"{int(age)}s" if age < 60 else duration(int(age))


def clock_time(ts: float) -> str:
    """A wall-clock time of day, local: "14:02:11"."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def state_parts(snapshot: Snapshot) -> list[str | tuple[str, str]]:
    """The state badge, then the score apart: " CRITICAL · 2 alerts firing "  score 100."""
    status = str(snapshot.status)
    fires = critical_firing(snapshot)
    label = status.upper()
    if fires:
        status = "critical"
        label = f"CRITICAL · {fires} alert{'s' if fires != 1 else ''} firing"
    parts: list[str | tuple[str, str]] = [(f" {label} ", BADGE.get(status, BADGE["unknown"]) + " reverse")]
    if snapshot.health_score is not None:
        parts.append(f" score {num(snapshot.health_score, 0)}")
    return parts


def header_content(snapshot: Snapshot | None, *, now: float, paused: bool,
                   read_only: bool = False, deployment: str = "", attached: str = "",
                   replay: str = "") -> Content:
    """The header line; every server-supplied string goes in as plain text. ``snapshot``: the
    data on screen (frozen while paused). ``attached``: the engine this face is attached to
    ("pid N · session S"), when it runs in another process; ``replay``: the replay's label
    ("REPLAY <recorded time> ×4"), shown instead of the age."""
    parts: list[str | tuple[str, str] | Content] = [("wsmon ", "bold $primary")]
    if snapshot is None:
        parts.append((safe(deployment or "starting"), "bold"))
        parts.append(("  waiting for the first snapshot…", "$text-muted"))
        if paused:
            parts.append(("  PAUSED", "bold reverse $text-warning"))
    else:
        dep = snapshot.deployment
        parts.append((safe(dep.name, 40), "bold"))
        if dep.version:
            parts.append(" " + safe(dep.version, 24))
        parts.append("  ")
        parts.extend(state_parts(snapshot))
        age = age_text(now - snapshot.taken_at)
        if replay:
            parts.append("  ")
            parts.append((f" {replay} ", "bold reverse $accent"))
        elif paused:
            parts.append(("  PAUSED", "bold reverse $text-warning"))
            parts.append((f" · data from {clock_time(snapshot.taken_at)} ({age} ago)", "bold $text-warning"))
        else:
            parts.append(f"  updated {age} ago")
    if attached:
        parts.append((f"  attached to {safe(attached, 60)}", "bold $accent"))
    if read_only:
        parts.append(("  READ-ONLY", "bold $text-warning"))
    if snapshot is not None:
        # least important last: a narrow terminal cuts these first
        if snapshot.deployment.previous_version:
            parts.append((f"  prev {safe(snapshot.deployment.previous_version, 24)}", "$text-muted"))
        if not attached:  # the attachment names the session already
            parts.append((f"  session {safe(snapshot.session_id, 40)}", "$text-muted"))
    return Content.assemble(*parts)


class WsmonHeader(Static):
    """Redrawn only when its text changes."""

    DEFAULT_CSS = """
    WsmonHeader { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__("", id="header")
        self._last: Content | None = None

    def show(self, content: Content) -> None:
        if content != self._last:
            self._last = content
            self.update(content, layout=False)  # one line, full width: its size never changes
