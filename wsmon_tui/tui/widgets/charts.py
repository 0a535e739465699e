"""Charts drawn by plotext (called directly) from a ``ChartSpec`` (``tui/chartmodel.py``).

What to plot is decided in ``chartmodel``; this module only draws it. plotext 6 keeps one
global figure; every chart clears it, draws, builds a matrix and takes its string, all
synchronously on the UI loop, so charts never interleave. The text is cached per (spec,
size, colours): a chart is drawn again only when its data, its size or the theme changed,
and only when Textual asks for it, which it does for a widget on the visible screen in
view. plotext is imported on the first chart, not with the app, so the summary paints sooner.

A chart is one widget of two parts: a line above the plot with the title and the legend
(outside the plot, so it hides nothing), coloured like the lines and built as ``Text``
(names are never markup), and the plot itself, with the theme's colours passed to
plotext as RGB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from wsmon_tui.tui.chartmodel import SERIES_ROLES, ChartSpec, fit_axis, legend
from wsmon_tui.tui.fmt import safe

RGB = tuple[int, int, int]
ROLES = (*SERIES_ROLES, "threshold-warning", "threshold-error", "marker-alert", "marker-rollback",
         "marker-verifying", "marker-verified", "marker-failed", "muted")
HLINE_GLYPH = "╌"
MARKER_GLYPH = "┊"
XLABEL_FROM = 11
"""Plots at least this tall also print the time axis's unit under its ticks."""


def title_line(spec: ChartSpec, colours: Mapping[str, RGB]) -> Text:
    """The title, bold, then the legend in the lines' colours, on one line (plain text)."""
    def style(role: str, bold: bool = False) -> Style:
        rgb = colours.get(role)
        return Style(color=f"rgb({rgb[0]},{rgb[1]},{rgb[2]})" if rgb else None, bold=bold)

    line = Text(safe(spec.title, 60), style=style(spec.title_role, bold=True), no_wrap=True,
                overflow="ellipsis", end="")
    for text, role in legend(spec):
        line.append("  ")
        line.append(safe(text, 60), style(role))
    return line


def render_plot(spec: ChartSpec, width: int, height: int, colours: Mapping[str, RGB]) -> str:
    """The plot alone as ANSI text, ``width`` x ``height`` cells."""
    import plotext  # ~125 ms to import: not on the path to the first frame

    def pixel(role: str) -> object:
        rgb = colours.get(role)
        return plotext.pixel(rgb) if rgb else plotext.pixel()

    fig = plotext.figure
    fig.clear()
    fig.plot_size(max(width, 10), max(height, 4))
    fig.theme("simple")
    x = spec.x
    # the canvas: the plot less its frame, the x ticks and the x label
    xlabel = x is not None and bool(x.label) and height >= XLABEL_FROM
    rows = height - 2 - (x is not None or bool(spec.bars)) - xlabel
    y = fit_axis(spec.y, rows) if spec.y is not None else None
    if spec.bars:
        labels = [safe(label, 16) for label, _ in spec.bars]
        fig.draw(fig.bar(labels, [float(v) for _, v in spec.bars],
                         marker=plotext.marker("full", pixel=pixel(SERIES_ROLES[0]))))
    if x is not None and y is not None:
        for line in spec.hlines:
            if y.lo <= line.y <= y.hi:
                glyph = plotext.marker(HLINE_GLYPH, pixel=pixel(line.role))
                fig.draw(fig.segment((x.lo, x.hi), (line.y, line.y), marker=glyph).density("full"))
        for mark in spec.markers:
            fig.draw(fig.segment((mark.x, mark.x), (y.lo, y.hi),
                                 marker=plotext.marker(MARKER_GLYPH, pixel=pixel(f"marker-{mark.kind}")))
                     .density("full"))
    for series in spec.series:
        if series.xs:
            signal = fig.signal(list(series.xs), list(series.ys),
                                marker=plotext.marker("hd", pixel=pixel(series.role)))
            fig.draw(signal.lines())
    if x is not None:
        ruler = fig.ruler("x")
        ruler.lim(x.lo, x.hi)
        ruler.ticks(list(x.ticks), list(x.labels))
        if xlabel:
            fig.label(x.label, axis="x")
    if y is not None:
        ruler = fig.ruler("y")
        ruler.lim(y.lo, y.hi)
        ruler.ticks(list(y.ticks), list(y.labels))
    return str(fig.build().string())


def render_chart(spec: ChartSpec, width: int, height: int,
                 colours: Mapping[str, RGB] | None = None) -> Text:
    """The chart, ``width`` x ``height`` cells: the title and legend line, then the plot."""
    colours = colours or {}
    head = title_line(spec, colours)
    if not spec.has_data:
        return Text.assemble(head, "\n", Text(spec.empty_text, style="dim"), no_wrap=True)
    plot = Text.from_ansi(render_plot(spec, width, height - 1, colours), no_wrap=True, end="")
    return Text.assemble(head, "\n", plot, no_wrap=True, end="")


class Chart(Widget):
    """One chart; ``spec`` is replaced as a whole, the text rebuilt only when it must be."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"chart--{role}" for role in ROLES}
    DEFAULT_CSS = """
    Chart { height: 12; min-width: 30; text-wrap: nowrap; text-overflow: ellipsis; }
    Chart > .chart--series-0 { color: $primary; }
    Chart > .chart--series-1 { color: $accent; }
    Chart > .chart--series-2 { color: $secondary; }
    Chart > .chart--series-3 { color: $foreground 70%; }
    Chart > .chart--threshold-warning { color: $warning; }
    Chart > .chart--threshold-error { color: $error; }
    Chart > .chart--marker-alert { color: $error; }
    Chart > .chart--marker-rollback { color: $accent; }
    Chart > .chart--marker-verifying { color: $warning; }
    Chart > .chart--marker-verified { color: $success; }
    Chart > .chart--marker-failed { color: $error; }
    Chart > .chart--muted { color: $text-muted; }
    """

    def __init__(self, spec: ChartSpec | None = None, *, id: str | None = None,
                 classes: str = "chart") -> None:
        super().__init__(id=id, classes=classes)
        self.spec = spec or ChartSpec("")
        self.renders = 0
        """How many times the plot was drawn (tests check that an unchanged chart is not)."""
        self._cache_key: tuple[ChartSpec, int, int] | None = None
        self._cache = Text()
        self._colours: dict[str, RGB] | None = None

    def show(self, spec: ChartSpec) -> None:
        if spec != self.spec:
            self.spec = spec
            self.refresh()

    def notify_style_update(self) -> None:
        self._colours = None  # a theme change: look the colours up again, draw again
        self._cache_key = None
        super().notify_style_update()

    def colours(self) -> dict[str, RGB]:
        if self._colours is None:
            _, background = self.background_colors
            self._colours = {role: (background + self.get_component_styles(f"chart--{role}").color).rgb
                             for role in ROLES}
        return self._colours

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        key = (self.spec, width, height)
        if key != self._cache_key:
            self._cache_key = key
            self._cache = render_chart(self.spec, width, height, self.colours())
            self.renders += 1
        return self._cache
