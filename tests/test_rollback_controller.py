"""The rollback controller's policy, verification, throttle, audit and rollout tracking.

Snapshots are built by hand (the demo tests drive it with a real Monitor); the steps hit a
real local HTTP server, the alerts go through the real AlertEngine and SQLite.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.rollback_support import FakeClock, Recorder, firing, recording_server, snap
from wsmon_tui.alerts.engine import AlertEngine
from wsmon_tui.config import (
    Config,
    DeploymentConfig,
    FlagsConfig,
    MonitorConfig,
    RollbackConfig,
    StepConfig,
    ThrottleConfig,
)
from wsmon_tui.errors import ReadOnlyError
from wsmon_tui.rollback.audit import report_rollbacks, report_rollout
from wsmon_tui.rollback.controller import RollbackController, RollbackRefused
from wsmon_tui.rollback.flags import FileFlags, HttpFlags


@pytest.fixture
def rec() -> Iterator[Recorder]:
    with recording_server() as server:
        yield server


def _config(rec: Recorder, **rollback) -> Config:
    base = {"auto": True, "on": ["HighErrorRate"], "max_auto": 1, "cooldown": 100.0, "verify_window": 30.0,
            "verify_successes": 3,
            "steps": [StepConfig(type="http", name="undo", method="PUT",
                                 url=rec.url + "/flags/websocket_enabled", json={"enabled": False})]}
    base.update(rollback)
    return Config(monitor=MonitorConfig(level="debug", interval=1.0),
                  deployment=DeploymentConfig(name="chat", version="2.0", previous_version="1.9"),
                  rollback=RollbackConfig(**base))


class Rig:
    def __init__(self, config: Config, db: Path, *, flags=None, read_only: bool = False) -> None:
        self.clock = FakeClock()
        self.client = httpx.AsyncClient()
        self.alerts = AlertEngine(config, db, clock=self.clock)
        self.events: list[tuple[str, dict]] = []
        self.ctl = RollbackController(config, db, flags=flags, client=self.client, alert_engine=self.alerts,
                                      clock=self.clock, read_only=read_only, session_id="s1",
                                      log=lambda event, **data: self.events.append((event, data)))
        self.notes: list = []

    async def tick(self, *, status: str = "healthy", health: float | None = 95.0,
                   rules: set[str] = frozenset(), advance: float = 1.0, overall: dict | None = None):
        self.clock.advance(advance)
        alerts = tuple(firing(r, 0.4) for r in rules)
        snapshot = snap(self.clock(), status=status, health=health, alerts=alerts, overall=overall)
        out, notes = await self.ctl.on_snapshot(snapshot, set(rules))
        await self.ctl.wait_steps(10)
        self.notes.extend(notes)
        return out

    def alert_kinds(self) -> list[tuple[str, str]]:
        return [(n.alert.rule, n.kind) for n in self.notes]

    async def close(self) -> None:
        await self.ctl.aclose()
        self.alerts.close()
        await self.client.aclose()


@pytest.fixture
async def rigs() -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        await rig.close()


async def test_auto_rollback_fires_once_and_fails_verification(rec, rigs, tmp_path) -> None:
    db = tmp_path / "wsmon.db"
    rig = Rig(_config(rec), db)
    rigs.append(rig)
    first = await rig.tick(status="critical", health=20, rules={"HighErrorRate"})
    assert first.rollback is not None and first.rollback.state == "running"
    assert rig.ctl.view().state == "verifying"
    assert rec.paths() == ["/flags/websocket_enabled"]
    for _ in range(40):  # past verify_window (30 s), past cooldown (100 s) later, still firing
        await rig.tick(status="critical", health=20, rules={"HighErrorRate"}, advance=3.0)
    assert rec.paths() == ["/flags/websocket_enabled"], "max_auto = 1: one automatic rollback per session"
    view = rig.ctl.view()
    assert view.state == "failed_verification" and view.auto_count == 1
    assert ("RollbackFailed", "firing") in rig.alert_kinds()
    assert ("RollbackInProgress", "firing") in rig.alert_kinds()
    assert any(a.rule == "RollbackFailed" and a.severity == "critical" for a in rig.alerts.alerts("firing"))
    [row] = report_rollbacks(db)
    assert row["kind"] == "rollback" and row["automatic"] is True and row["user"].startswith("wsmon-tui")
    assert row["trigger"] == "HighErrorRate" and row["trigger_value"] == 0.4
    assert row["outcome"] == "failed_verification" and row["finished_at"].endswith("+00:00")
    [step] = row["steps"]
    assert step == {"type": "http", "name": "undo", "ok": True, "duration_ms": step["duration_ms"],
                    "detail": "HTTP 200"}
    assert [e for e, _ in rig.events if e.startswith("rollback_")][:3] == [
        "rollback_started", "rollback_step", "rollback_verifying"]
    assert any(e == "rollback_suppressed" for e, _ in rig.events)


async def test_verification_needs_consecutive_healthy_evaluations(rec, rigs, tmp_path) -> None:
    db = tmp_path / "wsmon.db"
    rig = Rig(_config(rec), db)
    rigs.append(rig)
    await rig.tick(status="critical", health=20, rules={"HighErrorRate"})
    await rig.tick()
    await rig.tick()
    await rig.tick(status="degraded", health=70)  # breaks the streak
    await rig.tick()
    await rig.tick()
    assert rig.ctl.view().state == "verifying"
    out = await rig.tick()
    assert out.rollback.state == "verified"
    assert report_rollbacks(db)[0]["outcome"] == "verified"
    assert ("RollbackInProgress", "resolved") in rig.alert_kinds()
    assert not any(rule == "RollbackFailed" for rule, _ in rig.alert_kinds())


async def test_the_view_says_what_set_it_off_the_step_in_flight_and_since_when(rec, rigs, tmp_path) -> None:
    """What a face's banner reads: the cause (rule, target, value), the planned steps (the one in
    flight is ``planned[len(steps)]``), when the state began, verification progress, the throttle."""
    config = _config(rec)
    config.throttle = ThrottleConfig(on=["QueueBacklog"], cooldown=60.0, steps=[
        StepConfig(type="http", name="slow-down", method="PUT", url=rec.url + "/throttle")])
    rig = Rig(config, tmp_path / "wsmon.db")
    rigs.append(rig)
    first = await rig.tick(status="critical", health=20, rules={"HighErrorRate"})
    rb = first.rollback
    assert rb is not None and rb.kind == "rollback" and rb.state == "running" and rb.automatic
    assert (rb.trigger, rb.trigger_target, rb.trigger_value) == ("HighErrorRate", "overall", 0.4)
    assert rb.planned == ("undo",) and rb.steps == ()  # "undo" is in flight
    assert rb.state_since == rb.started_at == rig.clock()
    assert rb.throttle is None
    steps_done = rig.clock()
    view = rig.ctl.view()
    assert view.state == "verifying" and view.state_since == steps_done and view.verify_needed == 3
    assert [s["name"] for s in view.steps] == ["undo"] and view.steps[0]["ok"] is True
    await rig.tick()
    assert rig.ctl.view().verify_streak == 1
    await rig.tick(rules={"QueueBacklog"})
    out = await rig.tick(rules={"QueueBacklog"})
    assert out.rollback.state == "verified" and out.rollback.state_since == out.rollback.finished_at
    throttle = rig.ctl.view().throttle
    assert throttle is not None and throttle.kind == "throttle" and throttle.state == "done"
    assert throttle.planned == ("slow-down",) and throttle.trigger == "QueueBacklog"
    assert throttle.verify_needed == 0 and throttle.throttle is None


async def test_health_below_must_hold_for(rec, rigs, tmp_path) -> None:
    rig = Rig(_config(rec, on=[], health_below=50.0, for_=10.0), tmp_path / "wsmon.db")
    rigs.append(rig)
    await rig.tick(status="critical", health=40)
    await rig.tick(status="critical", health=40, advance=5)
    await rig.tick(status="healthy", health=90, advance=1)  # recovered: the clock restarts
    await rig.tick(status="critical", health=40, advance=1)
    await rig.tick(status="critical", health=40, advance=9)
    assert rec.paths() == []
    await rig.tick(status="critical", health=40, advance=1)
    assert rec.paths() == ["/flags/websocket_enabled"]
    row = report_rollbacks(tmp_path / "wsmon.db")[0]
    assert row["trigger"] == "health_below" and row["trigger_value"] == 40


async def test_ask_recommends_and_runs_nothing(rec, rigs, tmp_path) -> None:
    rig = Rig(_config(rec, auto="ask"), tmp_path / "wsmon.db")
    rigs.append(rig)
    out = await rig.tick(status="critical", health=10, rules={"HighErrorRate"})
    assert out.rollback.recommended and out.rollback.state == "idle"
    await rig.tick(status="critical", health=10, rules={"HighErrorRate"})
    assert rig.alert_kinds() == [("RollbackRecommended", "firing")]
    assert rec.paths() == []
    assert report_rollbacks(tmp_path / "wsmon.db") == []
    # the human says yes: the recommendation is consumed by the manual rollback
    result = await rig.ctl.rollback(reason="on-call agreed", user="alice")
    assert result["state"] == "verifying" and result["user"] == "alice" and not result["automatic"]
    assert rec.paths() == ["/flags/websocket_enabled"]
    assert not rig.ctl.view().recommended
    await rig.tick(status="critical", health=10, rules={"HighErrorRate"})  # hands over the notifications
    assert ("RollbackRecommended", "resolved") in rig.alert_kinds()
    assert ("RollbackInProgress", "firing") in rig.alert_kinds()


async def test_disable_auto_rollback_flag_turns_auto_off(rec, rigs, tmp_path) -> None:
    from wsmon_tui.runtime import load_config_for

    cfg = tmp_path / "wsmon.toml"
    cfg.write_text(f"""
