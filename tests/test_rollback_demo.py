"""End to end in-process: a real Monitor probing the real DemoServer, the controller as its hook.

The Monitor's evaluation window is shortened to 2 s (its level minimum is 60 s) so that
recovery shows within a few seconds: the window must forget the fault's failed probes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import httpx

from wsmon_tui.alerts.engine import AlertEngine
from wsmon_tui.config import Config, ResourcesConfig, RollbackConfig, StepConfig, TargetConfig
from wsmon_tui.demo.config import demo_config
from wsmon_tui.demo.server import DemoServer
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.model import Snapshot
from wsmon_tui.rollback.audit import report_rollbacks, report_rollout
from wsmon_tui.rollback.controller import RollbackController
from wsmon_tui.rollback.flags import make_provider
from wsmon_tui.runtime import open_store


def _config(base_url: str, state: Path, *, verify_window: float) -> Config:
    config = demo_config(base_url, str(state))
    config.monitor = dataclasses.replace(config.monitor, interval=0.5)
    config.targets = [dataclasses.replace(config.targets[0], timeout=3.0)]  # chat-ws, with metrics
    config.resources = ResourcesConfig(host=False)
    config.rollback = RollbackConfig(
        auto=True, health_below=60.0, for_=0.0, max_auto=1, cooldown=600.0, verify_window=verify_window,
        verify_successes=3,
        steps=[StepConfig(type="http", name="disable websocket_enabled", method="PUT",
                          url=base_url + "/flags/websocket_enabled", json={"enabled": False},
                          expect_status=[200], timeout=5.0)])
    return config


async def _watch(config: Config, state: Path,
                 deadline: float) -> tuple[RollbackController, list[Snapshot], list]:
    store, error = open_store(state)
    assert store is not None, error
    db = state / "wsmon.db"
    alerts = AlertEngine(config, db)
    monitor = Monitor(config, store, state_dir=state, stages=False)  # this test wires its own controller
    monitor.window = 2.0
    seen: list[Snapshot] = []
    notes: list = []
    try:
        async with httpx.AsyncClient() as client:
            ctl = RollbackController(config, db, flags=make_provider(config.flags, client), client=client,
                                     alert_engine=alerts, log=monitor.log_event)

            async def hook(snapshot: Snapshot) -> Snapshot:
                ctl.session_id = snapshot.session_id
                snapshot, out = await ctl.on_snapshot(snapshot, set())
                notes.extend(out)
                seen.append(snapshot)
                if ctl.view().state in ("verified", "failed_verification", "failed"):
                    monitor.request_stop("user")
                return snapshot

            monitor.hooks.append(hook)
            try:
                await asyncio.wait_for(monitor.run(deadline), deadline + 15)
            finally:
                await ctl.aclose()
    finally:
        alerts.close()
        store.close()
    return ctl, seen, notes


async def test_demo_fault_triggers_one_rollback_through_flags_and_it_verifies(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with DemoServer("127.0.0.1", 0, fault_after=0.5) as demo:
        config = _config(demo.url_base, state, verify_window=20.0)
        ctl, seen, notes = await _watch(config, state, 40.0)
        assert not demo.flags.websocket_enabled, "the rollback step turned the flag off"
    view = ctl.view()
    assert view.state == "verified", [(s.status, s.health_score) for s in seen][-10:]
    assert view.auto_count == 1
    statuses = [s.status for s in seen]
    assert "critical" in statuses or any((s.health_score or 100) < 60 for s in seen)
    assert statuses[-3:] == ["healthy"] * 3
    [row] = report_rollbacks(state / "wsmon.db")
    assert row["automatic"] and row["outcome"] == "verified" and row["trigger"] == "health_below"
    assert row["steps"][0]["ok"] is True and row["steps"][0]["detail"] == "HTTP 200"
    assert seen[-1].rollback is not None and seen[-1].rollback.state == "verified"
    # rollout tracking through the same /flags: 0 % once the flag is off
    rollout = [p["rollout_percent"] for p in report_rollout(state / "wsmon.db")]
    assert rollout and rollout[-1] == 0.0
    assert seen[-1].deployment.rollout_percent == 0.0
    assert [(n.alert.rule, n.kind) for n in notes if n.alert.rule.startswith("Rollback")] == [
        ("RollbackInProgress", "firing"), ("RollbackInProgress", "resolved")]


async def test_target_that_stays_down_fails_verification_and_alerts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with DemoServer("127.0.0.1", 0, fault_after=None) as demo:
        config = _config(demo.url_base, state, verify_window=3.0)
        # the probed endpoint is dead (nothing listens): the rollback step succeeds, health never returns
        config.targets = [TargetConfig(name="dead-ws", url="ws://127.0.0.1:9/ws", timeout=1.0)]
        ctl, _seen, notes = await _watch(config, state, 20.0)
        assert not demo.flags.websocket_enabled
    assert ctl.view().state == "failed_verification"
    assert ("RollbackFailed", "firing") in [(n.alert.rule, n.kind) for n in notes]
    failed = next(n for n in notes if n.alert.rule == "RollbackFailed")
    assert failed.alert.severity == "critical"
    [row] = report_rollbacks(state / "wsmon.db")
    assert row["outcome"] == "failed_verification" and "not healthy" in row["detail"]


async def test_the_monitors_own_stages_roll_back_the_demo_and_verify(tmp_path: Path) -> None:
    """The wiring every face uses: Monitor -> Stages -> AlertEngine + RollbackController + Outbox."""
    state = tmp_path / "state"
    async with DemoServer("127.0.0.1", 0, fault_after=0.5) as demo:
        config = _config(demo.url_base, state, verify_window=20.0)
        store, error = open_store(state)
        assert store is not None, error
        monitor = Monitor(config, store, state_dir=state)
        monitor.window = 2.0
        seen: list[Snapshot] = []

        def watch(snapshot: Snapshot) -> None:
            seen.append(snapshot)
            if snapshot.rollback is not None and snapshot.rollback.state in (
                    "verified", "failed_verification", "failed"):
                monitor.request_stop("user")

        monitor.subscribe(watch)
        try:
            await asyncio.wait_for(monitor.run(40.0), 55.0)
        finally:
            store.close()
        assert not demo.flags.websocket_enabled
    assert seen[-1].rollback is not None and seen[-1].rollback.state == "verified"
    assert seen[-1].deployment.rollout_percent == 0.0
    [row] = report_rollbacks(state / "wsmon.db")
    assert row["automatic"] and row["outcome"] == "verified" and row["session_id"] == seen[-1].session_id
    sent = (state / "demo-alerts.jsonl").read_text()
    assert "RollbackInProgress" in sent
