"""Thresholds by metric, from the rules the engine judges (``EngineLink.rules``).

One place answers "is this value bad, and how bad" for the views: a big figure and a
card's numbers are coloured by it, a sparkline's bars too, and a chart draws its
threshold lines from the same tiers. The level is the alert rule's own comparison
against each tier, so a figure turns the colour its alert would have.

Rules whose thresholds are shares of a baseline (``relative``: AdoptionDrop) have no
value to compare a figure with and are left out; so are ``==`` and ``!=`` rules.
Pure: no Textual, no terminal.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from wsmon_tui.model import AlertView
from wsmon_tui.seam import RuleInfo

LEVELS = ("", "warning", "error")
"""From fine to worst: what a view styles a value by (``-warning``, ``-error``)."""
SEVERITY_LEVEL = {"warning": "warning", "critical": "error"}
"""An alert severity's level; ``info`` tiers colour nothing."""
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True, slots=True)
class Tier:
    """One threshold: a value past ``value`` (by ``op``) is at ``level``."""

    value: float
    op: str
    level: str
    rule: str

    def hit(self, value: float) -> bool:
        return _OPS[self.op](value, self.value)


def worse(a: str, b: str) -> str:
    """The worse of two levels."""
    return a if LEVELS.index(a) >= LEVELS.index(b) else b


def level_of(tiers: Sequence[Tier], value: float | None) -> str:
    """The worst level among ``tiers`` that ``value`` passes ("" when none, or no value)."""
    if value is None or value != value:  # None or NaN: nothing to judge
        return ""
    found = ""
    for tier in tiers:
        if tier.level != found and tier.hit(value):
            found = worse(found, tier.level)
    return found


class Thresholds:
    """The tiers of every metric; ``Thresholds()`` (none known yet) colours nothing."""

    def __init__(self, rules: Iterable[RuleInfo] = ()) -> None:
        self.rules = tuple(rules)
        self._cache: dict[tuple[str, str | None], tuple[Tier, ...]] = {}
        self.rule_metrics = {r.name: r.metric for r in self.rules}
        """Rule name -> metric (which figure a firing alert is about)."""

    def __bool__(self) -> bool:
        return bool(self.rules)

    def tiers(self, metric: str, target: str | None = None) -> tuple[Tier, ...]:
        """The tiers of ``metric`` that apply to ``target`` (None: any target), least severe first."""
        key = (metric, target)
        found = self._cache.get(key)
        if found is None:
            tiers: list[Tier] = []
            for rule in self.rules:
                if rule.metric != metric or rule.relative or rule.op not in _OPS:
                    continue
                if target is not None and rule.targets and target not in rule.targets:
                    continue
                pairs = rule.tiers
                if not pairs and rule.threshold is not None:  # an engine that sends no tiers
                    pairs = ((rule.threshold, "warning"),)
                for value, severity in pairs:
                    level = SEVERITY_LEVEL.get(severity)
                    if level is not None:
                        tiers.append(Tier(float(value), rule.op, level, rule.name))
            tiers.sort(key=lambda t: (LEVELS.index(t.level), t.value))
            found = self._cache[key] = tuple(dict.fromkeys(tiers))
        return found

    def level(self, metric: str, value: float | None, target: str | None = None) -> str:
        """How bad ``value`` of ``metric`` is for ``target``: "", "warning" or "error"."""
        return level_of(self.tiers(metric, target), value)

    def worst(self, metric: str, values: Iterable[tuple[str, float | None]]) -> str:
        """The worst level among (target, value) pairs."""
        found = ""
        for target, value in values:
            found = worse(found, self.level(metric, value, target))
            if found == "error":
                break
        return found

    def lines(self, metric: str, target: str | None = None) -> tuple[Tier, ...]:
        """One tier per distinct (value, level), for a chart's threshold lines."""
        seen: dict[tuple[float, str], Tier] = {}
        for tier in self.tiers(metric, target):
            seen.setdefault((tier.value, tier.level), tier)
        return tuple(seen.values())


    def alert_level(self, alerts: Iterable[AlertView], metric: str) -> str:
        """The level of the worst firing alert on ``metric``: what a figure's own thresholds
        cannot say (a relative rule such as AdoptionDrop, a window's aggregate)."""
        found = ""
        for alert in alerts:
            if alert.state == "firing" and self.rule_metrics.get(alert.rule) == metric:
                found = worse(found, SEVERITY_LEVEL.get(alert.severity, ""))
        return found
