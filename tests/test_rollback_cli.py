"""``wsmon-tui flags`` and ``wsmon-tui rollback``: in-process and as real subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.rollback_support import recording_server
from wsmon_tui.cli import main
from wsmon_tui.demo.server import DemoServer
from wsmon_tui.rollback.audit import report_rollbacks

REPO = Path(__file__).resolve().parents[1]


def _write_flags_config(tmp_path: Path, flags: Path) -> Path:
    cfg = tmp_path / "wsmon.toml"
    cfg.write_text(f'[flags]\nprovider = "file"\npath = "{flags}"\n')
    return cfg


def test_flags_cli_set_rollout_list_and_audit(tmp_path: Path, capsys) -> None:
    flags = tmp_path / "flags.json"
    cfg = _write_flags_config(tmp_path, flags)
    state = tmp_path / "state"
    common = ["--config", str(cfg), "--state-dir", str(state)]
    assert main(["flags", *common, "set", "websocket_enabled", "true"]) == 0
    assert main(["flags", *common, "rollout", "websocket_enabled", "25"]) == 0
    assert json.loads(flags.read_text()) == {"websocket_enabled": {"enabled": True, "rollout": 25}}
    capsys.readouterr()
    assert main(["flags", *common, "list"]) == 0
    out = capsys.readouterr().out
    assert "websocket_enabled" in out and "on" in out and "25%" in out
    with sqlite3.connect(state / "wsmon.db") as conn:
        rows = conn.execute("SELECT flag, before, after FROM rollback_flag_changes ORDER BY id").fetchall()
    assert [(f, json.loads(b), json.loads(a)) for f, b, a in rows] == [
        ("websocket_enabled", None, {"enabled": True, "rollout": 100}),
        ("websocket_enabled", {"enabled": True, "rollout": 100}, {"enabled": True, "rollout": 25}),
    ]


@pytest.mark.parametrize("argv", [
    ["rollout", "websocket_enabled", "101"], ["rollout", "websocket_enabled", "-1"],
    ["rollout", "websocket_enabled", "abc"], ["rollout", "websocket_enabled", "nan"],
    ["rollout", "websocket_enabled", "inf"], ["set", "websocket_enabled", "maybe"],
])
def test_flags_cli_bad_values_exit_2_and_change_nothing(tmp_path: Path, capsys, argv) -> None:
    flags = tmp_path / "flags.json"
    flags.write_text('{"websocket_enabled": {"enabled": true, "rollout": 40}}')
    flags.chmod(0o600)
    before = flags.read_bytes()
    cfg = _write_flags_config(tmp_path, flags)
    assert main(["flags", "--config", str(cfg), *argv]) == 2
    assert flags.read_bytes() == before
    assert "expected" in capsys.readouterr().err


def test_flags_cli_without_provider_is_a_config_error(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "wsmon.toml"
    cfg.write_text('[deployment]\nname = "chat"\n')
    assert main(["flags", "--config", str(cfg), "list"]) == 2
    assert "flags.provider" in capsys.readouterr().err


def _rollback_config(tmp_path: Path, step_url: str, ws_url: str, *, verify_window: str = "20s") -> Path:
    cfg = tmp_path / "rollback.toml"
    cfg.write_text(f"""
