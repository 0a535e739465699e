"""Textual's own Sparkline, drawn one line at a time from a cached Strip.

The stock widget returns a Rich renderable from ``render()``; Textual then pushes it
through the Rich console (style wrapping, line splitting, cropping) on every refresh,
which made the summary's 20 sparklines (2 per target card) the largest share of a frame.
This subclass draws the same bars (``bar_segments``, checked against the stock renderable
in tests/test_sparkline.py), colours each run of equal bars at once, and keeps the Strip
until the data, the width or the styles change. Only one-line sparklines take the fast
path; taller ones fall back to the stock rendering.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widgets import Sparkline

BARS = "▁▂▃▄▅▆▇█"


class CachedSparkline(Sparkline):
    """A Sparkline whose line is rendered once per (data, width, styles)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._strip_key: tuple[object, ...] | None = None
        self._strip: Strip | None = None
        self._colour_cache: tuple[RichColor, RichColor, Style] | None = None

    def notify_style_update(self) -> None:
        self._strip_key = None  # a theme or CSS change: colours must be looked up again
        self._colour_cache = None
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if height != 1 or y != 0:
            return super().render_line(y)
        data = tuple(self.data or ())
        key = (data, width, self.summary_function)
        if key != self._strip_key or self._strip is None:
            self._strip = self._draw(data, width)
            self._strip_key = key
        return self._strip

    def _colours(self) -> tuple[RichColor, RichColor, Style]:
        """(min colour, max colour, base style), looked up once per style change."""
        if self._colour_cache is None:
            _, base = self.background_colors
            low = base + (self.get_component_styles("sparkline--min-color").color
                          if self.min_color is None else self.min_color)
            high = base + (self.get_component_styles("sparkline--max-color").color
                           if self.max_color is None else self.max_color)
            self._colour_cache = (low.rich_color, high.rich_color, self.visual_style.rich_style)
        return self._colour_cache

    def _draw(self, data: tuple[float, ...], width: int) -> Strip:
        low, high, style = self._colours()
        segments = bar_segments(data, width, low, high, self.summary_function)
        return Strip(segments).simplify().apply_style(style).adjust_cell_length(width, style)


def bar_segments(data: Sequence[float], width: int, min_color: RichColor, max_color: RichColor,
                 summary: Callable[[Sequence[float]], float] = max) -> list[Segment]:
    """The one-line bars of ``textual.renderables.sparkline.Sparkline``, one Segment per run.

    Same buckets and bar characters as the stock renderable. The colour is the blend at
    the bar's *level* (one of eight) instead of at its exact height: a run of equal bars
    becomes one Segment, so a frame carries a few styles per sparkline instead of one per
    cell (less to render, fewer bytes to the terminal), and the eight styles are cached.
    """
    if width <= 0:
        return []
    if not data:
        return [Segment("▁" * width, Style.from_color(min_color))]
    if len(data) == 1:
        return [Segment("█" * width, Style.from_color(max_color))]
    n = len(data)
    buckets = [data[(n * b) // width:(n * (b + 1)) // width] for b in range(width)]
    buckets = [part for part in buckets if part]
    minimum, maximum = min(data), max(data)
    extent = maximum - minimum or 1
    styles = _level_styles(min_color, max_color)
    top = len(BARS) - 1
    levels: list[int] = []
    step = len(buckets) / width
    index = 0.0
    for _ in range(width):
        ratio = (summary(buckets[int(index)]) - minimum) / extent
        levels.append(min(max(int(ratio * top), -1), top) if ratio == ratio else -1)  # NaN: no bar
        index += step
    out: list[Segment] = []
    run_start = 0
    for i in range(1, width + 1):
        if i == width or levels[i] != levels[run_start]:
            level = levels[run_start]
            if level < 0:
                out.append(Segment(" " * (i - run_start)))
            else:
                out.append(Segment(BARS[level] * (i - run_start), styles[level]))
            run_start = i
    return out


@lru_cache(maxsize=64)
def _level_styles(min_color: RichColor, max_color: RichColor) -> tuple[Style, ...]:
    """The style of each bar level: the blend of the two colours at that level."""
    lo, hi = min_color.triplet, max_color.triplet
    top = len(BARS) - 1
    if lo is None or hi is None:  # a named terminal colour: no blending, as in the stock widget
        return tuple(Style.from_color(max_color) for _ in BARS)
    return tuple(
        Style.from_color(RichColor.from_rgb(*(int(a + (b - a) * level / top)
                                              for a, b in zip(lo, hi, strict=True))))
        for level in range(len(BARS)))
