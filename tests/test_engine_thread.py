"""The engine owns its timing: a stalled face does not move the latencies it reports.

A real echo server runs in a process of its own (so a stall here cannot delay its
replies), the engine probes it, and the "UI" — this test's event loop, where a face
runs — stalls synchronously for 300 ms every second. With the engine hosted on its own
thread (``EngineHost``) the p50 handshake and round trip stay within 5 ms of an
unstalled run. The control runs the same Monitor on the stalled loop itself, as the
TUI did before, and shows that the measurement does see a stall when it leaks in.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable

import pytest

from wsmon_tui.config import Config, MonitorConfig, TargetConfig
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.host import EngineHost
from wsmon_tui.stats import percentile

pytestmark = pytest.mark.slow

REPLY_DELAY = 0.08
"""The server answers each message after this long, so probes are in flight when a stall begins."""
RUN_S = 7.0
STALL_S = 0.3

SERVER = f"""
import asyncio, sys
from websockets.asyncio.server import serve

async def echo(ws):
    async for message in ws:
        await asyncio.sleep({REPLY_DELAY})
        await ws.send(message)

async def main():
    async with serve(echo, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(120)

asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def echo_process() -> AsyncIterator[str]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20))
        yield f"ws://127.0.0.1:{port}/"
    finally:
        proc.kill()
        proc.wait(5)


def config(url: str) -> Config:
    target = TargetConfig(name="echo", url=url, send="ping {nonce}", expect="ping", timeout=3.0)
    return Config(monitor=MonitorConfig(level="debug", interval=0.25), targets=[target])


async def stall_every_second(stop: asyncio.Event, in_flight: Callable[[], bool]) -> None:
    """A face's bug: 300 ms of synchronous work on its loop, once a second (busy, holding the GIL
    part of the time, as rendering or building a report does), started while a probe is in
    flight so that a stall leaking into the engine cannot miss the probes."""
    while not stop.is_set():
        await asyncio.sleep(1.0 - STALL_S)
        for _ in range(400):
            if in_flight() or stop.is_set():
                break
            await asyncio.sleep(0.002)
        end = time.perf_counter() + STALL_S
        while time.perf_counter() < end:
            sum(range(2000))
            time.sleep(0.001)


def figures(monitor: Monitor) -> dict[str, float]:
    out = {}
    for metric in ("handshake_ms", "rtt_ms"):
        values = sorted(monitor.samples.values_since("echo", metric, 0.0))
        assert len(values) >= 15, f"too few probes: {metric} {values}"
        out[f"{metric}_p50"] = percentile(values, 50)
        out[f"{metric}_p95"] = percentile(values, 95)
    return out


async def hosted_run(url: str, stall: bool) -> dict[str, float]:
    host = EngineHost(lambda: Monitor(config(url), None, stages=False), config=config(url))
    return await _run(lambda: host.run(RUN_S), lambda: host.monitor if host.started else None, stall)


async def same_loop_run(url: str, stall: bool) -> dict[str, float]:
    monitor = Monitor(config(url), None, stages=False)
    return await _run(lambda: monitor.run(RUN_S), lambda: monitor, stall)


async def _run(start: Callable, monitor: Callable[[], Monitor | None], stall: bool) -> dict[str, float]:
    stop = asyncio.Event()

    def in_flight() -> bool:
        m = monitor()
        return m is not None and m._probes_in_flight > 0

    staller = asyncio.ensure_future(stall_every_second(stop, in_flight)) if stall else None
    try:
        assert await asyncio.wait_for(start(), RUN_S + 20) == "duration"
    finally:
        stop.set()
        if staller is not None:
            await staller
    m = monitor()
    assert m is not None
    return figures(m)


async def test_a_stalled_ui_does_not_move_the_engines_latencies():
    async with echo_process() as url:
        calm = await hosted_run(url, stall=False)
        stalled = await hosted_run(url, stall=True)
        leaked = await same_loop_run(url, stall=True)
    print(f"\ncalm {calm}\nstalled, engine on its thread {stalled}\nstalled, engine on the UI loop {leaked}")
    for key in ("handshake_ms_p50", "rtt_ms_p50"):
        assert abs(stalled[key] - calm[key]) <= 5.0, (key, calm, stalled)
    # the control: on the stalled loop itself, the stalls show up in what is measured
    assert leaked["rtt_ms_p95"] - calm["rtt_ms_p95"] > 100.0, (calm, leaked)
    assert stalled["rtt_ms_p95"] - calm["rtt_ms_p95"] < 50.0, (calm, stalled)
