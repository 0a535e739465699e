"""Compiled alert rules and the evaluation of one rule's metric for one target.

A ``[[alerts.rules]]`` table becomes a ``CompiledRule``: thresholds as severity tiers
(config rules have one tier; default rules like HighErrorRate have a warning and a
critical tier, so one alert per (rule, target) can rise from warning to critical), a
comparison function, and the scope it is judged at: per target, or once for the fleet
(``metric = "overall"`` and the host/process resources), under the target name
``"overall"``.

``MetricReader`` turns a Snapshot (the tick's record) and its ``Windows`` into the value
a rule compares. Without a ``window`` a rule reads the value of this tick (the Snapshot
holds it, exactly as the screens show it); with a ``window`` it reduces the metric's
recent values by ``aggregate``. Reductions are cached per tick: a thousand rules over the same
(target, metric, window, aggregate) cost one reduction.
"""

from __future__ import annotations

import math
import operator
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from wsmon_tui.config import RuleConfig
from wsmon_tui.config.templates import TEMPLATE_FIELDS, cut, spec_limit_problem
from wsmon_tui.levels import LEVELS, evaluation_window, min_probes
from wsmon_tui.metrics import CANONICAL_METRICS, FLEET_METRICS, OVERALL, PROBE_OUTCOME, RATE_METRICS
from wsmon_tui.model import SEVERITY_ORDER, Snapshot, TargetView, Windows
from wsmon_tui.stats import AGGREGATES, percentile, reduce

#: Every metric a rule may name: the canonical metrics plus ``overall`` (the fleet health score).
CANONICAL_RULE_METRICS: frozenset[str] = frozenset(CANONICAL_METRICS | {OVERALL})

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}
SEVERITIES = ("info", "warning", "critical")


def step_up(severity: str) -> str:
    """One severity step up (critical stays critical)."""
    i = SEVERITY_ORDER.get(severity, 1)
    return SEVERITIES[min(i + 1, len(SEVERITIES) - 1)]


@dataclass(frozen=True, slots=True)
class Tier:
    threshold: float
    severity: str


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    metric: str
    op: str
    tiers: tuple[Tier, ...]
    """Most severe first: the first tier whose comparison holds gives the alert's severity."""
    for_: float = 0.0
    keep_firing_for: float = 0.0
    window: float | None = None
    aggregate: str = "last"
    cooldown: float = 300.0
    summary: str = ""
    description: str = ""
    runbook: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    targets: frozenset[str] | None = None
    """Only these targets (None: all)."""
    channels: tuple[str, ...] = ()
    fleet: bool = False
    """Judged once under the target name ``overall`` instead of per target."""
    relative_baseline: float | None = None
    """When set, the value compared is the metric divided by its mean over the first this-many
    seconds of its series (the session's baseline), e.g. AdoptionDrop."""
    require_probes: bool = False
    """Only judge targets that had probes in the window (TargetDown)."""
    inhibited_by: tuple[str, ...] = ()
    """Rules whose pending or firing alert on the same target holds this one back (shown as
    inhibited, not notified)."""
    default: bool = False
    _cmp: Callable[[float, float], bool] = field(default=operator.gt, repr=False, compare=False)

    def match(self, value: float | None) -> Tier | None:
        if value is None:
            return None
        cmp = self._cmp
        for tier in self.tiers:
            if cmp(value, tier.threshold):
                return tier
        return None

    @property
    def severity(self) -> str:
        return self.tiers[-1].severity

    @property
    def needs_evidence(self) -> bool:
        """A rate or success rule, judged only over enough probes (``levels.min_probes``).
        TargetDown (``require_probes``) judges from the first probe: it is what holds the
        others back, so it must be pending from the start."""
        return self.metric in RATE_METRICS and not self.fleet and not self.require_probes


