"""A widget made of one-line parts, each redrawn only when it changes.

A summary card used to be a container of five one-line widgets (title, two labels, two
sparklines), and a big figure a container of two. On every repaint Textual's compositor
renders *every* widget inside the bounding box of what changed, and with values changing
on every card that box is the whole view: ~90 widgets a frame, most of the UI's CPU.
``LineWidget`` draws its lines itself, keeps each line's Strip until that line changes,
and marks only the changed lines dirty, so a card is one widget in that box, not six.

A line is styled text (``Content``; server strings must arrive as plain text, never
markup), plain text in one component style (``Text``: cheaper, for the labels and
values that change every tick), plain text in pieces of component styles (``Parts``: a
label muted, a value in its threshold level's colour, ``lines--warning``/``lines--error``),
or a sparkline (``Spark``: drawn by ``bar_segments`` in the colours of the component
classes ``lines--spark-min`` and ``lines--spark-max``, or on a shared scale by
``scaled_segments`` with each bar in its threshold level's colour, ``lines--spark-ok``,
``lines--spark-warning``, ``lines--spark-error``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.content import Content
from textual.geometry import Region
from textual.strip import Strip
from textual.visual import Visual
from textual.widget import Widget

from wsmon_tui.tui.thresholds import Tier
from wsmon_tui.tui.widgets.sparkline import bar_segments, scaled_segments


@dataclass(frozen=True)
class Spark:
    """A one-line sparkline of ``data`` (the bar of each bucket is its maximum).

    With ``top`` the bars stand on a fixed scale, 0 to ``top`` (shared by every card, see
    ``chartmodel.robust_top``), and a value above it is drawn as ``CLIPPED``; with ``tiers``
    each bar takes the colour of its threshold level (``lines--spark-ok``, ``-warning``,
    ``-error``) instead of the low-to-high blend.
    """

    data: tuple[float, ...]
    top: float | None = None
    tiers: tuple[Tier, ...] = ()


@dataclass(frozen=True)
class Parts:
    """Plain text in pieces, each in the style of a component class (a label muted, a
    value in its threshold level's colour); never parsed."""

    parts: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Text:
    """Plain text (never parsed) in the style of a component class: ``lines--muted``
    (a label) or ``lines--strong`` (a value)."""

    text: str
    component: str = "lines--muted"


Line = Content | Spark | Text | Parts


def same(a: object, b: object) -> bool:
    """Equal lines. ``Content.__eq__`` compares the text alone: a change of style only
    (a badge turning red) must count as a change too."""
    if isinstance(a, Content) and isinstance(b, Content):
        return a.plain == b.plain and list(a.spans) == list(b.spans)
    return a == b


class LineWidget(Widget):
    """``LineWidget(n)``: ``n`` lines, set with ``set_line(y, value)``."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"lines--spark-min", "lines--spark-max", "lines--muted",
                                             "lines--strong", "lines--warning", "lines--error",
                                             "lines--spark-ok", "lines--spark-warning", "lines--spark-error"}
    DEFAULT_CSS = """
    LineWidget > .lines--spark-max { color: $warning; }
    LineWidget > .lines--spark-min { color: $success; }
    LineWidget > .lines--spark-ok { color: $success; }
    LineWidget > .lines--spark-warning { color: $warning; }
    LineWidget > .lines--spark-error { color: $error; }
    LineWidget > .lines--muted { color: $text-muted; }
    LineWidget > .lines--strong { text-style: bold; }
    LineWidget > .lines--warning { color: $text-warning; text-style: bold; }
    LineWidget > .lines--error { color: $text-error; text-style: bold; }
    """

    def __init__(self, lines: int, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._lines: list[Line] = [Content("")] * lines
        self._strips: dict[int, tuple[int, Strip]] = {}
        """Line -> (width it was drawn at, strip)."""
        self._styles: dict[str, Any] = {}
        """Looked-up colours and styles (until the next style change)."""

    def set_line(self, y: int, value: Line) -> bool:
        """Show ``value`` on line ``y``; returns whether anything changed."""
        return self.set_lines({y: value})

    def set_lines(self, values: dict[int, Line]) -> bool:
        """Show each ``{y: value}``; the changed lines are marked dirty in one refresh."""
        changed = [y for y, value in values.items() if not same(self._lines[y], value)]
        if not changed:
            return False
        for y in changed:
            self._lines[y] = values[y]
            self._strips.pop(y, None)
        width = self.size.width
        if self.is_mounted and width:
            self.refresh(*(Region(0, y, width, 1) for y in changed))
        else:
            self.refresh()
        return True

    def notify_style_update(self) -> None:
        self._strips.clear()  # a theme or CSS change: colours are looked up again
        self._styles.clear()
        super().notify_style_update()

    def _style(self, key: str) -> Any:
        """A rich Style (a component's, or ``base``), or the sparkline colours (``spark``)."""
        style = self._styles.get(key)
        if style is None:
            if key == "spark":
                _, background = self.background_colors
                low = background + self.get_component_styles("lines--spark-min").color
                high = background + self.get_component_styles("lines--spark-max").color
                style = (low.rich_color, high.rich_color)
            elif key == "spark-levels":
                _, background = self.background_colors
                style = {level: Style.from_color(
                    (background + self.get_component_styles(f"lines--spark-{name}").color).rich_color)
                    for level, name in (("", "ok"), ("warning", "warning"), ("error", "error"))}
            elif key == "base":
                style = self.visual_style.rich_style
            else:
                style = self.get_component_rich_style(key)
            self._styles[key] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if not 0 <= y < len(self._lines) or width <= 0:
            return Strip.blank(width, self.visual_style.rich_style)
        cached = self._strips.get(y)
        if cached is not None and cached[0] == width:
            return cached[1]
        strip = self._draw(self._lines[y], width)
        self._strips[y] = (width, strip)
        return strip

    def _draw(self, line: Line, width: int) -> Strip:
        base = self._style("base")
        if isinstance(line, Text):
            return Strip([Segment(line.text, self._style(line.component))]).crop_extend(0, width, base)
        if isinstance(line, Parts):
            return Strip([Segment(text, self._style(component)) for text, component in line.parts]
                         ).crop_extend(0, width, base)
        if isinstance(line, Spark):
            low, high = self._style("spark")
            if line.top is None:
                segments = bar_segments(line.data, width, low, high, max)
            else:
                segments = scaled_segments(line.data, width, line.top, line.tiers,
                                           self._style("spark-levels") if line.tiers else None,
                                           low, high)
            return Strip(segments).simplify().apply_style(base).adjust_cell_length(width, base)
        strips = Visual.to_strips(self, line, width, 1, self.visual_style, pad=True)
        strip = strips[0] if strips else Strip.blank(width, base)
        return strip.crop_extend(0, width, base)
