"""Faces attached to one running engine: real processes, a real socket, a real server counting probes.

A headless ``wsmon-tui monitor`` runs the engine; a dashboard in tmux (a real terminal) and
an app in this process attach to it over ``engine.sock``. The target counts connections:
with the faces attached it sees one prober's rate, not three.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.hostile import counting_echo_server
from tests.test_tmux import tmux  # noqa: F401 -- the fixture
from wsmon_tui.attach.client import AttachedEngine, find_engine
from wsmon_tui.attach.protocol import EngineGone
from wsmon_tui.config import Config
from wsmon_tui.errors import ReadOnlyError

INTERVAL = 0.5
ESCALATE_AFTER = 9.0


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "wsmon.toml"
    path.write_text(f"""
[monitor]
level = "debug"
interval = "{INTERVAL}s"

[deployment]
name = "attach-deploy"
version = "1.0.0"

[[targets]]
name = "echo"
url = "{url}"
timeout = "1s"

[alerts]
default_rules = false
escalate_after = "{ESCALATE_AFTER}s"

[[alerts.rules]]
name = "AlwaysOn"
metric = "handshake_p50"
op = ">="
threshold = 0
severity = "warning"
summary = "always firing (a test rule)"

[[alerts.channels]]
type = "file"
name = "boss"
path = "{tmp_path / 'boss.jsonl'}"
min_severity = "critical"
escalation = true
""")
    return path


async def start_monitor(cfg: Path, state: Path) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsmon_tui", "--config", str(cfg), "--state-dir", str(state), "monitor",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not (state / "engine.sock").exists():
        if proc.returncode is not None or time.monotonic() > deadline:
            raise AssertionError("the engine socket never appeared")
        await asyncio.sleep(0.05)
    return proc


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsmon_tui", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    return int(proc.returncode or 0), out.decode()


async def until(condition: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.05)


async def test_two_faces_share_one_engine_one_prober_one_alert(tmp_path: Path, tmux) -> None:  # noqa: F811
    from wsmon_tui.tui.app import WsmonApp

    state = tmp_path / "state"
    async with counting_echo_server() as (url, counter):
        cfg = write_config(tmp_path, url)
        engine = await start_monitor(cfg, state)
        try:
            common = ["--config", str(cfg), "--state-dir", str(state)]
            # one prober alone: its connection rate at the target
            await asyncio.sleep(1.0)
            t0 = time.monotonic()
            await asyncio.sleep(3.0)
            alone = counter.since(t0) / (time.monotonic() - t0)

            pane = tmux([sys.executable, "-m", "wsmon_tui", *common, "--mode", "alerts"], size=(170, 30),
                        env={"USER": "bob"})
            conn = await find_engine(state, user="alice", face="test")
            assert conn is not None
            link = AttachedEngine(conn, config=Config())
            app = WsmonApp(link, mode="alerts", user="alice")
            async with app.run_test(size=(160, 40)):
                await until(lambda: app.latest is not None and app.latest.alerts, "an alert in the app")
                assert app.latest is not None
                ids = sorted(a.id for a in app.latest.alerts)
                screen = await asyncio.to_thread(
                    pane.wait, lambda s: f"attached to pid {engine.pid}" in s and "AlwaysOn" in s,
                    "the tmux face attached", 20.0)
                assert f"session {link.session_id}" in screen

                t1 = time.monotonic()  # both faces attached: the target still sees one prober
                await link.acknowledge(ids[0], "alice", "on it")
                await asyncio.sleep(3.0)
                attached = counter.since(t1) / (time.monotonic() - t1)
                assert attached <= alone * 1.4 + 0.5, (alone, attached)

                # the ack reached the engine's one alert: the other face and the CLI see it
                await asyncio.to_thread(pane.wait, lambda s: "alice" in s, "the ack in the tmux face", 10.0)
                code, out = await cli(*common, "alerts", "list", "--format", "json")
                listed = json.loads(out)
                assert code == 0 and sorted(a["id"] for a in listed) == ids
                assert listed[0]["acknowledged_by"] == "alice"
                assert sorted(a.id for a in app.latest.alerts) == ids
                firing_at = float(listed[0]["firing_at"])

                # the tmux face leaves: the engine and its session go on
                await asyncio.to_thread(pane.keys, "q")
                assert (await asyncio.to_thread(pane.wait_exit)) == "EXIT=0"
                await asyncio.sleep(0.5)
                assert engine.returncode is None
                code, out = await cli(*common, "status")
                assert code == 0 and "running" in out and f"engine pid {engine.pid}" in out, out
                app.exit()

            # escalation would come ESCALATE_AFTER after firing: the acked alert never escalates
            await asyncio.sleep(max(0.0, firing_at + ESCALATE_AFTER + 1.5 - time.time()))
            code, out = await cli(*common, "alerts", "list", "--format", "json")
            assert [a["escalated"] for a in json.loads(out)] == [False]
            boss = tmp_path / "boss.jsonl"
            assert not boss.exists() or "escalated" not in boss.read_text()
        finally:
            await stop(engine)
    assert not (state / "engine.sock").exists()


async def test_socket_is_owner_only_and_read_only_faces_cannot_act(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX)  # a killed engine's socket: nothing listens on it
    stale.bind(str(state / "engine.sock"))
    stale.close()
    async with counting_echo_server() as (url, _):
        cfg = write_config(tmp_path, url)
        engine = await start_monitor(cfg, state)
        try:
            conn = None
            deadline = time.monotonic() + 15
            while conn is None and time.monotonic() < deadline:  # the engine replaces the stale one
                conn = await find_engine(state, user="carol", read_only=True)
                await asyncio.sleep(0.1)
            assert conn is not None, "the stale socket was not replaced"
            assert stat.S_ISSOCK((state / "engine.sock").stat().st_mode)
            assert stat.S_IMODE((state / "engine.sock").stat().st_mode) == 0o600
            assert stat.S_IMODE(state.stat().st_mode) == 0o700
            link = AttachedEngine(conn, config=Config(), read_only=True)
            seen: list[Any] = []
            link.subscribe(seen.append)
            run = asyncio.ensure_future(link.run())
            await until(lambda: seen and seen[-1].alerts, "an alert")
            # the rules' thresholds cross the socket with their tiers (read-only faces may ask)
            rules = await link.rules()
            assert [(r.name, r.metric, r.op, r.tiers, r.relative) for r in rules] == [
                ("AlwaysOn", "handshake_p50", ">=", ((0.0, "warning"),), False)]
            # the client's own checks bypassed: the raw request is refused by the engine
            with pytest.raises(ReadOnlyError):
                await conn.request("acknowledge", alert_id=seen[-1].alerts[0].id, user="carol")
            with pytest.raises(ReadOnlyError):
                await conn.request("read_only", value=False) and await conn.request(
                    "rollback", reason="x", user="carol")
            # the CLI acts through the engine: its ack reaches the engine's alert at once
            common = ["--config", str(cfg), "--state-dir", str(state)]
            alert_id = seen[-1].alerts[0].id
            code, out = await cli(*common, "alerts", "ack", alert_id[:8], "--user", "dave",
                                  "--comment", "cli")
            assert code == 0 and "by the running engine" in out and alert_id in out, out
            await until(lambda: seen[-1].alerts[0].acknowledged_by == "dave", "the CLI's ack in a Snapshot")
            code, out = await cli(*common, "status", "--format", "json")
            assert json.loads(out)["message"].count(f"engine pid {engine.pid}") == 1
            # the engine ends: the face is told, with the state dir
            await stop(engine)
            assert await asyncio.wait_for(run, 10) == f"the engine on {state} ended"
            with pytest.raises(EngineGone):
                await link.refresh_now()
        finally:
            await stop(engine)
    assert not (state / "engine.sock").exists()


PEER = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print(json.dumps({"connect": type(exc).__name__})); sys.exit(0)
s.settimeout(15)
# the engine answers a refused peer at once and hangs up: read that first (sending first raced
# the hang-up: EPIPE, or ECONNRESET on the read when the request was left unread), then try
# the request anyway and say what became of it
answer = json.loads(s.makefile().readline() or "null")
try:
    s.sendall(b'{"id": 1, "op": "acknowledge", "args": {"alert_id": "x", "user": "mallory"}}\\n')
    more = s.recv(4096).decode()
except OSError as exc:
    more = type(exc).__name__
print(json.dumps({"answer": answer, "after": more}))
"""


