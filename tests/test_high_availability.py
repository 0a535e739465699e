"""High availability on what exists: two wsmon monitors of one site, each its own process and
state dir, each telling BOTH peers of a real Alertmanager cluster (two ``prometheus-alertmanager``
processes gossiping on 127.0.0.1), probe a target that refuses connections and then comes back.
The people behind the cluster's webhook receiver are paged once when it fires and told once
when it resolves: the monitors' alerts carry identical label sets (Alertmanager merges them
into one alert) and the cluster's peers share their notification log (one peer sends, the
other sees it was sent).

See docs/high-availability.md for the setup this test is."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.conftest import require_binary
from tests.prom_server import free_port
from tests.receivers import (
    PEER_TIMEOUT,
    Alertmanager,
    RecordingServer,
    alertmanager_binary,
    recording_server,
    running_alertmanager_cluster,
)

pytestmark = [pytest.mark.alertmanager, pytest.mark.slow]

GROUP_INTERVAL = 2.0
"""The cluster's ``group_interval`` (tests/receivers.py, CLUSTER_AM_CONFIG)."""
SETTLE = 2 * PEER_TIMEOUT + 2 * GROUP_INTERVAL
"""After both monitors' deliveries are recorded sent: how long a second page would take to
come from the other peer (it waits one peer timeout, then flushes at a group interval)."""
ROOT = Path(__file__).resolve().parent.parent


def monitor_config(target_port: int, peers: list[Alertmanager]) -> str:
    channels = "".join(f'''
[[alerts.channels]]
type = "alertmanager"
name = "am-{i + 1}"
url = "{am.url}"
min_severity = "critical"
''' for i, am in enumerate(peers))
    return f'''
[monitor]
level = "debug"
interval = 0.5
site = "eu-west"

[deployment]
name = "chat-gateway"

[resources]
host = false   # no host rules: the CPU of a shared test machine is not what is judged here

[[targets]]
name = "chat"
url = "ws://127.0.0.1:{target_port}/"
timeout = "1s"

# One rule, so the events are known: the defaults would also page HighErrorRate after the
# recovery when its window still holds the failures (it was held back by TargetDown until then)
[alerts]
default_rules = false

[[alerts.rules]]
name = "WebSocketDown"
metric = "consecutive_failures"
op = ">="
threshold = 2
for = "2s"
severity = "critical"
{channels}'''


def start_monitor(tmp: Path, name: str, config: str) -> subprocess.Popen[bytes]:
    path = tmp / f"{name}.toml"
    path.write_text(config, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (tmp / f"{name}.log").open("wb")
    with log:
        return subprocess.Popen(
            [sys.executable, "-m", "wsmon_tui", "monitor", "--config", str(path),
             "--state-dir", str(tmp / name), "--duration", "120"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=tmp)


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def deliveries(state: Path) -> set[tuple[str, str, str]]:
    """(kind, channel, status) of every delivery a monitor recorded in its state dir."""
    db = state / "wsmon.db"
    if not db.exists():
        return set()
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute("SELECT n.kind, d.channel, d.status FROM outbox_deliveries d"
                                " JOIN outbox_notifications n ON n.id = d.notification_id").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # the outbox tables are not there yet
        return set()
    return {(str(k), str(c), str(s)) for k, c, s in rows}


def pages(rx: RecordingServer) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """(status, labels of each alert) per webhook notification the cluster sent."""
    return [(r.json["status"], tuple(sorted((a["labels"]["alertname"], a["status"])
                                            for a in r.json["alerts"])))
            for r in rx.requests]


async def until(what: str, done: Callable[[], bool], timeout: float,
                logs: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s\n{logs()}")
        await asyncio.sleep(0.2)


async def echo_on(port: int) -> Callable[[], Awaitable[None]]:
    """A WebSocket server on ``port`` (the target coming back); returns its stop."""
    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    server = await serve(handler, "127.0.0.1", port, compression=None, close_timeout=0.5).__aenter__()

    async def close() -> None:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)

    return close


async def test_two_monitors_of_one_site_page_once_through_an_alertmanager_cluster(tmp_path: Path) -> None:
    binary = alertmanager_binary() or require_binary("prometheus-alertmanager")
    target_port = free_port()  # nothing listens: connections are refused
    with (
        recording_server() as rx,
        running_alertmanager_cluster(tmp_path / "am", binary, rx.url + "/page") as peers,
    ):
        config = monitor_config(target_port, peers)
        monitors = {name: start_monitor(tmp_path, name, config) for name in ("monitor-a", "monitor-b")}
        states = [tmp_path / name for name in monitors]
        close_target: Callable[[], Awaitable[None]] | None = None

        def logs() -> str:
            parts = [(tmp_path / f"{n}.log").read_text(errors="replace")[-1500:] for n in monitors]
            parts += [am.log.read_text(errors="replace")[-1500:] for am in peers]
            return "\n---\n".join(parts)

        def all_sent(kind: str) -> bool:
            want = {(kind, f"am-{i + 1}", "sent") for i in range(len(peers))}
            return all(want <= deliveries(s) for s in states)

        try:
            # fires: WebSocketDown after its `for` (2 s), in both monitors, told to both peers
            await until("a firing page", lambda: len(rx.requests) >= 1, 60, logs)
            await until("both monitors told both peers it fires", lambda: all_sent("firing"), 30, logs)
            for am in peers:  # each peer holds ONE alert for what two monitors sent it
                [alert] = am.alerts()
                assert alert["labels"] == {"alertname": "WebSocketDown", "severity": "critical",
                                           "target": "chat", "deployment": "chat-gateway", "site": "eu-west"}
            await asyncio.sleep(SETTLE)  # a duplicate from the other peer would have come by now
            assert pages(rx) == [("firing", (("WebSocketDown", "firing"),))], logs()

            # resolves: the target comes back; each monitor resolves it at both peers
            close_target = await echo_on(target_port)
            await until("a resolved notification", lambda: len(rx.requests) >= 2, 60, logs)
            await until("both monitors told both peers it resolved", lambda: all_sent("resolved"), 30, logs)
            await asyncio.sleep(SETTLE)
            assert pages(rx) == [("firing", (("WebSocketDown", "firing"),)),
                                 ("resolved", (("WebSocketDown", "resolved"),))], logs()
            labels = rx.requests[1].json["commonLabels"]
            assert labels["site"] == "eu-west" and labels["deployment"] == "chat-gateway"
        finally:
            codes = [stop(p) for p in monitors.values()]
            if close_target is not None:
                await close_target()
    assert codes == [0, 0], logs()
