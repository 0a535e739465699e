"""kill -9 and signals in the middle of real work: sample writes, deliveries, rollback steps.

Each run is a real ``python -m wsmon_tui monitor`` against a target that is down (so an
alert fires, notifications go out and an automatic rollback runs a slow ``command``
step) and a webhook receiver that is slow and fails now and then (so deliveries are in
flight). The next run must open the store, mark the killed session crashed, settle the
interrupted rollback (never as verified), resume every undelivered notification (the
receiver sees each fingerprint:seq at least once), and keep everything committed before
the kill.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.hostile import echo_server, refused_url
from tests.test_monitor_cli import start, wait_for_line
from wsmon_tui.cli import main

HOST = "127.0.0.1"


@dataclass
class KeyReceiver:
    """A webhook receiver recording Idempotency-Key headers; slow and failing on demand."""

    delay: float = 0.0
    fail_every: int = 0
    """Answer 503 to every n-th request (0: never)."""
    keys: list[str] = field(default_factory=list)
    failed: int = 0
    seen: int = 0
    active: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://{HOST}:{self.server.server_address[1]}/hook"

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.seen += 1
                    outer.active += 1
                    fail = outer.fail_every and outer.seen % outer.fail_every == 0
                try:
                    if outer.delay:
                        time.sleep(outer.delay)
                    status = 503 if fail else 200
                    reply = b'{"error": "try later"}' if fail else b"{}"
                    try:
                        self.send_response(status)
                        self.send_header("Content-Length", str(len(reply)))
                        self.end_headers()
                        self.wfile.write(reply)
                        self.wfile.flush()
                    except OSError:  # the sender was killed mid-request: not delivered
                        return
                    with outer.lock:
                        if fail:
                            outer.failed += 1
                        else:
                            outer.keys.append(self.headers.get("Idempotency-Key", ""))
                finally:
                    with outer.lock:
                        outer.active -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@contextmanager
def key_receiver(*, delay: float = 0.0, fail_every: int = 0) -> Iterator[KeyReceiver]:
    receiver = KeyReceiver(delay=delay, fail_every=fail_every)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def crash_config(path: Path, *, down_url: str, up_url: str, hook: str, step_seconds: float,
                 verify_window: str = "2s") -> Path:
    """Target ``down`` fails every probe: ``Down`` fires at once and triggers a rollback."""
    path.write_text(f"""
