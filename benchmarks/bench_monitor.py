"""The whole engine at scale, side by side with a bare loop, in one run.

1. CPU per probe: the Monitor (probes, series, scores, snapshots, SQLite store) with 200
   targets at a 2 s interval, against a bare websockets connect-send-recv-close loop on
   the same schedule (target: <= 1.5x). Each runs in a fresh child process so its CPU and
   peak RSS are its own (target: peak RSS <= 150 MB with 200 targets).
2. Schedule lag with 1,000 targets at a 10 s interval (target: p99 < 250 ms).
3. Memory over a simulated 24 h: 200 targets, a probe result per target every 30 s fed
   through the engine's data path with a simulated clock, RSS at 10 %, 50 % and 100 %
   (target: < 5 % growth after the buffers fill).

The echo server runs in its own process, so only the client side is measured.

    .venv/bin/python benchmarks/bench_monitor.py [--seconds 20] [--rounds 3] [--quick]

Parts 1 and 2 run ``--rounds`` times (bare and monitor interleaved) and report the median: a
single 20 s sample of each moved the ratio between 1.44x and 1.74x on the same tree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from echo_server import echo_server


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- children ---------------------------------------------------------------------------


async def child_monitor(url: str, targets: int, interval: float, seconds: float) -> dict:
    from wsmon_tui.config import Config, MonitorConfig, TargetConfig
    from wsmon_tui.engine.monitor import Monitor
    from wsmon_tui.store import Store

    config = Config(
        monitor=MonitorConfig(level="standard", interval=interval, max_concurrency=100),
        targets=[TargetConfig(name=f"t{i}", url=f"{url}/t{i}", send="ping {nonce}", expect="{nonce}",
                              timeout=5.0) for i in range(targets)],
    )
    config.resources.host = False
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp))
        monitor = Monitor(config, store, state_dir=Path(tmp))
        cpu0 = time.process_time()
        await monitor.run(seconds)
        cpu = time.process_time() - cpu0
        store.close()
    probes = sum(s.probes for s in monitor._states.values())
    lag = sorted(monitor.schedule_lag)
    return {
        "cpu": cpu, "probes": probes, "peak_rss_mb": peak_rss_mb(),
        "lag_p50_ms": 1000 * lag[len(lag) // 2] if lag else None,
        "lag_p99_ms": 1000 * lag[int(len(lag) * 0.99)] if lag else None,
        "lag_max_ms": 1000 * lag[-1] if lag else None,
        "overruns": sum(s.overruns for s in monitor._states.values()),
    }


async def child_bare(url: str, targets: int, interval: float, seconds: float) -> dict:
    """Bare websockets probes on the Monitor's schedule (``plan_chains``: waves of at most
    100, chains of one endpoint's targets, each handshake after the previous completed)."""
    from websockets.asyncio.client import connect

    from wsmon_tui.config import TargetConfig
    from wsmon_tui.engine.schedule import plan_chains

    count = 0

    async def probe(i: int, opened: asyncio.Future[None]) -> None:
        nonlocal count
        try:
            async with connect(f"{url}/t{i}", compression=None, ping_interval=None, proxy=None) as ws:
                opened.set_result(None)
                await ws.send("ping x")
                await ws.recv()
            count += 1
        finally:
            if not opened.done():
                opened.set_result(None)

    async def chain(members: list[int], offset: float) -> None:
        loop = asyncio.get_running_loop()
        slot = loop.time() + offset
        while True:
            await asyncio.sleep(max(0.0, slot - loop.time()))
            running = []
            for i in members:
                opened = loop.create_future()
                running.append(asyncio.ensure_future(probe(i, opened)))
                await opened
            await asyncio.gather(*running, return_exceptions=True)
            slot += interval

    plan = plan_chains([TargetConfig(name=f"t{i}", url=f"{url}/t{i}") for i in range(targets)], interval, 100)
    cpu0 = time.process_time()
    tasks = [asyncio.ensure_future(chain([int(t.name[1:]) for t in members], offset))
             for offset, members in plan]
    await asyncio.sleep(seconds)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"cpu": time.process_time() - cpu0, "probes": count, "peak_rss_mb": peak_rss_mb()}


