"""Bounded in-memory time series: windows, rates and percentiles over recent samples.

Every ``Series`` is a ring buffer of ``(ts, value)`` pairs kept in two ``array('d')``
columns, so a sample costs 16 bytes and memory stops growing once the buffer is full,
however long the monitor runs. Older history lives in the store, not here.

Timestamps must be non-decreasing for the binary search in ``values_since``; a sample
stamped earlier than the previous one (the wall clock stepped back) is stored at the
previous timestamp instead. NaN and infinite values are dropped: they would poison every
mean and percentile, and a scrape that yields NaN has nothing to say about the window.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

from wsmon_tui.metrics import RAW_SAMPLES
from wsmon_tui.stats import AGGREGATES, percentile

DEFAULT_CAPACITY = 4096



@dataclass(frozen=True, slots=True)
class WindowStats:
    """Figures over the samples of one window; all None when the window holds no samples."""

    count: int = 0
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    first: float | None = None
    last: float | None = None
    rate: float | None = None
    """Per-second slope ``(last - first) / (t_last - t_first)`` of a gauge; None with fewer
    than two samples or no time between them. Negative when the value fell: never the rate
    of a counter (``Series.counter_rate`` counts a drop as a reset)."""


EMPTY_STATS = WindowStats()


class Series:
    """A fixed-capacity ring buffer of ``(ts, value)`` samples; ``add`` is O(1).

    The columns grow up to ``capacity`` and are then overwritten in place, oldest first.
    """

    __slots__ = ("_cap", "_last_ts", "_len", "_start", "_ts", "_vals")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._cap = capacity
        self._ts = array("d")
        self._vals = array("d")
        self._start = 0
        """Physical index of the oldest sample once the buffer is full (0 until then)."""
        self._len = 0
        self._last_ts = -math.inf

    @property
    def capacity(self) -> int:
        return self._cap

    def __len__(self) -> int:
        return self._len

    def add(self, ts: float, value: float) -> None:
        if value - value != 0.0:  # NaN or +-inf (inf - inf is NaN); cheaper than math.isfinite
            return
        if ts < self._last_ts:
            ts = self._last_ts
        self._last_ts = ts
        n = self._len
        if n < self._cap:
            self._ts.append(ts)
            self._vals.append(value)
            self._len = n + 1
        else:
            i = self._start
            self._ts[i] = ts
            self._vals[i] = value
            i += 1
            self._start = 0 if i == self._cap else i

    def last(self) -> tuple[float, float] | None:
        if not self._len:
            return None
        i = (self._start + self._len - 1) % self._cap
        return self._ts[i], self._vals[i]

    def first(self) -> tuple[float, float] | None:
        if not self._len:
            return None
        return self._ts[self._start], self._vals[self._start]

    def _segments(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The buffer in time order as two physical slices ``[a, b)`` (the second may be empty)."""
        if self._len < self._cap or self._start == 0:
            return (0, self._len), (0, 0)
        return (self._start, self._cap), (0, self._start)

    def _since_slices(self, since: float) -> tuple[tuple[int, int], tuple[int, int]]:
        """Physical slices holding the samples with ``ts >= since``, oldest first."""
        (a1, b1), (a2, b2) = self._segments()
        ts = self._ts
        if b2 > a2 and (b1 == a1 or since > ts[b1 - 1]):
            return (0, 0), (bisect_left(ts, since, a2, b2), b2)
        return (bisect_left(ts, since, a1, b1), b1), (a2, b2)

    def values_since(self, since: float) -> list[float]:
        """Values of the samples with ``ts >= since``, oldest first."""
        (a1, b1), (a2, b2) = self._since_slices(since)
        vals = self._vals
        out = vals[a1:b1].tolist()
        if b2 > a2:
            out.extend(vals[a2:b2].tolist())
        return out

    def points_since(self, since: float) -> list[tuple[float, float]]:
        """``(ts, value)`` pairs with ``ts >= since``, oldest first."""
        (a1, b1), (a2, b2) = self._since_slices(since)
        ts, vals = self._ts, self._vals
        out = list(zip(ts[a1:b1], vals[a1:b1], strict=True))
        if b2 > a2:
            out.extend(zip(ts[a2:b2], vals[a2:b2], strict=True))
        return out

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(self.points_since(-math.inf))

    def window(self, since: float) -> WindowStats:
        """Count, mean, min, max, p50/p95/p99, first, last and rate of the samples since ``since``."""
        (a1, b1), (a2, b2) = self._since_slices(since)
        count = (b1 - a1) + (b2 - a2)
        if count == 0:
            return EMPTY_STATS
        vals = self._vals
        window = vals[a1:b1]
        if b2 > a2:
            window.extend(vals[a2:b2])
        first_i = a1 if b1 > a1 else a2
        last_i = b2 - 1 if b2 > a2 else b1 - 1
        first, last = window[0], window[-1]
        rate = None
        if count > 1:
            dt = self._ts[last_i] - self._ts[first_i]
            if dt > 0:
                rate = (last - first) / dt
        ordered = sorted(window)
        return WindowStats(
            count=count,
            mean=math.fsum(window) / count,
            min=ordered[0],
            max=ordered[-1],
            p50=percentile(ordered, 50),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
            first=first,
            last=last,
            rate=rate,
        )

    def counter_rate(self, since: float) -> float | None:
        """Per-second increase of a counter since ``since``, counting a drop as a reset.

        Like Prometheus ``rate()`` without extrapolation: after a reset the counter is taken
        to have restarted from zero, so the increase across it is the new value.
        """
        points = self.points_since(since)
        if len(points) < 2:
            return None
        dt = points[-1][0] - points[0][0]
        if dt <= 0:
            return None
        increase = 0.0
        prev = points[0][1]
        for _, v in points[1:]:
            increase += v - prev if v >= prev else max(v, 0.0)
            prev = v
        return increase / dt

    def tail(self, n: int) -> tuple[float, ...]:
        """The most recent ``n`` values, oldest first (for sparklines)."""
        if n <= 0 or not self._len:
            return ()
        n = min(n, self._len)
        (_, b1), (a2, b2) = self._segments()
        vals = self._vals
        if b2 - a2 >= n:
            return tuple(vals[b2 - n:b2])
        from_first = n - (b2 - a2)
        return tuple(vals[b1 - from_first:b1]) + tuple(vals[a2:b2])

    def clear(self) -> None:
        self._ts = array("d")
        self._vals = array("d")
        self._start = 0
        self._len = 0
        self._last_ts = -math.inf


