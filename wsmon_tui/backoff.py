"""Exponential backoff with jitter: how long to wait before retry number ``attempt``.

One function for every retry loop (the alert outbox's deliveries, the hold connection's
reconnects), so the ranges are written down once:

* the ceiling doubles from ``base`` with each attempt, capped at ``cap``:
  ``min(cap, base * 2 ** (attempt - 1))``;
* **equal jitter** waits between half the ceiling and the ceiling (never hammers, still
  spreads a fleet that failed at the same instant);
* **full jitter** waits anywhere between 0 and the ceiling;
* a receiver's ``Retry-After`` is a floor, itself capped at ``cap`` so a hostile or
  confused server cannot park a retry for a day.
"""

from __future__ import annotations

import random
from typing import Literal, Protocol

__all__ = ["Jitter", "backoff_ceiling", "backoff_delay"]

Jitter = Literal["equal", "full"]

_MAX_DOUBLINGS = 64
"""Past this many doublings any base is past any cap; keeps ``2 ** n`` a float."""


class _Random(Protocol):
    def random(self) -> float: ...


def backoff_ceiling(attempt: int, base: float, cap: float) -> float:
    """The longest wait before retry ``attempt`` (1 for the first): ``base`` doubled, capped at ``cap``."""
    doublings = min(max(0, attempt - 1), _MAX_DOUBLINGS)
    return min(cap, base * 2.0 ** doublings)


def backoff_delay(attempt: int, base: float, cap: float, *, jitter: Jitter = "equal",
                  retry_after: float | None = None, rng: _Random = random) -> float:
    """Seconds to wait before retry ``attempt`` (1 for the first retry after a failure).

    ``jitter="equal"``: uniform in ``[ceiling / 2, ceiling]``; ``"full"``: in ``[0, ceiling]``.
    ``retry_after`` (seconds, from the receiver) raises the delay to at least
    ``min(retry_after, cap)``. ``rng`` is anything with ``random()`` (the ``random``
    module, a seeded ``random.Random``).
    """
    ceiling = backoff_ceiling(attempt, base, cap)
    if jitter == "equal":
        delay = ceiling / 2 + rng.random() * ceiling / 2
    elif jitter == "full":
        delay = rng.random() * ceiling
    else:
        raise ValueError(f"unknown jitter {jitter!r}: use 'equal' or 'full'")
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay
