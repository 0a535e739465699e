"""When things run: one clock grid for probes, ticks, scrapes and host samples.

Everything runs on one clock grid (``Grid``): probes go out in *waves* of at most
``max_concurrency`` targets, the waves spread evenly over the interval, and the tick
(snapshot), resource sampling and scrapes fall on the same instants as the first wave.
Timers due at the same instant fire in one turn of the event loop, and each wake-up
of an idle process is what costs most CPU at small target counts (on a VM, more than
the probe itself): 10 targets at 1 s spread over the second cost ~4x the CPU of the
same probes sent together (benchmarks/bench_tui.py measures it).

Within a wave, targets on the same endpoint (scheme, host and port) form *chains* of
at most ``CHAIN_MAX`` (``plan_chains``): see ``engine/collectors.py``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from urllib.parse import urlsplit

from wsmon_tui.config import TargetConfig

CHAIN_MAX = 10
"""Most targets of one endpoint probed one after another in a wave (more form parallel chains)."""


class Grid:
    """Instants on the event loop's clock: ``origin + offset + k * period``.

    Every loop computes its instants with the same formula, so timers meant to coincide
    are equal floats and fire in one turn of the event loop (``asyncio.sleep`` adds the
    delay to the time it is called at, which scatters them).
    """

    def __init__(self, origin: float) -> None:
        self.origin = origin

    def at(self, k: int, period: float, offset: float = 0.0) -> float:
        return self.origin + offset + k * period

    @staticmethod
    def next_index(now: float, origin: float, period: float) -> int:
        """The first k whose instant ``origin + k * period`` is not before ``now``."""
        return max(0, math.ceil((now - origin) / period - 1e-9))


async def sleep_until(when: float, fut: asyncio.Future[None] | None = None) -> None:
    """Sleep until loop time ``when`` (exactly, see ``Grid``); resolving ``fut`` ends it early."""
    loop = asyncio.get_running_loop()
    if when <= loop.time():
        return
    fut = loop.create_future() if fut is None else fut
    handle = loop.call_at(when, resolve, fut)
    try:
        await fut
    finally:
        handle.cancel()


def resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def resolver(fut: asyncio.Future[None]) -> Callable[[object], None]:
    """A done-callback that resolves ``fut`` whatever finished."""
    return lambda _done: resolve(fut)


def wave_offsets(count: int, interval: float, per_wave: int) -> list[float]:
    """Start offset of each of ``count`` targets: waves of at most ``per_wave``, spread evenly."""
    if count <= 0:
        return []
    waves = math.ceil(count / max(per_wave, 1))
    size = math.ceil(count / waves)  # balanced: 250 targets at 100 a wave -> 84, 83, 83
    return [interval * (i // size) / waves for i in range(count)]


def endpoint_key(url: str) -> str:
    """``scheme://host:port`` of a target URL (the URL itself when it does not parse)."""
    try:
        parts = urlsplit(url)
        default = 443 if parts.scheme.lower() == "wss" else 80
        return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{parts.port or default}"
    except ValueError:
        return url


def plan_chains(targets: list[TargetConfig], interval: float, per_wave: int,
                chain_max: int = CHAIN_MAX) -> list[tuple[float, list[TargetConfig]]]:
    """(offset, targets probed one after another) for every chain, in config order."""
    groups: dict[tuple[float, str], list[TargetConfig]] = {}
    for target, offset in zip(targets, wave_offsets(len(targets), interval, per_wave), strict=True):
        groups.setdefault((offset, endpoint_key(target.url)), []).append(target)
    chains: list[tuple[float, list[TargetConfig]]] = []
    for (offset, _), members in groups.items():
        parts = math.ceil(len(members) / max(chain_max, 1))
        chains += [(offset, members[i::parts]) for i in range(parts)]
    return chains
