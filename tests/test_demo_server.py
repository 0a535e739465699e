"""The demo deployment: real WebSocket clients, real HTTP, a real subprocess for the CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import socket
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wsmon_tui.config import Config
from wsmon_tui.demo import DemoServer, demo_config, httpio
from wsmon_tui.demo.population import LATENCY_BUCKETS, Population, render_prometheus
from wsmon_tui.durations import parse_duration

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_logged_errors(caplog: pytest.LogCaptureFixture):
    """Neither asyncio nor the demo may log an error (e.g. a handler task dying untidily)."""
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


@pytest.fixture
async def demo() -> AsyncIterator[DemoServer]:
    server = DemoServer(fault_after=None, heartbeat_interval=0.2, tick=0.1)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


async def _recv_reply(ws, timeout: float = 3.0) -> str:
    """The next message that is not a server heartbeat."""
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.recv()
            if isinstance(message, str) and message.startswith('{"type": "heartbeat"'):
                continue
            return message


def _families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


async def _scrape(http: httpx.AsyncClient, server: DemoServer) -> dict:
    response = await http.get(server.url_base + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return _families(response.text)


def _total(families: dict, name: str, **labels: str) -> float:
    return sum(s.value for s in families[name].samples
               if all(s.labels.get(k) == v for k, v in labels.items())
               and not s.name.endswith(("_created", "_bucket", "_sum", "_count")))


async def _handshakes(server: DemoServer, attempts: int, *, message: bool = True) -> dict[str, int]:
    """Open ``attempts`` real connections; count outcomes.

    On each, a protocol ping round trip (answered at once, fault or not) and, with
    ``message``, one "ping" message (slow while the fault is on).
    """
    outcome = {"ok": 0, "503": 0, "1011": 0, "other": 0}
    for i in range(attempts):
        try:
            async with connect(server.ws_url, open_timeout=3, close_timeout=1) as ws:
                async with asyncio.timeout(3):
                    await (await ws.ping())
                if message:
                    await ws.send(f"ping n{i}")
                    reply = await _recv_reply(ws)
                    assert reply == f"pong ping n{i}"
                outcome["ok"] += 1
        except InvalidStatus as exc:
            key = "503" if exc.response.status_code == 503 else "other"
            outcome[key] += 1
        except ConnectionClosed as exc:
            key = "1011" if exc.rcvd is not None and exc.rcvd.code == 1011 else "other"
            outcome[key] += 1
    return outcome


async def _wait_for(predicate, timeout: float = 5.0, step: float = 0.05) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(step)


# -- WebSocket -----------------------------------------------------------------------


async def test_echo_ping_pong_and_binary(demo: DemoServer) -> None:
    async with connect(demo.ws_url, open_timeout=3) as ws:
        await ws.send("hello there")
        assert await _recv_reply(ws) == "hello there"
        await ws.send("ping 1f2e3d")
        assert await _recv_reply(ws) == "pong ping 1f2e3d"
        await ws.send(b"\x00\x01binary")
        assert await _recv_reply(ws) == b"\x00\x01binary"
        await ws.send(["frag", "mented ", "ping"])  # a fragmented message is reassembled
        assert await _recv_reply(ws) == "pong fragmented ping"
        async with asyncio.timeout(3):
            latency = await (await ws.ping())
        assert latency >= 0


async def test_heartbeats_arrive(demo: DemoServer) -> None:
    async with connect(demo.ws_url, open_timeout=3) as ws:
        beats = []
        async with asyncio.timeout(3):
            while len(beats) < 2:
                beats.append(json.loads(await ws.recv()))
    assert [b["type"] for b in beats] == ["heartbeat", "heartbeat"]
    assert beats[1]["seq"] == beats[0]["seq"] + 1
    assert beats[0]["instance"].startswith("demo-")


async def test_plain_get_on_ws_is_refused(demo: DemoServer, http: httpx.AsyncClient) -> None:
    response = await http.get(demo.url_base + "/ws")
    assert response.status_code in (400, 426)
    response = await http.post(demo.url_base + "/ws", json={})
    assert response.status_code == 405


# -- metrics -----------------------------------------------------------------------


async def test_metrics_families_and_values(demo: DemoServer, http: httpx.AsyncClient) -> None:
    async with connect(demo.ws_url, open_timeout=3):
        fams = await _scrape(http, demo)
    assert fams["ws_connections"].type == "gauge"
    assert fams["ws_messages"].type == "counter"
    assert fams["ws_errors"].type == "counter"
    assert fams["ws_send_queue_depth"].type == "gauge"
    assert fams["clients_by_transport"].type == "gauge"
    assert fams["ws_message_latency_seconds"].type == "histogram"
    for name in ("ws_connections", "ws_messages", "ws_errors", "ws_send_queue_depth"):
        instances = {s.labels["instance"] for s in fams[name].samples}
        assert instances == {"demo-1", "demo-2", "demo-3"}, name
    conns = _total(fams, "ws_connections")
    ws_clients = _total(fams, "clients_by_transport", transport="websocket")
    lp_clients = _total(fams, "clients_by_transport", transport="longpoll")
    assert 150 <= conns <= 201  # 200 simulated clients, most on WebSocket, plus our connection
    assert conns == ws_clients  # every WebSocket client holds one connection
    assert ws_clients / (ws_clients + lp_clients) > 0.9  # rollout starts at 100 %
    assert _total(fams, "ws_messages") > 0
    assert _total(fams, "ws_errors") < _total(fams, "ws_messages") * 0.05
    assert 0 <= _total(fams, "ws_send_queue_depth") < 100

    hist = fams["ws_message_latency_seconds"].samples
    buckets = [(float(s.labels["le"]), s.value) for s in hist if s.name.endswith("_bucket")]
    assert [le for le, _ in buckets] == [*LATENCY_BUCKETS, float("inf")]
    values = [v for _, v in buckets]
    assert values == sorted(values) and values[0] >= 0  # cumulative
    count = next(s.value for s in hist if s.name.endswith("_count"))
    total = next(s.value for s in hist if s.name.endswith("_sum"))
    assert values[-1] == count > 0
    assert 0.005 < total / count < 0.2  # normal latency: tens of milliseconds


async def test_metrics_move_over_time(demo: DemoServer, http: httpx.AsyncClient) -> None:
    first = await _scrape(http, demo)
    await asyncio.sleep(0.6)
    second = await _scrape(http, demo)
    assert _total(second, "ws_messages") > _total(first, "ws_messages")
    count = "ws_message_latency_seconds"
    assert (next(s.value for s in second[count].samples if s.name.endswith("_count"))
            > next(s.value for s in first[count].samples if s.name.endswith("_count")))


# -- flags and plain routes -------------------------------------------------------------


async def test_flags_get_and_put(demo: DemoServer, http: httpx.AsyncClient) -> None:
    flags = (await http.get(demo.url_base + "/flags")).json()
    assert flags["websocket_enabled"] == {"enabled": True, "rollout": 100}
    for state in flags.values():
        assert set(state) == {"enabled", "rollout"}

    r = await http.put(demo.url_base + "/flags/websocket_enabled", json={"rollout": 50})
    assert r.status_code == 200
    assert r.json()["websocket_enabled"] == {"enabled": True, "rollout": 50}
    r = await http.post(demo.url_base + "/flags", json={"websocket_enabled": False})
    assert r.status_code == 200 and r.json()["websocket_enabled"]["enabled"] is False
    r = await http.put(demo.url_base + "/flags", json={"rollout": 25.5, "enabled": True})
    assert r.json()["websocket_enabled"] == {"enabled": True, "rollout": 25.5}
    r = await http.put(demo.url_base + "/flags", json={"new_flag": {"enabled": True, "rollout": 10}})
    assert r.json()["new_flag"] == {"enabled": True, "rollout": 10}
    r = await http.get(demo.url_base + "/flags/new_flag")
    assert r.json() == {"new_flag": {"enabled": True, "rollout": 10}}
    assert (await http.get(demo.url_base + "/flags/nope")).status_code == 404


@pytest.mark.parametrize("path, body", [
    ("/flags/websocket_enabled", b"{not json"),
    ("/flags/websocket_enabled", b""),
    ("/flags/websocket_enabled", b'{"rollout": 101}'),
    ("/flags/websocket_enabled", b'{"rollout": -1}'),
    ("/flags/websocket_enabled", b'{"rollout": "50"}'),
    ("/flags/websocket_enabled", b'{"rollout": true}'),
    ("/flags/websocket_enabled", b'{"enabled": "no"}'),
    ("/flags/websocket_enabled", b'{"enabled": false, "colour": 1}'),
    ("/flags/websocket_enabled", b"[1, 2]"),
    ("/flags", b"{}"),
    ("/flags", b'{"rollout": 50, "websocket_enabled": "off"}'),
    ("/flags/bad name!", b'{"enabled": true}'),
    ("/fault", b'{"active": "yes"}'),
])
async def test_bad_flag_input_is_400_and_changes_nothing(demo: DemoServer, http: httpx.AsyncClient,
                                                         path: str, body: bytes) -> None:
    before = (await http.get(demo.url_base + "/flags")).json()
    r = await http.put(demo.url_base + path, content=body, headers={"content-type": "application/json"})
    assert r.status_code in (400, 404)
    assert "error" in r.json()
    assert (await http.get(demo.url_base + "/flags")).json() == before


async def test_plain_routes(demo: DemoServer, http: httpx.AsyncClient) -> None:
    r = await http.get(demo.url_base + "/healthz")
    assert (r.status_code, r.text) == (200, "ok\n")
    assert (await http.get(demo.url_base + "/nowhere")).status_code == 404
    assert (await http.delete(demo.url_base + "/flags")).status_code == 405
    assert (await http.post(demo.url_base + "/metrics")).status_code == 405
    big = b'{"x": "' + b"a" * 70_000 + b'"}'
    assert (await http.put(demo.url_base + "/flags", content=big)).status_code == 413


async def test_oversized_garbage_and_silent_requests(demo: DemoServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    async def raw(payload: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", demo.port)
        try:
            writer.write(payload)
            await writer.drain()
            async with asyncio.timeout(3):
                return await reader.read()
        finally:
            writer.close()

    assert (await raw(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")).startswith(
        b"HTTP/1.1 431")
    assert (await raw(b"garbage\r\n\r\n")).startswith(b"HTTP/1.1 400")
    assert (await raw(b"PUT /flags HTTP/1.1\r\nContent-Length: 12x\r\n\r\n")).startswith(b"HTTP/1.1 400")
    assert (await raw(b"PUT /flags HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")).startswith(
        b"HTTP/1.1 411")
    # a client that connects and says nothing (or too little) is dropped, not kept forever
    monkeypatch.setattr(httpio, "READ_TIMEOUT", 0.2)
    assert await raw(b"") == b""
    assert await raw(b"PUT /flags HTTP/1.1\r\nContent-Length: 10\r\n\r\n{") == b""
    assert (await http_health(demo)) == 200


async def http_health(demo: DemoServer) -> int:
    async with httpx.AsyncClient(timeout=3) as client:
        return (await client.get(demo.url_base + "/healthz")).status_code


# -- the fault and the rollback -------------------------------------------------------


async def test_fault_then_rollback_through_flag(http: httpx.AsyncClient) -> None:
    events: list[str] = []
    server = DemoServer(fault_after=0.2, tick=0.1, heartbeat_interval=5.0, on_event=events.append)
    await server.start()
    try:
        before = await _scrape(http, server)

        async def active() -> bool:
            return (await http.get(server.url_base + "/fault")).json()["active"]

        await _wait_for(active, timeout=3)
        assert server.fault_active and events and events[0].startswith("fault started")

        outcome = await _handshakes(server, 30, message=False)
        failures = outcome["503"] + outcome["1011"]
        assert outcome["other"] == 0
        assert outcome["503"] > 0 and outcome["1011"] > 0
        assert 5 <= failures <= 22, outcome  # ~40 %

        async with connect(server.ws_url, open_timeout=3) as ws:
            pass_start = time.monotonic()
            await ws.send("ping slow")
            assert await _recv_reply(ws) == "pong ping slow"
            assert time.monotonic() - pass_start >= 0.29

        await asyncio.sleep(0.5)
        during = await _scrape(http, server)
        assert _total(during, "ws_errors") > _total(before, "ws_errors") + failures - 1
        queue_peak = _total(during, "ws_send_queue_depth")
        assert queue_peak > 50 + _total(before, "ws_send_queue_depth")
        hist = during["ws_message_latency_seconds"].samples
        slow = next(s.value for s in hist if s.name.endswith("_bucket") and s.labels["le"] == "0.25")
        count = next(s.value for s in hist if s.name.endswith("_count"))
        hist0 = before["ws_message_latency_seconds"].samples
        slow0 = next(s.value for s in hist0 if s.name.endswith("_bucket") and s.labels["le"] == "0.25")
        count0 = next(s.value for s in hist0 if s.name.endswith("_count"))
        assert (count - count0) - (slow - slow0) > 10  # new observations above 250 ms

        # The rollback: websocket_enabled off clears the fault for new connections at once.
        r = await http.put(server.url_base + "/flags/websocket_enabled", json={"enabled": False})
        assert r.status_code == 200
        assert not server.fault_active and "fault cleared" in events[-1]
        outcome = await _handshakes(server, 20)
        assert outcome == {"ok": 20, "503": 0, "1011": 0, "other": 0}
        async with connect(server.ws_url, open_timeout=3) as ws:
            pass_start = time.monotonic()
            await ws.send("ping fast")
            assert await _recv_reply(ws) == "pong ping fast"
            assert time.monotonic() - pass_start < 0.25

        async def drained() -> bool:
            return _total(await _scrape(http, server), "ws_send_queue_depth") < queue_peak / 4

        await _wait_for(drained, timeout=6, step=0.2)

        # Turning the flag back on does not bring the fault back ...
        await http.put(server.url_base + "/flags/websocket_enabled", json={"enabled": True})
        assert not server.fault_active
        assert (await _handshakes(server, 10))["ok"] == 10
        # ... unless someone asks for it.
        r = await http.post(server.url_base + "/fault", json={"active": True})
        assert r.json()["active"] is True and server.fault_active
        r = await http.post(server.url_base + "/fault", json={"active": False})
        assert r.json()["active"] is False
    finally:
        await server.stop()


async def test_fault_waits_for_websocket_enabled(http: httpx.AsyncClient) -> None:
    async with DemoServer(fault_after=0.1, tick=0.05) as server:
        await http.put(server.url_base + "/flags", json={"websocket_enabled": False})
        await asyncio.sleep(0.3)
        assert not server.fault_active
        assert (await http.get(server.url_base + "/fault")).json()["state"] == "pending"
        await http.put(server.url_base + "/flags", json={"websocket_enabled": True})
        await asyncio.sleep(0.2)
        assert server.fault_active


# -- the population ------------------------------------------------------------------


def _run(pop: Population, seconds: float, *, enabled: bool = True, rollout: float = 100,
         fault: bool = False) -> None:
    for _ in range(round(seconds / 0.5)):
        pop.step(0.5, websocket_enabled=enabled, rollout=rollout, fault=fault)


def test_adoption_follows_rollout_gradually() -> None:
    pop = Population(200, seed=3)
    _run(pop, 10)
    assert pop.adoption() > 0.9
    _run(pop, 0.5, rollout=30)
    assert pop.adoption() > 0.7  # clients move gradually, not at once
    _run(pop, 20, rollout=30)
    assert 0.2 <= pop.adoption() <= 0.4
    _run(pop, 20, enabled=False, rollout=30)
    assert pop.adoption() == 0
    assert sum(pop.connections().values()) == 0
    _run(pop, 20, rollout=80)
    assert 0.65 <= pop.adoption() <= 0.9


def test_population_is_deterministic_and_counters_only_grow() -> None:
    a, b = Population(150, seed=9), Population(150, seed=9)
    last = 0
    for i in range(40):
        fault = 10 <= i < 20
        a.step(0.5, websocket_enabled=True, rollout=70, fault=fault)
        b.step(0.5, websocket_enabled=True, rollout=70, fault=fault)
        assert sum(a.messages_total) >= last
        last = sum(a.messages_total)
    assert render_prometheus(a) == render_prometheus(b)
    assert render_prometheus(Population(150, seed=10)) != render_prometheus(Population(150, seed=9))


async def test_adoption_moves_with_rollout_end_to_end(demo: DemoServer, http: httpx.AsyncClient) -> None:
    await http.put(demo.url_base + "/flags/websocket_enabled", json={"rollout": 0})

    async def low() -> bool:
        fams = await _scrape(http, demo)
        ws = _total(fams, "clients_by_transport", transport="websocket")
        lp = _total(fams, "clients_by_transport", transport="longpoll")
        return ws / (ws + lp) < 0.5

    await _wait_for(low, timeout=10, step=0.2)


# -- lifecycle and the command -----------------------------------------------------------


async def test_stop_closes_everything_and_frees_the_port() -> None:
    server = DemoServer(heartbeat_interval=0.1, tick=0.05)
    await server.start()
    port = server.port
    ws = await connect(server.ws_url, open_timeout=3)
    await ws.send("hello")
    assert await _recv_reply(ws) == "hello"
    await server.stop()
    await server.stop()  # idempotent
    with pytest.raises(ConnectionClosed) as info:
        async with asyncio.timeout(3):
            while True:
                await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    await ws.close()
    leftover = [t for t in asyncio.all_tasks() if not t.done()
                and "wsmon_tui" in getattr(getattr(t.get_coro(), "cr_code", None), "co_filename", "")]
    assert leftover == []
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(timeout=2) as client:
            await client.get(f"http://127.0.0.1:{port}/healthz")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "wsmon_tui", "demo-server", *args]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_cli_serves_and_exits_0_on_signal(http: httpx.AsyncClient, sig: signal.Signals) -> None:
    proc = await asyncio.create_subprocess_exec(
        *_cli("--port", "0", "--fault-after", "0.3s"), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        async with asyncio.timeout(15):
            line = (await proc.stdout.readline()).decode()
            assert "ws ws://127.0.0.1:" in line and "/metrics" in line and "/flags" in line
            url_base = line.split("metrics ", 1)[1].split()[0].removesuffix("/metrics")
            assert (await http.get(url_base + "/healthz")).text == "ok\n"
            assert "fault started" in (await proc.stdout.readline()).decode()
            await http.put(url_base + "/flags/websocket_enabled", json={"enabled": False})
            assert "fault cleared" in (await proc.stdout.readline()).decode()
            proc.send_signal(sig)
            out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert b"stopped" in out
        assert b"Traceback" not in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_cli_port_in_use_is_one_clear_message() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            *_cli("--port", str(port)), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=REPO)
        try:
            async with asyncio.timeout(15):
                _, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 1
    text = err.decode()
    assert "already in use" in text and str(port) in text and "Traceback" not in text


async def test_cli_bad_fault_after_is_a_usage_error() -> None:
    proc = await asyncio.create_subprocess_exec(
        *_cli("--port", "0", "--fault-after", "soon"), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=REPO)
    async with asyncio.timeout(15):
        _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"--fault-after" in err and b"Traceback" not in err


def test_fault_after_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsmon_tui.commands.demo_cmd import fault_after_from

    assert fault_after_from(None) == 60.0
    monkeypatch.setenv("WSMON_DEMO_FAULT_AFTER", "2m")
    assert fault_after_from(None) == 120.0
    assert fault_after_from("30s") == 30.0
    assert fault_after_from("45") == 45.0
    assert fault_after_from("never") is None


# -- the demo config ------------------------------------------------------------------


def test_demo_config_values(tmp_path: Path) -> None:
    cfg = demo_config("http://127.0.0.1:9999", str(tmp_path))
    assert isinstance(cfg, Config)
    assert (cfg.deployment.name, cfg.deployment.version, cfg.deployment.previous_version) == (
        "demo-chat", "2.0.0", "1.9.3")
    assert [t.name for t in cfg.targets] == ["chat-ws", "presence-ws"]
    chat, presence = cfg.targets
    assert chat.url == presence.url == "ws://127.0.0.1:9999/ws"
    assert (chat.send, chat.expect, chat.metrics_url) == ("ping {nonce}", "{nonce}",
                                                         "http://127.0.0.1:9999/metrics")
    assert presence.hold and presence.send is None
    assert cfg.monitor.level == "debug" and cfg.interval == 2.0
    assert cfg.monitor.state_dir == str(tmp_path)
    assert cfg.alerts.channels[0].type == "file"
    assert cfg.alerts.channels[0].path == str(tmp_path / "demo-alerts.jsonl")
    step = cfg.rollback.steps[0]
    assert (step.type, step.method, step.url, step.json) == (
        "http", "PUT", "http://127.0.0.1:9999/flags/websocket_enabled", {"enabled": False})
    assert cfg.rollback.auto is True and cfg.rollback.verify_successes == 3
    assert cfg.flags.provider == "http" and cfg.flags.url == "http://127.0.0.1:9999/flags"
    assert cfg.resources.port == 9999
    # sized so that ~200 WebSocket clients use 40-60 % of the limit
    assert 0.4 <= 200 / cfg.deployment.connection_limit <= 0.6


def _compare(toml_value: object, obj: object, path: str) -> None:
    """Every TOML key is a field of ``obj`` with the same value; every non-default field is in TOML."""
    assert isinstance(toml_value, dict), path
    default = type(obj)()
    by_key = {(f.metadata.get("key") or f.name): f for f in dataclasses.fields(obj)
              if not f.metadata.get("internal")}
    assert set(toml_value) <= set(by_key), f"{path}: unknown keys {set(toml_value) - set(by_key)}"
    for key, f in by_key.items():
        value, expected = toml_value.get(key), getattr(obj, f.name)
        if key not in toml_value:
            assert expected == getattr(default, f.name), f"{path}.{key} missing from the TOML"
        elif dataclasses.is_dataclass(expected):
            _compare(value, expected, f"{path}.{key}")
        elif isinstance(expected, list) and expected and dataclasses.is_dataclass(expected[0]):
            assert isinstance(value, list) and len(value) == len(expected), f"{path}.{key}"
            for i, (tv, item) in enumerate(zip(value, expected, strict=True)):
                _compare(tv, item, f"{path}.{key}[{i}]")
        else:
            if f.metadata.get("kind") == "duration" and isinstance(value, str):
                value = parse_duration(value)
            assert value == expected, f"{path}.{key}: {value!r} != {expected!r}"


def test_examples_demo_toml_matches_demo_config() -> None:
    with open(REPO / "examples" / "demo.toml", "rb") as fh:
        data = tomllib.load(fh)
    _compare(data, demo_config("http://127.0.0.1:8765", None), "demo.toml")
