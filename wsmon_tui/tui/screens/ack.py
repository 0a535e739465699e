"""Acknowledge an alert: an optional comment; the user comes from $USER."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from wsmon_tui.model import AlertView
from wsmon_tui.tui.fmt import safe
from wsmon_tui.tui.screens.popup import close_hint


class AckScreen(ModalScreen[str | None]):
    """Dismisses with the comment ("" for none), or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="modal.cancel", tooltip="Close without acknowledging"),
    ]

    def __init__(self, alert: AlertView, user: str) -> None:
        super().__init__(classes="dialog-screen")
        self.alert = alert
        self.user = user

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "Acknowledge"
            box.border_subtitle = close_hint(self, "cancel")
            yield Static(Content.assemble(
                ("Acknowledge ", "bold"), (safe(self.alert.rule, 60), "bold"), " on ",
                safe(self.alert.target or "overall", 60), f" as {safe(self.user, 40)}"))
            yield Input(placeholder="comment (optional)", id="ack-comment")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Acknowledge", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#ack-comment", Input).focus()

    @on(Input.Submitted, "#ack-comment")
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(self.query_one("#ack-comment", Input).value.strip())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
