"""What every pop-up (a ModalScreen) shares: the key that closes it, said on its border.

A pop-up has no footer (the app's footer belongs to the view beneath), so each one says on
its bottom border how to leave it ("esc cancel", "esc close"), from its own binding after
any ``[ui] keymap`` remap, so the hint never names a key that does not work.

``AlertDialog`` is the frame of the dialogs that act on one alert as the user (acknowledge,
silence): the title and that hint on the border, the line that says what is about to happen
to which alert as whom, and Cancel beside the action's button.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, Static

from wsmon_tui.model import AlertView
from wsmon_tui.tui.fmt import safe
from wsmon_tui.tui.keys import shown_keys

ResultT = TypeVar("ResultT")

CLOSING_ACTIONS = frozenset({"dismiss", "cancel"})


def close_hint(screen: Screen[Any], what: str) -> str:
    """"esc close": the keys of ``screen``'s closing binding (``dismiss`` or ``cancel``), and
    ``what`` they do."""
    for binding in screen.BINDINGS:
        if isinstance(binding, Binding) and binding.action in CLOSING_ACTIONS:
            shown = shown_keys(screen.app, binding)
            return f"{' / '.join(shown[:2])} {what}"
    return ""


class AlertDialog(ModalScreen[ResultT]):
    """A dialog acting on ``alert`` as ``user``; dismissed with None when cancelled."""

    def __init__(self, alert: AlertView, user: str) -> None:
        super().__init__(classes="dialog-screen")
        self.alert = alert
        self.user = user

    def heading(self, verb: str, no_target: str) -> Static:
        """"Silence HighErrorRate on chat-ws as alice" (``no_target`` for an alert on none)."""
        return Static(Content.assemble(
            (f"{verb} ", "bold"), (safe(self.alert.rule, 60), "bold"), " on ",
            safe(self.alert.target or no_target, 60), f" as {safe(self.user, 40)}"))

    def buttons(self, action: str, variant: Any) -> Iterator[Widget]:
        """Cancel and the action's button (``#ok``), in a row (yield from it inside compose)."""
        with Horizontal(classes="buttons"):
            yield Button("Cancel", id="cancel")
            yield Button(action, id="ok", variant=variant)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
