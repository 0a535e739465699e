"""Ring-buffer series: correctness against a naive model, bounds, percentiles."""

from __future__ import annotations

import math
import statistics
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsmon_tui.engine.series import EMPTY_STATS, Series, SeriesBook, WindowStats, percentile

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


def naive_percentile(values: list[float], q: float) -> float:
    """numpy's default 'linear' percentile, via statistics (inclusive method)."""
    if len(values) == 1:
        return values[0]
    if q == 0:
        return min(values)
    if q == 100:
        return max(values)
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


# -- percentile -------------------------------------------------------------------------------


def test_percentile_known_values():
    vals = [1.0, 2.0, 3.0, 4.0]
    assert percentile(vals, 50) == 2.5
    assert percentile(vals, 0) == 1.0
    assert percentile(vals, 100) == 4.0
    # numpy.percentile([1, 2, 3, 4], 95) == 3.85
    assert percentile(vals, 95) == pytest.approx(3.85)
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


@given(st.lists(finite, min_size=1, max_size=200), st.integers(min_value=0, max_value=100))
def test_percentile_matches_linear_interpolation(values, q):
    ordered = sorted(values)
    expected = naive_percentile(ordered, q)
    assert percentile(ordered, q) == pytest.approx(expected, rel=1e-9, abs=1e-6)


# -- Series -----------------------------------------------------------------------------------


def test_empty_series():
    s = Series(8)
    assert len(s) == 0
    assert s.last() is None
    assert s.values_since(0) == []
    assert s.window(0) == EMPTY_STATS
    assert s.window(0).count == 0 and s.window(0).p95 is None
    assert s.tail(5) == ()
    with pytest.raises(ValueError):
        Series(0)


def test_ring_buffer_keeps_the_newest_capacity_samples():
    s = Series(5)
    for i in range(12):
        s.add(float(i), float(i * 10))
    assert len(s) == 5
    assert s.last() == (11.0, 110.0)
    assert s.first() == (7.0, 70.0)
    assert s.values_since(0) == [70.0, 80.0, 90.0, 100.0, 110.0]
    assert s.values_since(9) == [90.0, 100.0, 110.0]
    assert s.values_since(9.5) == [100.0, 110.0]
    assert s.values_since(100) == []
    assert s.tail(3) == (90.0, 100.0, 110.0)
    assert s.tail(99) == (70.0, 80.0, 90.0, 100.0, 110.0)
    assert list(s) == [(float(t), float(t * 10)) for t in range(7, 12)]


def test_memory_is_bounded_by_capacity():
    s = Series(64)
    for i in range(64):
        s.add(float(i), 1.0)
    size_full = sys.getsizeof(s._ts) + sys.getsizeof(s._vals)
    for i in range(64, 10_000):
        s.add(float(i), 1.0)
    assert len(s) == 64
    assert sys.getsizeof(s._ts) + sys.getsizeof(s._vals) == size_full


def test_window_stats():
    s = Series(100)
    for i in range(1, 11):  # ts 1..10, value 10..100
        s.add(float(i), float(i * 10))
    w = s.window(1)
    assert isinstance(w, WindowStats)
    assert w.count == 10
    assert w.mean == 55.0
    assert (w.min, w.max, w.first, w.last) == (10.0, 100.0, 10.0, 100.0)
    assert w.p50 == 55.0
    assert w.p95 == pytest.approx(95.5)
    assert w.p99 == pytest.approx(99.1)
    assert w.rate == pytest.approx(10.0)  # (100 - 10) / (10 - 1)
    w5 = s.window(6)
    assert (w5.count, w5.first, w5.last) == (5, 60.0, 100.0)
    one = s.window(10)
    assert one.count == 1 and one.rate is None and one.p99 == 100.0


def test_rate_is_none_without_elapsed_time():
    s = Series()
    s.add(5.0, 1.0)
    s.add(5.0, 3.0)
    assert s.window(0).rate is None