class SeriesBook:
    """Series keyed by ``(target, metric)``, created on the first ``add``."""

    __slots__ = ("_capacity", "_series")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._series: dict[tuple[str, str], Series] = {}

    def add(self, target: str, metric: str, ts: float, value: float) -> None:
        key = (target, metric)
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = Series(self._capacity)
        s.add(ts, value)

    def get(self, target: str, metric: str) -> Series | None:
        return self._series.get((target, metric))

    def window(self, target: str, metric: str, since: float) -> WindowStats:
        s = self._series.get((target, metric))
        return s.window(since) if s is not None else EMPTY_STATS

    def aggregate(self, target: str, metric: str, since: float, how: str) -> float | None:
        """Reduce the window by ``how`` (``last|avg|min|max|p95``); None when it holds no samples."""
        if how not in AGGREGATES:
            raise ValueError(f"unknown aggregate {how!r}; expected one of {', '.join(AGGREGATES)}")
        s = self._series.get((target, metric))
        if s is None:
            return None
        if how == "last":
            # ``last`` means the latest sample inside the window, not an arbitrarily old one.
            point = s.last()
            return point[1] if point is not None and point[0] >= since else None
        values = s.values_since(since)
        if not values:
            return None
        if how == "avg":
            return math.fsum(values) / len(values)
        if how == "min":
            return min(values)
        if how == "max":
            return max(values)
        return percentile(sorted(values), 95)

    def tail(self, target: str, metric: str, n: int) -> tuple[float, ...]:
        s = self._series.get((target, metric))
        return s.tail(n) if s is not None else ()

    # -- the ``Windows`` protocol (wsmon_tui.model) --------------------------------------

    def values_since(self, target: str, metric: str, since: float) -> list[float]:
        s = self._series.get((target, metric))
        return s.values_since(since) if s is not None else []

    def points_since(self, target: str, metric: str, since: float) -> list[tuple[float, float]]:
        s = self._series.get((target, metric))
        return s.points_since(since) if s is not None else []

    def last(self, target: str, metric: str) -> tuple[float, float] | None:
        s = self._series.get((target, metric))
        return s.last() if s is not None else None

    def first(self, target: str, metric: str) -> tuple[float, float] | None:
        s = self._series.get((target, metric))
        return s.first() if s is not None else None

    def keys(self) -> list[tuple[str, str]]:
        return list(self._series)

    def drop_target(self, target: str) -> None:
        """Forget every series of a target (it left the config)."""
        for key in [k for k in self._series if k[0] == target]:
            del self._series[key]

    def __len__(self) -> int:
        return len(self._series)


class EngineWindows:
    """The ``Windows`` the rules read: raw per-probe samples for ``RAW_SAMPLES``, the
    read model's per-tick history for every other name.

    ``floor``: no rule's window (``values_since``, ``last``) reaches back before it (set inside
    a sleep, ``engine/wake.py``: rules judge what was seen after it). ``first`` and
    ``points_since`` ignore it: the session's baseline and the charts keep every point."""

    __slots__ = ("floor", "history", "samples")

    def __init__(self, samples: SeriesBook, history: SeriesBook) -> None:
        self.samples = samples
        self.history = history
        self.floor = -math.inf

    def _book(self, metric: str) -> SeriesBook:
        return self.samples if metric in RAW_SAMPLES else self.history

    def values_since(self, target: str, metric: str, since: float) -> list[float]:
        return self._book(metric).values_since(target, metric, max(since, self.floor))

    def points_since(self, target: str, metric: str, since: float) -> list[tuple[float, float]]:
        return self._book(metric).points_since(target, metric, since)

    def last(self, target: str, metric: str) -> tuple[float, float] | None:
        point = self._book(metric).last(target, metric)
        return point if point is not None and point[0] >= self.floor else None

    def first(self, target: str, metric: str) -> tuple[float, float] | None:
        return self._book(metric).first(target, metric)
