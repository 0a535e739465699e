"""LazyMonitor: the app paints before the engine exists, then builds and runs it once."""

from __future__ import annotations

import subprocess
import sys

from tests.test_tui_app import SIZE, make_app, until
from tests.tui_fixtures import FakeMonitor, make_config, sequence
from wsmon_tui.tui.lazy_monitor import LazyMonitor
from wsmon_tui.tui.widgets.header import WsmonHeader


def lazy(config=None) -> tuple[LazyMonitor, list[FakeMonitor]]:
    built: list[FakeMonitor] = []
    config = config or make_config()

    def factory() -> FakeMonitor:
        built.append(FakeMonitor(config))
        return built[-1]

    return LazyMonitor(factory, config=config), built


async def test_first_frame_before_the_engine_then_snapshots_flow():
    monitor, built = lazy()
    app, _ = make_app(monitor)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        assert "chat-gateway" in str(app.screen.query_one(WsmonHeader).content)
        await until(pilot, lambda: app.engine_worker is not None)
        assert len(built) == 1
        for snap in sequence():
            built[0].publish(snap)
            await pilot.pause()
        await until(pilot, lambda: app.snapshots_received == 3)
        assert app.latest is not None and app.latest.tick == 3
        await pilot.press("q")
        await until(pilot, lambda: built[0].finished)
    assert len(built) == 1 and built[0].stop_reason == "user"


def test_lazy_monitor_forwards_and_defers():
    monitor, built = lazy()
    monitor.read_only = True
    monitor.request_stop("user")
    assert not built and monitor.session_id == "" and not monitor.started
    assert monitor.config.deployment.name == "chat-gateway"
    series = monitor.series  # anything else builds the real one, with what was asked before
    assert len(built) == 1 and monitor.started and series is built[0].series
    assert built[0].read_only is True and built[0].stop_reason == "user"
    assert monitor.session_id == built[0].session_id


def test_lazy_monitor_module_does_not_import_the_engine_or_textual():
    code = ("import sys, wsmon_tui.tui.lazy_monitor; "
            "print(any(m.startswith(('textual', 'wsmon_tui.engine', 'websockets')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "False"
