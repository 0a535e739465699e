"""The one implementation of the statistics every layer shares.

Live figures (the read model, the alert rules' windows) and report figures (stored
probes) are computed here, so the number on the screen and the number in the report
for the same probes are the same number. No imports from the rest of the package.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

AGGREGATES = ("last", "avg", "min", "max", "p95")
"""How a window of values is reduced to one (the alert rules' ``aggregate``)."""


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ascending values, interpolated linearly.

    Matches numpy's default (``method="linear"``): the rank is ``q/100 * (n - 1)``.
    Raises ``ValueError`` on an empty sequence.
    """
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of no values")
    if n == 1:
        return float(sorted_values[0])
    q = min(max(q, 0.0), 100.0)
    rank = q / 100.0 * (n - 1)
    lo = int(rank)
    frac = rank - lo
    if lo >= n - 1:
        return float(sorted_values[-1])
    a = sorted_values[lo]
    b = sorted_values[lo + 1]
    return float(a + (b - a) * frac)


def percentiles(values: Iterable[float]) -> tuple[float | None, float | None, float | None]:
    """p50, p95 and p99 of ``values`` (any order); all None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None, None, None
    return percentile(ordered, 50), percentile(ordered, 95), percentile(ordered, 99)


def reduce(values: Sequence[float], how: str) -> float | None:
    """``values`` (oldest first) reduced by one of ``AGGREGATES``; None when empty."""
    if not values:
        return None
    if how == "last":
        return float(values[-1])
    if how == "avg":
        return math.fsum(values) / len(values)
    if how == "min":
        return float(min(values))
    if how == "max":
        return float(max(values))
    if how == "p95":
        return percentile(sorted(values), 95)
    raise ValueError(f"unknown aggregate {how!r}")