[monitor]
level = "debug"
interval = "0.2s"
[deployment]
name = "chat-svc"
version = "2.0.0"
previous_version = "1.9.0"
[[targets]]
name = "up"
url = "{up_url}"
timeout = "1s"
[[targets]]
name = "down"
url = "{down_url}"
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
cooldown = "2s"
[[alerts.channels]]
type = "webhook"
url = "{hook}"
min_severity = "info"
timeout = "3s"
[rollback]
auto = true
on = ["Down"]
max_auto = 3
cooldown = "1s"
verify_window = "{verify_window}"
verify_successes = 2
[[rollback.steps]]
type = "command"
name = "slow step"
argv = ["{sys.executable}", "-c", "import time; time.sleep({step_seconds})"]
timeout = "10s"
""")
    return path


def db_rows(state: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(state / "wsmon.db", timeout=5)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.mark.slow
async def test_twenty_kill_9s_lose_nothing_and_resume_deliveries(tmp_path: Path, capsys):
    rng = random.Random(7)
    state = tmp_path / "state"
    probes_at_kill: dict[str, int] = {}
    keys_at_kill: set[tuple[str, int]] = set()
    actions_at_kill: set[int] = set()
    in_flight_at_kill = 0
    with key_receiver(delay=0.3, fail_every=4) as receiver:
        async with echo_server() as up, refused_url() as down:
            cfg = crash_config(tmp_path / "wsmon.toml", down_url=down, up_url=up, hook=receiver.url,
                               step_seconds=1.5)
            rounds = 0
            # twenty kills, and more (bounded) until the faults under test have happened: on a slow
            # machine a run can be killed before any delivery fails or is in flight
            while rounds < 20 or ((receiver.failed == 0 or in_flight_at_kill == 0) and rounds < 40):
                rounds += 1
                proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), cwd=tmp_path)
                try:
                    await wait_for_line(proc, "session ", timeout=20)
                    await asyncio.sleep(rng.uniform(0.2, 3.2))
                    in_flight_at_kill += receiver.active
                finally:
                    proc.kill()
                    await asyncio.wait_for(proc.wait(), 10)
                # what is committed now must survive every later run
                for sid, n in db_rows(state, "SELECT session_id, count(*) FROM probes GROUP BY session_id"):
                    if sid not in probes_at_kill or probes_at_kill[sid] <= n:
                        probes_at_kill[sid] = n
                keys_at_kill |= set(db_rows(state, "SELECT fingerprint, seq FROM outbox_notifications"))
                actions_at_kill |= {r[0] for r in db_rows(state, "SELECT id FROM rollback_actions")}
            # the receiver works normally again: the last run delivers whatever is left (retries
            # keep their backoff across restarts, so wait for them, bounded)
            receiver.delay, receiver.fail_every = 0.0, 0
            proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), cwd=tmp_path)
            try:
                await wait_for_line(proc, "session ", timeout=20)
                await asyncio.sleep(2)
                deadline = time.monotonic() + 40
                while db_rows(state, "SELECT 1 FROM outbox_deliveries WHERE status IN ('pending', 'failed')"):
                    assert time.monotonic() < deadline, "deliveries were never resumed"
                    await asyncio.sleep(0.2)
                proc.send_signal(signal.SIGTERM)
                _, stderr = await asyncio.wait_for(proc.communicate(), 20)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            assert proc.returncode == 0, stderr.decode()
            assert b"Traceback" not in stderr

    sessions = db_rows(state, "SELECT id, ended_by FROM sessions ORDER BY started_at")
    assert [e for _, e in sessions] == ["crash"] * rounds + ["sigterm"]
    killed = {sid for sid, e in sessions if e == "crash"}
    # nothing written before a kill is lost, and nothing is added to a crashed session later
    now = dict(db_rows(state, "SELECT session_id, count(*) FROM probes GROUP BY session_id"))
    for sid in killed & set(probes_at_kill):
        assert now[sid] == probes_at_kill[sid], sid
    assert sum(probes_at_kill.get(s, 0) for s in killed) > 0
    assert keys_at_kill <= set(db_rows(state, "SELECT fingerprint, seq FROM outbox_notifications"))
    assert actions_at_kill <= {r[0] for r in db_rows(state, "SELECT id FROM rollback_actions")}

    # at least once: every stored notification reached the receiver under its idempotency key
    statuses = db_rows(state, "SELECT status, count(*) FROM outbox_deliveries GROUP BY status")
    assert dict(statuses).keys() == {"sent"}, statuses
    stored = {f"{fp}:{seq}" for fp, seq in db_rows(state, "SELECT fingerprint, seq FROM outbox_notifications")
              }
    assert stored and stored <= set(receiver.keys)
    assert receiver.failed > 0 and in_flight_at_kill > 0  # the faults did happen

    # an interrupted rollback is settled, never left running and never verified
    actions = db_rows(state, "SELECT a.id, a.session_id, a.outcome, a.detail FROM rollback_actions a")
    assert actions
    assert not [a for a in actions if a[2] in ("running", "verifying", "verified")], actions
    interrupted = [a for a in actions if a[1] in killed and "interrupted" in a[3]]
    assert interrupted, actions
    assert all(a[2] in ("failed", "failed_verification") for a in interrupted)

    # the report tells the story
    capsys.readouterr()
    assert main(["report", "--config", str(cfg), "--state-dir", str(state), "--format", "json",
                 "--hours", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [s["ended_by"] for s in report["sessions"]].count("crash") == 20
    assert report["targets"] and {t["name"] for t in report["targets"]} == {"up", "down"}
    assert any(a["rule"] == "Down" for a in report["alerts"])
    outcomes = {r["id"]: r["outcome"] for r in report["rollbacks"]}
    assert outcomes and "verified" not in outcomes.values() and "running" not in outcomes.values()
    assert all(n["status"] == "sent" for n in report["notifications"])


def _rollback_running(state: Path) -> bool:
    try:
        return bool(db_rows(state, "SELECT 1 FROM rollback_actions WHERE outcome = 'running'"))
    except sqlite3.OperationalError:  # no database or no table yet
        return False


async def _signal_during_rollback_step(tmp_path: Path, sig: signal.Signals) -> tuple[float, Path]:
    state = tmp_path / "state"
    with key_receiver() as receiver:
        async with echo_server() as up, refused_url() as down:
            cfg = crash_config(tmp_path / "wsmon.toml", down_url=down, up_url=up, hook=receiver.url,
                               step_seconds=30)
            proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), cwd=tmp_path)
            try:
                deadline = time.monotonic() + 20
                while not _rollback_running(state):
                    assert time.monotonic() < deadline, "the rollback never started"
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)
                sent = time.monotonic()
                proc.send_signal(sig)
                _, stderr = await asyncio.wait_for(proc.communicate(), 15)
                took = time.monotonic() - sent
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    assert proc.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    return took, state


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
async def test_signal_during_a_rollback_step_closes_the_session_and_records_the_rollback(tmp_path, sig):
    took, state = await _signal_during_rollback_step(tmp_path, sig)
    assert took < 5
    [(ended_by,)] = db_rows(state, "SELECT ended_by FROM sessions")
    assert ended_by == sig.name.lower()
    [(outcome, detail)] = db_rows(state, "SELECT outcome, detail FROM rollback_actions")
    assert outcome == "failed" and "interrupted" in detail


async def test_signal_with_pending_deliveries_stops_within_five_seconds(tmp_path: Path):
    state = tmp_path / "state"
    with key_receiver(delay=4.0) as receiver:  # every delivery hangs for longer than the stop may take
        async with echo_server() as up, refused_url() as down:
            cfg = crash_config(tmp_path / "wsmon.toml", down_url=down, up_url=up, hook=receiver.url,
                               step_seconds=0.1)
            proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), cwd=tmp_path)
            try:
                deadline = time.monotonic() + 20
                while receiver.active == 0:
                    assert time.monotonic() < deadline, "no delivery was ever in flight"
                    await asyncio.sleep(0.05)
                sent = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                _, stderr = await asyncio.wait_for(proc.communicate(), 15)
                took = time.monotonic() - sent
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    assert proc.returncode == 0, stderr.decode()
    assert took < 5, took
    [(ended_by,)] = db_rows(state, "SELECT ended_by FROM sessions")
    assert ended_by == "sigterm"
    # what could not be sent is still there for the next run
    open_ = db_rows(state, "SELECT count(*) FROM outbox_deliveries WHERE status IN ('pending', 'failed')")
    assert open_[0][0] >= 1
