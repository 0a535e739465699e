"""The screen tells the truth in an incident: the data's age counts (paused too), the header is
never HEALTHY while a critical alert fires, a rollback in progress has one banner on every view
and over every pop-up, quitting the acting engine is asked, and alert toasts come one per tick.

Fed by the fixed snapshots of tests/tui_fixtures.py with a clock the test moves, except the
last test: a real engine in its own process rolls back, and a face attached over its socket
shows the banner.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

import pytest

from tests.test_tui_app import SIZE, feed, make_app, until
from tests.tui_fixtures import BASE, FakeMonitor, alert, sequence, snapshot, target
from wsmon_tui.model import AlertView, RollbackView
from wsmon_tui.tui.app import WsmonApp
from wsmon_tui.tui.screens.help import HelpScreen
from wsmon_tui.tui.widgets.banner import OUTCOME_SHOWN_S, RollbackBanner, banner_content
from wsmon_tui.tui.widgets.figures import Figure
from wsmon_tui.tui.widgets.header import WsmonHeader, clock_time


@pytest.fixture(autouse=True)
def user(monkeypatch):
    monkeypatch.setenv("USER", "tester")


def header(app: WsmonApp) -> str:
    return str(app.screen.query_one(WsmonHeader).content)


def banner_text(app: WsmonApp) -> str:
    """The banner on the screen on top (a view, or the one mounted over a dialog), if shown."""
    found = [b for b in app.screen.query(RollbackBanner) if b.display]
    return str(found[0].content) if found else ""


def toasts(app: WsmonApp) -> list[tuple[str, str]]:
    return [(str(n.title), str(n.message)) for n in app._notifications]


# -- 1. the age of the data counts -------------------------------------------------------------


async def test_paused_the_header_says_so_with_the_datas_time_and_its_age_keeps_counting():
    now = [BASE + 17.0]
    app, mon = make_app(clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        first, second = sequence()[:2]
        await feed(pilot, mon, [first])
        await pilot.press("p")
        assert f"PAUSED · data from {clock_time(first.taken_at)} (12s ago)" in header(app)
        mon.publish(second)  # the engine goes on; the screen stays on the first snapshot
        now[0] += 20  # 20 s paused
        await until(pilot, lambda: "(32s ago)" in header(app), timeout=3)
        assert app.screen.painted is first and "updated" not in header(app)

        await pilot.press("r")  # refresh once: new data, still paused, and it says so
        await until(pilot, lambda: mon.refreshes == 1 and app.screen.painted is not first)
        assert app.paused and app.screen.painted.tick == second.tick + 1
        assert "PAUSED" in header(app)
        assert any("Refreshed once" in m and "still paused" in m for _, m in toasts(app))


async def test_the_age_counts_every_second_between_slow_repaints():
    """--refresh 10: the body repaints every 10 s, the age of the data on screen still counts."""
    now = [BASE + 17.0]
    app, mon = make_app(refresh=10.0, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        first = sequence()[0]
        await feed(pilot, mon, [first])
        assert "updated 12s ago" in header(app)
        now[0] += 3
        await until(pilot, lambda: "updated 15s ago" in header(app), timeout=3)
        mon.publish(sequence()[1])  # held back: the screen (and its age) stay on the first
        await pilot.pause(0.1)
        assert app.screen.painted is first
        now[0] += 1
        await until(pilot, lambda: "updated 16s ago" in header(app), timeout=3)


# -- 2. never HEALTHY on fire; fleet and worst-target figures say which -------------------------


def on_fire() -> tuple:
    """A healthy score (a rollback just flipped the targets back) with two critical alerts firing."""
    targets = (target("notify-ws-eu", 0, error_rate=1.0), target("notify-ws-us", 0))
    down = (alert("TargetDown", "notify-ws-eu", "critical", "firing"),
            alert("RollbackFailed", "chat-gateway", "critical", "firing"))
    snap = dataclasses.replace(snapshot(1, targets=targets, alerts=down), status="healthy",
                               health_score=100.0)
    return snap, targets


async def test_the_header_is_never_healthy_while_a_critical_alert_fires():
    snap, _ = on_fire()
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon, [snap])
        text = header(app)
        assert "CRITICAL · 2 alerts firing" in text and "score 100" in text
        assert "HEALTHY" not in text
        resolved = alert("TargetDown", "notify-ws-eu", "critical", "resolved")
        calm = dataclasses.replace(snap, alerts=(resolved,))
        await feed(pilot, mon, [calm])
        assert "HEALTHY" in header(app) and "CRITICAL" not in header(app)


async def test_big_figures_say_fleet_or_which_target_is_the_worst():
    snap, _ = on_fire()
    app, mon = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await feed(pilot, mon, [snap])

        def lines(key: str) -> list[str]:
            return [str(line.text) for line in app.screen.query_one(f"#figure-{key}", Figure)._lines]

        assert lines("errors") == ["Error rate", "100.0%", "worst: notify-ws-eu"]
        assert lines("connections")[2] == "fleet"
        assert lines("handshake")[2] == "worst: notify-ws-eu"  # target i=0 twice: the first


# -- 3. one banner for a rollback in progress ----------------------------------------------------


def running(**kw) -> RollbackView:
    values = dict(
        id=7, state="running", trigger="TargetDown", reason="TargetDown firing", started_at=BASE + 5,
        steps=({"type": "flag", "name": "ws_transport", "ok": True, "duration_ms": 120.0, "detail": "set"},),
        automatic=True, user="wsmon-tui (automatic)", trigger_target="notify-ws-eu", trigger_value=0.0,
        trigger_threshold=0.9, trigger_summary="notify-ws-eu: probe success 0.0% below 90.0%",
        planned=("ws_transport", "deploy"), state_since=BASE + 5)
    values.update(kw)
    return RollbackView(**values)  # type: ignore[arg-type]


async def test_the_banner_is_on_every_view_and_over_pop_ups_with_trigger_step_and_time():
    now = [BASE + 17.0]
    app, mon = make_app(clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon, [snapshot(1)])
        assert banner_text(app) == ""  # nothing in progress: no banner, no room taken
        await feed(pilot, mon, [snapshot(2, rollback=running())])
        for key in ("1", "2", "3", "4"):
            if key != "1":
                await pilot.press(key)
                await pilot.pause(0.1)
            text = banner_text(app)
            assert "ROLLBACK RUNNING" in text and "for 12s" in text, (key, text)
            assert "TargetDown notify-ws-eu: probe success 0.0% below 90.0%" in text
            assert "step 2/2 deploy: running" in text and "ws_transport ok (120.0 ms)" in text
            banner = app.screen.query_one(RollbackBanner)
            assert banner.region.y == 1, "right under the header"
        now[0] += 5
        await until(pilot, lambda: "for 17s" in banner_text(app), timeout=3)  # counts between snapshots

        await pilot.press("question_mark")  # a pop-up: the banner is drawn over it, same place
        await until(pilot, lambda: isinstance(app.screen, HelpScreen)
                    and "ROLLBACK RUNNING" in banner_text(app))
        assert app.screen.query_one(RollbackBanner).region.y == 1
        await pilot.press("escape")

        done = running(state="verified", steps=running().steps * 2, finished_at=BASE + 20,
                       state_since=BASE + 20, detail="healthy for 3 consecutive evaluations")
        now[0] = BASE + 22
        await feed(pilot, mon, [snapshot(3, rollback=done)])
        assert "ROLLBACK VERIFIED" in banner_text(app) and "ended 2s ago" in banner_text(app)
        now[0] = BASE + 20 + OUTCOME_SHOWN_S + 1
        await until(pilot, lambda: banner_text(app) == "", timeout=3)  # the outcome stays a while only


def test_the_banner_reads_a_throttle_a_verification_and_a_failure():
    now = BASE + 40
    throttle = running(id=3, kind="throttle", trigger="QueueBacklog", trigger_target="notify-ws-eu",
                       trigger_summary="", trigger_value=5000.0, trigger_threshold=1000.0, planned=("slow",),
                       steps=(), state_since=BASE + 38)
    verifying = running(state="verifying", state_since=BASE + 30, verify_deadline=BASE + 70, verify_streak=1,
                        verify_needed=3, steps=running().steps * 2, throttle=throttle)
    found = banner_content(verifying, now)
    assert found is not None
    level, content = found
    text = content.plain
    assert level == "-active"
    assert "ROLLBACK VERIFYING" in text and "for 10s" in text and "steps done (2/2 ok)" in text
    assert "healthy 1 of 3 evaluations in a row" in text and "30s left" in text
    assert "THROTTLE RUNNING" in text and "for 2s" in text
    assert "QueueBacklog notify-ws-eu: value 5000 (threshold 1000)" in text  # no summary: the figures
    assert "step 1/1 slow: running" in text
    broken = {"type": "http", "name": "deploy", "ok": False, "duration_ms": 2100.0, "detail": "HTTP 500"}
    failed = running(state="failed", finished_at=BASE + 30, state_since=BASE + 30,
                     detail="step failed: deploy", steps=(*running().steps, broken))
    found = banner_content(failed, now)
    assert found is not None and found[0] == "-failed"
    assert "ROLLBACK FAILED" in found[1].plain and "ended 10s ago" in found[1].plain
    assert "step 2 deploy FAILED (2.1s): HTTP 500" in found[1].plain and "took 25s" in found[1].plain
    assert banner_content(RollbackView(id=None, state="idle"), now) is None
    assert banner_content(None, now) is None


# -- 4. leaving is deliberate -------------------------------------------------------------------


async def test_q_on_the_acting_engine_asks_and_n_stays():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("q")
        await until(pilot, lambda: app.screen.id == "confirm-quit")
        question = str(app.screen.query_one("#quit-question").content)
        assert "This dashboard is the acting engine" in question and "chat-gateway" in question
        assert "Quit? y/N" in question
        await pilot.press("q")  # asked already: a second q does not stack a second question
        await pilot.press("n")
        await pilot.pause(0.1)
        assert app.is_running and mon.stop_reason is None and app.screen.id != "confirm-quit"
        await pilot.press("q")
        await until(pilot, lambda: app.screen.id == "confirm-quit")
        await pilot.press("enter")  # the default is to stay
        await pilot.pause(0.1)
        assert app.is_running and mon.stop_reason is None


@pytest.mark.parametrize("acting,read_only", [(False, False), (False, True), (True, True)],
                         ids=["attached", "attached-read-only", "own-engine-read-only"])
async def test_q_on_a_face_that_does_not_act_just_leaves(acting, read_only):
    """An attached face (its engine acts in another process) or a read-only one stops no paging."""
    mon = FakeMonitor()
    mon.acting = acting
    app, _ = make_app(mon, read_only=read_only)
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("q")
        await pilot.pause(0.3)
    assert mon.stop_reason == "user" and app.return_value == 0


# -- 5. toasts that do not bury the screen --------------------------------------------------------


def down(name: str, **kw) -> AlertView:
    return dataclasses.replace(alert("TargetDown", name, "critical", "firing", summary=f"{name}: down"), **kw)


NAMES = ("a", "b", "c", "d", "e", "f")


async def test_a_batch_of_down_targets_is_one_toast_naming_each_target_once():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon, [snapshot(1)])
        app.clear_notifications()
        await feed(pilot, mon, [snapshot(2, alerts=tuple(down(n) for n in NAMES))])
        assert toasts(app) == [("CRITICAL: 6 alerts firing", "TargetDown on 6 targets: a, b, c +3")]
        await feed(pilot, mon, [snapshot(3, alerts=tuple(down(n) for n in NAMES))])
        assert len(toasts(app)) == 1  # still firing: not again
        both = (*[down(n) for n in NAMES[:2]], alert("HighErrorRate", "ws-g", "critical", "firing"),
                alert("SlowHandshake", "ws-g", "critical", "firing"))
        app.clear_notifications()
        await feed(pilot, mon, [snapshot(4), snapshot(5, alerts=both)])
        assert toasts(app) == [("CRITICAL: 4 alerts firing",
                                "TargetDown ×2, HighErrorRate, SlowHandshake on 3 targets: a, b, ws-g")]


async def test_inhibited_and_silenced_alerts_raise_no_toast():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon, [snapshot(1)])
        app.clear_notifications()
        held = dataclasses.replace(alert("HighErrorRate", "c", "critical", "firing"),
                                   inhibited_by="TargetDown")
        muted = (down("a", silenced=True), down("b", inhibited_by="MonitorOffline"), held)
        await feed(pilot, mon, [snapshot(2, alerts=muted)])
        assert toasts(app) == []
        # in a batch with alerts that page, the muted ones are neither counted nor named
        await feed(pilot, mon, [snapshot(3, alerts=(*muted, down("d"), down("e"), down("f")))])
        assert toasts(app) == [("CRITICAL: 3 alerts firing", "TargetDown on 3 targets: d, e, f")]


async def test_toasts_wait_while_a_dialog_or_the_filter_is_in_use_then_come_as_one():
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon, [snapshot(1)])
        app.clear_notifications()
        await pilot.press("slash")  # typing a filter
        await pilot.pause(0.1)
        await feed(pilot, mon, [snapshot(2, alerts=(down("a"),))])
        await feed(pilot, mon, [snapshot(3, alerts=(down("a"), down("b"), down("gone")))])
        assert toasts(app) == []
        await pilot.press("enter")  # the filter is done: the focus leaves it
        await pilot.press("question_mark")  # a dialog
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await feed(pilot, mon, [snapshot(4, alerts=(down("a"), down("b"), down("c", silenced=True)))])
        assert toasts(app) == []
        await pilot.press("escape")  # closed: what is still firing unmuted comes, once
        await until(pilot, lambda: bool(toasts(app)))
        assert toasts(app) == [("CRITICAL: 2 alerts firing", "TargetDown on 2 targets: a, b")]


# -- an attached face shows the same banner: a real engine rolls back in another process ----------


def rollback_config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "wsmon.toml"
    path.write_text(f"""
