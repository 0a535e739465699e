"""The state database fails under a running monitor: disk full, locked, corrupt, read concurrently.

Each case runs the real ``monitor`` command. It must say clearly what is not stored,
keep probing (and alerting, and notifying) in memory, exit 0 without a traceback, and
leave what it could store readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.test_crashes import db_rows, key_receiver
from tests.hostile import echo_server, refused_url
from tests.test_monitor_cli import start, wait_for_line

STATUS = "CRITICAL health="


def storage_config(path: Path, *, up: str, down: str, hook: str, fire_after: str = "0s") -> Path:
    path.write_text(f"""
[monitor]
level = "debug"
interval = "0.2s"
[deployment]
name = "chat-svc"
[[targets]]
name = "up"
url = "{up}"
timeout = "1s"
[[targets]]
name = "down"
url = "{down}"
timeout = "1s"
[resources]
host = true
[alerts]
default_rules = false
[[alerts.rules]]
name = "Down"
metric = "error_rate"
op = ">"
threshold = 0.5
for = "{fire_after}"
severity = "critical"
targets = ["down"]
[[alerts.channels]]
type = "webhook"
url = "{hook}"
min_severity = "info"
timeout = "2s"
""")
    return path


async def run_through(proc: asyncio.subprocess.Process, timeout: float = 40) -> tuple[str, str]:
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    return stdout.decode(), stderr.decode()


@contextlib.contextmanager
def tiny_tmpfs(where: Path, size: str = "4m") -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs mount, which needs root")
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, timeout=10)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=10)


def fill(directory: Path) -> None:
    """Write a file until the file system is full."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        chunk = b"\0" * 65536
        for _ in range(100_000):  # bounded; a 4 MB tmpfs is full after ~64
            try:
                os.write(fd, chunk)
            except OSError:
                return
    finally:
        os.close(fd)
    raise AssertionError("the file system never filled up")


async def test_disk_full_mid_run_keeps_probing_and_notifying_and_says_what_is_lost(tmp_path: Path):
    with tiny_tmpfs(tmp_path / "small") as small, key_receiver() as receiver:
        state = small / "state"
        async with echo_server() as up, refused_url() as down:
            cfg = storage_config(tmp_path / "wsmon.toml", up=up, down=down, hook=receiver.url,
                                 fire_after="1.5s")
            proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), "--duration", "5s",
                               cwd=tmp_path)
            await wait_for_line(proc, "session ")
            await wait_for_line(proc, STATUS)
            fill(small)
            stdout, stderr = await run_through(proc)
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
        assert stdout.count(STATUS) >= 2  # probing went on after the disk filled up
        # the user is told, in words, what was not stored
        assert "not stored" in stderr and ("disk is full" in stderr or "No space left" in stderr)
        assert "notifications kept in memory only" in stderr
        # the alert fired after the disk was full: its notification still went out
        assert any(k for k in receiver.keys), "no notification was delivered"
        # what was stored before is readable
        assert db_rows(state, "SELECT count(*) FROM sessions")[0][0] == 1


async def _locker(db: Path, seconds: float) -> asyncio.subprocess.Process:
    """Another process holding BEGIN EXCLUSIVE on the database for ``seconds``."""
    code = ("import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "c.execute('INSERT INTO events (session_id, kind, at, data)'\n"
            "          ' VALUES (NULL, \"lock\", 0, \"{}\")')\n"
            "print('locked', flush=True)\n"
            "time.sleep(float(sys.argv[2]))\n"
            "c.execute('ROLLBACK')\n")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, str(db), str(seconds),
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 10)
    assert line.strip() == b"locked"
    return proc


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await asyncio.wait_for(proc.wait(), 10)


async def _history(tmp_path: Path, cfg: Path, state: Path) -> None:
    proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), "--duration", "0.5s",
                       cwd=tmp_path)
    _, stderr = await run_through(proc)
    assert proc.returncode == 0, stderr


async def test_database_locked_at_start_goes_on_in_memory(tmp_path: Path):
    state = tmp_path / "state"
    with key_receiver() as receiver:
        async with echo_server() as up, refused_url() as down:
            cfg = storage_config(tmp_path / "wsmon.toml", up=up, down=down, hook=receiver.url)
            await _history(tmp_path, cfg, state)
            locker = await _locker(state / "wsmon.db", 30)
            try:
                proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state),
                                   "--duration", "2s", cwd=tmp_path)
                stdout, stderr = await run_through(proc)
            finally:
                await _stop(locker)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "history is not being stored" in stderr and "locked" in stderr
    assert stdout.count(STATUS) >= 1
    # alerting went on in memory: the firing notification was sent
    assert receiver.keys
    # the earlier session is intact; the locked-out one left nothing half-written
    assert [e for (e,) in db_rows(state, "SELECT ended_by FROM sessions")] == ["duration"]


