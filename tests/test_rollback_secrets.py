"""A command step's argv never shows a secret: the rollback dialog (a pilot test), the CLI's
step list, and ``config check`` (the real CLI) warns about a ``${...}`` secret in argv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_tui_app import SIZE, feed, make_app, until
from tests.tui_fixtures import FakeMonitor, make_config
from wsmon_tui.config import Config, StepConfig
from wsmon_tui.redact import redact_argv
from wsmon_tui.rollback.steps import describe_step
from wsmon_tui.tui.screens.confirm_rollback import ConfirmRollbackScreen

SECRET = "s3cr3t-from-env-7f1c9a"


def secret_config() -> Config:
    config = make_config()
    argv = ["deploy", "undo", f"--token={SECRET}", "--password", "hunter2-hunter2",
            f"https://ops:{SECRET}@deploy.example/x", f"--note=id {SECRET}"]
    config.rollback.steps.append(StepConfig(type="command", name="undo", argv=argv))
    config.secrets = {SECRET}
    return config


def test_redact_argv() -> None:
    shown = redact_argv(["kubectl", "--token", "abc123", "--api-key=k", "--context", "prod", f"x{SECRET}y"],
                        {SECRET})
    assert shown == ["kubectl", "--token", "***", "--api-key=***", "--context", "prod", "x***y"]


def test_cli_step_list_is_redacted() -> None:
    config = secret_config()
    text = describe_step(config.rollback.steps[-1], config.secrets)
    assert SECRET not in text and "hunter2" not in text
    assert "--token=***" in text and "deploy" in text


async def test_rollback_dialog_shows_argv_redacted() -> None:
    app, mon = make_app(FakeMonitor(secret_config()))
    async with app.run_test(size=SIZE) as pilot:
        await feed(pilot, mon)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmRollbackScreen))
        summary = str(app.screen.query_one("#rollback-summary").content)
        assert "undo: run deploy undo --token=*** --password ***" in summary, summary
        assert SECRET not in summary and "hunter2" not in summary
        await pilot.press("escape")


def test_config_check_warns_about_a_secret_in_argv(tmp_path: Path) -> None:
    path = tmp_path / "wsmon.toml"
    path.write_text("""
[[targets]]
name = "a"
url = "ws://127.0.0.1:9/ws"
[[rollback.steps]]
type = "command"
argv = ["deploy", "rollback", "--token=${DEPLOY_TOKEN}", "--literal=$${NOT_A_SECRET}"]
[[rollback.steps]]
type = "command"
name = "safe"
argv = ["deploy", "rollback"]
env = { DEPLOY_TOKEN = "${DEPLOY_TOKEN}" }
""")
    env = {**os.environ, "DEPLOY_TOKEN": SECRET}
    done = subprocess.run([sys.executable, "-m", "wsmon_tui", "config", "check", str(path), "--state-dir",
                           str(tmp_path / "state")], capture_output=True, text=True, env=env, timeout=60)
    warns = [line for line in done.stdout.splitlines() if line.startswith("WARN") and "argv" in line]
    assert len(warns) == 1, done.stdout
    assert "rollback.steps[0].argv[2]" in warns[0] and "`ps`" in warns[0] and "`env`" in warns[0]
    assert SECRET not in done.stdout + done.stderr
    assert "PASS  no secret written inline" in done.stdout
