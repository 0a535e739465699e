"""Big figures: one label and one value per box, repainted only when the text changes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class Figure(Vertical):
    DEFAULT_CSS = """
    Figure { height: 2; width: 1fr; border-left: tall $primary; padding: 0 1; }
    Figure .figure-label { color: $text-muted; height: 1; }
    Figure .figure-value { text-style: bold; height: 1; }
    Figure.-warning { border-left: tall $warning; }
    Figure.-error { border-left: tall $error; }
    """

    def __init__(self, key: str, label: str) -> None:
        super().__init__(id=f"figure-{key}", classes="figure")
        self.label = label
        self._value = ""

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="figure-label")
        yield Static("–", classes="figure-value")

    def show(self, value: str, level: str = "") -> None:
        if value != self._value:
            self._value = value
            self.query_one(".figure-value", Static).update(value, layout=False)  # height 1, width 1fr
        self.set_class(level == "warning", "-warning")
        self.set_class(level == "error", "-error")
