"""Acknowledge an alert: an optional comment; the user comes from $USER."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Button, Input

from wsmon_tui.tui.screens.popup import AlertDialog, close_hint


class AckScreen(AlertDialog[str | None]):
    """Dismisses with the comment ("" for none), or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="modal.cancel", tooltip="Close without acknowledging"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "Acknowledge"
            box.border_subtitle = close_hint(self, "cancel")
            yield self.heading("Acknowledge", "overall")
            yield Input(placeholder="comment (optional)", id="ack-comment")
            yield from self.buttons("Acknowledge", "primary")

    def on_mount(self) -> None:
        self.query_one("#ack-comment", Input).focus()

    @on(Input.Submitted, "#ack-comment")
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(self.query_one("#ack-comment", Input).value.strip())
