"""Silence an alert's rule and target for a chosen duration, with a comment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Button, Input, RadioButton, RadioSet

from wsmon_tui.tui.screens.popup import AlertDialog, close_hint

DURATIONS = (("30m", 1800.0), ("1h", 3600.0), ("4h", 14400.0), ("1d", 86400.0))


@dataclass(frozen=True)
class SilenceRequest:
    rule: str
    target: str | None
    duration: float
    comment: str


class SilenceScreen(AlertDialog[SilenceRequest | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="modal.cancel", tooltip="Close without silencing"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "Silence"
            box.border_subtitle = close_hint(self, "cancel")
            yield self.heading("Silence", "every target")
            with RadioSet(id="silence-duration"):
                for i, (label, _) in enumerate(DURATIONS):
                    yield RadioButton(label, value=(i == 1), id=f"d-{label}")
            yield Input(placeholder="comment (required: why)", id="silence-comment")
            yield from self.buttons("Silence", "warning")

    def on_mount(self) -> None:
        self.query_one(RadioSet).focus()

    def duration(self) -> float:
        pressed = self.query_one(RadioSet).pressed_index
        return DURATIONS[pressed if pressed >= 0 else 1][1]

    @on(Input.Submitted, "#silence-comment")
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        comment = self.query_one("#silence-comment", Input).value.strip()
        if not comment:
            self.notify("Say why in the comment: silences are audited.", severity="warning")
            self.query_one("#silence-comment", Input).focus()
            return
        target = self.alert.target if self.alert.target and self.alert.target != "overall" else None
        self.dismiss(SilenceRequest(self.alert.rule, target, self.duration(), comment))
