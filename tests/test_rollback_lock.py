"""One rollback at a time, everywhere: two real monitors with `[rollback] auto = true` and a
concurrent `wsmon-tui rollback --yes` on one state dir; the rollback's step is an HTTP call
to a real receiver, which counts how many rollbacks really ran."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from tests.hostile import echo_server, refused_url
from tests.receivers import recording_server
from tests.test_monitor_cli import start, wait_for_line
from tests.test_one_engine import INTERVAL, rows, stop, two_target_config, wait_until
from wsmon_tui.rollback.lock import RollbackLock, RollbackRefused

VERIFY_WINDOW = 5.0


def rollback_extra(hook: str) -> str:
    return f"""
[rollback]
auto = true
on = ["Down"]
max_auto = 1
cooldown = "10m"
verify_window = "{VERIFY_WINDOW:g}s"
verify_successes = 2
[[rollback.steps]]
type = "http"
name = "undo"
method = "POST"
url = "{hook}/rollback"
json = {{enabled = false}}
timeout = "3s"
"""


async def test_two_auto_monitors_and_the_cli_run_exactly_one_rollback(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with recording_server() as receiver:
        async with echo_server() as up, refused_url() as down:
            cfg = two_target_config(tmp_path / "wsmon.toml", up=up, down=down, hook=receiver.url,
                                    extra=rollback_extra(receiver.url))
            args = ("monitor", "--config", str(cfg), "--state-dir", str(state))
            first = await start(*args, cwd=tmp_path)
            second = None
            try:
                await wait_for_line(first, "session ", timeout=20)
                second = await start(*args, cwd=tmp_path)
                await wait_for_line(second, "standing by", timeout=20)
                steps = lambda: [r for r in receiver.requests if r.path == "/rollback"]  # noqa: E731
                await wait_until(lambda: steps(), 15, "the automatic rollback never ran")
                # while it verifies, the CLI is refused, naming the holder and the state
                cli = await start("rollback", "--yes", "--config", str(cfg), "--state-dir", str(state),
                                  cwd=tmp_path)
                out, err = await asyncio.wait_for(cli.communicate(), 20)
                text = err.decode()
                assert cli.returncode == 1, (out.decode(), text)
                assert "refused: rollback #1 of chat-svc is verifying" in text, text
                assert f"(pid {first.pid} on {socket.gethostname()})" in text and "since " in text, text
                assert "wsmon-tui (automatic)" in text, text
                # verification fails (the target stays down): the lock is released with the outcome
                await wait_until(lambda: rows(state, "SELECT outcome FROM rollback_actions")
                                 == [("failed_verification",)], VERIFY_WINDOW + 10, "never concluded")
                await wait_until(lambda: rows(state, "SELECT count(*) FROM rollback_lock") == [(0,)], 5,
                                 "the lock was not released")
                # the holder goes; the standby takes over: max_auto counts across processes
                err_first = await stop(first)
                assert first.returncode == 0, err_first.decode()
                await wait_for_line(second, "taking over", timeout=10)
                await asyncio.sleep(4 * INTERVAL)
                assert len(steps()) == 1, [r.path for r in receiver.requests]
                assert rows(state, "SELECT count(*) FROM rollback_actions") == [(1,)]
            finally:
                if first.returncode is None:
                    first.kill()
                    await first.wait()
                if second is not None:
                    err_second = await stop(second)
                    assert second.returncode == 0, err_second.decode()


async def test_cli_rollbacks_at_once_run_one(tmp_path: Path) -> None:
    """Two `wsmon-tui rollback --yes` at the same instant, no engine running: one runs its steps."""
    state = tmp_path / "state"
    with recording_server() as receiver:
        async with echo_server() as up, refused_url() as down:
            cfg = two_target_config(tmp_path / "wsmon.toml", up=up, down=down, hook=receiver.url,
                                    extra=rollback_extra(receiver.url).replace("auto = true", "auto = false"))
            argv = ("rollback", "--yes", "--config", str(cfg), "--state-dir", str(state))
            procs = [await start(*argv, cwd=tmp_path) for _ in range(2)]
            results = [await asyncio.wait_for(p.communicate(), VERIFY_WINDOW + 20) for p in procs]
            refused = [err.decode() for _, err in results if b"refused: " in err]
            assert len(refused) == 1, [e.decode() for _, e in results]
            assert "is running" in refused[0] or "is verifying" in refused[0]
            assert len([r for r in receiver.requests if r.path == "/rollback"]) == 1
            assert rows(state, "SELECT count(*) FROM rollback_lock") == [(0,)]


def test_lock_rules(tmp_path: Path) -> None:
    db = tmp_path / "wsmon.db"
    a, b = RollbackLock(db), RollbackLock(db)
    try:
        a.acquire(user="alice", deployment="chat", lifetime=60)
        a.update(action_id=7, state="verifying")
        with pytest.raises(RollbackRefused) as refused:
            b.acquire(user="bob", deployment="chat", lifetime=60)
        text = str(refused.value)
        assert "rollback #7 of chat is verifying, started by alice" in text
        assert f"pid {os.getpid()} on {socket.gethostname()}" in text
        a.release()
        b.acquire(user="bob", deployment="chat", lifetime=0.05)  # free again
        time.sleep(0.1)
        a.acquire(user="alice", deployment="chat", lifetime=60)  # b's expired (a crashed holder)
        a.release()
        # a holder whose process on this host is gone does not block
        dead = _dead_pid()
        conn = sqlite3.connect(db)
        conn.execute("INSERT INTO rollback_lock VALUES"
                     " (1, 'ghost', 'carol', ?, ?, 'chat', 3, 'running', ?, ?)",
                     (dead, socket.gethostname(), time.time(), time.time() + 600))
        conn.commit()
        conn.close()
        b.acquire(user="bob", deployment="chat", lifetime=60)
    finally:
        a.close()
        b.close()


def _dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
