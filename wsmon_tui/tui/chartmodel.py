"""What a chart shows, decided without a terminal: axes, ticks, scales, lines, markers, legend.

``widgets/charts.py`` draws a ``ChartSpec`` with plotext and nothing else; every choice
that makes a chart tell its story is made here, as pure functions a test can call:

- **one time axis per screen** (``time_axis``): every chart of a range spans the same
  minutes (or hours) with the same ticks, so a marker at "-3" is the same moment on each;
- **markers** (``markers_on``): the incident's events placed on that axis;
- **threshold lines** and a **value axis** (``value_axis``) that shows them when the data
  comes near, with whole-number ticks for counts (``integer_ticks``);
- **one scale per metric** across cards and small charts (``robust_top``): the highest of
  each series' 95th percentile, so one warm-up outlier does not flatten every other value;
  values above it are clipped to the top and said to be;
- **legends** outside the plot (``legend``): (text, role) pairs the widget colours like
  the lines; names stay plain text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wsmon_tui.stats import percentile

SERIES_ROLES = ("series-0", "series-1", "series-2", "series-3")
"""The colours of a chart's lines, in order (component classes of the chart widget)."""
LEVEL_ROLE = {"warning": "threshold-warning", "error": "threshold-error"}
NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)
WIDEN_AT_MOST = 1.5
"""Round ticks may widen a value axis to this many times its range, no more (else its two
ends are the ticks)."""


@dataclass(frozen=True, slots=True)
class Axis:
    """A chart axis: its range, where its ticks fall and what they read."""

    lo: float
    hi: float
    ticks: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()
    label: str = ""
    integer: bool = False
    """Counts: whole-number ticks only."""


@dataclass(frozen=True, slots=True)
class TimeAxis:
    """The time axis every chart of one range shares: x = (ts - now) / unit."""

    span: float
    """Seconds back from ``now``."""
    now: float
    unit: float
    """60 (minutes) or 3600 (hours)."""
    axis: Axis

    def x(self, ts: float) -> float:
        return (ts - self.now) / self.unit

    def holds(self, ts: float) -> bool:
        return self.now - self.span <= ts <= self.now


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    role: str = "series-0"


@dataclass(frozen=True, slots=True)
class HLine:
    """A threshold line at ``y``."""

    y: float
    label: str
    role: str


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in the incident, at ``at`` (POSIX time)."""

    at: float
    kind: str
    """alert | rollback | verifying | verified | failed"""
    label: str


@dataclass(frozen=True, slots=True)
class Marker:
    """An event placed on a time axis."""

    x: float
    kind: str
    label: str


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """Everything a chart draws; equal specs draw the same text (the widget caches by it)."""

    title: str
    series: tuple[Series, ...] = ()
    hlines: tuple[HLine, ...] = ()
    markers: tuple[Marker, ...] = ()
    bars: tuple[tuple[str, float], ...] = ()
    x: Axis | None = None
    y: Axis | None = None
    unit: str = ""
    """What the values are in ("ms", "%"), for the legend's threshold values."""
    clipped: float | None = None
    """Values above this were drawn at it (the legend says so)."""
    empty_text: str = "no data yet"
    title_role: str = ""
    """The title's colour role ("threshold-error" for a critical target), "" for none."""

    @property
    def has_data(self) -> bool:
        return bool(self.bars) or any(s.xs for s in self.series)


# -- ticks ---------------------------------------------------------------------------------


