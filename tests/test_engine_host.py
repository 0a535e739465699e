"""EngineHost: the app paints before the engine exists; the engine is built and run once,
on a thread of its own, and everything reaches it through the seam."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

from tests.test_tui_app import SIZE, make_app, until
from tests.tui_fixtures import FakeMonitor, make_config, sequence
from wsmon_tui.host import EngineHost
from wsmon_tui.seam import RangeRequest
from wsmon_tui.tui.widgets.header import WsmonHeader


def hosted(config=None) -> tuple[EngineHost, list[FakeMonitor], list[str]]:
    built: list[FakeMonitor] = []
    threads: list[str] = []
    config = config or make_config()

    def factory() -> FakeMonitor:
        threads.append(threading.current_thread().name)
        built.append(FakeMonitor(config))
        return built[-1]

    return EngineHost(factory, config=config), built, threads  # type: ignore[arg-type]


async def test_first_frame_before_the_engine_then_snapshots_flow_from_its_thread():
    host, built, threads = hosted()
    app, _ = make_app(host)
    async with app.run_test(size=SIZE) as pilot:
        assert "chat-gateway" in str(app.screen.query_one(WsmonHeader).content)
        await until(pilot, lambda: bool(built))
        assert threads == ["wsmon-engine"]  # built on the engine's thread, not the UI's
        await until(pilot, lambda: host.started)
        for snap in sequence():
            built[0].publish(snap)
            await pilot.pause()
        await until(pilot, lambda: app.snapshots_received == 3)
        assert app.latest is not None and app.latest.tick == 3
        await pilot.press("q")  # the host runs the acting engine: the dashboard asks first
        await until(pilot, lambda: app.screen.id == "confirm-quit")
        assert not built[0].finished
        await pilot.press("y")
        await until(pilot, lambda: built[0].finished)
    assert len(built) == 1 and built[0].stop_reason == "user"


async def started(host) -> asyncio.Future[str]:
    """Run ``host`` in the background and wait (bounded) until its engine has started."""
    run = asyncio.ensure_future(host.run(None))
    for _ in range(200):
        if host.started:
            break
        await asyncio.sleep(0.01)
    return run


async def test_host_defers_then_forwards_commands_to_the_engine_loop():
    host, built, _ = hosted()
    host.read_only = False
    assert not built and host.session_id == "" and not host.started
    assert host.config.deployment.name == "chat-gateway"
    run = await started(host)
    mon = built[0]
    assert host.session_id == mon.session_id
    await host.acknowledge("abc", "alice", "on it")
    assert mon.calls == [("acknowledge", {"alert_id": "abc", "user": "alice", "comment": "on it"})]
    assert mon.loop_threads == ["wsmon-engine"]  # the command ran on the engine's loop
    now = time.time()
    mon.series.add("api-eu", "handshake_p95", now - 10, 3.0)
    req = RangeRequest("api-eu", "handshake_p95")
    assert (await host.metric_ranges([req], now - 60, now)) == {req: [(now - 10, 3.0)]}  # from memory
    assert (await host.metric_ranges([req], now - 3600, now)) == {req: []}  # older: the store (none here)
    host.request_stop("user")
    assert await asyncio.wait_for(run, 5) == "user"


async def test_acting_only_while_its_monitor_runs_holds_the_lease_and_may_act():
    """What the dashboard's quit question asks: does stopping this engine stop the paging?"""
    host, built, _ = hosted()
    assert host.acting is False  # not started: nothing to stop yet
    run = await started(host)
    mon = built[0]
    assert host.acting is True
    mon.acting = False  # as a Monitor that found the lease held: it only watches
    assert host.acting is False
    mon.acting = True
    host.read_only = True
    assert host.acting is False
    host.request_stop("user")
    assert await asyncio.wait_for(run, 5) == "user"


async def test_a_stop_asked_before_the_engine_exists_is_kept():
    host, built, _ = hosted()
    host.request_stop("sigterm")
    assert await asyncio.wait_for(host.run(None), 5) == "sigterm"
    assert built[0].stop_reason == "sigterm"


async def test_a_face_that_stops_waiting_does_not_kill_the_engine_thread(monkeypatch):
    """The face's wait is cancelled (it went away) while the engine still runs: when the engine
    ends, the thread finishes quietly instead of dying with InvalidStateError on the cancelled
    future (a traceback on stderr at exit)."""
    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    host, built, _ = hosted()
    run = await started(host)
    run.cancel()
    await asyncio.sleep(0.05)
    host.request_stop("user")
    thread = host._thread
    assert thread is not None
    await asyncio.to_thread(thread.join, 10)
    assert not thread.is_alive() and built[0].finished
    assert died == []


def test_host_module_does_not_import_the_engine_or_textual():
    code = ("import sys, wsmon_tui.host, wsmon_tui.seam; "
            "print(any(m.startswith(('textual', 'wsmon_tui.engine', 'websockets')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "False"