def test_clock_stepping_back_keeps_order_and_nan_is_dropped():
    s = Series(10)
    s.add(10.0, 1.0)
    s.add(5.0, 2.0)  # wall clock stepped back: stored at 10.0
    s.add(11.0, math.nan)
    s.add(12.0, math.inf)
    s.add(13.0, 3.0)
    assert list(s) == [(10.0, 1.0), (10.0, 2.0), (13.0, 3.0)]
    assert s.values_since(10.0) == [1.0, 2.0, 3.0]


def test_counter_rate_survives_a_reset():
    s = Series()
    for t, v in [(0, 100), (10, 200), (20, 300), (30, 50), (40, 150)]:
        s.add(float(t), float(v))
    # increases: 100 + 100 + 50 (reset: restarted from 0) + 100 = 350 over 40 s
    assert s.counter_rate(0) == pytest.approx(350 / 40)
    assert s.window(0).rate == pytest.approx((150 - 100) / 40)
    assert s.counter_rate(40) is None


@settings(max_examples=150, deadline=None)
@given(
    cap=st.integers(min_value=1, max_value=40),
    samples=st.lists(st.tuples(st.floats(min_value=0, max_value=50), finite), max_size=120),
    since=st.floats(min_value=-1, max_value=55),
    n=st.integers(min_value=0, max_value=50),
)
def test_series_matches_a_naive_model(cap, samples, since, n):
    s = Series(cap)
    model: list[tuple[float, float]] = []
    for ts, v in samples:
        if model and ts < model[-1][0]:
            ts = model[-1][0]
        model.append((ts, v))
        s.add(ts, v)
    model = model[-cap:]
    assert len(s) == len(model)
    assert list(s) == model
    in_window = [v for t, v in model if t >= since]
    assert s.values_since(since) == in_window
    assert s.tail(n) == (tuple(v for _, v in model)[-n:] if n else ())
    w = s.window(since)
    assert w.count == len(in_window)
    if in_window:
        ordered = sorted(in_window)
        assert w.min == ordered[0] and w.max == ordered[-1]
        assert w.first == in_window[0] and w.last == in_window[-1]
        assert w.mean == pytest.approx(math.fsum(in_window) / len(in_window), rel=1e-9, abs=1e-6)
        assert w.p95 == pytest.approx(naive_percentile(ordered, 95), rel=1e-9, abs=1e-6)
        assert w.p50 == pytest.approx(naive_percentile(ordered, 50), rel=1e-9, abs=1e-6)
    else:
        assert w == EMPTY_STATS


# -- SeriesBook -------------------------------------------------------------------------------


def test_book_creates_on_demand_and_aggregates():
    book = SeriesBook(capacity=16)
    assert book.get("a", "rtt_ms") is None
    assert book.window("a", "rtt_ms", 0) == EMPTY_STATS
    assert book.aggregate("a", "rtt_ms", 0, "avg") is None
    for i, v in enumerate([5.0, 1.0, 9.0, 3.0]):
        book.add("a", "rtt_ms", 100.0 + i, v)
    book.add("b", "rtt_ms", 100.0, 42.0)
    assert len(book) == 2
    assert book.get("a", "rtt_ms") is not None and len(book.get("a", "rtt_ms")) == 4
    assert book.aggregate("a", "rtt_ms", 0, "last") == 3.0
    assert book.aggregate("a", "rtt_ms", 0, "avg") == 4.5
    assert book.aggregate("a", "rtt_ms", 0, "min") == 1.0
    assert book.aggregate("a", "rtt_ms", 0, "max") == 9.0
    assert book.aggregate("a", "rtt_ms", 0, "p95") == pytest.approx(percentile([1.0, 3.0, 5.0, 9.0], 95))
    assert book.aggregate("a", "rtt_ms", 102, "max") == 9.0
    assert book.aggregate("a", "rtt_ms", 102, "min") == 3.0
    # last is the latest sample *inside* the window: a stale one does not count
    assert book.aggregate("b", "rtt_ms", 101, "last") is None
    assert book.window("a", "rtt_ms", 101).count == 3
    assert book.tail("a", "rtt_ms", 2) == (9.0, 3.0)
    with pytest.raises(ValueError):
        book.aggregate("a", "rtt_ms", 0, "median")
    book.drop_target("a")
    assert book.keys() == [("b", "rtt_ms")]
