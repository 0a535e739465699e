"""How numbers, durations and times read: one convention for the screen, the live table and reports.

Every place that shows a number to a person calls these functions, so a value reads
the same in the TUI, in ``wsmon-tui monitor``'s live table and plain lines, and in the
Markdown/HTML report. Pure functions, plain strings: no markup, no Textual or Rich.

The convention, chosen for an on-call engineer scanning a table:

* **Missing** is one mark, :data:`MISSING` ("—", an em dash), whatever the kind of
  value: ``None``, NaN, a value that could not be measured.
* **Measures** (latencies, rates, gauges) are compact: below 10,000 they are shown
  with a fixed number of decimals (one by default: "812.3", "41.2"); from 10,000 up
  with an SI suffix and one decimal ("15.2k", "3.4M", "1.2G", "7.0T"). Four
  significant figures at most, so columns stay narrow and the magnitude is read at
  a glance. Infinity is "∞" / "-∞".
* **Gauges that count things** (connections, queue depth, threads) are whole numbers
  below 10,000 ("812") and compact above ("15.2k"): :func:`count`.
* **Exact counts** — where the precise number matters because someone compares it
  with a log or another tool (probes sent, errors by class, close codes, delivery
  attempts, reconnects) — are whole numbers with thousands separators ("12,345"),
  never abbreviated: :func:`exact_count`.
* **Milliseconds** follow the measure rule with one decimal ("41.2 ms", "2450.7 ms");
  **rates** the same with "/s". Tables whose column header names the unit pass
  ``unit=False``.
* **Percentages**: ratios 0–1 (success, error rate, adoption) through :func:`pct` with
  one decimal, because 99.5% and 99.0% success are different days (0.988 → "98.8%");
  values already in percent (CPU, memory, rollout) through :func:`percent`, whole
  ("35%"), with one decimal only under 1% so a 0.5% canary does not read "0%".
* **A metric's value** (an alert's value and threshold) is shown in the metric's unit
  from ``metrics.UNITS`` by :func:`metric_value` (through :func:`measure`): a share as a
  percentage ("11.0%"), milliseconds with "ms", a percent whole ("75%"), a count whole
  (a fractional threshold keeps its decimal); never a bare "0.05" for 5 %.
* **Durations and ages** are "4.5s" (one decimal under 10 s when not whole), "45s",
  "3m 20s", "2h 05m", "1d 04h": two units at most, rounded to the second; negative
  (clock skew) shows as "0s".
* **Timestamps** are ISO 8601 in UTC to the second with a "Z": "2024-05-01T12:00:00Z".

Values of another type than a number (a hand-edited report, a string where a number
was expected) are shown as their ``str()``; a formatter never raises on its input,
because a report is most needed when things are broken.
"""

from __future__ import annotations

import math
import time
from typing import Any

from wsmon_tui import metrics

__all__ = [
    "COMPACT_FROM", "DASH", "MISSING", "count", "duration", "exact_count", "measure", "metric_value", "ms",
    "num", "pct", "percent", "rate", "timestamp",
]

MISSING = "—"
"""The one mark for a value that is not there."""
DASH = MISSING

COMPACT_FROM = 10_000
"""Magnitudes from here up are shown with an SI suffix."""