[deployment]
name = "chat"
[rollback]
auto = true
on = ["HighErrorRate"]
[[rollback.steps]]
type = "http"
method = "PUT"
url = "{rec.url}/flags/websocket_enabled"
json = {{ enabled = false }}
""")
    args = argparse.Namespace(config=str(cfg), disable_auto_rollback=True, level=None, state_dir=None)
    config = load_config_for(args)
    assert config.rollback.auto is False
    rig = Rig(config, tmp_path / "wsmon.db")
    rigs.append(rig)
    for _ in range(5):
        await rig.tick(status="critical", health=5, rules={"HighErrorRate"}, advance=200)
    assert rec.paths() == [] and rig.ctl.view().state == "idle" and not rig.ctl.view().recommended
    args.disable_auto_rollback = False
    assert load_config_for(args).rollback.auto is True


async def test_cooldown_between_automatic_rollbacks(rec, rigs, tmp_path) -> None:
    rig = Rig(_config(rec, max_auto=2, cooldown=100.0, verify_window=5.0), tmp_path / "wsmon.db")
    rigs.append(rig)
    await rig.tick(status="critical", health=20, rules={"HighErrorRate"})
    for _ in range(10):
        await rig.tick(status="critical", health=20, rules={"HighErrorRate"}, advance=5)
    assert rig.ctl.view().state == "failed_verification"
    assert len(rec.paths()) == 1  # 51 s later: still cooling down
    await rig.tick(status="critical", health=20, rules={"HighErrorRate"}, advance=50)
    assert len(rec.paths()) == 2 and rig.ctl.view().auto_count == 2
    with pytest.raises(RollbackRefused, match="verifying"):
        await rig.ctl.rollback(reason="again", user="bob")


async def test_dry_run_records_and_runs_nothing(rec, rigs, tmp_path) -> None:
    rig = Rig(_config(rec, dry_run=True), tmp_path / "wsmon.db")
    rigs.append(rig)
    await rig.tick(status="critical", health=20, rules={"HighErrorRate"})
    assert rec.paths() == []
    [row] = report_rollbacks(tmp_path / "wsmon.db")
    assert row["outcome"] == "dry_run" and row["steps"][0]["ok"] is None
    assert rig.alert_kinds() == []


async def test_read_only_forbids_rollback_and_throttle(rec, rigs, tmp_path) -> None:
    config = _config(rec)
    config.throttle = ThrottleConfig(on=["QueueBacklog"], cooldown=0.0, steps=list(config.rollback.steps))
    rig = Rig(config, tmp_path / "wsmon.db", read_only=True)
    rigs.append(rig)
    with pytest.raises(ReadOnlyError):
        await rig.ctl.rollback(reason="x", user="eve")
    for _ in range(3):
        await rig.tick(status="critical", health=0, rules={"HighErrorRate", "QueueBacklog"}, advance=500)
    assert rec.paths() == []
    assert report_rollbacks(tmp_path / "wsmon.db") == []


async def test_throttle_runs_steps_with_cooldown_and_is_audited(rec, rigs, tmp_path) -> None:
    flags = FileFlags(tmp_path / "flags.json")
    flags.set_sync("websocket_enabled", enabled=True, rollout=100)
    config = _config(rec, auto=False)
    config.throttle = ThrottleConfig(on=["QueueBacklog"], cooldown=60.0, steps=[
        StepConfig(type="flag", name="websocket_enabled", rollout=50)])
    db = tmp_path / "wsmon.db"
    rig = Rig(config, db, flags=flags)
    rigs.append(rig)
    await rig.tick(rules={"QueueBacklog"})
    assert (await flags.list())["websocket_enabled"]["rollout"] == 50
    flags.set_sync("websocket_enabled", rollout=100)
    await rig.tick(rules={"QueueBacklog"}, advance=30)  # cooling down
    assert (await flags.list())["websocket_enabled"]["rollout"] == 100
    await rig.tick(rules={"QueueBacklog"}, advance=31)
    assert (await flags.list())["websocket_enabled"]["rollout"] == 50
    await rig.tick(rules=set())
    rows = report_rollbacks(db)
    assert [(r["kind"], r["outcome"], r["trigger"], r["automatic"]) for r in rows] == [
        ("throttle", "done", "QueueBacklog", True)] * 2
    assert rows[0]["steps"][0]["type"] == "flag" and rows[0]["steps"][0]["ok"] is True
    assert ("Throttled", "firing") in rig.alert_kinds() and ("Throttled", "resolved") in rig.alert_kinds()
    assert rec.paths() == [] and rig.ctl.view().state == "idle"


async def test_failed_step_means_failed_rollback_and_alert(rec, rigs, tmp_path) -> None:
    rec.statuses["/flags/websocket_enabled"] = 500
    rig = Rig(_config(rec), tmp_path / "wsmon.db")
    rigs.append(rig)
    await rig.tick(status="critical", health=20, rules={"HighErrorRate"})
    await rig.tick(status="critical", health=20, rules={"HighErrorRate"})
    assert rig.ctl.view().state == "failed"
    assert ("RollbackFailed", "firing") in rig.alert_kinds()
    assert report_rollbacks(tmp_path / "wsmon.db")[0]["outcome"] == "failed"


async def test_rollout_is_read_each_interval_not_each_tick(rec, rigs, tmp_path) -> None:
    rec.bodies["/flags"] = {"websocket_enabled": {"enabled": True, "rollout": 40}}
    config = _config(rec, auto=False)
    config.flags = FlagsConfig(provider="http", url=rec.url + "/flags")
    db = tmp_path / "wsmon.db"
    rig = Rig(config, db)
    rigs.append(rig)
    rig.ctl.flags = HttpFlags(rec.url + "/flags", {}, rig.client)
    await rig.tick(overall={"adoption": 0.5}, advance=0.25)
    await rig.ctl._rollout_task  # let the read finish
    out = await rig.tick(overall={"adoption": 0.5}, advance=0.25)
    assert out.deployment.rollout_percent == 40.0
    await rig.tick(overall={"adoption": 0.5}, advance=0.25)
    assert rec.paths("GET") == ["/flags"]
    rec.bodies["/flags"] = {"websocket_enabled": {"enabled": False, "rollout": 40}}
    await rig.tick(overall={"adoption": 0.2}, advance=0.8)
    await rig.ctl._rollout_task
    out = await rig.tick(overall={"adoption": 0.2}, advance=0.1)
    assert rec.paths("GET") == ["/flags", "/flags"]
    assert out.deployment.rollout_percent == 0.0
    points = report_rollout(db)
    assert [(p["rollout_percent"], p["adoption"]) for p in points] == [(40.0, 0.5), (0.0, 0.2)]
    assert json.dumps(points)  # JSON-able for the report