[monitor]
level = "debug"
interval = "0.5s"

[deployment]
name = "banner-deploy"
version = "2.0.0"

[[targets]]
name = "notify-ws-eu"
url = "ws://127.0.0.1:{port}/ws"
timeout = "1s"

[rollback]
auto = true
on = ["TargetDown"]
verify_window = "30s"
verify_successes = 3

[[rollback.steps]]
type = "command"
name = "drain"
argv = ["{sys.executable}", "-c", "import time; time.sleep(4)"]
timeout = "20s"
""")
    return path


@pytest.mark.slow
async def test_an_attached_face_shows_the_rollback_banner_and_q_just_leaves(tmp_path: Path):
    import socket

    from tests.test_attach import start_monitor, stop
    from wsmon_tui.attach.client import AttachedEngine, find_engine
    from wsmon_tui.config import Config

    with socket.socket() as closed:  # a port nothing listens on: every probe is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    state = tmp_path / "state"
    engine = await start_monitor(rollback_config(tmp_path, port), state)
    try:
        conn = await find_engine(state, user="alice", face="test")
        assert conn is not None
        link = AttachedEngine(conn, config=Config())
        app = WsmonApp(link, mode="detailed", user="alice")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "ROLLBACK RUNNING" in banner_text(app), timeout=30)
            text = banner_text(app)
            assert "#1 automatic" in text and "TargetDown notify-ws-eu: notify-ws-eu" not in text
            assert "TargetDown notify-ws-eu: every probe is failing" in text
            assert "step 1/1 drain: running" in text
            # the body and header repaint at --refresh (1 s), the banner at once: they meet
            await until(pilot, lambda: "CRITICAL · 1 alert firing" in header(app), timeout=3)
            await until(pilot, lambda: "ROLLBACK VERIFYING" in banner_text(app), timeout=20)
            assert "steps done (1/1 ok)" in banner_text(app)
            await pilot.press("q")  # attached: leaves at once, the engine goes on
            await pilot.pause(0.5)
        assert app.return_value == 0
        await asyncio.sleep(0.5)
        assert engine.returncode is None
    finally:
        await stop(engine)