def make_rule(name: str, metric: str, op: str, tiers: list[tuple[float, str]] | tuple[Tier, ...],
              **kw: Any) -> CompiledRule:
    """A CompiledRule, checking metric, op, severities and aggregate (ValueError names the rule)."""
    if metric not in CANONICAL_RULE_METRICS:
        raise ValueError(f"rule {name!r}: unknown metric {metric!r}")
    if op not in OPS:
        raise ValueError(f"rule {name!r}: unknown op {op!r}")
    built = tuple(t if isinstance(t, Tier) else Tier(float(t[0]), t[1]) for t in tiers)
    if not built:
        raise ValueError(f"rule {name!r}: no threshold")
    for t in built:
        if t.severity not in SEVERITIES:
            raise ValueError(f"rule {name!r}: unknown severity {t.severity!r}")
    aggregate = kw.get("aggregate", "last")
    if aggregate not in AGGREGATES:
        raise ValueError(f"rule {name!r}: unknown aggregate {aggregate!r}")
    ordered = tuple(sorted(built, key=lambda t: -SEVERITY_ORDER[t.severity]))
    labels = MappingProxyType(dict(kw.pop("labels", {}) or {}))
    return CompiledRule(name=name, metric=metric, op=op, tiers=ordered, labels=labels,
                        fleet=metric in FLEET_METRICS, _cmp=OPS[op], **kw)


def compile_rule(cfg: RuleConfig) -> CompiledRule:
    """The rule of one ``[[alerts.rules]]`` table (already validated by the config loader)."""
    return make_rule(
        cfg.name, cfg.metric, cfg.op, [(cfg.threshold, cfg.severity)],
        for_=cfg.for_, keep_firing_for=cfg.keep_firing_for, window=cfg.window, aggregate=cfg.aggregate,
        cooldown=cfg.cooldown, summary=cfg.summary, description=cfg.description, runbook=cfg.runbook,
        labels=cfg.labels, targets=frozenset(cfg.targets) if cfg.targets else None,
        channels=tuple(cfg.channels),
    )


# -- templating ---------------------------------------------------------------------

_FORMATTER = string.Formatter()


def render(template: str, fields: Mapping[str, Any], errors: list[str] | None = None) -> str:
    """Fill ``{target}``, ``{value}``, ``{threshold}`` (and rule, severity, metric, deployment).

    Only those plain names are filled, with an optional format spec (``{value:.1%}``); any
    other field (``{0}``, ``{target.__class__}``, ``{nope}``) stays as written. Filled values
    are not parsed again, so a target name holding braces cannot inject fields. A template
    that cannot be parsed, a spec over the limits of ``config/templates.py`` or one that does
    not fit the value gives the raw template, and the reason is appended to ``errors``; it
    never raises. The result is at most ``MAX_RENDERED`` characters.
    """
    if "{" not in template and "}" not in template:
        return cut(template)
    try:
        out: list[str] = []
        for literal, name, spec, conv in _FORMATTER.parse(template):
            out.append(literal)
            if name is None:
                continue
            if name in TEMPLATE_FIELDS and name in fields and conv is None:
                value = fields[name]
                if value is None:
                    out.append("n/a")
                elif spec:
                    problem = spec_limit_problem(spec)
                    if problem:
                        raise ValueError(f"{{{name}:{spec}}}: {problem}")
                    out.append(format(value, spec))
                elif isinstance(value, float):
                    out.append(_plain_number(value))
                else:
                    out.append(str(value))
            else:
                out.append("{" + name + ("!" + conv if conv else "") + (":" + spec if spec else "") + "}")
        return cut("".join(out))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, MemoryError) as exc:
        if errors is not None:
            errors.append(str(exc) or type(exc).__name__)
        return cut(template)


