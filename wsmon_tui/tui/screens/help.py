"""? : every binding, with its key (after any remap) and what it does."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from wsmon_tui.tui.screens.popup import close_hint

Section = tuple[str, list[Binding]]


def help_content(sections: list[Section], key_display: Callable[[Binding], str]) -> Content:
    parts: list[str | tuple[str, str]] = []
    for title, bindings in sections:
        parts.append((f"{title}\n", "bold $primary"))
        for b in bindings:
            key = key_display(b)
            parts.append((f"  {key:<12}", "bold"))
            parts.append(f"{b.description:<16}")
            if b.tooltip:
                parts.append((b.tooltip, "$text-muted"))
            parts.append("\n")
        parts.append("\n")
    parts.append(("In the tables, a click on a column header sorts by it (a second click reverses); "
                  "without a sort, rows are worst first.\n", "$text-muted"))
    parts.append(("Ctrl+P opens the command palette. Keys are remapped with [ui] keymap "
                  "(binding id = key).", "$text-muted"))
    return Content.assemble(*parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close", tooltip="Close the help"),
    ]

    def __init__(self, sections: list[Section]) -> None:
        super().__init__(classes="detail-screen", id="help")
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="detail-panel") as panel:
            panel.border_title = "Keys"
            panel.border_subtitle = close_hint(self, "close")
            yield Static(help_content(self.sections, self.app.get_key_display), id="help-text")
