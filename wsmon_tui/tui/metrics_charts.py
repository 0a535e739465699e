"""What the metrics view plots, from one snapshot and the ranges the engine answered.

Pure (no Textual, no plotext): ``MetricsPlan`` takes the snapshot, the shared time axis,
the points by (target, metric), the thresholds and the incident's events, and returns
a ``ChartSpec`` per chart:

- **a small chart per target** for one metric (handshake p95, round-trip p95 or error
  rate; the view's ``m`` key cycles them), the worst targets first, at most ``SMALL``,
  the rest summarised in one line; every small chart shares one y scale and shows the
  target's threshold lines;
- **fleet charts**: messages/s, connections (whole-number ticks), adoption against the
  rollout, host CPU and memory (with their thresholds), errors by class (whole numbers);
- every time chart on the same x axis, with the incident's markers on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from wsmon_tui.fmt import ms, pct
from wsmon_tui.model import ERROR_CLASSES, Snapshot, TargetView
from wsmon_tui.seam import Points
from wsmon_tui.tui.chartmodel import (
    LEVEL_ROLE,
    SERIES_ROLES,
    Axis,
    ChartSpec,
    Event,
    HLine,
    Series,
    TimeAxis,
    clip,
    markers_on,
    on_axis,
    robust_top,
    value_axis,
)
from wsmon_tui.tui.fmt import safe
from wsmon_tui.tui.thresholds import Thresholds

SMALL = 6
"""Targets with a small chart of their own; the rest are summarised."""
STATUS_RANK = {"critical": 3, "degraded": 2, "unknown": 1, "healthy": 0}
STATUS_ROLE = {"critical": "threshold-error", "degraded": "threshold-warning"}
LEVEL_WORD = {"warning": "warn", "error": "crit"}


@dataclass(frozen=True, slots=True)
class TargetMetric:
    """A metric a small chart per target can show."""

    metric: str
    title: str
    unit: str
    scale: float = 1.0
    """Stored value x scale = plotted value (a 0-1 rate plotted in %)."""

    def text(self, value: float | None) -> str:
        return pct(value) if self.unit == "%" else ms(value)


TARGET_METRICS = (TargetMetric("handshake_p95", "Handshake p95", "ms"),
                  TargetMetric("rtt_p95", "Round-trip p95", "ms"),
                  TargetMetric("error_rate", "Error rate", "%", 100.0))
FLEET_CHARTS = ("throughput", "connections", "errors", "adoption", "resources")


def worst_first(targets: Sequence[TargetView], metric: str) -> list[TargetView]:
    """Targets by how bad they are: status first, then the metric's value, highest first."""
    def key(t: TargetView) -> tuple[int, float, str]:
        value = t.values.get(metric)
        known = value if value is not None and value == value else -1.0
        return (-STATUS_RANK.get(str(t.status), 1), -known, t.name)
    return sorted(targets, key=key)


def rest_summary(rest: Sequence[TargetView], tm: TargetMetric) -> str:
    """One line for the targets without a chart: how many, by status, and the highest value."""
    if not rest:
        return ""
    by_status: dict[str, int] = {}
    for t in rest:
        by_status[str(t.status)] = by_status.get(str(t.status), 0) + 1
    ranked = sorted(by_status.items(), key=lambda kv: -STATUS_RANK.get(kv[0], 1))
    counts = ", ".join(f"{n} {s}" for s, n in ranked)
    valued = [t for t in rest if t.values.get(tm.metric) is not None]
    line = f"{len(rest)} more target{'s' if len(rest) != 1 else ''}: {counts}"
    if valued:
        top = max(valued, key=lambda t: t.values.get(tm.metric) or 0.0)
        line += f"; highest {tm.title.lower()} {tm.text(top.values.get(tm.metric))} ({safe(top.name, 40)})"
    return line


def threshold_lines(thresholds: Thresholds, metric: str, target: str | None, scale: float = 1.0,
                    prefix: str = "") -> tuple[HLine, ...]:
    return tuple(HLine(t.value * scale, f"{prefix}{LEVEL_WORD[t.level]}", LEVEL_ROLE[t.level])
                 for t in thresholds.lines(metric, target))


