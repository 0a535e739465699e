"""Noticing that the monitor was not running: the laptop slept, or the process was stopped.

Between two ticks the engine expects about one ``tick_period``. When far more time passed
(``SleepWatch.threshold``: at least ``MIN_ASLEEP`` seconds and two probe intervals), nothing
was probed in between: the process was stopped (SIGSTOP, a debugger) or the machine slept.
The monotonic clock shows a stop; a suspend shows on ``CLOCK_BOOTTIME`` (Linux: the
monotonic clock does not count suspend) or, where there is none, on the wall clock.

What the engine does with a ``Gap`` (``Evaluation._resumed``): a ``gap`` event in the store
and the session log, a note on every snapshot ("resumed after 30 s asleep"), windows that
start afresh after the gap, probes that straddle it dropped, and no rule judged until a
probe interval of fresh evidence is in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

MIN_ASLEEP = 5.0
"""Seconds: a shorter stall is the machine being busy, not asleep."""


def _boottime() -> float | None:
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock) if clock is not None else None


@dataclass(frozen=True, slots=True)
class Gap:
    """Time the monitor did not run: from ``start`` (the last tick before, wall clock) to
    ``end`` (when it noticed), ``asleep`` seconds beyond the tick it expected."""

    start: float
    end: float
    asleep: float

    @property
    def cutoff(self) -> float:
        """A wall time inside the gap: probes started before it straddle the gap."""
        return self.end - self.asleep / 2


class SleepWatch:
    """Call ``check`` once per tick, as it wakes; it returns a ``Gap`` after a sleep."""

    def __init__(self, tick_period: float, interval: float, wall: Callable[[], float] = time.time) -> None:
        self.tick_period = tick_period
        self.threshold = max(MIN_ASLEEP, 2 * interval, 2 * tick_period)
        self._wall = wall
        self._last: tuple[float, float | None, float, float] | None = None
        """(monotonic, boottime, time.time(), the wall clock given) at the last check."""

    def check(self) -> Gap | None:
        mono, boot, real, wall = time.monotonic(), _boottime(), time.time(), self._wall()
        last, self._last = self._last, (mono, boot, real, wall)
        if last is None:
            return None
        elapsed = mono - last[0]
        if boot is not None and last[1] is not None:
            elapsed = max(elapsed, boot - last[1])
        else:  # no suspend-aware clock: the wall clock (a step forward reads as a sleep)
            elapsed = max(elapsed, real - last[2])
        asleep = elapsed - self.tick_period
        if asleep < self.threshold:
            return None
        return Gap(start=last[3], end=wall, asleep=asleep)
