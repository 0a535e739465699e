"""HoldConnection against real local servers: disconnect codes, reconnects, gaps, stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection, serve

from tests import hostile
from wsmon_tui.config import TargetConfig
from wsmon_tui.engine.hold import HoldConnection
from wsmon_tui.model import HoldView


def target(url: str, timeout: float = 1.0) -> TargetConfig:
    return TargetConfig(name="held", url=url, hold=True, timeout=timeout)


async def wait_for(hold: HoldConnection, pred: Callable[[HoldView], bool], timeout: float = 5.0) -> HoldView:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = hold.view()
        if pred(view):
            return view
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout}s: {hold.view()}")


async def test_server_restart_1012_is_counted_and_reconnected():
    async with hostile.flaky_server(code=1012, reason="service restart") as url:
        hold = HoldConnection(target(url), backoff_initial=0.05, backoff_max=0.2)
        hold.start()
        try:
            view = await wait_for(hold, lambda v: v.reconnects >= 1 and v.connected)
            assert dict(view.disconnects) == {"1012": 1}
            assert "1012" in view.last_error and "service restart" in view.last_error
            assert view.connected_since is not None and view.connected_since <= time.time()
            # The second connection streams ticks every 50 ms: gaps are measured.
            view = await wait_for(hold, lambda v: v.max_gap_s is not None)
            assert 0 < view.max_gap_s < 2
        finally:
            await hold.stop()
    assert not hold.view().connected
    assert dict(hold.view().disconnects) == {"1012": 1}  # our own stop is not a disconnect


async def test_tcp_drop_is_counted_as_1006():
    async with hostile.flaky_server(code=None) as url:
        hold = HoldConnection(target(url), backoff_initial=0.05, backoff_max=0.2)
        hold.start()
        try:
            view = await wait_for(hold, lambda v: v.reconnects >= 1 and v.connected)
        finally:
            await hold.stop()
    assert dict(view.disconnects) == {"1006": 1}
    assert "without a close frame" in view.last_error


async def test_repeated_disconnects_back_off_and_keep_counting():
    async with hostile.flaky_server(code=1001, reason="going away", failures=3) as url:
        hold = HoldConnection(target(url), backoff_initial=0.02, backoff_max=0.1)
        hold.start()
        try:
            view = await wait_for(hold, lambda v: v.reconnects >= 3 and v.connected)
        finally:
            await hold.stop()
    assert dict(view.disconnects) == {"1001": 3}


async def test_keepalive_detects_a_server_that_never_answers_pings():
    async with hostile.no_pong_server() as url:
        hold = HoldConnection(target(url, timeout=0.3), backoff_initial=5, ping_interval=0.1,
                              ping_timeout=0.1)
        hold.start()
        try:
            view = await wait_for(hold, lambda v: sum(v.disconnects.values()) >= 1)
        finally:
            await hold.stop()
    assert dict(view.disconnects) == {"1006": 1}
    assert "ping" in view.last_error
    assert not view.connected


async def test_unreachable_target_reports_the_error_and_stays_disconnected():
    async with hostile.refused_url() as url:
        hold = HoldConnection(target(url), backoff_initial=0.02, backoff_max=0.05)
        hold.start()
        try:
            view = await wait_for(hold, lambda v: bool(v.last_error))
            await asyncio.sleep(0.1)
        finally:
            await hold.stop()
    assert not view.connected and view.reconnects == 0 and not view.disconnects
    assert "Connect call failed" in view.last_error or "refused" in view.last_error.lower()


async def test_rejected_upgrade_reports_the_status():
    async with hostile.http_status_server(503) as url:
        hold = HoldConnection(target(url), backoff_initial=0.05)
        hold.start()
        try:
            view = await wait_for(hold, lambda v: bool(v.last_error))
        finally:
            await hold.stop()
    assert "503" in view.last_error


async def test_stop_closes_cleanly_with_1000_and_is_idempotent():
    codes: list[int | None] = []
    connected = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        connected.set()
        await ws.wait_closed()
        codes.append(ws.close_code)

    async with serve(handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        hold = HoldConnection(target(url))
        hold.start()
        hold.start()  # a second start does not open a second connection
        await asyncio.wait_for(connected.wait(), 5)
        await wait_for(hold, lambda v: v.connected)
        await hold.stop()
        await hold.stop()
        for _ in range(200):
            if codes:
                break
            await asyncio.sleep(0.01)
    assert codes == [1000]
    view = hold.view()
    assert not view.connected and not view.disconnects and view.reconnects == 0
    assert view.max_gap_s is None  # the server never sent anything


async def test_gap_grows_while_the_server_is_silent():
    async with hostile.echo_server(heartbeat=10, heartbeat_text="once") as url:
        hold = HoldConnection(target(url))
        hold.start()
        try:
            await wait_for(hold, lambda v: v.max_gap_s is not None)
            await asyncio.sleep(0.3)
            view = hold.view()
        finally:
            await hold.stop()
    assert view.connected is True
    assert view.max_gap_s is not None and view.max_gap_s >= 0.25