@dataclass(frozen=True)
class MetricsPlan:
    """The charts of one paint of the metrics view."""

    snapshot: Snapshot
    axis: TimeAxis
    points: Callable[[str, str], Points]
    """(target, metric) -> the range's points ("" target: the fleet's series)."""
    thresholds: Thresholds
    events: tuple[Event, ...] = ()

    def _series(self, label: str, target: str, metric: str, role: str = SERIES_ROLES[0],
                scale: float = 1.0) -> Series:
        xs, ys = on_axis(self.points(target, metric), self.axis, scale)
        return Series(label, xs, ys, role)

    def _time_chart(self, title: str, series: tuple[Series, ...], hlines: tuple[HLine, ...] = (), *,
                    y: Axis | None = None, unit: str = "", integer: bool = False, zero: bool = True,
                    top: float | None = None, title_role: str = "") -> ChartSpec:
        clipped = None
        if top is not None:
            cut = [clip(s, top) for s in series]
            series = tuple(s for s, _ in cut)
            clipped = top if any(was for _, was in cut) else None
        if y is None:
            y = value_axis(series, hlines, top=top, zero=zero, integer=integer)
        return ChartSpec(title, series, hlines, markers_on(self.axis, self.events), x=self.axis.axis, y=y,
                         unit=unit, clipped=clipped, title_role=title_role)

    # -- per target ------------------------------------------------------------------------

    def targets(self, tm: TargetMetric, most: int = SMALL) -> tuple[list[TargetView], list[TargetView]]:
        """(targets with a chart, the rest), worst first."""
        ordered = worst_first(self.snapshot.targets, tm.metric)
        return ordered[:most], ordered[most:]

    def target_charts(self, tm: TargetMetric, shown: Sequence[TargetView]) -> list[ChartSpec]:
        """A small chart per target, on one y scale (the robust top of every shown series)."""
        series = [self._series(tm.title, t.name, tm.metric, scale=tm.scale) for t in shown]
        lines = {t.name: threshold_lines(self.thresholds, tm.metric, t.name, tm.scale) for t in shown}
        top = robust_top(s.ys for s in series)
        every_line = tuple(dict.fromkeys(line for ls in lines.values() for line in ls))
        y = value_axis(series, every_line, top=top, zero=True)
        out = []
        for t, s in zip(shown, series, strict=True):
            title = f"{t.name}  {str(t.status).upper()}  {tm.text(t.values.get(tm.metric))}"
            chart = self._time_chart(title, (s,), lines[t.name], y=y, unit=tm.unit, top=y.hi,
                                     title_role=STATUS_ROLE.get(str(t.status), ""))
            if not chart.has_data and t.probes and not t.success_rate:
                # probes ran but none measured this (a target that refuses or times out): say so
                chart = replace(chart, empty_text="no successful probe in this range")
            out.append(chart)
        return out

    # -- the fleet -------------------------------------------------------------------------

    def fleet_charts(self) -> dict[str, ChartSpec]:
        snap, th = self.snapshot, self.thresholds
        errors: dict[str, float] = dict.fromkeys(ERROR_CLASSES, 0.0)
        for t in snap.targets:
            for cls, n in t.errors.items():
                errors[cls] = errors.get(cls, 0.0) + n
        bars = tuple((k, v) for k, v in errors.items() if v)
        most = max((v for _, v in bars), default=1.0)
        adoption = self._series("adoption %", "", "adoption", scale=100.0)
        rollout = snap.deployment.rollout_percent
        adoption_lines: tuple[Series, ...] = (adoption,)
        if rollout is not None and adoption.xs:
            adoption_lines += (Series("rollout %", (adoption.xs[0], adoption.xs[-1]), (rollout, rollout),
                                      SERIES_ROLES[1]),)
        resources = (self._series("cpu %", "", "cpu_percent"),
                     self._series("mem %", "", "memory_percent", SERIES_ROLES[1]))
        cpu, mem = threshold_lines(th, "cpu_percent", None), threshold_lines(th, "memory_percent", None)
        if cpu != mem:  # different thresholds: say which is which
            cpu = threshold_lines(th, "cpu_percent", None, prefix="cpu ")
            mem = threshold_lines(th, "memory_percent", None, prefix="mem ")
        resource_lines = tuple(dict.fromkeys(cpu + mem))
        percent = value_axis((), top=100.0, zero=True)
        return {
            "throughput": self._time_chart("Messages/s", (self._series("messages/s", "", "messages_per_s"),)),
            "connections": self._time_chart("Connections", (self._series("connections", "", "connections"),),
                                            integer=True, zero=False),
            "errors": ChartSpec("Errors by class (session)", bars=bars,
                                y=value_axis((Series("", (0.0,), (most,)),), integer=True),
                                empty_text="no errors"),
            "adoption": self._time_chart("Adoption and rollout (%)", adoption_lines, y=percent, unit="%"),
            "resources": self._time_chart("Host CPU and memory (%)", resources, resource_lines, y=percent,
                                          unit="%"),
        }
