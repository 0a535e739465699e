"""One-line sparkline bars, as Textual's Sparkline renderable draws them, as Segments.

The stock widget returns a Rich renderable that Textual pushes through the Rich console
(style wrapping, line splitting, cropping) on every refresh, with a style per cell; the
summary's cards draw their sparklines with ``bar_segments`` instead (see
``widgets/lines.py``): the same bars (checked against the stock renderable in
tests/test_sparkline.py), each run of equal bars one Segment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style

BARS = "▁▂▃▄▅▆▇█"


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