@pytest.mark.slow
async def test_database_locked_mid_run_drops_writes_then_recovers(tmp_path: Path):
    state = tmp_path / "state"
    with key_receiver() as receiver:
        async with echo_server() as up, refused_url() as down:
            cfg = storage_config(tmp_path / "wsmon.toml", up=up, down=down, hook=receiver.url)
            await _history(tmp_path, cfg, state)
            proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state),
                               "--duration", "11s", cwd=tmp_path)
            try:
                await wait_for_line(proc, STATUS)
                locker = await _locker(state / "wsmon.db", 6.5)
                released = time.time() + 6.5
                await asyncio.wait_for(locker.wait(), 15)
                stdout, stderr = await run_through(proc)
            finally:
                await _stop(proc)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "not stored" in stderr and "locked" in stderr
    # writes resumed once the lock was gone; the session was closed properly
    sid, ended_by = db_rows(state, "SELECT id, ended_by FROM sessions ORDER BY started_at")[-1]
    assert ended_by == "duration"
    after = db_rows(state, "SELECT count(*) FROM probes WHERE session_id = ? AND ts > ?",
                    (sid, released + 0.5))
    assert after[0][0] > 0
    assert stdout.count(STATUS) >= 5


async def test_corrupt_database_file_is_named_and_probing_goes_on(tmp_path: Path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "wsmon.db").write_bytes(b"\x13\x37 definitely not sqlite " * 400)
    with key_receiver() as receiver:
        async with echo_server() as up, refused_url() as down:
            cfg = storage_config(tmp_path / "wsmon.toml", up=up, down=down, hook=receiver.url)
            proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), "--duration", "2s",
                               cwd=tmp_path)
            stdout, stderr = await run_through(proc)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert str(state / "wsmon.db") in stderr and "mv " in stderr and "memory only" in stderr
    assert stdout.count(STATUS) >= 1
    assert receiver.keys  # alerting and delivery went on in memory
    assert (state / "wsmon.db").read_bytes().startswith(b"\x13\x37")  # left for the user to inspect


async def test_damaged_pages_in_a_real_database_do_not_crash_the_monitor(tmp_path: Path):
    state = tmp_path / "state"
    with key_receiver() as receiver:
        async with echo_server() as up, refused_url() as down:
            cfg = storage_config(tmp_path / "wsmon.toml", up=up, down=down, hook=receiver.url)
            await _history(tmp_path, cfg, state)
            db = state / "wsmon.db"
            with sqlite3.connect(db) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            data = bytearray(db.read_bytes())
            page = 4096
            for start_at in range(2 * page, len(data), 3 * page):  # every third page after the schema
                data[start_at:start_at + page] = b"\xa5" * page
            db.write_bytes(bytes(data))
            proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), "--duration", "2s",
                               cwd=tmp_path)
            stdout, stderr = await run_through(proc)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "malformed" in stderr or "not a usable wsmon database" in stderr or "not stored" in stderr
    assert stdout.count(STATUS) >= 1


async def test_a_reader_in_another_process_does_not_lose_the_monitors_writes(tmp_path: Path):
    """Regression: opening and closing the db file with os.open/os.close in the monitor dropped its
    SQLite locks; another process's reader then checkpointed and deleted the WAL under it, and
    every later write went into an unlinked file (all history of the session lost)."""
    state = tmp_path / "state"
    with key_receiver() as receiver:
        async with echo_server() as up, refused_url() as down:
            cfg = storage_config(tmp_path / "wsmon.toml", up=up, down=down, hook=receiver.url)
            proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), cwd=tmp_path)
            try:
                await wait_for_line(proc, STATUS)
                seen = 0
                for _ in range(10):
                    seen = max(seen, db_rows(state, "SELECT count(*) FROM probes")[0][0])
                    await asyncio.sleep(0.15)
                assert (state / "wsmon.db-wal").exists()
                await asyncio.sleep(1.0)
            finally:
                proc.kill()
                await asyncio.wait_for(proc.wait(), 10)
    assert seen > 0
    final = db_rows(state, "SELECT count(*) FROM probes")[0][0]
    assert final > seen
    assert db_rows(state, "SELECT count(*) FROM outbox_notifications")[0][0] >= 1
