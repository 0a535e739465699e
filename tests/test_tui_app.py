"""Pilot tests: every mode and binding of the Textual app, fed by a fixed snapshot sequence."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Button, DataTable, Input, OptionList, Static

from tests.tui_fixtures import BASE, FakeMonitor, make_config, sequence
from wsmon_tui.tui.app import WsmonApp
from wsmon_tui.tui.screens.ack import AckScreen
from wsmon_tui.tui.screens.alert_detail import AlertDetailScreen
from wsmon_tui.tui.screens.confirm_rollback import ConfirmRollbackScreen, RollbackProgressScreen
from wsmon_tui.tui.screens.help import HelpScreen
from wsmon_tui.tui.screens.silence import SilenceScreen
from wsmon_tui.tui.screens.target_detail import TargetDetailScreen
from wsmon_tui.tui.screens.theme_picker import ThemePicker
from wsmon_tui.tui.widgets.header import WsmonHeader

SIZE = (120, 40)
EPISODE = "{}@" + repr(BASE - 300)
"""The alerts table's row key of a fixture alert (tests/tui_fixtures.alert: every one started then)."""


def make_app(monitor: FakeMonitor | None = None, **kw) -> tuple[WsmonApp, FakeMonitor]:
    monitor = monitor or FakeMonitor()
    kw.setdefault("refresh", 0.05)
    kw.setdefault("clock", lambda: BASE + 17)
    return WsmonApp(monitor, **kw), monitor


async def feed(pilot, monitor: FakeMonitor, snaps=None) -> None:
    for snap in snaps if snaps is not None else sequence():
        monitor.publish(snap)
        await pilot.pause()
    await pilot.pause(0.12)