async def test_a_peer_of_another_uid_is_refused(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    python = shutil.which("python3", path="/usr/bin:/bin")  # one that another user may run
    if os.geteuid() != 0 or setpriv is None or python is None:
        pytest.skip("connecting as another uid needs root, setpriv (util-linux) and /usr/bin/python3")
    # a directory another user can traverse (pytest's tmp dirs are 0700): the state dir inside
    # stays 0700, as wsmon makes it
    outer = Path(tempfile.mkdtemp(prefix="wsmon-attach-"))
    try:
        outer.chmod(0o755)
        state = outer / "state"
        script = outer / "peer.py"
        script.write_text(PEER)
        script.chmod(0o644)
        async with counting_echo_server() as (url, _):
            engine = await start_monitor(write_config(tmp_path, url), state)
            try:
                sock = state / "engine.sock"
                as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python, "-S",
                             str(script), str(sock)]
                out = await asyncio.to_thread(subprocess.run, as_nobody, capture_output=True, text=True,
                                              timeout=20, check=True)
                assert json.loads(out.stdout) == {"connect": "PermissionError"}  # 0700 dir, 0600 socket
                # even with the file modes opened up, the engine refuses another uid (SO_PEERCRED)
                state.chmod(0o711)
                sock.chmod(0o666)
                out = await asyncio.to_thread(subprocess.run, as_nobody, capture_output=True, text=True,
                                              timeout=20, check=True)
                answer = json.loads(out.stdout)["answer"]
                assert answer["ok"] is False and answer["error"]["type"] == "PeerRefused", answer
                assert "serves only uid 0" in answer["error"]["message"]
                # the request sent after the refusal gets nothing but the hang-up
                assert json.loads(out.stdout)["after"] in ("", "BrokenPipeError", "ConnectionResetError")
            finally:
                await stop(engine)
    finally:
        shutil.rmtree(outer, ignore_errors=True)


