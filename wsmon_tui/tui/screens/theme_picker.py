"""t : choose a theme from the registered ones (built-in and the user's)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from wsmon_tui.tui.screens.popup import close_hint


class ThemePicker(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="modal.cancel", tooltip="Keep the current theme"),
    ]

    def __init__(self, names: list[str], current: str) -> None:
        super().__init__(classes="dialog-screen", id="theme-picker")
        self.names = names
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "Theme"
            box.border_subtitle = close_hint(self, "keep the current theme")
            yield OptionList(*[Option(name, id=name) for name in self.names], id="theme-list")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.current in self.names:
            options.highlighted = self.names.index(self.current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
