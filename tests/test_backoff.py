"""One jittered backoff (wsmon_tui.backoff) for the outbox's retries and the hold's reconnects."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsmon_tui.backoff import backoff_ceiling, backoff_delay


class Fixed:
    """An rng whose ``random()`` is always ``value``."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_ceiling_doubles_from_base_up_to_cap():
    assert [backoff_ceiling(n, 1.0, 300.0) for n in range(1, 11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert backoff_ceiling(0, 0.5, 30) == backoff_ceiling(-3, 0.5, 30) == 0.5
    assert backoff_ceiling(10**6, 1.0, 300.0) == 300.0  # no OverflowError after days of failures


def test_equal_jitter_spans_half_the_ceiling_to_all_of_it():
    assert backoff_delay(4, 1.0, 300.0, rng=Fixed(0.0)) == 4.0
    assert backoff_delay(4, 1.0, 300.0, rng=Fixed(0.5)) == 6.0
    assert backoff_delay(4, 1.0, 300.0, rng=Fixed(0.999999)) == pytest.approx(8.0)


def test_full_jitter_spans_zero_to_the_ceiling():
    assert backoff_delay(4, 1.0, 300.0, jitter="full", rng=Fixed(0.0)) == 0.0
    assert backoff_delay(4, 1.0, 300.0, jitter="full", rng=Fixed(0.5)) == 4.0


def test_retry_after_is_a_floor_capped_at_cap():
    assert backoff_delay(1, 1.0, 300.0, retry_after=42.0, rng=Fixed(0.0)) == 42.0
    assert backoff_delay(1, 1.0, 300.0, retry_after=86400.0, rng=Fixed(0.0)) == 300.0
    assert backoff_delay(9, 1.0, 300.0, retry_after=1.0, rng=Fixed(0.0)) == 128.0  # shorter: ignored


def test_unknown_jitter_is_an_error():
    with pytest.raises(ValueError, match="jitter"):
        backoff_delay(1, 1.0, 2.0, jitter="none")  # type: ignore[arg-type]


def _old_outbox(attempts: int, base_s: float, max_s: float, retry_after: float | None, r: float) -> float:
    """Outbox._backoff before the shared helper, for the same random draw ``r``."""
    base = min(max_s, base_s * 2 ** max(0, attempts - 1))
    delay = base / 2 + r * base / 2
    if retry_after is not None:
        delay = max(delay, min(retry_after, max_s))
    return delay


def _old_hold(failures: int, initial: float, max_s: float, r: float) -> float:
    """The hold's delay after ``failures`` failed connects in a row, before the shared helper."""
    backoff = initial
    for _ in range(failures - 1):
        backoff = min(backoff * 2, max_s)
    return backoff / 2 + r * (backoff / 2)  # random.uniform(0, backoff / 2) is r * backoff / 2


seconds = st.floats(min_value=0.01, max_value=600, allow_nan=False)
draws = st.floats(0, 1, exclude_max=True)


@given(st.integers(1, 60), seconds, seconds, st.none() | st.floats(0, 10**6), draws)
def test_outbox_delays_are_as_before(attempts, base, cap, retry_after, r):
    assert backoff_delay(attempts, base, cap, retry_after=retry_after, rng=Fixed(r)) == pytest.approx(
        _old_outbox(attempts, base, cap, retry_after, r))


@given(st.integers(1, 40), seconds, draws)
def test_hold_delays_are_as_before(failures, initial, r):
    cap = max(initial, 30.0)  # the hold never capped its first delay; its initial is below its max
    expected = _old_hold(failures, initial, cap, r)
    assert backoff_delay(failures, initial, cap, rng=Fixed(r)) == pytest.approx(expected)


def test_default_rng_stays_in_range():
    rng = random.Random(7)
    for attempt in range(1, 20):
        ceiling = backoff_ceiling(attempt, 0.5, 30.0)
        assert ceiling / 2 <= backoff_delay(attempt, 0.5, 30.0, rng=rng) <= ceiling
        assert ceiling / 2 <= backoff_delay(attempt, 0.5, 30.0) <= ceiling