def child_soak(targets: int, hours: float) -> dict:
    """24 h of probe results through the engine's data path, on a simulated clock."""
    from wsmon_tui.config import Config, MonitorConfig, TargetConfig
    from wsmon_tui.engine.monitor import Monitor
    from wsmon_tui.model import ProbeResult

    now = [1_000_000.0]
    interval = 30.0
    config = Config(monitor=MonitorConfig(level="standard", interval=interval),
                    targets=[TargetConfig(name=f"t{i}", url=f"ws://127.0.0.1:9/t{i}")
                             for i in range(targets)])
    monitor = Monitor(config, None, clock=lambda: now[0])
    monitor.session_started = now[0]
    ticks = int(hours * 3600 / interval)
    marks = {int(ticks * f): f for f in (0.25, 0.5, 1.0)}
    rss = {}
    states = list(monitor._states.values())
    for tick in range(1, ticks + 1):
        now[0] += interval
        for i, state in enumerate(states):
            ok = (tick + i) % 17 != 0
            monitor._on_probe(state, ProbeResult(
                target=state.config.name, started_at=now[0], ok=ok,
                error_class=None if ok else "closed", close_code=None if ok else 1006,
                handshake_ms=1.0 + (tick % 7), rtt_ms=0.5 + (tick % 5) if ok else None))
        monitor.tick = tick
        monitor.build_snapshot()
        if tick in marks:
            rss[f"{int(marks[tick] * 100)}%"] = rss_mb()
    return {"rss_mb": rss, "ticks": ticks}


# -- parent -----------------------------------------------------------------------------


def run_child(kind: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, *args], capture_output=True,
                         text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"child {kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="shorter runs, for a smoke check")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of each side-by-side figure (one run is one sample "
                             "of a noisy machine)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, rest = args.child, args.rest
        if kind == "soak":
            result = child_soak(int(rest[0]), float(rest[1]))
        else:
            url, targets, interval, seconds = rest[0], int(rest[1]), float(rest[2]), float(rest[3])
            fn = child_monitor if kind == "monitor" else child_bare
            result = asyncio.run(fn(url, targets, interval, seconds))
        print(json.dumps(result))
        return 0

    seconds = 8.0 if args.quick else args.seconds
    rounds = 1 if args.quick else max(1, args.rounds)
    failed = False
    with echo_server() as port:
        url = f"ws://127.0.0.1:{port}"
        print(f"1) CPU per probe, 200 targets at 2 s, {seconds:g} s each, child processes, "
              f"{rounds} interleaved round(s); the median ratio is the figure")
        ratios: list[float] = []
        peak = 0.0
        for r in range(rounds):
            bare = run_child("bare", url, "200", "2", str(seconds))
            mon = run_child("monitor", url, "200", "2", str(seconds))
            b = bare["cpu"] / max(bare["probes"], 1) * 1e6
            m = mon["cpu"] / max(mon["probes"], 1) * 1e6
            ratios.append(m / b)
            peak = max(peak, mon["peak_rss_mb"])
            print(f"   round {r + 1}: bare websockets loop {b:5.0f} us CPU/probe ({bare['probes']} probes, "
                  f"peak RSS {bare['peak_rss_mb']:.0f} MB); wsmon Monitor + store {m:5.0f} us "
                  f"({mon['probes']} probes, peak RSS {mon['peak_rss_mb']:.0f} MB): {m / b:.2f}x")
        ratio = statistics.median(ratios)
        print(f"   ratio {ratio:.2f}x, median of {', '.join(f'{x:.2f}' for x in ratios)} (target <= 1.5x); "
              f"peak RSS {peak:.0f} MB (target <= 150)")
        failed |= ratio > 1.5 or peak > 150

        lag_seconds = 12.0 if args.quick else max(seconds, 30.0)
        print(f"2) schedule lag, 1,000 targets at 10 s, {lag_seconds:g} s, {rounds} run(s); the median p99 "
              "is the figure")
        p99s: list[float] = []
        for _ in range(rounds):
            big = run_child("monitor", url, "1000", "10", str(lag_seconds))
            p99s.append(big["lag_p99_ms"])
            print(f"   lag p50 {big['lag_p50_ms']:.1f} ms, p99 {big['lag_p99_ms']:.1f} ms, "
                  f"max {big['lag_max_ms']:.1f} ms; {big['probes']} probes, "
                  f"{big['overruns']} overruns, CPU {big['cpu']:.1f} s = "
                  f"{100 * big['cpu'] / lag_seconds:.0f} % of a core; peak RSS {big['peak_rss_mb']:.0f} MB")
        p99 = statistics.median(p99s)
        print(f"   lag p99 {p99:.1f} ms, median of {', '.join(f'{x:.1f}' for x in p99s)} (target < 250)")
        failed |= p99 >= 250

    hours = 6.0 if args.quick else 24.0
    print(f"3) memory over a simulated {hours:g} h, 200 targets, a probe each per 30 s")
    soak = run_child("soak", "200", str(hours))
    r = soak["rss_mb"]
    growth = (r["100%"] - r["25%"]) / r["25%"] * 100
    print("   RSS " + ", ".join(f"{k}: {v:.1f} MB" for k, v in r.items())
          + f"; growth from 25 % to 100 % {growth:+.1f} % (target < 5 %)")
    failed |= growth >= 5
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
