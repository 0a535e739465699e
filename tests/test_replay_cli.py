"""``wsmon-tui replay`` on the command line, ``report``/``status`` naming the replay, and the
replay app driven by Textual's pilot over a real recorded session (tests/replay_support.py)."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
from textual.widgets import DataTable

from tests.replay_support import RULE, Recorded
from wsmon_tui.cli import main
from wsmon_tui.config import Config
from wsmon_tui.replay import ReplayEngine
from wsmon_tui.tui.replay import ReplayApp
from wsmon_tui.tui.screens.alerts import AlertsScreen
from wsmon_tui.tui.widgets.header import WsmonHeader
from wsmon_tui.tui.widgets.timeline import Timeline, clock


def db_counts(rec: Recorded) -> tuple[int, int]:
    conn = sqlite3.connect(rec.state / "wsmon.db")
    try:
        alerts = conn.execute("SELECT count(*) FROM alert_alerts WHERE session_id = ?", (rec.session_id,))
        rollbacks = conn.execute("SELECT count(*) FROM rollback_actions WHERE session_id = ?"
                                 " AND kind = 'rollback'", (rec.session_id,))
        return alerts.fetchone()[0], rollbacks.fetchone()[0]
    finally:
        conn.close()


def test_list_shows_the_session_with_how_it_ended_its_alerts_and_rollbacks(recorded_session, capsys):
    assert main(["replay", "--list", "--state-dir", str(recorded_session.state)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["SESSION", "DEPLOYMENT", "STARTED", "(UTC)", "ENDED", "(UTC)", "ENDED", "BY",
                              "ALERTS", "ROLLBACKS"]
    [row] = [line for line in out if line.startswith(recorded_session.session_id)]
    alerts, rollbacks = db_counts(recorded_session)
    assert alerts >= 2 and rollbacks == 1
    cells = row.split()
    assert cells[1] == "demo-chat" and cells[-3:] == ["user", str(alerts), str(rollbacks)]


def test_a_session_that_is_not_there_is_one_message_and_exit_2(recorded_session, capsys, tmp_path):
    assert main(["replay", "20990101-000000-beef", "--state-dir", str(recorded_session.state)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"wsmon-tui: no session '20990101-000000-beef' in {recorded_session.state}; "
        "see 'wsmon-tui replay --list'"]
    assert main(["replay", "--speed", "fast", "--state-dir", str(recorded_session.state)]) == 2
    assert "--speed" in capsys.readouterr().err
    assert main(["replay", "--state-dir", str(tmp_path / "empty")]) == 1
    assert "nothing to replay: no history in" in capsys.readouterr().err


def test_export_writes_the_sessions_report_without_the_views(recorded_session, capsys, tmp_path):
    state, sid = str(recorded_session.state), recorded_session.session_id
    out = tmp_path / "replayed.json"
    assert main(["replay", sid, "--state-dir", state, "--export", str(out)]) == 0
    data = json.loads(out.read_text())
    alerts, rollbacks = db_counts(recorded_session)
    assert data["session"]["id"] == sid and data["session"]["replay"] == f"wsmon-tui replay {sid}"
    assert len(data["alerts"]) == alerts and RULE in {a["rule"] for a in data["alerts"]}
    assert len(data["rollbacks"]) == rollbacks
    assert f"report written to {out}" in capsys.readouterr().err
    assert main(["replay", sid, "--state-dir", state, "--export", str(tmp_path / "r.txt")]) == 2
    assert capsys.readouterr().err.startswith("wsmon-tui: --export: cannot tell the report format")


def test_report_and_status_name_the_replay(recorded_session, capsys):
    state = str(recorded_session.state)
    command = f"wsmon-tui replay {recorded_session.session_id}"
    assert main(["report", "--state-dir", state, "--format", "json", "--hours", "1000"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["session"]["id"] == recorded_session.session_id and data["session"]["replay"] == command
    assert all(s["replay"] == f"wsmon-tui replay {s['id']}" for s in data["sessions"])
    assert main(["report", "--state-dir", state, "--hours", "1000"]) == 0
    assert f"**Replay:** {command}" in capsys.readouterr().out
    assert main(["report", "--state-dir", state, "--format", "html", "--hours", "1000"]) == 0
    assert command in capsys.readouterr().out
    main(["status", "--state-dir", state])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("WSMON ") and lines[1] == f"replay: {command}"
    main(["status", "--state-dir", state, "--format", "json"])
    assert json.loads(capsys.readouterr().out)["replay"] == command


def header(app: ReplayApp) -> str:
    return str(app.screen.query_one(WsmonHeader).content)


def timeline(app: ReplayApp) -> str:
    return str(app.screen.query_one(Timeline).render())


def notices(app: ReplayApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def until(pilot, condition, timeout: float = 15.0, what=None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"condition not reached in time: {what(pilot.app) if what else ''}"
        await pilot.pause(0.02)


async def test_the_app_says_replay_shows_the_timeline_and_moves_with_the_keys(recorded_session):
    engine = ReplayEngine(recorded_session.state, config=Config(), session=recorded_session.session_id,
                          speed=4, paused=True)
    rec = engine.recording
    app = ReplayApp(engine, refresh=0.05)
    frames = len(rec.times)
    async with app.run_test(size=(130, 40)) as pilot:
        await until(pilot, lambda: f"REPLAY {clock(rec.times[0])} ×4 · paused" in header(app))
        assert "updated" not in header(app) and "READ-ONLY" in header(app)
        assert f"frame 1/{frames}" in timeline(app) and f"{len(rec.events)} events" in timeline(app)
        event = next(e for e in rec.events if rec.frame_of(e.at) > 0)  # where `]` goes from frame 0
        first = rec.frame_of(event.at)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: f"frame {first + 1}/{frames}" in timeline(app), what=timeline)
        await until(pilot, lambda: f"REPLAY {clock(rec.times[first])}" in header(app), what=header)
        assert app.latest is not None and app.latest.taken_at == rec.times[first]
        assert any(event.label in n for n in notices(app))
        await pilot.press("right")
        await until(pilot, lambda: f"frame {first + 2}/{frames}" in timeline(app))
        await pilot.press("left", "left")
        await until(pilot, lambda: f"frame {first}/{frames}" in timeline(app))
        # the alerts view, as the alerts fired: the fired alert is in its table, acknowledged later
        fired = next(e for e in rec.events if e.kind == "alert_fired" and e.label.startswith(RULE))
        while app.latest is None or app.latest.taken_at < rec.times[rec.frame_of(fired.at)]:
            await pilot.press("right_square_bracket")
            await pilot.pause(0.05)
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, AlertsScreen))
        await until(pilot, lambda: timeline(app) != "" and "REPLAY" in header(app))
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        alert = next(a for a in app.latest.alerts if a.rule == RULE)
        table = screen.query_one("#alerts-table", DataTable)
        await until(pilot, lambda: alert.episode in [k.value for k in table.rows])
        # nothing can be acknowledged, silenced or rolled back; the app says why
        await pilot.press("a")
        await pilot.press("R")
        await until(pilot, lambda: any("Replay is read-only" in n for n in notices(app)))
        app.run_command("Acknowledged", engine.acknowledge(alert.id, "tester"))
        await until(pilot, lambda: any("replay is read-only" in n for n in notices(app)))
        # space plays on: the frame moves by itself
        here = engine.position().index
        await pilot.press("space")
        await until(pilot, lambda: engine.position().index > here, timeout=30)
        assert "paused" not in header(app)
        await pilot.press("q")
    assert engine.shown and engine.shown[0] == 0


@pytest.fixture(autouse=True)
def user(monkeypatch):
    monkeypatch.setenv("USER", "tester")
