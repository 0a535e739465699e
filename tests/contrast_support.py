"""Reading what the app draws, cell by cell, and judging it as a terminal will show it.

``screen_cells`` rebuilds the visible screen from the public API: for each cell the
widget on top (``Screen.get_widget_at``) and that widget's rendered line
(``Widget.render_lines``, which already carries the app's line filters, such as the
monochrome one NO_COLOR turns on). Each cell keeps its character and its Rich style,
so a test can find a word on screen and read the colours it was drawn in.

``shown`` reduces a Rich colour the way Textual writes it to a terminal
(``rich.color.Color.downgrade`` to the console's colour system, see
``textual.strip.Strip.render_ansi``) and then asks what the terminal paints for it
(``Color.get_truecolor`` with Rich's ``DEFAULT_TERMINAL_THEME`` for the 16 ANSI colours,
the xterm palette for 16-255). ``contrast`` is the WCAG 2.x contrast ratio.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rich.cells import cell_len
from rich.color import Color, ColorSystem, ColorTriplet
from rich.style import Style
from rich.terminal_theme import DEFAULT_TERMINAL_THEME
from textual.errors import NoWidget
from textual.geometry import Region
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

#: Colour depth -> the colour system Textual reduces every colour to (None: truecolor as is).
DEPTHS: dict[str, ColorSystem | None] = {
    "truecolor": None,
    "256": ColorSystem.EIGHT_BIT,
    "16": ColorSystem.STANDARD,
}
MINIMUM = 4.5
"""WCAG 2.x AA for normal text."""


@dataclass(frozen=True, slots=True)
class Cell:
    char: str
    """The character drawn (a space for the second cell of a wide character)."""
    style: Style | None


def strip_cells(strip: Strip) -> list[Cell]:
    cells: list[Cell] = []
    for segment in strip:
        if segment.control:
            continue
        for char in segment.text:
            width = cell_len(char)
            if width:
                cells.append(Cell(char, segment.style))
                cells.extend(Cell(" ", segment.style) for _ in range(width - 1))
    return cells


def screen_cells(screen: Screen, rows: Iterable[int] | None = None) -> dict[int, list[Cell]]:
    """The visible cells of ``rows`` (default: all) of ``screen``, as the compositor shows them.

    The widget on top is asked for at each cell, except across a widget without children
    whose last cell on the row is its own too (the cells between are then its own).
    """
    width, height = screen.size
    lines: dict[tuple[int, int], list[Cell]] = {}

    def top(x: int, y: int) -> tuple[Widget, Region] | None:
        try:
            return screen.get_widget_at(x, y)
        except NoWidget:
            return None

    out: dict[int, list[Cell]] = {}
    for y in rows if rows is not None else range(height):
        row: list[Cell] = []
        x = 0
        while x < width:
            found = top(x, y)
            if found is None:
                row.append(Cell(" ", None))
                x += 1
                continue
            widget, region = found
            key = (id(widget), y)
            cells = lines.get(key)
            if cells is None:
                strips = widget.render_lines(Region(0, y - region.y, region.width, 1))
                cells = lines[key] = strip_cells(strips[0]) if strips else []
            end = x + 1
            last = min(region.right, width) - 1
            if last > x and not widget.children:
                at_end = top(last, y)
                if at_end is not None and at_end[0] is widget:
                    end = last + 1
            for cx in range(x, end):
                offset = cx - region.x
                row.append(cells[offset] if offset < len(cells) else Cell(" ", None))
            x = end
        out[y] = row
    return out


def visible_region(widget: Widget) -> Region:
    """The part of ``widget`` on screen (a widget in a scrolled container may be partly out)."""
    return widget.region.intersection(widget.screen.region)


def find(cells: dict[int, list[Cell]], region: Region, pattern: re.Pattern[str]) -> list[list[Cell]]:
    """Every match of ``pattern`` in the rows of ``region``: the cells of its first group
    (of the whole match when it has none), spaces left out."""
    found: list[list[Cell]] = []
    for y in range(region.y, region.bottom):
        row = cells.get(y)
        if row is None:
            continue
        part = row[region.x:region.right]
        text = "".join(c.char for c in part)
        for match in pattern.finditer(text):
            group = 1 if pattern.groups else 0
            start, end = match.span(group)
            glyphs = [c for c in part[start:end] if not c.char.isspace()]
            if glyphs:
                found.append(glyphs)
    return found


def shown(color: Color, depth: str) -> ColorTriplet:
    """What the terminal paints for ``color`` at ``depth`` ("truecolor", "256", "16")."""
    system = DEPTHS[depth]
    if system is not None:
        color = color.downgrade(system)
    return color.get_truecolor(DEFAULT_TERMINAL_THEME)


def luminance(rgb: ColorTriplet) -> float:
    """WCAG 2.x relative luminance."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = rgb
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def contrast(a: ColorTriplet, b: ColorTriplet) -> float:
    """WCAG 2.x contrast ratio, 1 to 21 (symmetric: reverse video changes nothing)."""
    la, lb = luminance(a), luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def cell_contrast(cell: Cell, depth: str) -> tuple[float, str]:
    """The contrast of one drawn cell at ``depth`` and a description of its colours.

    A cell whose foreground or background is unset (or the terminal's default) is drawn in
    whatever the terminal's own colours are: that counts as 0.
    """
    style = cell.style
    fg = style.color if style is not None else None
    bg = style.bgcolor if style is not None else None
    if fg is None or fg.is_default:
        return 0.0, f"{cell.char!r}: no foreground set (the terminal's own)"
    if bg is None or bg.is_default:
        return 0.0, f"{cell.char!r}: no background set (the terminal's own)"
    fg_rgb, bg_rgb = shown(fg, depth), shown(bg, depth)
    ratio = contrast(fg_rgb, bg_rgb)
    drawn = (fg.triplet.hex if fg.triplet else fg.name, bg.triplet.hex if bg.triplet else bg.name)
    what = f"{cell.char!r}: {fg_rgb.hex} on {bg_rgb.hex} (drawn as {drawn[0]} on {drawn[1]})"
    return ratio, what