async def until(pilot, condition, timeout: float = 10.0) -> None:
    """Pause until ``condition()`` holds (screens mount asynchronously); fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await pilot.pause(0.02)


def text_of(app: WsmonApp, selector: str) -> str:
    try:
        return str(app.screen.query_one(selector).content)
    except Exception:
        return ""


def messages(app: WsmonApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


@pytest.fixture(autouse=True)
def user(monkeypatch):
    monkeypatch.setenv("USER", "tester")


async def test_modes_number_keys_and_tab_cycle():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        assert app.current_mode == "summary"
        for key, mode in (("2", "detailed"), ("3", "alerts"), ("4", "metrics"), ("1", "summary")):
            await pilot.press(key)
            assert app.current_mode == mode
        for mode in ("detailed", "alerts", "metrics", "summary"):
            await pilot.press("tab")
            assert app.current_mode == mode
        await pilot.press("shift+tab")
        assert app.current_mode == "metrics"
        # the binding for the mode already shown is disabled (and hidden from the footer)
        assert app.check_action("mode", ("metrics",)) is False
        assert app.check_action("mode", ("summary",)) is True


async def test_start_mode_and_header():
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        assert app.current_mode == "alerts"
        header = str(app.screen.query_one(WsmonHeader).content)
        for part in ("chat-gateway", "2.4.0", "prev 2.3.1", "session 20260101-000000-test",
                     "CRITICAL · 1 alert firing", "score 82", "updated 2s ago"):
            assert part in header
        assert "PAUSED" not in header
        await pilot.press("p")
        assert "PAUSED" in str(app.screen.query_one(WsmonHeader).content)


async def test_pause_stops_repainting_but_keeps_the_engine():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        snaps = sequence()
        await feed(pilot, mon, snaps[:1])
        screen = app.screen
        assert screen.painted is snaps[0]
        await pilot.press("p")
        await feed(pilot, mon, snaps[1:])
        assert app.latest is snaps[-1]  # the engine's snapshots still arrive
        assert screen.painted is snaps[0]  # but nothing is repainted
        await pilot.press("p")
        await pilot.pause(0.12)
        assert screen.painted is snaps[-1]


async def test_repaint_is_throttled_to_refresh():
    app, mon = make_app(refresh=0.5)
    async with app.run_test(size=SIZE) as pilot:
        snaps = sequence()
        mon.publish(snaps[0])
        await pilot.pause()
        start = app.repaints
        for i in range(40):
            mon.publish(snaps[i % 3])
            await asyncio.sleep(0.01)
        await pilot.pause()
        # 40 snapshots over ~0.4 s: at most one timer repaint (plus the first frame)
        assert app.repaints - start <= 2
        assert app.snapshots_received >= 2


async def test_a_due_snapshot_repaints_at_once():
    """A snapshot that makes a repaint due paints in the same turn (no timer of its own)."""
    app, mon = make_app(refresh=0.5)
    async with app.run_test(size=SIZE) as pilot:
        snaps = sequence()
        await feed(pilot, mon, snaps[:1])  # painted at once, then 0.12 s
        await pilot.pause(0.45)  # a refresh has passed, the watchdog (2 refreshes) has not fired
        screen = app.screen
        mon.publish(snaps[1])
        await pilot.pause()
        assert screen.painted is snaps[1]
        mon.publish(snaps[2])  # too soon: held back until the refresh is up
        await pilot.pause()
        assert screen.painted is snaps[1]
        await pilot.pause(0.6)
        assert screen.painted is snaps[2]


async def test_snapshots_at_the_refresh_pace_paint_as_they_arrive_after_one_held_back():
    """One snapshot held back (it came early) does not set the phase of the later ones:
    a snapshot a refresh after the last is painted as it arrives, not on a timer of its own."""
    app, mon = make_app(refresh=0.5)
    async with app.run_test(size=SIZE) as pilot:
        snaps = sequence()
        await feed(pilot, mon, snaps[:1])
        screen = app.screen
        mon.publish(snaps[1])  # too soon: held back, painted by the throttle's timer
        await pilot.pause(0.55)
        assert screen.painted is snaps[1]
        mon.publish(snaps[2])  # a refresh after snaps[1], a little after the held-back repaint
        await pilot.pause()
        assert screen.painted is snaps[2]


async def test_a_new_snapshot_reaches_the_screen_at_once():
    app, mon = make_app(refresh=0.05)
    async with app.run_test(size=SIZE) as pilot:
        snaps = sequence()
        await feed(pilot, mon, snaps[:2])
        mon.publish(snaps[2])
        await pilot.pause(0.2)
        assert app.screen.painted is snaps[2]


async def test_a_bug_in_a_view_on_a_timed_repaint_is_reported_by_textual():
    """Timed repaints (the throttle, the age timer) go through the app's message queue, so
    an exception in a view exits the app with its traceback, as in any handler."""
    app, mon = make_app(refresh=0.5)

    def broken(*, force: bool = False) -> None:
        raise RuntimeError("a bug in a view")

    with pytest.raises(RuntimeError, match="a bug in a view"):
        async with app.run_test(size=SIZE) as pilot:
            snaps = sequence()
            await feed(pilot, mon, snaps[:1])
            app.screen.paint = broken
            mon.publish(snaps[1])  # too soon: held back, then painted by the throttle's timer
            await pilot.pause(0.8)
    assert app.return_code == 1


async def test_a_bug_in_the_header_on_the_age_timer_is_reported_by_textual():
    app, mon = make_app(refresh=0.05)

    def broken() -> None:
        raise RuntimeError("a bug in the header")

    with pytest.raises(RuntimeError, match="a bug in the header"):
        async with app.run_test(size=SIZE) as pilot:
            await feed(pilot, mon, sequence()[:1])
            app.screen.paint_clock = broken  # the age timer fires within 1.2 s
            await pilot.pause(1.5)
    assert app.return_code == 1


async def test_the_header_age_keeps_counting_when_snapshots_stop():
    """No snapshots (the engine is stuck): the age timer still redraws the header, so the age
    grows; the body is not redrawn for the same snapshot."""
    now = [BASE + 17.0]
    app, mon = make_app(refresh=0.1, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        first = sequence()[0]
        await feed(pilot, mon, [first])
        header = app.screen.query_one(WsmonHeader)
        assert f"updated {int(now[0] - first.taken_at)}s ago" in str(header.content)
        start = app.repaints
        now[0] += 21
        await until(pilot, lambda: f"updated {int(now[0] - first.taken_at)}s ago" in str(header.content),
                    timeout=3)
        assert app.repaints == start


async def test_refresh_now_asks_the_engine():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        before = app.latest.tick
        await pilot.press("r")
        await pilot.pause(0.15)
        assert mon.refreshes == 1
        assert app.latest.tick == before + 1


async def test_detailed_table_is_diffed_by_row_key(monkeypatch):
    app, mon = make_app(mode="detailed")
    async with app.run_test(size=SIZE) as pilot:
        snaps = sequence()
        await feed(pilot, mon, snaps[:1])
        table = app.screen.query_one("#targets-table", DataTable)
        clears = []
        monkeypatch.setattr(table, "clear", lambda *a, **k: clears.append(1))
        assert [k.value for k in table.rows] == ["api-us", "api-eu"]  # worst first
        assert str(table.get_cell("api-us", "status")) == "degraded"
        await feed(pilot, mon, snaps[1:])
        assert clears == []
        assert str(table.get_cell("api-us", "status")) == "critical"
        assert table.get_cell("api-us", "hs_p99") == "5.0 ms"
        # Enter opens the target under the cursor (api-us, the worst, is on top)
        table.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
        await until(pilot, lambda: text_of(app, "#target-detail"))
        text = text_of(app, "#target-detail")
        for part in ("Errors by class", "timeout", "Close codes", "1006", "Last probe", "Instances",
                     "pod-b", "imbalance", "Hold connection", "reconnects 1"):
            assert part in text
        await pilot.press("escape")
        assert app.current_mode == "detailed" and not isinstance(app.screen, TargetDetailScreen)


async def test_alerts_table_ack_with_comment():
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        table = app.screen.query_one("#alerts-table", DataTable)
        assert next(k.value for k in table.rows) == EPISODE.format("HighErrorRate:api-us")  # critical first
        assert table.get_cell(EPISODE.format("SlowHandshake:api-eu"), "ack").plain == "alice"
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AckScreen))
        await pilot.press(*"on it")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert mon.calls == [("acknowledge", {"alert_id": "HighErrorRate:api-us", "user": "tester",
                                              "comment": "on it"})]
        assert any("Acknowledged" in m for m in messages(app))


async def test_ack_cancel_does_nothing():
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("a")
        await pilot.press("escape")
        await pilot.pause()
        assert mon.calls == [] and not isinstance(app.screen, AckScreen)


async def test_silence_with_a_chosen_duration():
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("down")  # SlowHandshake on api-eu
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SilenceScreen))
        await pilot.press("right", "right", "enter")  # highlight starts on 30m; choose 4h
        await pilot.press("tab")
        await pilot.press(*"deploy")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert mon.calls == [("silence", {"rule": "SlowHandshake", "target": "api-eu", "duration": 14400.0,
                                          "comment": "deploy", "user": "tester"})]


async def test_silence_requires_a_comment():
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("s", "tab", "enter")
        await pilot.pause()
        assert isinstance(app.screen, SilenceScreen) and mon.calls == []


async def test_why_it_fired():
    deliveries = [{"channel": "oncall-slack", "kind": "firing", "status": "sent", "attempts": 1},
                  {"channel": "pager", "kind": "firing", "status": "retrying", "attempts": 3,
                   "last_error": "HTTP 502"}]
    mon = FakeMonitor(deliveries=deliveries)
    for i in range(20):
        mon.series.add("api-us", "error_rate", BASE + i, 0.01 * i)
    app, _ = make_app(mon, mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon, sequence()[:2])  # HighErrorRate is pending
        app.screen.query_one("#alerts-table", DataTable).focus()
        await pilot.press("enter")
        await pilot.pause()
        await until(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
        screen = app.screen
        await until(pilot, lambda: "oncall-slack" in text_of(app, "#alert-detail"))  # asked of the engine
        text = text_of(app, "#alert-detail")
        for part in ("fires when error_rate > 5.0%", "fired at    not yet (pending)", "now         12.0%",
                     "pending", "fires in", "for = 1m 00s",
                     "https://runbooks.example/ws", "oncall-slack", "sent", "pager", "retrying",
                     "HTTP 502"):
            assert part in text, part
        await until(pilot, lambda: len(screen.query_one("#alert-spark").data) == 20)
        await pilot.press("escape")
        assert app.current_mode == "alerts"


async def test_why_it_fired_without_delivery_status():
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        app.screen.query_one("#alerts-table", DataTable).focus()
        await pilot.press("enter")
        await pilot.pause()
        await until(pilot, lambda: "not available" in text_of(app, "#alert-detail"))


async def test_filter_alerts():
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        table = app.screen.query_one("#alerts-table", DataTable)
        assert table.row_count == 3
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"slowhand")
        await pilot.pause()
        assert [k.value for k in table.rows] == [EPISODE.format("SlowHandshake:api-eu")]
        await pilot.press("enter")
        assert app.focused is table
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == 3


async def test_rollback_dialog_focus_on_cancel_and_escape_cancels():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmRollbackScreen))
        screen = app.screen
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        summary = str(screen.query_one("#rollback-summary").content)
        assert "flag ws_transport: disabled, rollout 0%" in summary
        assert "HTTP POST http://127.0.0.1:9/rollback" in summary
        assert "trigger: manual" in summary
        await pilot.press("y")  # y on Cancel does nothing
        await pilot.press("enter")  # Enter on Cancel cancels
        await pilot.pause()
        assert mon.calls == [] and not isinstance(app.screen, ConfirmRollbackScreen)
        await pilot.press("R")
        await pilot.press("escape")
        await pilot.pause()
        assert mon.calls == []
        assert any("cancelled" in m for m in messages(app))


async def test_rollback_by_typing_the_deployment_name():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("R", "shift+tab")
        assert isinstance(app.focused, Input)
        await pilot.press(*"chat-gatewa", "enter")  # wrong name: nothing happens
        await pilot.pause()
        assert mon.calls == [] and isinstance(app.screen, ConfirmRollbackScreen)
        await pilot.press("y", "enter")
        await pilot.pause(0.1)
        assert mon.calls[0][0] == "rollback" and mon.calls[0][1]["user"] == "tester"
        await until(pilot, lambda: isinstance(app.screen, RollbackProgressScreen))
        await until(pilot, lambda: text_of(app, "#rollback-progress-text"))
        text = text_of(app, "#rollback-progress-text")
        assert "waiting for the rollback to start" in text  # the snapshot holds no attempt yet
        await pilot.press("escape")
        assert not isinstance(app.screen, RollbackProgressScreen)


async def test_rollback_by_y_on_the_confirm_button():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("R", "tab")
        assert app.focused.id == "confirm"
        await pilot.press("y")
        await pilot.pause(0.1)
        assert [c[0] for c in mon.calls] == ["rollback"]


async def test_ask_mode_opens_the_dialog_when_recommended():
    mon = FakeMonitor(make_config(auto="ask"))
    app, _ = make_app(mon)
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon, sequence()[:2])
        assert not isinstance(app.screen, ConfirmRollbackScreen)
        await feed(pilot, mon, sequence()[2:])
        await until(pilot, lambda: isinstance(app.screen, ConfirmRollbackScreen))
        assert "trigger: recommended" in str(app.screen.query_one("#rollback-summary").content)
        assert app.focused.id == "cancel"
        await pilot.press("escape")
        await feed(pilot, mon, sequence()[2:])  # still recommended: not asked again
        assert not isinstance(app.screen, ConfirmRollbackScreen)
        assert mon.calls == []


async def test_read_only_removes_ack_silence_rollback():
    app, mon = make_app(read_only=True, mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        assert mon.read_only is True
        footer_keys = {b.binding.id for b in app.screen.active_bindings.values() if b.enabled}
        assert not footer_keys & {"alerts.ack", "alerts.silence", "rollback"}
        for key in ("R", "a", "s"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen.__class__.__name__ == "AlertsScreen"
        assert mon.calls == []
        assert sum("read-only" in m for m in messages(app)) == 3
        assert "READ-ONLY" in str(app.screen.query_one(WsmonHeader).content)


async def test_read_only_notice_follows_the_keymap():
    """The app keeps its own copy of the keymap it set: a remapped key (a symbol, given as
    the character, and a modifier key) still says why, and the old key no longer does."""
    config = make_config()
    config.ui.keymap = {"rollback": "!,ctrl+r"}
    mon = FakeMonitor(config)
    app, _ = make_app(mon, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        assert dict(app.keymap) == {"rollback": "!,ctrl+r"}
        for key in ("exclamation_mark", "ctrl+r", "R"):
            await pilot.press(key)
            await pilot.pause()
        assert mon.calls == []
        assert sum("read-only" in m for m in messages(app)) == 2


async def test_command_errors_become_notices():
    mon = FakeMonitor(with_engines=False)
    app, _ = make_app(mon, mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("a", "enter")
        await pilot.pause(0.1)
        assert any("not available" in m for m in messages(app))
        assert app.is_running


async def test_new_critical_alert_raises_a_toast():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon, sequence()[:2])
        assert not any("HighErrorRate" in m for m in messages(app))
        await feed(pilot, mon, sequence()[2:])
        toasts = [n for n in app._notifications if n.title == "CRITICAL alert"]
        assert len(toasts) == 1 and "HighErrorRate on api-us" in toasts[0].message
        await feed(pilot, mon, sequence()[2:])
        assert len([n for n in app._notifications if n.title == "CRITICAL alert"]) == 1


async def test_an_inhibited_critical_alert_raises_no_toast_and_reads_inhibited():
    """HighErrorRate held back by TargetDown: TargetDown's toast only; the alerts view's State
    column says "inhibited" (not "silenced": nobody muted it), and Enter says by what."""
    import dataclasses

    from tests.tui_fixtures import alert, snapshot

    down = alert("TargetDown", "api-us", "critical", "firing", summary="api-us: every probe is failing")
    held = dataclasses.replace(alert("HighErrorRate", "api-us", "critical", "firing"),
                               inhibited_by="TargetDown", labels={"inhibited_by": "TargetDown"})
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon, [snapshot(1), snapshot(2, alerts=(held, down))])
        toasts = [str(n.message) for n in app._notifications if n.title == "CRITICAL alert"]
        assert len(toasts) == 1 and toasts[0].startswith("TargetDown on api-us")
        table = app.screen.query_one("#alerts-table", DataTable)
        assert str(table.get_cell(EPISODE.format("HighErrorRate:api-us"), "state")) == "inhibited"
        assert str(table.get_cell(EPISODE.format("TargetDown:api-us"), "state")) == "firing"
        table.focus()
        table.move_cursor(row=table.get_row_index(EPISODE.format("HighErrorRate:api-us")))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
        body = " ".join(str(w.render()) for w in app.screen.query("Static"))
        assert "inhibited by TargetDown" in body and "silenced" not in body


async def test_no_toast_covers_the_rollback_dialog():
    app, mon = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, mon, sequence()[:2])
        app.notify("an earlier toast")
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmRollbackScreen))
        assert not app._notifications  # cleared when the dialog opened
        await feed(pilot, mon, sequence()[2:])  # a new critical alert while it is open
        assert isinstance(app.screen, ConfirmRollbackScreen)
        assert not [n for n in app._notifications if n.title == "CRITICAL alert"]


async def test_export_writes_a_markdown_report(tmp_path):
    mon = FakeMonitor(state_dir=tmp_path / "state")
    app, _ = make_app(mon)
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("e")
        await pilot.pause()
        path = app.last_export
        assert path is not None and path.parent == tmp_path / "state" / "reports"
        assert path.name.startswith("report-20260101-000000-test-") and path.suffix == ".md"
        assert "chat-gateway" in path.read_text()
        assert any(str(path) in m for m in messages(app))


async def test_theme_picker():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        assert app.theme == "wsmon-dark"
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, ThemePicker))
        options = app.screen.query_one(OptionList)
        options.highlighted = app.theme_names().index("wsmon-light")
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "wsmon-light"
        await pilot.press("t", "down", "escape")
        assert app.theme == "wsmon-light"


async def test_help_lists_every_binding():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await until(pilot, lambda: text_of(app, "#help-text"))
        text = text_of(app, "#help-text")
        for words in ("Summary", "Detailed", "Alerts", "Metrics", "Rollback", "Pause", "Refresh", "Export",
                      "Theme", "Keys", "Quit", "Next view", "Open target", "Ack", "Silence", "Why",
                      "Filter", "Longer range", "Shorter range", "Confirm", "Ctrl+P"):
            assert words in text, words
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_keymap_from_config_remaps_bindings():
    config = make_config()
    config.ui.keymap = {"pause": "P"}
    mon = FakeMonitor(config)
    app, _ = make_app(mon)
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("p")
        assert app.paused is False
        await pilot.press("P")
        assert app.paused is True


async def test_the_tab_strip_names_the_view_keys_and_the_footer_keeps_its_room_for_actions():
    """The footer leaves the view keys to the tab strip, which names them after a remap; at
    80 columns the footer then has room for Rollback and Pause."""
    config = make_config()
    config.ui.keymap = {"mode.detailed": "f2,2"}
    mon = FakeMonitor(config)
    app, _ = make_app(mon)
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(pilot, mon)
        tabs = str(app.screen.query_one("#tabs", Static).render())
        assert "1 Summary" in tabs and "f2 Detailed" in tabs and "3 Alerts" in tabs
        shown = [b.binding.description for b in app.screen.active_bindings.values() if b.binding.show]
        assert "Summary" not in shown and "Detailed" not in shown
        footer = "".join(str(w.render()) for w in app.screen.query("FooterKey"))
        assert "Rollback" in footer and "Pause" in footer, footer
        await pilot.press("f2")
        assert app.current_mode == "detailed"
        assert "f2 Detailed" in str(app.screen.query_one("#tabs", Static).render())


async def test_command_palette_runs_export(tmp_path):
    mon = FakeMonitor(state_dir=tmp_path)
    app, _ = make_app(mon)
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Export a Markdown")
        await pilot.pause(0.4)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.last_export is not None and app.last_export.exists()


async def test_command_palette_switches_views():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"View: Metrics")
        await pilot.pause(0.4)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.current_mode == "metrics"


async def test_quit_stops_the_engine_and_waits_for_it():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("q")  # this dashboard runs the acting engine: it asks first
        await until(pilot, lambda: app.screen.id == "confirm-quit")
        await pilot.press("y")
        await pilot.pause(0.2)
    assert mon.stop_reason == "user" and mon.finished
    assert app.return_value == 0


class FailingMonitor(FakeMonitor):
    async def run(self, duration=None) -> str:
        await asyncio.sleep(0.01)
        raise RuntimeError("boom [bold]")


async def test_engine_failure_is_a_visible_notice():
    mon = FailingMonitor()
    app, _ = make_app(mon)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert any("The monitor stopped" in m and "boom [bold]" in m for m in messages(app))
        await pilot.press("q")
        await pilot.pause(0.1)
    assert app.return_value == 1


async def test_engine_ending_by_itself_is_said():
    app, _ = make_app(duration=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: any("The monitor ended (duration)" in m for m in messages(app)))
