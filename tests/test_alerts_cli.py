"""``wsmon-tui alerts ...`` through the real parser, on a real state database."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.test_alert_engine import Clock, World, err_rule, make_config
from wsmon_tui import cli, commands
from wsmon_tui.alerts.engine import AlertEngine
from wsmon_tui.commands import alerts_cmd


@pytest.fixture(autouse=True)
def wired(monkeypatch):
    """Route ``alerts`` straight to this module (not through the lazy import), as a known user."""
    monkeypatch.setitem(commands.HANDLERS, "alerts", alerts_cmd.run)
    monkeypatch.setenv("USER", "oncall")


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def firing(state_dir: Path):
    """A monitor's engine with two firing alerts (one with a hostile target name) in the state dir."""
    clock = Clock(time.time())
    eng = AlertEngine(make_config(err_rule(cooldown=60.0)), state_dir / "wsmon.db", clock=clock)
    world = World(clock, targets=("edge-1", "evil\x1b[2J\x07name"))
    world.run(eng, error_rate=0.5)
    try:
        yield eng, world, clock
    finally:
        eng.close()


def alerts(args: list[str], state_dir: Path, capsys) -> tuple[int, str, str]:
    code = cli.main(["alerts", *args, "--state-dir", str(state_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def listed(state_dir: Path, capsys, *extra: str) -> list[dict]:
    code, out, _ = alerts(["list", "--format", "json", *extra], state_dir, capsys)
    assert code == 0
    return json.loads(out)


def test_list_json_and_text(firing, state_dir, capsys):
    items = listed(state_dir, capsys)
    assert sorted(a["target"] for a in items) == ["edge-1", "evil\x1b[2J\x07name"]
    for a in items:
        assert {"id", "rule", "target", "severity", "state", "started_at", "resolved_at", "acknowledged_by",
                "value", "threshold", "summary", "acknowledged_at", "escalated"} <= set(a)
        assert a["state"] == "firing" and a["acknowledged_by"] is None and a["value"] == 0.5
    code, out, _ = alerts(["list"], state_dir, capsys)
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "evilname" in out and "Errors" in out


def test_list_without_history_creates_nothing(state_dir, capsys):
    code, out, _ = alerts(["list"], state_dir, capsys)
    assert code == 0 and out.strip() == "no alerts"
    assert not (state_dir / "wsmon.db").exists()
    assert listed(state_dir, capsys) == []


def test_ack_by_prefix_then_unack(firing, state_dir, capsys):
    eng, world, clock = firing
    alert_id = next(a["id"] for a in listed(state_dir, capsys) if a["target"] == "edge-1")
    code, out, _ = alerts(["ack", alert_id[:7], "--comment", "on it"], state_dir, capsys)
    assert code == 0 and f"acknowledged {alert_id}" in out and "oncall" in out
    acked = listed(state_dir, capsys, "--state", "acknowledged")
    assert [(a["id"], a["acknowledged_by"]) for a in acked] == [(alert_id, "oncall")]
    clock.advance(10)
    _views, notes = world.run(eng, error_rate=0.5)  # the running monitor picks it up
    assert [(n.kind, n.alert.acknowledged_by) for n in notes] == [("acknowledged", "oncall")]
    code, out, _ = alerts(["unack", alert_id], state_dir, capsys)
    assert code == 0 and "taken back" in out
    assert listed(state_dir, capsys, "--state", "acknowledged") == []
    code, _, err = alerts(["unack", alert_id], state_dir, capsys)
    assert code == 1 and "not acknowledged" in err


def test_long_form_acknowledge(firing, state_dir, capsys):
    alert_id = listed(state_dir, capsys)[0]["id"]
    code, _, _ = alerts(["acknowledge", "--alert-id", alert_id, "--user", "zoe"], state_dir, capsys)
    assert code == 0
    assert [a["acknowledged_by"] for a in listed(state_dir, capsys) if a["id"] == alert_id] == ["zoe"]


def test_unknown_id_is_a_clear_error(firing, state_dir, capsys):
    code, out, err = alerts(["ack", "ffffffffffff"], state_dir, capsys)
    assert code == 1 and out == "" and "no alert with id 'ffffffffffff'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("action", ["ack", "unack"])
def test_an_empty_alert_id_is_a_usage_error(firing, state_dir, capsys, action):
    code, out, err = alerts([action, " "], state_dir, capsys)
    assert code == 2 and out == "" and "alert id: required" in err and "alerts list" in err
    assert "Traceback" not in err


def test_ack_without_any_history(state_dir, capsys):
    code, _, err = alerts(["ack", "abc"], state_dir, capsys)
    assert code == 1 and "no alerts recorded" in err
    assert not (state_dir / "wsmon.db").exists()


def test_silence_reaches_the_running_engine(firing, state_dir, capsys):
    eng, world, clock = firing
    code, out, _ = alerts(["silence", "--rule", "Errors", "--target", "edge-1", "--duration", "2",
                           "--comment", "rolling restart"], state_dir, capsys)
    assert code == 0 and "rule=Errors target=edge-1" in out and "(2h)" in out
    code, out, _ = alerts(["silences"], state_dir, capsys)
    assert code == 0 and "rolling restart" in out and "by oncall" in out
    (s,) = eng.silences()
    assert s["expires_at"] - s["created_at"] == pytest.approx(7200)
    clock.advance(10)
    views, _ = world.run(eng, error_rate=0.5)
    assert {v.target: v.silenced for v in views} == {"edge-1": True, "evil\x1b[2J\x07name": False}
    assert [a["target"] for a in listed(state_dir, capsys, "--state", "silenced")] == ["edge-1"]


@pytest.mark.parametrize("duration", ["soon", "-1h", "0"])
def test_silence_bad_duration_is_a_usage_error(state_dir, capsys, duration):
    code, _, err = alerts(["silence", "--rule", "X", f"--duration={duration}", "--comment", "c"],
                          state_dir, capsys)
    assert code == 2 and "--duration" in err


def test_stats_and_resolved(firing, state_dir, capsys):
    eng, world, clock = firing
    alert_id = listed(state_dir, capsys)[0]["id"]
    clock.advance(30)
    assert alerts(["ack", alert_id], state_dir, capsys)[0] == 0
    clock.advance(30)
    world.run(eng, error_rate=0.0)
    assert len(listed(state_dir, capsys, "--state", "resolved")) == 2
    assert listed(state_dir, capsys) == []
    code, out, _ = alerts(["stats"], state_dir, capsys)
    assert code == 0
    assert "alerts: 2" in out and "by state: resolved 2" in out and "by rule: Errors 2" in out
    assert "MTTR (time to resolve): 1m" in out
    assert "MTTA (time to acknowledge): " in out and "MTTA (time to acknowledge): -" not in out
