"""One-line sparkline bars, as Textual's Sparkline renderable draws them, as Segments.

The stock widget returns a Rich renderable that Textual pushes through the Rich console
(style wrapping, line splitting, cropping) on every refresh, with a style per cell; the
summary's cards draw their sparklines with ``bar_segments`` instead (see
``widgets/lines.py``): the same bars (checked against the stock renderable in
tests/test_sparkline.py), each run of equal bars one Segment.

``scaled_segments`` draws bars of the same glyphs on a fixed scale instead of each series' own
min-max: 0 at the bottom and a ``top`` shared by every card (one warm-up outlier no
longer flattens a card, and equal values draw equal bars on every card), a value above
``top`` as the marked glyph ``CLIPPED``, and each bar in the colour of its threshold
level (so 100 % errors are a full red row, not a flat line in the low colour).

Both draw no bars until a series has ``MIN_TREND_POINTS`` values: from one to three points
a min-max line is a cliff (two values a millisecond apart draw ▁ then █), and a shared scale
whose top is the percentile of a handful of points marks the first higher value ``CLIPPED``
(▲): a trend read from noise. Until then the line stays as it is without data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style

from wsmon_tui.tui.thresholds import Tier, level_of

BARS = "▁▂▃▄▅▆▇█"
CLIPPED = "▲"
"""A value above the shared scale's top: drawn at the top, marked as cut off."""
MIN_TREND_POINTS = 4
"""Values a sparkline needs before it draws bars: three probe intervals of change."""


def enough_points(data: Sequence[float]) -> bool:
    """Whether ``data`` has ``MIN_TREND_POINTS`` values (NaN, a gap, is not a value)."""
    count = 0
    for value in data:
        if value == value:
            count += 1
            if count >= MIN_TREND_POINTS:
                return True
    return False


def bar_segments(data: Sequence[float], width: int, min_color: RichColor, max_color: RichColor,
                 summary: Callable[[Sequence[float]], float] = max) -> list[Segment]:
    """The one-line bars of ``textual.renderables.sparkline.Sparkline``, one Segment per run.

    Same buckets and bar characters as the stock renderable. The colour is the blend at
    the bar's *level* (one of eight) instead of at its exact height: a run of equal bars
    becomes one Segment, so a frame carries a few styles per sparkline instead of one per
    cell (less to render, fewer bytes to the terminal), and the eight styles are cached.
    Unlike the stock renderable, fewer than ``MIN_TREND_POINTS`` values draw as no data (a
    flat line in the low colour).
    """
    if width <= 0:
        return []
    if not enough_points(data):
        return [Segment("▁" * width, Style.from_color(min_color))]
    minimum, maximum = min(data), max(data)
    extent = maximum - minimum or 1
    styles = _level_styles(min_color, max_color)
    top = len(BARS) - 1
    levels: list[int] = []
    for value in cell_values(data, width, summary):
        ratio = (value - minimum) / extent
        levels.append(min(max(int(ratio * top), -1), top) if ratio == ratio else -1)  # NaN: no bar
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


def cell_values(data: Sequence[float], width: int,
                summary: Callable[[Sequence[float]], float] = max) -> list[float]:
    """The value each of ``width`` cells stands for: ``summary`` of its bucket of ``data``
    (the stock renderable's buckets; fewer points than cells repeat)."""
    n = len(data)
    buckets = [data[(n * b) // width:(n * (b + 1)) // width] for b in range(width)]
    buckets = [part for part in buckets if part]
    step = len(buckets) / width
    out = []
    index = 0.0
    for _ in range(width):
        out.append(summary(buckets[int(index)]))
        index += step
    return out


def scaled_levels(data: Sequence[float], width: int, top: float,
                  summary: Callable[[Sequence[float]], float] = max) -> list[tuple[int, float]]:
    """Each cell's (bar, value) on a fixed scale from 0 to ``top``: bar 0-7 is the height
    (``BARS``), 8 a value above ``top`` (clipped), -1 no value (NaN, or no data at all)."""
    if width <= 0:
        return []
    if not data:
        return [(-1, math.nan)] * width
    scale = top if top > 0 else 1.0
    height = len(BARS)
    out = []
    for value in cell_values(data, width, summary):
        if value != value:
            out.append((-1, value))
        elif value > scale * (1 + 1e-9) and top > 0:
            out.append((height, value))
        else:
            out.append((min(max(int(value / scale * height), 0), height - 1), value))
    return out


def scaled_segments(data: Sequence[float], width: int, top: float, tiers: Sequence[Tier],
                    level_styles: dict[str, Style] | None, min_color: RichColor,
                    max_color: RichColor) -> list[Segment]:
    """The bars of ``scaled_levels``, one Segment per run of equal glyph and style. With
    ``level_styles`` each bar is coloured by the threshold level of its value (``tiers``),
    else by the low-to-high blend of its height. Fewer than ``MIN_TREND_POINTS`` values draw
    as no data (blank)."""
    if not enough_points(data):
        return [Segment(" " * width)] if width > 0 else []
    blend = _level_styles(min_color, max_color)
    out: list[Segment] = []
    run_text, run_style = "", None
    for bar, value in scaled_levels(data, width, top):
        if bar < 0:
            glyph, style = " ", None
        else:
            glyph = CLIPPED if bar >= len(BARS) else BARS[bar]
            if level_styles is not None:
                style = level_styles[level_of(tiers, value)]
            else:
                style = blend[min(bar, len(BARS) - 1)]
        if style is run_style and (not run_text or run_text[-1] == glyph):
            run_text += glyph
            continue
        if run_text:
            out.append(Segment(run_text, run_style))
        run_text, run_style = glyph, style
    if run_text:
        out.append(Segment(run_text, run_style))
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
