"""The replay's timeline: where the frame on screen stands in the recorded session, with a tick
for every event (alerts fired and resolved, acks, rollback steps), and the header's REPLAY label.

Only a replay shows it (``tui/replay.py``); every label is plain text (events may carry
text from servers), never markup.
"""

from __future__ import annotations

import time

from textual.content import Content
from textual.widget import Widget

from wsmon_tui.seam import ReplayEvent, ReplayPosition
from wsmon_tui.tui.fmt import safe

EVENT_STYLES = (("alert", "bold $text-error"), ("unack", "bold $text-warning"), ("ack", "bold $text-success"),
                ("rollback", "bold $accent"))
"""The style of an event's tick, by the start of its kind."""
EVENT_RANK = {"alert": 3, "rollback": 2, "unack": 1, "ack": 1}
"""Which tick a cell holding several events shows."""


def event_style(kind: str) -> str:
    return next((style for prefix, style in EVENT_STYLES if kind.startswith(prefix)), "$text-muted")


def _rank(kind: str) -> int:
    return next((rank for prefix, rank in EVENT_RANK.items() if kind.startswith(prefix)), 0)


def clock(ts: float) -> str:
    """A recorded time as the header shows it (UTC, as session ids and reports are)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def speed_text(speed: float) -> str:
    return f"×{speed:g}"


def replay_label(pos: ReplayPosition) -> str:
    """``REPLAY 2026-12-02 14:02:11 ×4 · paused``: the header's word for a replay."""
    state = " · end" if pos.at_end else " · paused" if pos.paused else ""
    return f"REPLAY {clock(pos.at)} {speed_text(pos.speed)}{state}"


def _mmss(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def timeline_content(pos: ReplayPosition, width: int) -> Content:
    """Two lines: the bar (played part, ticks, the frame on screen) with the elapsed time, then
    the frame count, the last event so far and the next one."""
    span = max(pos.end - pos.start, 1e-9)
    elapsed = f" {_mmss(pos.at - pos.start)} / {_mmss(span)}"
    cells = max(10, width - len(elapsed) - 2)

    def cell(ts: float) -> int:
        return min(cells - 1, max(0, int((ts - pos.start) / span * cells)))

    here = cell(pos.at)
    ticks: dict[int, str] = {}
    for event in pos.events:
        c = cell(event.at)
        if c not in ticks or _rank(event.kind) > _rank(ticks[c]):
            ticks[c] = event.kind
    parts: list[str | tuple[str, str] | Content] = [("▕", "$text-muted")]
    for c in range(cells):
        if c == here:
            parts.append(("●", "bold $primary"))
        elif c in ticks:
            parts.append(("◆", event_style(ticks[c])))
        else:
            parts.append(("━", "$primary") if c < here else ("─", "$text-muted"))
    parts.append(("▏", "$text-muted"))
    parts.append((elapsed, "bold"))
    done = [e for e in pos.events if e.at <= pos.at]
    ahead = [e for e in pos.events if e.at > pos.at]
    parts.append(f"\nframe {pos.index + 1}/{pos.frames} · {len(pos.events)} events")
    if done:
        parts.append(" · last ")
        parts.append(_event_text(done[-1], pos))
    if ahead:
        parts.append(" · next ")
        parts.append(_event_text(ahead[0], pos))
    elif not done:
        parts.append((" · nothing happened in this session", "$text-muted"))
    return Content.assemble(*parts)


def _event_text(event: ReplayEvent, pos: ReplayPosition) -> Content:
    offset = _mmss(event.at - pos.start)
    return Content.assemble((f"{offset} ", "$text-muted"), (safe(event.label, 80), event_style(event.kind)))


class Timeline(Widget):
    """The two-line timeline under the tab strip, redrawn when the position changes."""

    DEFAULT_CSS = """
    Timeline { height: 2; padding: 0 1; background: $surface; }
    """

    def __init__(self) -> None:
        super().__init__(id="timeline")
        self.position: ReplayPosition | None = None

    def show(self, position: ReplayPosition) -> None:
        if position != self.position:
            self.position = position
            self.refresh()

    def render(self) -> Content:
        if self.position is None:
            return Content("loading the recording…")
        return timeline_content(self.position, self.content_size.width)
