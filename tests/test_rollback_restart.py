""""Last rollback" after a restart: the confirmation dialog of a fresh engine on the same state
dir says when the earlier engine's rollback ran and how it ended, read from the audit in
SQLite (not from the memory of the process that ran it)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from tests.hostile import echo_server
from tests.rollback_support import recording_server
from tests.test_tui_app import SIZE, until
from wsmon_tui.config import Config, MonitorConfig, RollbackConfig, StepConfig, TargetConfig
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.host import EngineHost
from wsmon_tui.runtime import open_store
from wsmon_tui.tui.app import WsmonApp
from wsmon_tui.tui.screens.confirm_rollback import ConfirmRollbackScreen


def config(ws_url: str, step_url: str) -> Config:
    cfg = Config(monitor=MonitorConfig(level="debug", interval=0.5),
                 targets=[TargetConfig(name="chat", url=ws_url, timeout=1.0)])
    cfg.rollback = RollbackConfig(auto=False, verify_window=5.0, steps=[
        StepConfig(type="http", name="redeploy", method="POST", url=step_url, expect_status=[200],
                   timeout=5.0)])
    cfg.deployment = dataclasses.replace(cfg.deployment, name="chat-svc", version="2.0",
                                         previous_version="1.9")
    return cfg


async def first_engine_rolls_back(cfg: Config, state: Path) -> dict:
    """One engine's manual rollback, its step answered 500: it ends ``failed``."""
    store, error = open_store(state)
    assert store is not None, error
    monitor = Monitor(cfg, store, state_dir=state)
    run = asyncio.ensure_future(monitor.run(30.0))
    try:
        for _ in range(500):
            if monitor.session_id and monitor.rollback_controller is not None:
                break
            await asyncio.sleep(0.01)
        result = await monitor.rollback(reason="bad release", user="alice")
    finally:
        monitor.request_stop("user")
        await asyncio.wait_for(run, 15)
        store.close()
    return result


async def test_a_fresh_engine_says_when_the_last_rollback_ran_and_how_it_ended(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with recording_server() as rec:
        rec.statuses["/redeploy"] = 500
        async with echo_server() as ws:
            cfg = config(ws, rec.url + "/redeploy")
            result = await first_engine_rolls_back(cfg, state)
            assert result["outcome"] == "failed", result
            assert rec.paths("POST") == ["/redeploy"]

            store, error = open_store(state)  # a new process's engine: nothing in memory
            assert store is not None, error
            host = EngineHost(lambda: Monitor(cfg, store, state_dir=state), config=cfg, state_dir=state,
                              store=store)
            app = WsmonApp(host, user="bob", refresh=0.1)
            try:
                async with app.run_test(size=SIZE) as pilot:
                    await until(pilot, lambda: app.latest is not None and app.latest.rollback is not None,
                                timeout=30)
                    await pilot.press("R")
                    await until(pilot, lambda: isinstance(app.screen, ConfirmRollbackScreen))
                    summary = str(app.screen.query_one("#rollback-summary").content)
                    await pilot.press("escape")
                    host.request_stop("user")
            finally:
                store.close()
    assert rec.paths("POST") == ["/redeploy"]  # the dialog ran nothing
    assert f"Last rollback: #{result['id']} failed: a step failed" in summary
    assert "started " in summary and " ago" in summary and "took " in summary
    assert "(manual)" in summary
