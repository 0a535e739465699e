"""``--read-only`` really is: a session that watches changes nothing in the world.

An auto-rollback condition and a throttle condition both hold (a target is down, its rule
fires), yet a read-only session runs no step, changes no flag and sends nothing: a real
HTTP receiver (the steps' and the webhook's target) receives no request at all. The
same config without read-only does act on it, so the test can tell the difference.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.hostile import echo_server, refused_url
from tests.receivers import RecordingServer, recording_server
from wsmon_tui.config import load_config
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.errors import WsmonError
from wsmon_tui.store import Store

FLAGS = {"websocket_enabled": {"enabled": True, "rollout": 100}}


def acting_config(tmp: Path, *, up: str, down: str, receiver: str) -> Path:
    flags = tmp / "flags.json"
    flags.write_text(json.dumps(FLAGS))
    flags.chmod(0o600)
    cfg = tmp / "wsmon.toml"
    cfg.write_text(f"""
[monitor]
level = "debug"
interval = "0.2s"
[deployment]
name = "chat-svc"
version = "2.0.0"
[[targets]]
name = "up"
url = "{up}"
timeout = "1s"
[[targets]]
name = "down"
url = "{down}"
timeout = "1s"
[resources]
host = false
[alerts]
default_rules = false
[[alerts.rules]]
name = "Down"
metric = "error_rate"
op = ">"
threshold = 0.5
severity = "critical"
targets = ["down"]
[[alerts.channels]]
type = "webhook"
url = "{receiver}/hook"
min_severity = "info"
timeout = "2s"
[flags]
provider = "file"
path = "{flags}"
[rollback]
auto = true
on = ["Down"]
verify_window = "5s"
[[rollback.steps]]
type = "http"
name = "disable"
method = "POST"
url = "{receiver}/rollback"
[[rollback.steps]]
type = "flag"
name = "websocket_enabled"
enabled = false
[throttle]
on = ["Down"]
cooldown = "1s"
[[throttle.steps]]
type = "http"
name = "slow down"
url = "{receiver}/throttle"
[[throttle.steps]]
type = "flag"
name = "websocket_enabled"
rollout = 10
""")
    return cfg


def paths_of(rec: RecordingServer) -> list[str]:
    return [r.path for r in rec.requests + rec.failed]


def audit_rows(state: Path) -> list[tuple]:
    try:
        with sqlite3.connect(state / "wsmon.db") as conn:
            return conn.execute("SELECT kind, outcome FROM rollback_actions").fetchall()
    except sqlite3.OperationalError:  # the table was never created
        return []


def count(state: Path, table: str) -> int:
    with sqlite3.connect(state / "wsmon.db") as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
            return 0
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def _run(cfg: Path, state: Path, *, read_only: bool, seconds: float = 2.5) -> Monitor:
    config = load_config(cfg)
    with Store.open(state) as store:
        monitor = Monitor(config, store, state_dir=state)
        monitor.read_only = read_only
        task = asyncio.ensure_future(monitor.run(seconds))
        try:
            for _ in range(200):  # until Down fires
                latest = monitor.latest
                if latest is not None and any(a.rule == "Down" and a.state == "firing"
                                              for a in latest.alerts):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("Down never fired")
            if read_only:
                alert_id = next(a.id for a in monitor.latest.alerts if a.rule == "Down")
                with pytest.raises(WsmonError, match="read-only"):
                    await monitor.acknowledge(alert_id, "bob")
                with pytest.raises(WsmonError, match="read-only"):
                    await monitor.silence(rule="Down", target=None, duration=60, comment="x", user="bob")
                with pytest.raises(WsmonError, match="read-only"):
                    await monitor.rollback(reason="by hand", user="bob")
                with pytest.raises(WsmonError, match="read-only"):
                    await monitor.rollback(reason="by hand", user="bob", dry_run=True)
            await asyncio.wait_for(task, seconds + 15)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=10)
    return monitor


async def test_read_only_monitor_runs_no_step_changes_no_flag_and_sends_nothing(tmp_path: Path):
    with recording_server() as rec:
        async with echo_server() as up, refused_url() as down:
            cfg = acting_config(tmp_path, up=up, down=down, receiver=rec.url)
            flags_before = (tmp_path / "flags.json").read_bytes()
            monitor = await _run(cfg, tmp_path / "ro", read_only=True)
            await asyncio.sleep(0.5)  # anything late would arrive now
            assert paths_of(rec) == []
            assert (tmp_path / "flags.json").read_bytes() == flags_before
            assert audit_rows(tmp_path / "ro") == []
            assert monitor.latest is not None and monitor.latest.rollback is not None
            assert monitor.latest.rollback.state == "idle"
            assert any("read-only" in n for n in monitor.latest.notes)
            # acks and silences were not written either (read-only creates no alert tables at all)
            assert count(tmp_path / "ro", "alert_acks") == count(tmp_path / "ro", "alert_silences") == 0

            # the control: the same conditions, not read-only, do act
            await _run(cfg, tmp_path / "rw", read_only=False)
            seen = set(paths_of(rec))
    assert {"/rollback", "/throttle", "/hook"} <= seen, seen
    assert json.loads((tmp_path / "flags.json").read_text()) != FLAGS
    assert {k for k, _ in audit_rows(tmp_path / "rw")} == {"rollback", "throttle"}


async def test_monitor_command_read_only_flag(tmp_path: Path):
    with recording_server() as rec:
        async with echo_server() as up, refused_url() as down:
            cfg = acting_config(tmp_path, up=up, down=down, receiver=rec.url)
            flags_before = (tmp_path / "flags.json").read_bytes()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "wsmon_tui", "monitor", "--read-only", "--config", str(cfg),
                "--state-dir", str(tmp_path / "state"), "--duration", "2.5s", cwd=tmp_path,
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                out, err = await asyncio.wait_for(proc.communicate(), 40)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            await asyncio.sleep(0.3)
            assert paths_of(rec) == []
    assert proc.returncode == 0, err.decode()
    assert "firing: Down/down" in out.decode()  # the condition held
    assert "read-only" in err.decode()
    assert (tmp_path / "flags.json").read_bytes() == flags_before
    assert audit_rows(tmp_path / "state") == []
