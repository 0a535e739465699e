"""What the views show: hostile strings stay text, charts over memory and the store,
80x24, and one run of the real Monitor against a real local WebSocket echo server."""

from __future__ import annotations

import asyncio
import re
from contextlib import asynccontextmanager

import pytest
from textual.widgets import DataTable
from websockets.asyncio.server import serve

from tests.test_tui_app import make_app, until
from tests.tui_fixtures import BASE, FakeMonitor, hostile_snapshot, sequence
from wsmon_tui.config import Config, DeploymentConfig, MonitorConfig, ResourcesConfig, TargetConfig
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.store import Store
from wsmon_tui.tui.chartmodel import ChartSpec, Series, time_axis, value_axis
from wsmon_tui.tui.screens.alert_detail import AlertDetailScreen
from wsmon_tui.tui.screens.confirm_rollback import RollbackProgressScreen
from wsmon_tui.tui.screens.target_detail import TargetDetailScreen
from wsmon_tui.tui.widgets.charts import Chart, render_chart

ANSI = re.compile("\x1b")


def screen_text(app) -> str:
    """The visible text of the current screen (what a user reads)."""
    import html

    svg = app.export_screenshot()
    assert not ANSI.search(svg), "an escape character reached the screen"
    rows: dict[float, list[str]] = {}
    for y, text in re.findall(r'<text class="[^"]*" x="[^"]*" y="([^"]*)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(y), []).append(html.unescape(text))
    return "\n".join("".join(parts) for _, parts in sorted(rows.items())).replace("\xa0", " ")


async def test_hostile_strings_are_shown_as_text_in_every_view():
    """Markup and ANSI escapes from servers are data: shown literally, never parsed."""
    mon = FakeMonitor()
    app, _ = make_app(mon)
    async with app.run_test(size=(160, 50)) as pilot:
        mon.publish(hostile_snapshot())
        await pilot.pause(0.15)
        seen = []
        for key in ("1", "2", "3", "4"):
            await pilot.press(key)
            await pilot.pause(0.15)
            text = screen_text(app)
            seen.append(text)
            assert "[/foo]" in text, key
        assert "[bold]x[/bold]" in seen[0]  # the summary card title, the alert list
        assert "[31mred" in seen[2]  # the escape's printable rest, not a colour
        await pilot.press("2")
        app.screen.query_one(DataTable).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
        await pilot.pause(0.1)
        assert screen_text(app).count("[/foo]") >= 4
        await pilot.press("escape", "3")
        app.screen.query_one(DataTable).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
        await pilot.pause(0.1)
        assert screen_text(app).count("[/foo]") >= 4
        await pilot.press("escape")
        app.push_screen(RollbackProgressScreen())
        await pilot.pause(0.1)
        assert screen_text(app).count("[/foo]") >= 2
        app.pop_screen()
        # notifications from hostile alerts are plain text too
        assert any("[/foo]" in str(n.message) for n in app._notifications)


async def test_summary_at_80x24():
    app, mon = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        for snap in sequence():
            mon.publish(snap)
            await pilot.pause()
        await pilot.pause(0.15)
        text = screen_text(app)
        for part in ("chat-gateway", "1 Summary", "api-eu", "api-us", "Connections", "2410"):
            assert part in text, part


def test_render_chart_lines_bars_and_empty():
    series = (Series("a", (-2.0, -1.0, 0.0), (1.0, 5.0, 3.0)),
              Series("b", (-2.0, 0.0), (2.0, 2.0), "series-1"))
    text = render_chart(ChartSpec("Latency", series, x=time_axis(300, 0).axis, y=value_axis(series)), 50, 12,
                        {"series-0": (10, 20, 30)})
    lines = text.plain.splitlines()
    assert len(lines) == 12 and "Latency" in lines[0] and "━ a" in lines[0] and "━ b" in lines[0]
    assert any(span.style and "rgb(10,20,30)" in str(span.style) for span in text.spans)
    bars = render_chart(ChartSpec("Errors", bars=(("timeout", 3.0), ("closed", 1.0))), 40, 10).plain
    assert "timeout" in bars and "closed" in bars
    empty = render_chart(ChartSpec("Conns"), 40, 8).plain
    assert "no data yet" in empty


async def test_metrics_from_memory_and_store(tmp_path):
    store = Store.open(tmp_path)
    try:
        now = BASE + 15
        session = store.begin_session(deployment="chat-gateway", version="2.4.0", level="standard",
                                      config_digest="x", interval=5.0, targets=[("api-eu", "ws://x")],
                                      started_at=now - 7200)
        for i in range(120):  # two hours, one sample a minute
            ts = now - 7200 + i * 60
            store.record_samples(session, ts, [("api-eu", "handshake_p95", 10.0 + i % 5),
                                               ("", "connections", 1000.0 + i)])
        assert store.flush(5)
        mon = FakeMonitor(store=store)
        for i in range(30):
            mon.series.add("api-eu", "handshake_p95", now - 150 + i * 5, 2.0 + (i % 3))
            mon.series.add("", "cpu_percent", now - 150 + i * 5, 20.0 + i)
        app, _ = make_app(mon, mode="metrics")
        async with app.run_test(size=(120, 40)) as pilot:
            mon.publish(sequence()[2])
            screen = app.screen
            resources = screen.query_one("#chart-resources", Chart)
            await until(pilot, lambda: bool(resources.spec.series) and len(resources.spec.series[0].xs) == 30)

            def eu() -> Series:  # the critical api-us comes first: api-eu has the second small chart
                spec = screen.query_one("#chart-target-1", Chart).spec
                assert spec.title.startswith("api-eu")
                return spec.series[0]

            assert screen.range_name == "5m"
            assert screen.query_one("#chart-target-0", Chart).spec.title.startswith("api-us")
            assert not screen.query_one("#chart-target-0", Chart).spec.series[0].xs
            assert len(eu().xs) == 30
            assert all(-3 <= x <= 0 for x in eu().xs)
            assert len(screen.query_one("#chart-resources", Chart).spec.series[0].xs) == 30
            assert dict(screen.query_one("#chart-errors", Chart).spec.bars) == {"timeout": 2.0, "closed": 1.0}
            await pilot.press("right_square_bracket")
            await until(pilot, lambda: len(eu().xs) > 30)
            assert screen.range_name == "1h"
            assert 59 <= len(eu().xs) <= 61  # the last hour from the store
            assert min(eu().xs) >= -60
            conns = screen.query_one("#chart-connections", Chart).spec
            assert 59 <= len(conns.series[0].xs) <= 61
            await pilot.press("right_square_bracket")
            await until(pilot, lambda: len(eu().xs) > 61)
            assert screen.range_name == "6h"
            assert len(eu().xs) == 120 and min(eu().xs) >= -6  # hours on a 6 h axis
            await pilot.press("left_square_bracket", "left_square_bracket")
            assert screen.range_name == "5m"
            assert "Range" in screen_text(app)
    finally:
        store.close()


@asynccontextmanager
async def echo_server():
    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"


@pytest.mark.slow
async def test_real_monitor_against_a_local_echo_server(tmp_path):
    async with echo_server() as url:
        config = Config()
        config.monitor = MonitorConfig(interval=0.5)
        config.deployment = DeploymentConfig(name="echo-local", version="1.0")
        config.targets = [TargetConfig(name="echo", url=url, send="ping {nonce}", expect="ping", timeout=2.0)]
        config.resources = ResourcesConfig(host=False)
        store = Store.open(tmp_path / "state")
        try:
            monitor = Monitor(config, store, state_dir=tmp_path / "state")
            app = make_real_app(monitor)
            async with app.run_test(size=(120, 40)) as pilot:
                await until(pilot, lambda: app.latest is not None and app.latest.targets
                            and app.latest.targets[0].probes >= 2, timeout=10)
                await pilot.press("2")
                await pilot.pause(0.3)
                table = app.screen.query_one(DataTable)
                assert [k.value for k in table.rows] == ["echo"]
                assert str(table.get_cell("echo", "status")) in ("healthy", "unknown")
                assert table.get_cell("echo", "hs_p95").endswith(" ms")
                await pilot.press("r")
                await pilot.pause(0.2)
                assert "echo-local" in screen_text(app)
                await pilot.press("q")  # this dashboard's engine acts for echo-local: it asks
                await until(pilot, lambda: app.screen.id == "confirm-quit")
                question = str(app.screen.query_one("#quit-question").content)
                assert "quitting stops probing, paging and rollback for echo-local" in question
                await pilot.press("n")
                await pilot.pause(0.2)
                assert app.is_running and monitor.session_id
                await pilot.press("q")
                await until(pilot, lambda: app.screen.id == "confirm-quit")
                await pilot.press("y")
                await pilot.pause(0.5)
            assert app.return_value == 0
            sessions = store.sessions(deployment="echo-local")
            assert sessions and sessions[-1]["id"] == monitor.session_id
            assert sessions[-1].get("ended_by") == "user"
        finally:
            store.close()


def make_real_app(monitor):
    from wsmon_tui.tui.app import WsmonApp

    return WsmonApp(monitor, refresh=0.1)


async def test_real_monitor_refusals_are_notices_not_crashes():
    """A read-only session's Monitor refuses commands; the app shows that and keeps running."""
    config = Config()
    config.deployment = DeploymentConfig(name="bare")
    config.resources = ResourcesConfig(host=False)
    monitor = Monitor(config, None)
    from wsmon_tui.tui.app import WsmonApp

    app = WsmonApp(monitor, refresh=0.1, read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        assert monitor.read_only is True
        app.run_command("Rollback", monitor.rollback(reason="t", user="u"))
        app.run_command("Ack", monitor.acknowledge("x", "u", ""))
        await until(pilot, lambda: sum("read-only" in str(n.message) for n in app._notifications) >= 2)
        assert app.is_running
        await pilot.press("q")
        await asyncio.sleep(0)
    assert app.return_value == 0


def test_rollback_progress_reads_the_controllers_step_form():
    from wsmon_tui.model import RollbackView
    from wsmon_tui.tui.screens.confirm_rollback import progress_content

    rb = RollbackView(id=7, state="verifying", trigger="manual", started_at=BASE, steps=(
        {"type": "flag", "name": "ws_transport", "ok": True, "duration_ms": 12.5, "detail": "set"},
        {"type": "http", "name": "deploy", "ok": False, "duration_ms": 30.0, "detail": "HTTP 500"}))
    text = str(progress_content(rb, BASE + 65))
    assert "#7 verifying" in text and "1m 05s" in text
    assert "1. ws_transport  ok  12.5 ms  set" in text
    assert "2. deploy  failed  30.0 ms  HTTP 500" in text
    assert "waiting for health to recover" in text


def test_a_silenced_alert_says_so_in_the_state_column_and_the_filter_finds_it():
    import dataclasses

    from tests.tui_fixtures import alert
    from wsmon_tui.tui.screens.alerts import COLUMNS, alert_cells, alert_row
    from wsmon_tui.tui.widgets.table import matches

    width = dict((key, w) for key, _label, w in COLUMNS)["state"]
    firing = dataclasses.replace(alert("ErrorRate", "edge-1", "critical", "firing"), silenced=True)
    state = alert_cells(firing, BASE)["state"]
    assert state.plain == "silenced" and len(state.plain) <= width  # fits at 80 columns
    assert matches(alert_row(firing, BASE), "silenced edge")
    assert not matches(alert_row(alert("X", "y", "info", "firing"), BASE), "silenced")
    resolved = dataclasses.replace(alert("ErrorRate", "edge-1", "critical", "resolved"), silenced=True)
    assert alert_cells(resolved, BASE)["state"].plain == "resolved"
