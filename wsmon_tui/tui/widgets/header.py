"""The one-line header on every view: deployment, version, session, health, age, PAUSED."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from wsmon_tui.model import Snapshot
from wsmon_tui.tui.fmt import duration, num, safe

BADGE = {"healthy": "bold $text-success", "degraded": "bold $text-warning",
         "critical": "bold $text-error", "unknown": "bold $text-muted"}


def header_content(snapshot: Snapshot | None, *, now: float, paused: bool,
                   read_only: bool = False, deployment: str = "", attached: str = "",
                   replay: str = "") -> Content:
    """The header line; every server-supplied string goes in as plain text. ``attached``: the
    engine this face is attached to ("pid N · session S"), when it runs in another process;
    ``replay``: the replay's label ("REPLAY <recorded time> ×4"), shown instead of the age."""
    parts: list[str | tuple[str, str] | Content] = [("wsmon ", "bold $primary")]
    if snapshot is None:
        parts.append((safe(deployment or "starting"), "bold"))
        parts.append(("  waiting for the first snapshot…", "$text-muted"))
    else:
        dep = snapshot.deployment
        parts.append((safe(dep.name, 40), "bold"))
        if dep.version:
            parts.append(" " + safe(dep.version, 24))
        status = str(snapshot.status)
        parts.append("  ")
        parts.append((f" {status.upper()} {num(snapshot.health_score, 0)} ",
                      BADGE.get(status, BADGE["unknown"]) + " reverse"))
        if replay:
            parts.append("  ")
            parts.append((f" {replay} ", "bold reverse $accent"))
        else:
            age = max(0.0, now - snapshot.taken_at)
            parts.append(f"  updated {duration(age)} ago")
    if attached:
        parts.append((f"  attached to {safe(attached, 60)}", "bold $accent"))
    if read_only:
        parts.append(("  READ-ONLY", "bold $text-warning"))
    if paused:
        parts.append(("  PAUSED", "bold reverse $text-warning"))
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
