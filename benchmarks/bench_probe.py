"""CPU per probe: ``probe_once`` against a bare websockets connect-send-recv-close loop.

Both clients hit the same local echo server, which runs in a separate process so only
the client's CPU is counted (``time.process_time`` of this process). Printed side by
side, sequential and at concurrency 100, with the ratio (target: <= 1.5x).

    .venv/bin/python benchmarks/bench_probe.py [--probes 600] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from echo_server import echo_server
from websockets.asyncio.client import connect

from wsmon_tui.config import TargetConfig
from wsmon_tui.engine.probe import probe_once


async def bare(url: str) -> None:
    """The leanest equivalent with plain websockets: same options the probe uses."""
    async with connect(url, compression=None, proxy=None, ping_interval=None) as ws:
        await ws.send("hello")
        await ws.recv()


def make_probe(url: str) -> Callable[[str], Awaitable[None]]:
    target = TargetConfig(name="bench", url=url, send="{nonce}", expect="{nonce}", timeout=10)

    async def probe(_url: str) -> None:
        result = await probe_once(target)
        if not result.ok:
            raise RuntimeError(f"probe failed: {result}")

    return probe


async def cpu_per_call(fn: Callable[[str], Awaitable[None]], url: str, n: int, concurrency: int) -> float:
    """Client CPU microseconds per call."""
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            await fn(url)

    cpu0 = time.process_time()
    if concurrency == 1:
        for _ in range(n):
            await fn(url)
    else:
        await asyncio.gather(*(one() for _ in range(n)))
    return (time.process_time() - cpu0) / n * 1e6


async def run(url: str, probes: int, rounds: int) -> list[tuple[str, float, float]]:
    probe = make_probe(url)
    for fn in (bare, probe):  # warm up imports, caches, the server
        await cpu_per_call(fn, url, 50, 10)
    rows = []
    for label, concurrency in (("sequential", 1), ("concurrency 100", 100)):
        bare_best, probe_best = float("inf"), float("inf")
        for _ in range(rounds):  # interleaved; best-of to shed noise from other processes
            bare_best = min(bare_best, await cpu_per_call(bare, url, probes, concurrency))
            probe_best = min(probe_best, await cpu_per_call(probe, url, probes, concurrency))
        rows.append((label, bare_best, probe_best))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with echo_server() as port:
        rows = asyncio.run(run(f"ws://127.0.0.1:{port}/", args.probes, args.rounds))
    print(f"client CPU per probe, connect+send+recv+close, {args.probes} probes, best of {args.rounds}")
    print(f"{'mode':<18}{'bare websockets':>18}{'probe_once':>14}{'ratio':>8}   target <= 1.50")
    worst = 0.0
    for label, bare_us, probe_us in rows:
        ratio = probe_us / bare_us
        worst = max(worst, ratio)
        print(f"{label:<18}{bare_us:>15.0f} us{probe_us:>11.0f} us{ratio:>8.2f}")
    print("PASS" if worst <= 1.5 else "FAIL")
    return 0 if worst <= 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
