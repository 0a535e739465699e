"""Per-channel rate limits (``rate_limit = "10/m"``): a sliding window over messages sent.

The limiter only counts; it never drops anything. The outbox asks how many messages a
channel may send now, and what it holds back goes out later as one summary message. The
window is seeded from the database on start, so a restart does not reset a limit.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|m|h)\s*$")
_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate_limit(text: str | None) -> tuple[int, float] | None:
    """``"10/m"`` -> ``(10, 60.0)``; None (or empty) means unlimited. ValueError when malformed."""
    if text is None or not text.strip():
        return None
    match = _RATE.match(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f'expected "N/s", "N/m" or "N/h" with N >= 1, got {text!r}')
    return int(match.group(1)), _PERIODS[match.group(2)]


class SlidingWindow:
    """At most ``count`` messages in any ``period`` seconds (times from the caller's clock)."""

    def __init__(self, count: int, period: float, sent: Iterable[float] = ()) -> None:
        self.count = count
        self.period = period
        self._sent: deque[float] = deque(sorted(sent)[-count:] if count else ())

    def _trim(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.period:
            self._sent.popleft()

    def available(self, now: float) -> int:
        """How many messages may be sent at ``now``."""
        self._trim(now)
        return max(0, self.count - len(self._sent))

    def record(self, now: float) -> None:
        """One message was sent at ``now``."""
        self._trim(now)
        self._sent.append(now)
        while len(self._sent) > self.count:
            self._sent.popleft()

    def next_slot(self, now: float) -> float:
        """The earliest time at which a message may be sent (``now`` when one may be sent now)."""
        if self.available(now) > 0:
            return now
        return self._sent[0] + self.period
