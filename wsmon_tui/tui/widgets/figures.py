"""Big figures: a label, a value and its scope per box ("fleet", or "worst: <target>"),
repainted only when a line changes."""

from __future__ import annotations

from wsmon_tui.tui.fmt import DASH
from wsmon_tui.tui.widgets.lines import LineWidget, Text

VALUE_STYLE = {"warning": "lines--warning", "error": "lines--error"}


class Figure(LineWidget):
    """Three lines (see ``LineWidget``): the label, muted; the value, bold; whose figure it is,
    muted (the fleet's, or the worst target's, by name)."""

    DEFAULT_CSS = """
    Figure { height: 3; width: 1fr; border-left: tall $primary; padding: 0 1; }
    Figure.-warning { border-left: tall $warning; }
    Figure.-error { border-left: tall $error; }
    """

    def __init__(self, key: str, label: str) -> None:
        super().__init__(3, id=f"figure-{key}", classes="figure")
        self.label = label
        self.set_line(0, Text(label))
        self.set_line(1, Text(DASH, "lines--strong"))

    def show(self, value: str, level: str = "", scope: str = "") -> None:
        """``level`` "warning" or "error" (past a threshold) colours the value and the bar;
        ``scope`` says whose figure it is."""
        self.set_lines({1: Text(value, VALUE_STYLE.get(level, "lines--strong")), 2: Text(scope)})
        self.set_class(level == "warning", "-warning")
        self.set_class(level == "error", "-error")
