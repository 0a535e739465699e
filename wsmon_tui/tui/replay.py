"""The app over a replay (``wsmon-tui replay``): the same four views, read-only, with the keys
that move through the recording and a timeline under the tab strip.

Keys: Space plays or pauses, ←/→ step one stored interval back or forward (and pause), ``[``/``]``
jump to the previous/next event. They are priority bindings, so they work whatever has the
focus in a view (a table's arrows included); in a dialog or a text field they are left to it.
The metrics view's range keys move to ``{``/``}`` here, since ``[``/``]`` jump between events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual.app import ScreenStackError
from textual.binding import Binding, BindingType, Keymap
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Input

from wsmon_tui.seam import ReplayLink
from wsmon_tui.tui.app import WsmonApp
from wsmon_tui.tui.fmt import safe
from wsmon_tui.tui.screens.base import ViewScreen
from wsmon_tui.tui.widgets.timeline import Timeline, replay_label

REPLAY_BINDINGS: list[BindingType] = [
    Binding("space", "replay_pause", "Play/pause", id="replay.pause", priority=True,
            tooltip="Play the recording on, or hold it on this frame"),
    Binding("left", "replay_step(-1)", "Back", id="replay.back", priority=True,
            tooltip="One stored interval back (pauses)"),
    Binding("right", "replay_step(1)", "Forward", id="replay.forward", priority=True,
            tooltip="One stored interval forward (pauses)"),
    Binding("left_square_bracket", "replay_jump(-1)", "Prev event", id="replay.previous", priority=True,
            tooltip="The previous alert, ack or rollback step"),
    Binding("right_square_bracket", "replay_jump(1)", "Next event", id="replay.next", priority=True,
            tooltip="The next alert, ack or rollback step"),
]
METRICS_RANGE_KEYS = {"metrics.longer": "right_curly_bracket", "metrics.shorter": "left_curly_bracket"}


class ReplayApp(WsmonApp):
    """``ReplayApp(engine, mode=..., refresh=..., theme=...)`` over a ``seam.ReplayLink``."""

    BINDINGS: ClassVar[list[BindingType]] = REPLAY_BINDINGS
    READ_ONLY_NOTICE = ("Replay is read-only: a recorded session cannot be acknowledged, silenced or "
                        "rolled back.")

    def __init__(self, engine: ReplayLink, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        # "now" is the recorded time of the frame on screen: the banner's "for 12s", an alert's
        # age and "ended 5s ago" are what they were then, not how long ago the recording was made
        kwargs.setdefault("clock", lambda: engine.position().at)
        super().__init__(engine, **kwargs)
        self.replay = engine

    def on_mount(self) -> None:
        if not self.engine.config.ui.keymap:  # else the app sets the configured keymap, below
            self.set_keymap({})

    def set_keymap(self, keymap: Keymap) -> None:
        """The configured keymap, over the metrics range keys a replay moves (``[``/``]`` jump)."""
        super().set_keymap({**METRICS_RANGE_KEYS, **keymap})

    # -- what the views show ----------------------------------------------------------------

    def replay_label(self) -> str:
        return replay_label(self.replay.position())

    def view_extras(self) -> Iterable[Widget]:
        return (Timeline(),)

    def repaint(self) -> None:
        super().repaint()
        self._paint_timeline()

    def _paint_timeline(self) -> None:
        try:
            timelines = list(self.screen.query(Timeline))
        except (ScreenStackError, NoMatches):
            return
        position = self.replay.position()
        for timeline in timelines:
            timeline.show(position)

    def _repaint_now(self) -> None:
        """Show the key's effect at once (header, timeline), and paint the frame it asked for as
        soon as it arrives, not held back by ``--refresh``."""
        self.repaint()
        self._painted_at = float("-inf")

    # -- keys --------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action.startswith("replay_"):
            # a dialog or a text field keeps its own keys (the alerts filter takes spaces)
            return isinstance(self.screen, ViewScreen) and not isinstance(self.focused, Input)
        return super().check_action(action, parameters)

    def action_replay_pause(self) -> None:
        paused = self.replay.toggle_pause()
        self.notify("Replay paused." if paused else "Replay playing.", timeout=2)
        self._repaint_now()

    def action_replay_step(self, frames: int) -> None:
        self.replay.step(frames)
        self._repaint_now()

    def action_replay_jump(self, direction: int) -> None:
        event = self.replay.jump(direction)
        if event is None:
            which = "later" if direction > 0 else "earlier"
            self.notify(f"No {which} event in this session.", timeout=3)
            return
        self.clear_notifications()  # one event at a time: jumping on must not stack toasts over the view
        self.notify(safe(event.label, 200), title="Event", timeout=4, markup=False)
        self._repaint_now()

    def help_sections(self) -> list[tuple[str, list[Binding]]]:
        return [("Replay", [b for b in REPLAY_BINDINGS if isinstance(b, Binding)]), *super().help_sections()]
