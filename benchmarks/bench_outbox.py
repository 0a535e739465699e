"""Outbox burst: N notifications stored, then drained to a local webhook receiver.

    .venv/bin/python benchmarks/bench_outbox.py [--burst 10000] [--small 2000]

Prints, side by side in one run: enqueue rate (one committed transaction per burst),
delivery throughput through the outbox next to a bare httpx loop posting the same
payloads with the same concurrency and no database (the floor), and memory while
draining a small burst next to the full one (traced peak and RSS): flat memory means
the full burst's peak is about the small one's, not five times it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.receivers import make_notification, recording_server
from wsmon_tui.alerts.channels import webhook_payload
from wsmon_tui.alerts.outbox import PARALLEL, Outbox
from wsmon_tui.config import ChannelConfig

MB = 1024 * 1024


def _notes(n: int, alerts: int = 1000) -> list:
    return [make_notification(f"fp-{i % alerts:04d}", seq=i // alerts + 1, target=f"t{i % 200}",
                              created_at=time.time()) for i in range(n)]


async def bench_outbox(db: Path, url: str, n: int, *, traced: bool) -> dict[str, float]:
    """Enqueue ``n``, then drain; ``traced`` measures Python allocations (and runs slower)."""
    ch = ChannelConfig(type="webhook", url=url, max_age=3600)
    box = Outbox(db, [ch], deployment="bench")
    notes = _notes(n)
    start = time.perf_counter()
    box.enqueue(notes)
    enqueue_s = time.perf_counter() - start
    del notes
    gc.collect()
    rss0 = psutil.Process().memory_info().rss
    if traced:
        tracemalloc.start()
        tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    await box.drain(600)
    drain_s = time.perf_counter() - start
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss1 = psutil.Process().memory_info().rss
    sent = sum(d["status"] == "sent" for d in box.deliveries())
    await box.aclose()
    return {"n": n, "sent": sent, "enqueue_s": enqueue_s, "drain_s": drain_s, "peak": peak - base,
            "retained": current - base, "rss_growth": rss1 - rss0}


async def bench_floor(url: str, n: int) -> float:
    """Bare httpx: the same payloads, PARALLEL at a time, no storage, no bookkeeping."""
    ch = ChannelConfig(type="webhook", url=url)
    bodies = [webhook_payload(ch, [note], "bench") for note in _notes(n)]
    gate = asyncio.Semaphore(PARALLEL)
    async with httpx.AsyncClient() as client:
        async def post(body: dict) -> None:
            async with gate:
                (await client.post(url, json=body, timeout=10)).raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(post(b) for b in bodies))
        return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, recording_server() as rx:
        rx.keep = False
        full = await bench_outbox(Path(tmp) / "full.db", rx.url, args.burst, traced=False)
        sm = await bench_outbox(Path(tmp) / "small-mem.db", rx.url, args.small, traced=True)
        fm = await bench_outbox(Path(tmp) / "full-mem.db", rx.url, args.burst, traced=True)
        floor_s = await bench_floor(rx.url, args.burst)
        received = rx.count
    print(f"outbox burst of {args.burst:,} notifications to a local webhook receiver")
    print(f"  enqueue (one commit)       {full['n'] / full['enqueue_s']:>12,.0f} notifications/s"
          f"   ({full['enqueue_s'] * 1000:,.0f} ms)")
    print(f"  drain through the outbox   {full['sent'] / full['drain_s']:>12,.0f} deliveries/s"
          f"   ({full['drain_s']:.2f} s, {full['sent']:,} sent)")
    print(f"  floor: bare httpx posts    {args.burst / floor_s:>12,.0f} posts/s        ({floor_s:.2f} s)")
    print(f"  outbox / floor throughput  {(full['sent'] / full['drain_s']) / (args.burst / floor_s):>12.2f}")
    print(f"  memory while draining      {'small':>8} {'full':>8}   (burst {args.small:,} vs {args.burst:,})")
    print(f"    traced peak (MB)         {sm['peak'] / MB:>8.2f} {fm['peak'] / MB:>8.2f}"
          f"   ratio {fm['peak'] / max(sm['peak'], 1):.2f}")
    print(f"    traced retained (MB)     {sm['retained'] / MB:>8.2f} {fm['retained'] / MB:>8.2f}")
    print(f"    RSS growth (MB)          {sm['rss_growth'] / MB:>8.2f} {fm['rss_growth'] / MB:>8.2f}"
          f"   (untraced full drain: {full['rss_growth'] / MB:.2f})")
    print(f"  receiver got {received:,} requests (expected {args.small + 3 * args.burst:,});"
          " it runs in this process, so it shares the GIL with both")
    if full["sent"] != args.burst or fm["sent"] != args.burst or sm["sent"] != args.small:
        raise SystemExit("not everything was delivered")


if __name__ == "__main__":
    asyncio.run(main())