def nice_step(span: float, most: int) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k step that cuts ``span`` into at most ``most`` parts."""
    if span <= 0 or most <= 0:
        return 1.0
    raw = span / most
    power = 10.0 ** math.floor(math.log10(raw))
    for m in NICE_STEPS:
        if m * power >= raw * (1 - 1e-9):
            return m * power
    return 10.0 * power


def integer_step(span: float, most: int) -> int:
    """The smallest 1, 2 or 5 x 10^k whole step cutting ``span`` into at most ``most`` parts."""
    span = max(span, 1.0)
    step, power = 1, 1
    while span / step > most:
        for m in (1, 2, 5):
            step = m * power
            if span / step <= most:
                break
        else:
            power *= 10
            step = power
    return step


def integer_ticks(lo: float, hi: float, most: int = 5) -> tuple[int, ...]:
    """Whole-number ticks from ``lo`` to ``hi`` (counts: connections, errors): a step of
    1, 2 or 5 x 10^k cutting the range into at most ``most`` parts, never a fraction."""
    step = integer_step(hi - lo, most)
    first = math.ceil(lo / step) * step
    if first < lo:  # lo / step underflowed to 0 (a lo of 5e-324)
        first += step
    return tuple(range(int(first), math.floor(hi) + 1, step)) or (round(lo),)


def value_ticks(lo: float, hi: float, most: int = 4) -> tuple[float, ...]:
    step = nice_step(hi - lo, most)
    first = math.ceil(lo / step - 1e-9) * step
    count = math.floor((hi - first) / step + 1e-9) + 1
    return tuple(round(first + i * step, 10) for i in range(max(count, 1)))


def fit_axis(axis: Axis, rows: int) -> Axis:
    """``axis`` for a plot ``rows`` tall: widened out to round ticks that each fall on a row,
    evenly, at most one label every other row.

    plotext puts a label on the row nearest its value: four labels over seven rows, or a
    top that is not a tick, land unevenly (two on neighbouring rows). So the step is chosen
    for the rows: the range is rounded out to whole steps and the number of steps must
    divide the rows between the top and the bottom. Whole numbers stay whole (``integer``).
    """
    span = axis.hi - axis.lo
    if rows < 2 or span <= 0:
        return axis
    for most in range(max(1, (rows - 1) // 2), 0, -1):
        step = float(integer_step(span, most)) if axis.integer else nice_step(span, most)
        lo = round(math.floor(axis.lo / step + 1e-9) * step, 10)
        hi = round(math.ceil(axis.hi / step - 1e-9) * step, 10)
        n = round((hi - lo) / step)
        if n >= 1 and (rows - 1) % n == 0 and hi - lo <= WIDEN_AT_MOST * span:
            ticks = tuple(round(lo + i * step, 10) for i in range(n + 1))
            return Axis(lo, hi, ticks, tuple(tick_label(t) for t in ticks), axis.label, axis.integer)
    ends = (axis.lo, axis.hi)  # the top and bottom rows always fall on a row
    labels = tuple(tick_label(round(t) if abs(t) >= 100 else round(t, 3)) for t in ends)
    return Axis(axis.lo, axis.hi, ends, labels, axis.label, axis.integer)


def tick_label(value: float) -> str:
    """A tick as short as it reads: 2500 → "2500", 12000 → "12k", 0.25 → "0.25"."""
    if abs(value) >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


# -- the time axis and its markers -------------------------------------------------------------


def time_axis(span: float, now: float) -> TimeAxis:
    """The shared x axis of a range: minutes up to an hour, hours beyond; "now" at the right."""
    unit = 60.0 if span <= 3600 else 3600.0
    lo = -span / unit
    step = nice_step(-lo, 6)
    ticks = value_ticks(lo, 0.0, max(1, round(-lo / step)))
    labels = tuple("now" if t == 0 else tick_label(t) for t in ticks)
    word = "minutes ago" if unit == 60.0 else "hours ago"
    return TimeAxis(span, now, unit, Axis(lo, 0.0, ticks, labels, word))


def on_axis(points: Sequence[tuple[float, float]], axis: TimeAxis, scale: float = 1.0,
            max_points: int = 400) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(ts, value) points inside the axis as (xs, ys), thinned to ``max_points``."""
    inside = [p for p in points if axis.holds(p[0])]
    if len(inside) > max_points:
        step = len(inside) / max_points
        inside = [inside[int(i * step)] for i in range(max_points)]
    xs = tuple(round(axis.x(ts), 4) for ts, _ in inside)
    ys = tuple(float(v) * scale for _, v in inside)
    return xs, ys