def _plain_number(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


# -- reading values -------------------------------------------------------------------


_RAW_PERCENTILES = {"handshake_p50": ("handshake_ms", 50.0), "handshake_p99": ("handshake_ms", 99.0),
                    "rtt_p50": ("rtt_ms", 50.0), "rtt_p99": ("rtt_ms", 99.0)}


class MetricReader:
    """The values rules compare, for one tick. Build one per evaluation.

    Current values come from the tick's record (``TargetView.values``, ``Snapshot.overall``);
    windows from ``Windows`` (raw probe samples, and the record's values of earlier ticks).
    """

    __slots__ = ("_aggs", "_baselines", "_eval_window", "_fleet", "_now", "_snap", "_views", "_windows",
                 "_wins")

    def __init__(self, snapshot: Snapshot, windows: Windows, now: float,
                 baselines: dict[tuple[str, str, float], float] | None = None) -> None:
        self._snap = snapshot
        self._wins = windows
        self._now = now
        self._views = {tv.name: tv for tv in snapshot.targets}
        self._fleet: dict[str, float | None] | None = None
        self._aggs: dict[tuple[str, str, float, str], float | None] = {}
        self._windows: dict[tuple[str, str, float], list[float]] = {}
        self._baselines = baselines if baselines is not None else {}
        level = LEVELS.get(snapshot.level)
        self._eval_window = evaluation_window(level.window, snapshot.interval) if level else 0.0

    @property
    def target_views(self) -> dict[str, TargetView]:
        return self._views

    def _fleet_values(self) -> dict[str, float | None]:
        if self._fleet is None:
            snap = self._snap
            values: dict[str, float | None] = {}
            if snap.resources is not None:
                values.update(snap.resources.values())
            values.update(snap.overall)
            values[OVERALL] = snap.health_score
            self._fleet = values
        return self._fleet

    def values_for(self, target: str) -> Mapping[str, float | None]:
        """This tick's values of one target (empty for a target not in the snapshot)."""
        tv = self._views.get(target)
        return tv.values if tv is not None else EMPTY_VALUES

    def current(self, metric: str, target: str) -> float | None:
        """This tick's value of ``metric`` for ``target`` (``overall`` for the fleet)."""
        if target == OVERALL and metric in FLEET_METRICS:
            return self._fleet_values().get(metric)
        return self.values_for(target).get(metric)

    def windowed(self, metric: str, target: str, window: float, how: str) -> float | None:
        """``metric`` over the last ``window`` seconds, reduced by ``how``."""
        st = "" if target == OVERALL and metric in FLEET_METRICS else target
        key = (st, metric, window, how)
        try:
            return self._aggs[key]
        except KeyError:
            pass
        if metric in _RAW_PERCENTILES:
            raw, q = _RAW_PERCENTILES[metric]
            values = self._values(st, raw, window)
            value = percentile(sorted(values), q) if values else None
        elif how == "last":
            # ``last`` means the latest value inside the window, not an arbitrarily old one
            point = self._wins.last(st, _series_name(metric))
            value = point[1] if point is not None and point[0] >= self._now - window else None
        else:
            value = reduce(self._values(st, _series_name(metric), window), how)
        self._aggs[key] = value
        return value

    def _values(self, st: str, name: str, window: float) -> list[float]:
        """The window's values, read once per tick for every aggregate over them."""
        key = (st, name, window)
        cached = self._windows.get(key)
        if cached is None:
            cached = self._windows[key] = list(self._wins.values_since(st, name, self._now - window))
        return cached

    def evidence(self, rule: CompiledRule, target: str) -> tuple[int, float]:
        """``(probes, seconds)`` the rule's value of ``target`` rests on: the probes in its window
        (the evaluation window's for a rule without one)."""
        if rule.window:
            return len(self._values(target, PROBE_OUTCOME, rule.window)), rule.window
        tv = self._views.get(target)
        return (tv.probes if tv is not None else 0), self._eval_window

    def enough(self, probes: int, span: float) -> bool:
        """Whether ``probes`` over ``span`` seconds are evidence enough (``levels.min_probes``)."""
        return probes >= min_probes(span, self._snap.interval)

    def value(self, rule: CompiledRule, target: str) -> float | None:
        if rule.window:
            value = self.windowed(rule.metric, target, rule.window, rule.aggregate)
        else:
            value = self.current(rule.metric, target)
        if value is None or rule.relative_baseline is None:
            return value
        base = self.baseline(rule.metric, target, rule.relative_baseline)
        return value / base if base else None

    def baseline(self, metric: str, target: str, span: float) -> float | None:
        """Mean of the first ``span`` seconds of the metric's history; None until that span has
        passed. Cached (by the engine, across ticks) once known: it is the session's reference."""
        st = "" if target == OVERALL and metric in FLEET_METRICS else target
        key = (st, metric, span)
        if key in self._baselines:
            return self._baselines[key]
        name = _series_name(metric)
        first = self._wins.first(st, name)
        if first is None or self._now < first[0] + span:
            return None
        values = [v for ts, v in self._wins.points_since(st, name, first[0]) if ts <= first[0] + span]
        base = math.fsum(values) / len(values) if values else None
        if base is not None and base > 0:
            self._baselines[key] = base
        return base


EMPTY_VALUES: Mapping[str, float | None] = MappingProxyType({})


def _series_name(metric: str) -> str:
    return "health_score" if metric == OVERALL else metric