async def test_a_face_that_never_reads_costs_the_engine_one_snapshot_not_a_queue(tmp_path: Path) -> None:
    """A subscriber that reads nothing: the engine's buffer for it stays bounded, publishing never
    waits on it, and once it reads it gets the newest Snapshot, not every one in between."""
    from dataclasses import replace

    from tests.tui_fixtures import FakeMonitor, hostile_snapshot
    from wsmon_tui.host import EngineHost
    from wsmon_tui.wire import dumps

    fake = FakeMonitor(state_dir=tmp_path)
    host = EngineHost(lambda: fake, config=fake.config, state_dir=tmp_path)  # type: ignore[arg-type,return-value]
    run = asyncio.ensure_future(host.run())
    try:
        await until(lambda: host.faces is not None, "the engine socket")
        raw = socket.socket(socket.AF_UNIX)
        raw.connect(str(tmp_path / "engine.sock"))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.sendall(dumps({"id": 1, "op": "hello", "args": {"user": "slow"}})
                    + dumps({"id": 2, "op": "subscribe", "args": {}}))
        await until(lambda: any(f.sender is not None for f in host.faces.faces), "subscribed")
        base = hostile_snapshot()
        loop = host._loop
        assert loop is not None
        started = time.monotonic()
        for tick in range(400):  # ~5 kB each: 2 MB if it were queued
            snap = replace(base, tick=tick)
            loop.call_soon_threadsafe(fake.publish, snap)
            if tick % 50 == 0:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)
        assert time.monotonic() - started < 5.0
        face = next(iter(host.faces.faces))
        buffered = face.writer.transport.get_write_buffer_size()
        assert buffered < 128 * 1024, buffered
        # now it reads: a few Snapshots came through, the last is the newest
        raw.setblocking(False)
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = raw.recv(1 << 20)
            except BlockingIOError:
                if data.endswith(b"\n") and b'"tick":399' in data:
                    break
                await asyncio.sleep(0.02)
                continue
            data += chunk
        events = [json.loads(line) for line in data.splitlines() if line.startswith(b'{"event"')]
        assert events and events[-1]["snapshot"]["tick"] == 399
        assert len(events) < 100, len(events)
        raw.close()
    finally:
        host.request_stop()
        await asyncio.wait_for(run, 10)
    assert not (tmp_path / "engine.sock").exists()


async def test_a_browser_through_serve_is_a_face_of_the_running_engine(tmp_path: Path) -> None:
    """``serve`` beside a running ``monitor``: the browser's dashboard attaches to that engine
    (its header names the monitor's pid), and the target still sees one prober."""
    from tests.prom_server import free_port
    from tests.test_serve_browser import _stop
    from tests.test_serve_security import TOKEN, _screen_until, chromium

    state = tmp_path / "state"
    async with counting_echo_server() as (url, counter):
        cfg = write_config(tmp_path, url)
        engine = await start_monitor(cfg, state)
        port = free_port()
        log = tmp_path / "serve.log"
        serve = None
        try:
            await asyncio.sleep(1.0)
            t0 = time.monotonic()
            await asyncio.sleep(3.0)
            alone = counter.since(t0) / (time.monotonic() - t0)
            with log.open("wb") as out:
                serve = subprocess.Popen(
                    [sys.executable, "-m", "wsmon_tui", "--config", str(cfg), "--state-dir", str(state),
                     "serve", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True, env={**os.environ, "WSMON_SERVE_TOKEN": TOKEN})

            class Served:  # what _screen_until reports on failure
                def text(self) -> str:
                    return log.read_text(errors="replace")

            await until(lambda: "wsmon-tui serve: open" in Served().text(), "serve's banner", 20)
            assert f"already running on {state}" in Served().text() and f"pid {engine.pid}" in Served().text()
            async with chromium(tmp_path) as cdp:
                await cdp.call("Page.navigate", url=f"http://127.0.0.1:{port}/?token={TOKEN}")
                screen = await _screen_until(cdp, (f"attached to pid {engine.pid}", "AlwaysOn"), Served())
                t1 = time.monotonic()
                await asyncio.sleep(3.0)
                attached = counter.since(t1) / (time.monotonic() - t1)
                assert attached <= alone * 1.4 + 0.5, (alone, attached, screen)
            code, out = await cli("--config", str(cfg), "--state-dir", str(state), "status")
            assert code == 0 and f"engine pid {engine.pid}" in out, out
        finally:
            if serve is not None:
                _stop(serve, timeout=20)
            await stop(engine)
