"""The alerts view, why it fired, and the pop-ups tell the truth: one row per episode (firing
first), the value it fired at apart from the value now, in the metric's unit, the rollback
panel following only the attempt it started, and every pop-up saying how to leave it."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from tests.test_alert_engine import Clock, World, err_rule
from tests.test_alert_engine import make_config as alert_config
from tests.test_tui_app import feed, make_app, text_of, until
from tests.tui_fixtures import BASE, FakeMonitor, alert, make_config, snapshot, target
from wsmon_tui.alerts.engine import AlertEngine
from wsmon_tui.model import AlertView, RollbackView
from wsmon_tui.tui.app import WsmonApp
from wsmon_tui.tui.screens.ack import AckScreen
from wsmon_tui.tui.screens.alert_detail import AlertDetailScreen
from wsmon_tui.tui.screens.confirm_rollback import ConfirmRollbackScreen, RollbackProgressScreen
from wsmon_tui.tui.screens.help import HelpScreen
from wsmon_tui.tui.screens.silence import SilenceScreen
from wsmon_tui.tui.screens.target_detail import TargetDetailScreen
from wsmon_tui.tui.screens.theme_picker import ThemePicker

SIZE = (140, 40)


async def show(pilot, monitor: FakeMonitor, *snaps) -> None:
    await feed(pilot, monitor, list(snaps))


def cells(table: DataTable, key: str) -> dict[str, str]:
    return {col.value: str(table.get_cell(key, col)) for col in table.columns}


@pytest.fixture(autouse=True)
def user(monkeypatch):
    monkeypatch.setenv("USER", "tester")


def adoption_episodes() -> tuple[AlertView, AlertView]:
    """AdoptionDrop on api-us: an episode that fired, was acknowledged by root and resolved,
    and the next one, firing now and acknowledged by nobody. One fingerprint, two episodes."""
    older = AlertView(id="fp-adoption", rule="AdoptionDrop", target="api-us", severity="warning",
                      state="resolved", metric="adoption", value=0.8, fired_value=0.11, threshold=0.75,
                      started_at=BASE - 900, firing_at=BASE - 840, resolved_at=BASE - 400,
                      acknowledged_by="root", acknowledged_at=BASE - 800, ack_comment="canary paused")
    newer = AlertView(id="fp-adoption", rule="AdoptionDrop", target="api-us", severity="warning",
                      state="firing", metric="adoption", value=0.12, fired_value=0.2, threshold=0.75,
                      started_at=BASE - 120, firing_at=BASE - 60)
    return older, newer


# -- one row per episode, firing first ------------------------------------------------------------


@pytest.mark.parametrize("published", ["firing first", "resolved first"])
async def test_a_resolved_acknowledged_episode_does_not_stand_for_the_firing_one(published):
    older, newer = adoption_episodes()
    crit = alert("HighErrorRate", "api-eu", "critical", "firing", acked="alice")
    alerts = (newer, older, crit) if published == "firing first" else (older, crit, newer)
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, mon, snapshot(1, alerts=alerts))
        table = app.screen.query_one("#alerts-table", DataTable)
        keys = [k.value for k in table.rows]
        # firing and unacknowledged first; then acknowledged; then the resolved episode
        assert keys == [newer.episode, crit.episode, older.episode]
        now_row, then_row = cells(table, newer.episode), cells(table, older.episode)
        assert (now_row["state"], now_row["ack"], now_row["comment"]) == ("firing", "no", "")
        assert now_row["value"] == "12.0% / 75.0%"
        assert (then_row["state"], then_row["ack"]) == ("resolved", "root")
        assert then_row["comment"] == "canary paused"
        assert then_row["value"] == "fired 11.0% / 75.0%"  # not the value that resolved it
        await pilot.press("1")
        await pilot.pause(0.1)
        panel = text_of(app, "#alerts-panel")
        assert "AdoptionDrop · api-us · firing\n" in panel + "\n" and "firing ✓" in panel  # alice's ack only
        assert panel.index("AdoptionDrop") < panel.index("HighErrorRate")  # firing before acknowledged


async def test_a_resolved_episode_cannot_be_acknowledged_and_the_firing_one_can():
    older, newer = adoption_episodes()
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, mon, snapshot(1, alerts=(older, newer)))
        table = app.screen.query_one("#alerts-table", DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index(older.episode))
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(app.screen, AckScreen) and mon.calls == []
        assert any("resolved: there is nothing to acknowledge" in str(n.message) for n in app._notifications)
        table.move_cursor(row=table.get_row_index(newer.episode))
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AckScreen))
        await pilot.press(*"mine", "enter")
        await pilot.pause(0.1)
        assert mon.calls == [("acknowledge", {"alert_id": "fp-adoption", "user": "tester",
                                              "comment": "mine"})]


async def test_the_ack_and_silence_dialogs_say_what_and_cancel_closes_them_without_a_call():
    """Both dialogs (``popup.AlertDialog``): the line naming the action, rule, target and user,
    and the Cancel button dismissing with nothing sent to the engine."""
    _, newer = adoption_episodes()
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, mon, snapshot(1, alerts=(newer,)))
        app.screen.query_one("#alerts-table", DataTable).focus()
        for key, kind, verb in (("a", AckScreen, "Acknowledge"), ("s", SilenceScreen, "Silence")):
            await pilot.press(key)
            await until(pilot, lambda kind=kind: isinstance(app.screen, kind))
            heading = " ".join(str(w.render()) for w in app.screen.query(Static))
            assert f"{verb} {newer.rule} on {newer.target} as tester" in heading
            await pilot.click("#cancel")
            await until(pilot, lambda kind=kind: not isinstance(app.screen, kind))
        assert mon.calls == []


async def test_episodes_from_the_real_alert_engine_are_two_rows(tmp_path: Path):
    """The real AlertEngine on a real database: fired, acknowledged with a comment, resolved,
    fired again. Its views, as a snapshot carries them, are two rows; the firing one unacknowledged."""
    db = tmp_path / "state"
    db.mkdir(mode=0o700)
    clock = Clock(BASE - 60)
    engine = AlertEngine(alert_config(err_rule(severity="critical")), db / "wsmon.db", clock=clock)
    world = World(clock, targets=("api-us",))
    try:
        views, _ = world.run(engine, error_rate=0.5)
        engine.acknowledge(views[0].id, "root", "looking")
        clock.advance(10)
        world.run(engine, error_rate=0.0)
        clock.advance(10)
        views, _ = world.run(engine, error_rate=0.3)
    finally:
        engine.close()
    assert len(views) == 2 and views[0].id == views[1].id
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, mon, snapshot(1, alerts=views))
        table = app.screen.query_one("#alerts-table", DataTable)
        rows = [cells(table, k.value) for k in table.rows]
        assert [(r["state"], r["ack"], r["comment"]) for r in rows] == [
            ("firing", "no", ""), ("resolved", "root", "looking")]
        assert [r["value"] for r in rows] == ["30.0% / 10.0%", "fired 50.0% / 10.0%"]


# -- why it fired ----------------------------------------------------------------------------------


async def test_why_it_fired_shows_the_value_it_fired_at_and_the_value_now_in_units():
    resolved = dataclasses.replace(alert("HighErrorRate", "api-us", "critical", "resolved"),
                                   metric="error_rate", value=0.0, fired_value=0.12)
    newer = dataclasses.replace(alert("HighErrorRate", "api-us", "critical", "firing"), started_at=BASE - 5,
                                firing_at=BASE - 5, metric="error_rate", value=0.31, fired_value=0.09)
    app, mon = make_app(FakeMonitor(deliveries=[]), mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, mon, snapshot(1, alerts=(newer, resolved)))  # api-us's error rate is 2 % now
        table = app.screen.query_one("#alerts-table", DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index(resolved.episode))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
        await until(pilot, lambda: "none sent" in text_of(app, "#alert-detail"))
        text = text_of(app, "#alert-detail")
        assert "(resolved)" in text  # the episode chosen, not the firing one of the same rule
        assert "fires when error_rate > 5.0%" in text
        assert "fired at    12.0%  4m 05s ago" in text  # firing at BASE - 240, snapshot 1 taken at BASE + 5
        assert "at its end  0.0%  resolved 15s ago" in text
        assert "now         2.0%" in text
        assert "0.000" not in text and "0.00 " not in text
        await pilot.press("escape")
        table.move_cursor(row=table.get_row_index(newer.episode))
        await pilot.press("enter")
        await until(pilot, lambda: "(firing)" in text_of(app, "#alert-detail"))
        text = text_of(app, "#alert-detail")
        assert "fired at    9.0%  10s ago" in text and "now         31.0%" in text


async def test_value_and_threshold_carry_the_metrics_unit():
    slow = dataclasses.replace(alert("SlowHandshake", "api-eu", "warning", "firing"), metric="handshake_p95",
                               value=278.0, threshold=150.0)
    cpu = dataclasses.replace(alert("HostCPU", "overall", "warning", "firing"), metric="cpu_percent",
                              value=91.3, threshold=75.0)
    app, mon = make_app(mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, mon, snapshot(1, alerts=(slow, cpu)))
        table = app.screen.query_one("#alerts-table", DataTable)
        assert cells(table, slow.episode)["value"] == "278.0 ms / 150.0 ms"
        assert cells(table, cpu.episode)["value"] == "91% / 75%"


async def test_an_alert_without_metric_or_threshold_shows_a_dash_not_a_bare_number():
    """RollbackInProgress carries its trigger's value (health 0) with no metric: "0.00 / —"
    read as a measurement; the summary says what set it off."""
    rollback = dataclasses.replace(alert("RollbackInProgress", "chat", "warning", "firing"), metric="",
                                   value=0.0, threshold=None, fired_value=0.0)
    app, mon = make_app(FakeMonitor(deliveries=[]), mode="alerts")
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, mon, snapshot(1, alerts=(rollback,)))
        table = app.screen.query_one("#alerts-table", DataTable)
        assert cells(table, rollback.episode)["value"] == "—"
        table.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
        await until(pilot, lambda: "none sent" in text_of(app, "#alert-detail"))
        text = text_of(app, "#alert-detail")
        assert "no metric or threshold" in text and "0.00" not in text and "fired at" not in text


def test_deliveries_are_the_episodes_own():
    from wsmon_tui.tui.screens.alert_detail import episode_deliveries

    older, newer = adoption_episodes()
    sent = [{"kind": "firing", "created_at": BASE - 840}, {"kind": "resolved", "created_at": BASE - 400},
            {"kind": "firing", "created_at": BASE - 60}, {"kind": "firing", "created_at": None}]
    both = (older, newer)
    assert [d["created_at"] for d in episode_deliveries(sent, older, both)] == [BASE - 840, BASE - 400, None]
    assert [d["created_at"] for d in episode_deliveries(sent, newer, both)] == [BASE - 60, None]


# -- the rollback dialog and its progress -------------------------------------------------------------


PREVIOUS = RollbackView(id=1, state="verified", trigger="manual", started_at=BASE - 600,
                        finished_at=BASE - 560, steps=({"name": "deploy", "ok": True},))


async def test_the_progress_panel_never_shows_the_previous_rollback():
    mon = FakeMonitor()
    mon.rollback_gate = asyncio.Event()
    mon.rollback_answer = {"id": 2, "state": "verifying", "started_at": BASE + 20}
    app, _ = make_app(mon)
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, mon, snapshot(1, rollback=PREVIOUS))
        await pilot.press("R", "tab", "y")
        await until(pilot, lambda: isinstance(app.screen, RollbackProgressScreen))
        await until(pilot, lambda: text_of(app, "#rollback-progress-text"))
        seen = [text_of(app, "#rollback-progress-text")]
        await show(pilot, mon, snapshot(2, rollback=PREVIOUS))  # the engine has not ticked since
        seen.append(text_of(app, "#rollback-progress-text"))
        mon.rollback_gate.set()  # the steps ran: the engine answers with the new attempt
        await until(pilot, lambda: any("Rollback #2" in str(n.message) for n in app._notifications))
        await show(pilot, mon, snapshot(3, rollback=PREVIOUS))
        seen.append(text_of(app, "#rollback-progress-text"))
        assert all("waiting for the rollback to start" in t for t in seen), seen
        assert not any("#1" in t or "verified" in t for t in seen)
        new = RollbackView(id=2, state="verifying", trigger="manual", started_at=BASE + 20,
                           steps=({"name": "deploy", "ok": True},))
        await show(pilot, mon, snapshot(4, rollback=new))
        text = text_of(app, "#rollback-progress-text")
        assert "Rollback #2 verifying" in text and "waiting for health to recover" in text
        notices = [str(n.message) for n in app._notifications]
        assert "Rollback #2: steps done; verifying that health recovers." in notices
        assert not any(m.endswith(": done.") for m in notices)


async def test_a_refused_rollback_is_said_in_the_panel():
    from wsmon_tui.errors import WsmonError

    class Refusing(FakeMonitor):
        async def rollback(self, *, reason: str, user: str, dry_run: bool = False):
            raise WsmonError("rollback #1 is still verifying; wait for its outcome")

    mon = Refusing()
    app, _ = make_app(mon)
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, mon, snapshot(1, rollback=dataclasses.replace(PREVIOUS, state="verifying",
                                                                        finished_at=None)))
        await pilot.press("R", "tab", "y")
        await until(pilot, lambda: "did not start" in text_of(app, "#rollback-progress-text"))
        assert "still verifying" in text_of(app, "#rollback-progress-text")


async def test_the_dialog_says_the_last_rollback_and_its_hint_follows_focus():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, mon, snapshot(1, rollback=PREVIOUS))
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmRollbackScreen))
        summary = text_of(app, "#rollback-summary")
        assert ("Last rollback: #1 verified: health recovered, started 10m 05s ago, took 40s (manual)"
                in summary)
        hint = lambda: text_of(app, "#rollback-hint")  # noqa: E731
        assert app.focused.id == "cancel" and hint().startswith("Focus is on Cancel: Enter closes")
        await pilot.press("tab")
        assert app.focused.id == "confirm" and hint().startswith("Focus is on “Roll back”: y or Enter")
        await pilot.press("tab")
        assert app.focused.id == "rollback-name" and hint().startswith("Type chat-gateway and press Enter")
        name_box = app.screen.query_one("#rollback-name")
        assert name_box.placeholder == "" and name_box.value == ""
        await pilot.press("escape")
        assert mon.calls == []


async def test_the_dialog_says_when_no_rollback_has_run():
    app, mon = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, mon, snapshot(1))
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmRollbackScreen))
        assert "Last rollback: none recorded" in text_of(app, "#rollback-summary")


# -- every pop-up says how to leave it -----------------------------------------------------------------


def border_hint(app: WsmonApp) -> str:
    return str(app.screen.query(".dialog, .detail-panel").first().border_subtitle or "")


async def test_every_pop_up_names_its_closing_key():
    config = make_config()
    config.ui.keymap = {"modal.cancel": "escape,ctrl+g"}
    mon = FakeMonitor(config)
    app, _ = make_app(mon, mode="alerts")
    older, newer = adoption_episodes()
    opened: dict[str, str] = {}
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, mon, snapshot(1, alerts=(newer, older),
                                        targets=(target("api-eu", 0), target("api-us", 1))))
        app.screen.query_one("#alerts-table", DataTable).focus()
        for keys, kind in ((("a",), AckScreen), (("s",), SilenceScreen), (("enter",), AlertDetailScreen),
                           (("question_mark",), HelpScreen), (("t",), ThemePicker),
                           (("R",), ConfirmRollbackScreen), (("2", "enter"), TargetDetailScreen)):
            await pilot.press(*keys)
            await until(pilot, lambda kind=kind: isinstance(app.screen, kind))
            opened[kind.__name__] = border_hint(app)
            await pilot.press("escape")
            await until(pilot, lambda kind=kind: not isinstance(app.screen, kind))
        await pilot.press("R", "tab", "y")
        await until(pilot, lambda: isinstance(app.screen, RollbackProgressScreen))
        opened["RollbackProgressScreen"] = border_hint(app)
    assert opened == {
        "AckScreen": "esc / ^g cancel", "SilenceScreen": "esc / ^g cancel",
        "AlertDetailScreen": "esc / q close", "HelpScreen": "esc / q close",
        "ThemePicker": "esc / ^g keep the current theme", "ConfirmRollbackScreen": "esc / ^g cancel",
        "TargetDetailScreen": "esc / q close", "RollbackProgressScreen": "esc hide (the rollback goes on)",
    }
