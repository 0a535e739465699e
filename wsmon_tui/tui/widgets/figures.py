"""Big figures: a label over a value per box, repainted only when the value changes."""

from __future__ import annotations

from wsmon_tui.tui.fmt import DASH
from wsmon_tui.tui.widgets.lines import LineWidget, Text

VALUE_STYLE = {"warning": "lines--warning", "error": "lines--error"}


class Figure(LineWidget):
    """Two lines (see ``LineWidget``): the label, muted, and the value, bold."""

    DEFAULT_CSS = """
    Figure { height: 2; width: 1fr; border-left: tall $primary; padding: 0 1; }
    Figure.-warning { border-left: tall $warning; }
    Figure.-error { border-left: tall $error; }
    """

    def __init__(self, key: str, label: str) -> None:
        super().__init__(2, id=f"figure-{key}", classes="figure")
        self.label = label
        self.set_line(0, Text(label))
        self.set_line(1, Text(DASH, "lines--strong"))

    def show(self, value: str, level: str = "") -> None:
        """``level`` "warning" or "error" (past a threshold) colours the value and the bar."""
        self.set_line(1, Text(value, VALUE_STYLE.get(level, "lines--strong")))
        self.set_class(level == "warning", "-warning")
        self.set_class(level == "error", "-error")