_SI: tuple[tuple[float, str], ...] = ((1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T"))


def as_number(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is not a number (bools are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond float range
        return math.inf if value > 0 else -math.inf


def _finite_or_text(value: Any, *, infinite: bool = True) -> float | str:
    """``value`` as a finite float, or the text to show instead (the mark, "∞", its ``str()``).

    ``infinite=False``: infinity is shown as missing (a percentage or a time cannot be infinite).
    """
    if value is None:
        return MISSING
    num = as_number(value)
    if num is None:
        return str(value)
    if math.isnan(num):
        return MISSING
    if math.isinf(num):
        if not infinite:
            return MISSING
        return "∞" if num > 0 else "-∞"
    return num


def _is_finite(value: Any) -> bool:
    return not isinstance(_finite_or_text(value), str)


def _fixed(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.0"


def _compact(value: float, digits: int) -> str:
    if abs(round(value, digits)) < COMPACT_FROM:
        return _fixed(value, digits)
    for scale, suffix in _SI:
        scaled = value / scale
        if abs(round(scaled, 1)) < 1000 or suffix == _SI[-1][1]:
            return f"{scaled:.1f}{suffix}"
    raise AssertionError("unreachable")


def num(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A measure: ``digits`` decimals below 10,000, SI-compact above ("15.2k"); ``unit`` appended.

    >>> num(812.34), num(15234.0), num(3_400_000), num(0.456, 2, " s"), num(None)
    ('812.3', '15.2k', '3.4M', '0.46 s', '—')
    """
    v = _finite_or_text(value)
    return v if isinstance(v, str) else _compact(v, digits) + unit


def ms(value: float | None, digits: int = 1, *, unit: bool = True) -> str:
    """Milliseconds as a measure: "41.2 ms" (``unit=False``: "41.2", for a column headed "ms")."""
    return num(value, digits, " ms" if unit and _is_finite(value) else "")


def rate(value: float | None, digits: int = 1, *, unit: bool = True) -> str:
    """A rate per second as a measure: "812.3/s", "15.2k/s" (``unit=False``: without "/s")."""
    return num(value, digits, "/s" if unit and _is_finite(value) else "")


def count(value: float | None) -> str:
    """A gauge that counts things: whole below 10,000 ("812"), SI-compact above ("15.2k")."""
    v = _finite_or_text(value)
    return v if isinstance(v, str) else _compact(float(round(v)), 0)


def exact_count(value: float | None) -> str:
    """A count where every unit matters (probes, errors, attempts): "12,345", never abbreviated."""
    v = _finite_or_text(value)
    if isinstance(v, str):
        return v
    return f"{value:,}" if isinstance(value, int) else f"{round(v):,}"


def pct(fraction: float | None, digits: int = 1) -> str:
    """A ratio 0–1 as a percentage: 0.988 → "98.8%"."""
    v = _finite_or_text(fraction, infinite=False)
    return v if isinstance(v, str) else _fixed(v * 100, digits) + "%"


def percent(value: float | None, digits: int = 0) -> str:
    """A value already in percent (CPU, memory, rollout): whole, 35.2 → "35%"; under 1, 0.5 → "0.5%".

    A small non-zero share (a canary at 0.5%) keeps one decimal rather than reading "0%".
    """
    v = _finite_or_text(value, infinite=False)
    if isinstance(v, str):
        return v
    if digits == 0 and 0 < abs(v) < 0.95:
        digits = 1
    return _fixed(v, digits) + "%"


def measure(value: float | None, unit: str) -> str:
    """A value in one of the units of ``metrics.UNITS`` ("" for a number of unknown unit: two decimals).

    >>> measure(0.11, "share"), measure(278.0, "ms"), measure(75, "percent"), measure(3, "count")
    ('11.0%', '278.0 ms', '75%', '3')
    """
    if unit == metrics.SHARE:
        return pct(value)
    if unit == metrics.PERCENT:
        return percent(value)
    if unit == metrics.MS:
        return ms(value)
    if unit == metrics.PER_S:
        return rate(value)
    if unit in (metrics.COUNT, metrics.FLAG):
        v = as_number(value)
        whole = v is None or not math.isfinite(v) or float(v).is_integer()
        return count(value) if whole else num(value, 1)
    if unit == metrics.RATIO:
        return num(value, 2, "×")
    if unit == metrics.MIB:
        return num(value, 0, " MiB")
    return num(value, 2)


def metric_value(metric: str, value: float | None) -> str:
    """A value of the canonical metric ``metric`` in its unit: ``metric_value("error_rate", 0.05)``
    is "5.0%"."""
    return measure(value, metrics.unit_of(metric))


def duration(seconds: float | None) -> str:
    """A length of time or an age: "4.5s", "45s", "3m 20s", "2h 05m", "1d 04h"."""
    v = _finite_or_text(seconds, infinite=False)
    if isinstance(v, str):
        return v
    value = max(0.0, v)
    if round(value, 1) < 10 and not round(value, 1).is_integer():
        return f"{value:.1f}s"
    total = round(value)
    if total < 60:
        return f"{total}s"
    days, rem = divmod(total, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def timestamp(ts: float | None) -> str:
    """Seconds since the epoch as ISO 8601 UTC to the second: "2024-05-01T12:00:00Z"."""
    v = _finite_or_text(ts, infinite=False)
    if isinstance(v, str):
        return v
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(v))
    except (OverflowError, OSError, ValueError):
        return MISSING
