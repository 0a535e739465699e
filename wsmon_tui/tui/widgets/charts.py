"""Charts drawn by plotext (called directly) and shown as ``Text.from_ansi``.

plotext 6 keeps one global figure; every chart clears it, draws, builds a matrix and
takes its string, all synchronously on the UI loop, so charts never interleave. The
rendered text is cached per (data, size): an unchanged chart costs nothing. plotext is
imported on the first chart, not with the app, so the summary paints sooner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from wsmon_tui.tui.fmt import safe


@dataclass(frozen=True)
class Line:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]


@dataclass(frozen=True)
class ChartData:
    title: str
    lines: tuple[Line, ...] = ()
    bars: tuple[tuple[str, float], ...] = ()
    xlabel: str = ""
    empty_text: str = "no data yet"


def render_chart(data: ChartData, width: int, height: int) -> str:
    """The chart as ANSI text, ``width`` x ``height`` cells."""
    import plotext  # ~125 ms to import: not on the path to the first frame

    fig = plotext.figure
    fig.clear()
    fig.plot_size(max(width, 10), max(height, 4))
    fig.theme("simple")
    fig.title(safe(data.title, 60))
    drew = False
    if data.bars:
        labels = [safe(label, 16) for label, _ in data.bars]
        fig.draw(fig.bar(labels, [float(v) for _, v in data.bars]))
        drew = True
    for line in data.lines:
        if not line.xs:
            continue
        signal = fig.signal(list(line.xs), list(line.ys))
        signal.lines()
        if len(data.lines) > 1:
            signal.label(safe(line.label, 20))
        fig.draw(signal)
        drew = True
    if drew and data.xlabel:
        fig.label(data.xlabel, axis="x")
    if not drew:
        fig.title(f"{safe(data.title, 40)}: {data.empty_text}")
    return fig.build().string()


class Chart(Widget):
    """One plotext chart; ``data`` is replaced as a whole, the text rebuilt only if needed."""

    DEFAULT_CSS = """
    Chart { height: 12; min-width: 30; }
    """

    def __init__(self, data: ChartData | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="chart")
        self.data = data or ChartData("")
        self._cache_key: tuple[ChartData, int, int] | None = None
        self._cache = Text()

    def show(self, data: ChartData) -> None:
        if data != self.data:
            self.data = data
            self.refresh()

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        key = (self.data, width, height)
        if key != self._cache_key:
            self._cache_key = key
            self._cache = Text.from_ansi(render_chart(self.data, width, height), no_wrap=True)
        return self._cache


def relative_minutes(points: Sequence[tuple[float, float]], now: float,
                     max_points: int = 400) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(ts, value) points as minutes before ``now``, thinned to ``max_points``."""
    if len(points) > max_points:
        step = len(points) / max_points
        points = [points[int(i * step)] for i in range(max_points)]
    xs = tuple(round((ts - now) / 60.0, 3) for ts, _ in points)
    ys = tuple(float(v) for _, v in points)
    return xs, ys
