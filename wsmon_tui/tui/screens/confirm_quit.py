"""Asked before quitting a dashboard that runs the acting engine: leaving it stops the probes,
the paging and the rollback for the deployment. y quits; n, Escape or Enter on "Stay" stays."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from wsmon_tui.tui.fmt import safe


def quit_question(deployment: str) -> Content:
    return Content.assemble(
        ("This dashboard is the acting engine: ", "bold"),
        "quitting stops probing, paging and rollback for ", (safe(deployment, 60), "bold"), ".\n",
        ("Quit? y/N", "bold"))


class ConfirmQuitScreen(ModalScreen[bool]):
    """Dismisses with True to quit; the default (Enter, n, Escape) is to stay."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Quit", id="quit.yes", tooltip="Stop the engine and leave"),
        Binding("n,escape", "answer(False)", "Stay", id="quit.no", tooltip="Keep the dashboard running"),
    ]

    def __init__(self, deployment: str) -> None:
        super().__init__(classes="dialog-screen", id="confirm-quit")
        self.deployment = deployment

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -danger") as box:
            box.border_title = "Quit"
            yield Static(quit_question(self.deployment), id="quit-question")
            yield Static("Dashboards attached to it lose their engine. y quits · n, Escape or Enter stays",
                         classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Quit", id="quit-yes", variant="error")
                yield Button("Stay", id="quit-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#quit-no", Button).focus()

    def action_answer(self, quit_: bool) -> None:
        self.dismiss(quit_)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit-yes")