[monitor]
level = "debug"
interval = "0.5s"
[deployment]
name = "chat"
version = "2.0.0"
previous_version = "1.9.3"
[[targets]]
name = "chat-ws"
url = "{ws_url}"
send = "ping {{nonce}}"
expect = "{{nonce}}"
timeout = "3s"
[resources]
host = false
[alerts]
default_rules = false
[[alerts.channels]]
type = "file"
min_severity = "info"
path = "{tmp_path / 'alerts.jsonl'}"
[rollback]
verify_window = "{verify_window}"
verify_successes = 3
[[rollback.steps]]
type = "http"
name = "disable websocket_enabled"
method = "PUT"
url = "{step_url}"
json = {{ enabled = false }}
expect_status = [200]
[[rollback.steps]]
type = "command"
name = "note"
argv = ["{sys.executable}", "-c", "print('rolled back')"]
""")
    return cfg


def test_rollback_dry_run_prints_steps_and_runs_nothing(tmp_path: Path, capsys) -> None:
    with recording_server() as rec:
        cfg = _rollback_config(tmp_path, rec.url + "/flags/websocket_enabled", "ws://127.0.0.1:9/ws")
        state = tmp_path / "state"
        assert main(["rollback", "--config", str(cfg), "--state-dir", str(state), "--dry-run"]) == 0
        assert rec.requests == []
    out = capsys.readouterr().out
    assert "1. http PUT " in out and "2. command " in out and "Dry run: nothing was run." in out
    [row] = report_rollbacks(state / "wsmon.db")
    assert row["outcome"] == "dry_run" and row["user"] and not row["automatic"]


def test_rollback_without_steps_is_a_config_error(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "wsmon.toml"
    cfg.write_text('[deployment]\nname = "chat"\n')
    assert main(["rollback", "--config", str(cfg), "--yes"]) == 2
    assert "rollback.steps" in capsys.readouterr().err


async def _cli(*args: str, stdin: int | None = asyncio.subprocess.DEVNULL, timeout: float = 60.0,
               ) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsmon_tui", *args, stdin=stdin, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_rollback_refuses_without_yes_when_stdin_is_not_a_terminal(tmp_path: Path) -> None:
    with recording_server() as rec:
        cfg = _rollback_config(tmp_path, rec.url + "/flags/websocket_enabled", "ws://127.0.0.1:9/ws")
        rc, _out, err = await _cli("rollback", "--config", str(cfg), "--state-dir", str(tmp_path / "s"))
        assert rc == 2
        assert "refusing" in err and "--yes" in err
        assert rec.requests == []
    assert report_rollbacks(tmp_path / "s" / "wsmon.db") == []


async def test_rollback_on_a_terminal_needs_the_deployment_name(tmp_path: Path) -> None:
    with recording_server() as rec:
        cfg = _rollback_config(tmp_path, rec.url + "/flags/websocket_enabled", "ws://127.0.0.1:9/ws")
        master, slave = pty.openpty()
        try:
            os.write(master, b"not-chat\n")
            rc, out, _err = await _cli("rollback", "--config", str(cfg), "--state-dir", str(tmp_path / "s"),
                                       stdin=slave)
        finally:
            os.close(slave)
            os.close(master)
        assert rc == 1
        assert "Type the deployment name (chat)" in out and "Not confirmed: nothing was run." in out
        assert rec.requests == []


async def test_rollback_yes_end_to_end_against_the_demo(tmp_path: Path) -> None:
    async with DemoServer("127.0.0.1", 0, fault_after=0.0) as demo:
        await asyncio.sleep(0.1)
        assert demo.fault_active
        cfg = _rollback_config(tmp_path, demo.url_base + "/flags/websocket_enabled", demo.ws_url)
        state = tmp_path / "state"
        rc, out, err = await _cli("rollback", "--config", str(cfg), "--state-dir", str(state), "--yes",
                                  "--reason", "bad deploy")
        assert not demo.flags.websocket_enabled
    assert rc == 0, out + err
    assert "step 1 disable websocket_enabled: ok" in out and "step 2 note: ok" in out
    assert "verified" in out
    [row] = report_rollbacks(state / "wsmon.db")
    assert row["outcome"] == "verified" and row["reason"] == "bad deploy" and row["trigger"] == "manual"
    assert [s["ok"] for s in row["steps"]] == [True, True]
    sent = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert "RollbackInProgress" in json.dumps(sent) and "RollbackFailed" not in json.dumps(sent)


async def test_rollback_yes_reports_failure_when_the_target_stays_down(tmp_path: Path) -> None:
    async with DemoServer("127.0.0.1", 0, fault_after=None) as demo:
        cfg = _rollback_config(tmp_path, demo.url_base + "/flags/websocket_enabled", "ws://127.0.0.1:9/ws",
                               verify_window="2s")
        state = tmp_path / "state"
        rc, out, err = await _cli("rollback", "--config", str(cfg), "--state-dir", str(state), "--yes")
    assert rc == 1, out + err
    assert "failed_verification" in out
    [row] = report_rollbacks(state / "wsmon.db")
    assert row["outcome"] == "failed_verification"
    sent = (tmp_path / "alerts.jsonl").read_text()
    assert "RollbackFailed" in sent and "RollbackInProgress" in sent
    with sqlite3.connect(state / "wsmon.db") as conn:
        rules = [r[0] for r in conn.execute("SELECT rule FROM alert_alerts WHERE state = 'firing'")]
    assert "RollbackFailed" in rules


async def test_flags_cli_against_the_demo_http_provider(tmp_path: Path) -> None:
    async with DemoServer("127.0.0.1", 0, fault_after=None) as demo:
        cfg = tmp_path / "wsmon.toml"
        cfg.write_text(f'[flags]\nprovider = "http"\nurl = "{demo.url_base}/flags"\n')
        common = ("--config", str(cfg), "--state-dir", str(tmp_path / "s"))
        rc, out, err = await _cli("flags", *common, "rollout", "websocket_enabled", "30")
        assert (rc, out.strip()) == (0, "websocket_enabled: on, rollout 30%"), err
        assert demo.flags.websocket_rollout == 30
        rc, out, _ = await _cli("flags", *common, "rollout", "websocket_enabled", "250")
        assert rc == 2 and demo.flags.websocket_rollout == 30
        rc, out, _ = await _cli("flags", *common, "list")
        assert rc == 0 and "presence_v2" in out and "message_compression" in out
