"""Every card of the summary's target board drawn by one widget.

A card used to be a widget of its own in a ``Grid``: with values changing on every card
each tick, the compositor rendered (and styled, bordered, cropped) every card widget a
frame. ``CardGrid`` draws the cards itself, in the same places a ``Grid`` with
``grid-gutter: 0 1`` and rows of ``CARD_HEIGHT`` would put them, each with a round border
and one cell of padding either side, and marks dirty only the lines of a card that changed.

A card's lines are ``LineWidget`` lines (``Content``, ``Text``, ``Parts``, ``Spark``), drawn
with ``LineWidget``'s component classes; the border's colour is a component class too:
``card-grid--border-plain``, ``-critical``, ``-degraded`` and ``-folded``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip

from wsmon_tui.tui.widgets.lines import Line, LineWidget, same
from wsmon_tui.tui.widgets.target_card import Card

CARD_HEIGHT = 7
"""A card's rows: its border's two and five lines."""
GUTTER = 1
"""Columns between two cards."""
ROUND = {"top": ("╭", "─", "╮"), "bottom": ("╰", "─", "╯")}
SIDE = "│"
"""A round border (as ``border: round``)."""


@lru_cache(maxsize=16)
def columns_at(width: int, columns: int) -> tuple[tuple[int, int], ...]:
    """Each column's (x, width): ``width`` shared as a grid of ``columns`` equal fractions
    and a one-cell gutter shares it (each edge rounded down). Cached: every line asks."""
    share = Fraction(max(0, width - GUTTER * (columns - 1)), columns)
    out = []
    for i in range(columns):
        start = i * (share + GUTTER)
        out.append((int(start), int(start + share) - int(start)))
    return tuple(out)


class CardGrid(LineWidget):
    """``CardGrid()``: ``show(cards, columns)`` lays ``cards`` out in rows of ``columns``."""

    COMPONENT_CLASSES: ClassVar[set[str]] = LineWidget.COMPONENT_CLASSES | {
        "card-grid--border-plain", "card-grid--border-critical", "card-grid--border-degraded",
        "card-grid--border-folded"}
    DEFAULT_CSS = """
    CardGrid { height: 0; }
    CardGrid > .card-grid--border-plain { color: $foreground 25%; }  /* as .panel */
    CardGrid > .card-grid--border-critical { color: $error; }
    CardGrid > .card-grid--border-degraded { color: $warning; }
    CardGrid > .card-grid--border-folded { color: $success 40%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(0, id=id)
        self._cards: list[Card] = []
        self._drawn: list[tuple[str, tuple[Line, ...]]] = []
        """What is on screen of each card: its border and its lines."""
        self.columns = 1
        self._content: dict[tuple[int, int], tuple[int, Strip]] = {}
        """(card, line) -> (width it was drawn at, the line inside the card's padding)."""

    def show(self, cards: Sequence[Card], columns: int) -> None:
        """Draw ``cards`` (the same objects, updated, or new ones) in ``columns`` columns."""
        columns = max(1, columns)
        if columns != self.columns or len(cards) != len(self._cards):
            self.columns = columns
            self._cards = list(cards)
            self._drawn = [(c.border, tuple(c.lines)) for c in cards]
            self._content.clear()
            self._strips.clear()
            self.styles.height = -(-len(cards) // columns) * CARD_HEIGHT
            self.refresh()
            return
        self._cards = list(cards)
        spots = columns_at(self.size.width, columns) if self.size.width else ()
        dirty: list[Region] = []
        changed_any = False
        for index, card in enumerate(cards):
            border, lines = self._drawn[index]
            new_lines = tuple(card.lines)
            changed = [k for k, (old, new) in enumerate(zip(lines, new_lines, strict=True))
                       if not same(old, new)]
            if card.border != border:  # the border and every line
                changed = list(range(-1, len(new_lines) + 1))
                for k in changed:
                    self._content.pop((index, k), None)
            else:
                changed = [k for k in changed if self._redrawn(index, k, new_lines[k])]
            self._drawn[index] = (card.border, new_lines)
            if not changed:
                continue
            changed_any = True
            row, column = divmod(index, columns)
            for k in changed:
                y = row * CARD_HEIGHT + 1 + k
                self._strips.pop(y, None)
                if spots:
                    x, w = spots[column]
                    dirty.append(Region(x, y, w, 1))
        if dirty and self.is_mounted:
            self.refresh(*dirty)
        elif changed_any:
            self.refresh()

    def _redrawn(self, index: int, k: int, line: Line) -> bool:
        """Line ``k`` of card ``index`` is now ``line``: whether what it draws changed. A
        sparkline whose history moved on often draws the same bars (and a figure the same
        text): then the line keeps its strip and nothing is marked dirty."""
        cached = self._content.get((index, k))
        if cached is None or k < 0 or k >= len(self._drawn[index][1]):
            self._content.pop((index, k), None)
            return True
        strip = self._draw(line, cached[0])
        if list(strip) == list(cached[1]):
            return False
        self._content[(index, k)] = (cached[0], strip)
        return True

    def cards(self) -> list[Card]:
        """The cards, each with its ``region`` on screen (tests read them)."""
        origin = self.region
        spots = columns_at(origin.width, self.columns)
        for index, card in enumerate(self._cards):
            row, column = divmod(index, self.columns)
            x, w = spots[column]
            card.region = Region(origin.x + x, origin.y + row * CARD_HEIGHT, w, CARD_HEIGHT)
        return list(self._cards)

    def notify_style_update(self) -> None:
        self._content.clear()
        super().notify_style_update()

    def _border_style(self, border: str) -> Style:
        key = f"border-{border}"
        style = self._styles.get(key)
        if style is None:
            _, background = self.background_colors
            color = background + self.get_component_styles(f"card-grid--border-{border}").color
            style = self._styles[key] = self._style("base") + Style(color=color.rich_color,
                                                                    bgcolor=background.rich_color)
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        cached = self._strips.get(y)
        if cached is not None and cached[0] == width:
            return cached[1]
        strip = self._row(y, width)
        self._strips[y] = (width, strip)
        return strip

    def _row(self, y: int, width: int) -> Strip:
        base = self._style("base")
        row, k = divmod(y, CARD_HEIGHT)
        segments: list[Segment] = []
        at = 0
        for column, (x, w) in enumerate(columns_at(width, self.columns)):
            index = row * self.columns + column
            if index >= len(self._drawn) or w < 4:
                break
            if x > at:
                segments.append(Segment(" " * (x - at), base))
            segments.extend(self._piece(index, k - 1, w))
            at = x + w
        return Strip(segments).adjust_cell_length(width, base)

    def _piece(self, index: int, line: int, width: int) -> list[Segment]:
        """Line ``line`` of card ``index`` (-1 its top border, 5 its bottom) ``width`` wide."""
        border, lines = self._drawn[index]
        edge = self._border_style(border)
        if line < 0 or line >= len(lines):
            left, mid, right = ROUND["top" if line < 0 else "bottom"]
            return [Segment(left + mid * (width - 2) + right, edge)]
        inner = width - 4
        cached = self._content.get((index, line))
        if cached is None or cached[0] != inner:
            cached = (inner, self._draw(lines[line], inner))
            self._content[(index, line)] = cached
        base = self._style("base")
        side = SIDE
        return [Segment(side, edge), Segment(" ", base), *cached[1], Segment(" ", base), Segment(side, edge)]
