"""The cached sparkline draws the bars of Textual's own Sparkline renderable."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.color import Color
from rich.console import Console
from rich.segment import Segment
from textual.renderables.sparkline import Sparkline

from wsmon_tui.tui.chartmodel import robust_top
from wsmon_tui.tui.widgets.sparkline import BARS, CLIPPED, MIN_TREND_POINTS, bar_segments, scaled_segments

LOW, HIGH = Color.from_rgb(0, 200, 0), Color.from_rgb(250, 0, 0)


def stock(data: list[float], width: int) -> list[Segment]:
    from textual.color import Color as TColor

    spark = Sparkline(data, width=width, min_color=TColor(0, 200, 0).rich_color,
                      max_color=TColor(250, 0, 0).rich_color, summary_function=max)
    console = Console(width=width, color_system="truecolor")
    return [s for s in spark.__rich_console__(console, console.options) if s.text != "\n"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=MIN_TREND_POINTS,
                max_size=120),
       st.integers(min_value=1, max_value=80))
def test_same_bars_as_the_stock_renderable(data, width):
    ours = bar_segments(data, width, LOW, HIGH, max)
    assert sum(len(s.text) for s in ours) == width
    assert "".join(s.text for s in ours) == "".join(s.text for s in stock(data, width))
    # each run carries the colour of its level: the blend at level / 7
    for segment in ours:
        assert len(set(segment.text)) == 1
        level = BARS.index(segment.text[0])
        r, g, _ = segment.style.color.triplet
        assert r == int(250 * level / 7) and g == int(200 - 200 * level / 7)


def test_runs_of_equal_bars_are_one_segment():
    data = [1.0] * 30 + [9.0] * 30
    segments = bar_segments(data, 60, LOW, HIGH, max)
    assert [(s.text[0], len(s.text)) for s in segments] == [("▁", 30), ("█", 30)]


def test_empty_single_and_nan():
    assert [s.text for s in bar_segments([], 5, LOW, HIGH)] == ["▁▁▁▁▁"]
    assert bar_segments([1.0, 2.0, 3.0, 4.0], 0, LOW, HIGH) == []
    assert "".join(s.text for s in bar_segments([1.0, math.nan, 3.0, 4.0, 5.0], 5, LOW, HIGH))  # no crash


def test_no_trend_from_the_first_few_points():
    """A session's first probes: one to three values draw no bars (no ▁█ cliff from two values
    a millisecond apart, no ▲ from a scale whose top is the percentile of two points); the
    fourth value draws them."""
    baseline = [("▁" * 8, LOW)]
    for data in ([3.0], [20.0, 21.0], [20.0, 21.0, 35.0], [20.0, math.nan, 21.0, math.nan, 35.0]):
        assert [(s.text, s.style.color) for s in bar_segments(data, 8, LOW, HIGH)] == baseline
        top = robust_top([data])
        assert top is not None
        drawn = "".join(s.text for s in scaled_segments(data, 8, top, (), None, LOW, HIGH))
        assert drawn == " " * 8
    rising = [20.0, 21.0, 35.0, 36.0]
    assert "".join(s.text for s in bar_segments(rising, 4, LOW, HIGH)) == "▁▁▇█"
    # with enough points a value above the shared scale is marked again
    scaled = "".join(s.text for s in scaled_segments([20.0, 21.0, 20.0, 90.0], 4, 30.0, (), None, LOW, HIGH))
    assert scaled[-1] == CLIPPED and CLIPPED not in scaled[:-1]