def markers_on(axis: TimeAxis, events: Iterable[Event]) -> tuple[Marker, ...]:
    """The events inside the axis's range as markers, oldest first."""
    return tuple(Marker(round(axis.x(e.at), 4), e.kind, e.label)
                 for e in sorted(events, key=lambda e: e.at) if axis.holds(e.at))


# -- value scales ------------------------------------------------------------------------------


def robust_top(series: Iterable[Sequence[float]], q: float = 95.0) -> float | None:
    """One scale for a metric across targets: the highest of each series' ``q``-th percentile.

    A warm-up outlier (one point in a series) stays above it and is clipped; a target that
    is bad for a while (more than 5 % of its points) sets the scale, so an incident is
    never clipped away. None when there are no values.
    """
    top: float | None = None
    for values in series:
        clean = sorted(v for v in values if v == v and not math.isinf(v))
        if clean:
            p = percentile(clean, q)
            top = p if top is None else max(top, p)
    return top


def value_axis(series: Sequence[Series], hlines: Sequence[HLine] = (), *, top: float | None = None,
               zero: bool = True, integer: bool = False, most: int = 4) -> Axis:
    """The y axis: from 0 (``zero``) or the lowest value to ``top`` (or the highest value),
    widened to show each threshold line within twice the data's top; whole-number ticks
    for counts."""
    values = [v for s in series for v in s.ys if v == v and not math.isinf(v)]
    lo = 0.0 if zero or not values else min(values)
    hi = top if top is not None else (max(values) if values else 1.0)
    if values and zero:
        lo = min(lo, min(values))
    for line in hlines:
        if hi < line.y <= 2 * max(hi, 1e-12):
            hi = line.y
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    if integer:
        lo, hi = math.floor(lo), max(math.ceil(hi), math.floor(lo) + 1)
        ticks: tuple[float, ...] = tuple(float(t) for t in integer_ticks(lo, hi, most))
        return Axis(lo, hi, ticks, tuple(tick_label(t) for t in ticks), integer=True)
    ticks = value_ticks(lo, hi, most)
    return Axis(lo, hi, ticks, tuple(tick_label(t) for t in ticks))


def clip(series: Series, top: float) -> tuple[Series, bool]:
    """``series`` with values above ``top`` drawn at it; whether any was."""
    if not any(v > top for v in series.ys):
        return series, False
    return Series(series.label, series.xs, tuple(min(v, top) for v in series.ys), series.role), True


# -- legends -----------------------------------------------------------------------------------


def threshold_text(value: float, unit: str) -> str:
    """A threshold's value in the legend: the unit only when it is "%" (the title names the rest)."""
    return f"{tick_label(round(value, 4))}{'%' if unit == '%' else ''}"


def legend(spec: ChartSpec) -> tuple[tuple[str, str], ...]:
    """The chart's legend as (text, role) pairs, drawn on its own line outside the plot:
    each line's name in its colour (when there are several), each threshold with its value
    ("↑": above the plotted range), and a note when values were clipped. The markers are
    keyed once for the whole screen. Names are text, never markup."""
    parts: list[tuple[str, str]] = []
    if len(spec.series) > 1:
        parts += [(f"━ {s.label}", s.role) for s in spec.series]
    y = spec.y
    for line in spec.hlines:
        off = y is not None and not y.lo <= line.y <= y.hi
        parts.append((f"╌ {line.label} {threshold_text(line.y, spec.unit)}{' ↑' if off else ''}", line.role))
    if spec.clipped is not None:
        parts.append((f"▲ above {threshold_text(spec.clipped, spec.unit)}", "muted"))
    return tuple(parts)
