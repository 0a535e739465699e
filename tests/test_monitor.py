"""The Monitor end to end: real servers on loopback, a real store, real snapshots."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.hostile import (
    close_after_accept_server,
    echo_server,
    http_status_server,
    refused_url,
    slow_reply_server,
)
from wsmon_tui.config import Config, MetricsConfig, MonitorConfig, TargetConfig
from wsmon_tui.demo.config import demo_config
from wsmon_tui.demo.server import DemoServer
from wsmon_tui.engine.exporter import MetricsServer
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.model import Snapshot
from wsmon_tui.store import Store


def make_config(targets: list[TargetConfig], *, interval: float = 0.3, **kw) -> Config:
    return Config(monitor=MonitorConfig(level="debug", interval=interval), targets=targets, **kw)


async def run_for(monitor: Monitor, seconds: float) -> list[Snapshot]:
    seen: list[Snapshot] = []
    monitor.subscribe(seen.append)
    ended = await asyncio.wait_for(monitor.run(seconds), seconds + 15)
    assert ended == "duration"
    return seen


async def test_demo_deployment_probes_and_metrics(tmp_path: Path):
    async with DemoServer(fault_after=None, heartbeat_interval=0.2) as demo:
        config = demo_config(demo.url_base, str(tmp_path))
        config.monitor.interval = 0.4
        store = Store.open(tmp_path)
        try:
            monitor = Monitor(config, store, state_dir=tmp_path)
            snaps = await run_for(monitor, 3.0)
        finally:
            store.close()
    last = snaps[-1]
    chat = next(t for t in last.targets if t.name == "chat-ws")
    assert chat.probes >= 3
    assert chat.success_rate == 1.0
    assert chat.rtt_ms.p95 is not None and chat.handshake_ms.p95 is not None
    assert chat.metrics["connections"] and chat.metrics["connections"] > 0
    assert chat.instances and len(chat.instances) == 3
    assert chat.metrics["adoption"] is not None and 0 < chat.metrics["adoption"] <= 1
    assert last.status == "healthy"
    assert last.overall["connection_utilisation"] is not None
    presence = next(t for t in last.targets if t.name == "presence-ws")
    assert presence.hold is not None and presence.hold.connected
    # history survives: the store has the session, the probes and samples
    store = Store.open(tmp_path)
    try:
        session = store.session(monitor.session_id)
        assert session["ended_by"] == "duration"
        summary = store.probe_summary(since=0, session_id=monitor.session_id)
        assert summary["chat-ws"]["probes"] == pytest.approx(chat.probes, abs=3)
        assert store.samples("chat-ws", "connections", 0)
    finally:
        store.close()
    log = tmp_path / "sessions" / f"{monitor.session_id}.jsonl"
    assert log.exists() and (log.stat().st_mode & 0o077) == 0
    assert '"session_end"' in log.read_text()


async def test_failures_are_classified_and_scored(tmp_path: Path):
    async with (
        refused_url() as refused,
        http_status_server(503) as rejected,
        close_after_accept_server(1011, "internal error") as closing,
        echo_server() as good,
    ):
        targets = [
            TargetConfig(name="refused", url=refused, timeout=1.0),
            TargetConfig(name="rejected", url=rejected, timeout=1.0),
            TargetConfig(name="closing", url=closing, timeout=1.0),
            TargetConfig(name="good", url=good, send="hi {nonce}", expect="{nonce}", timeout=1.0),
        ]
        monitor = Monitor(make_config(targets), None)
        snaps = await run_for(monitor, 2.0)
    views = {t.name: t for t in snaps[-1].targets}
    assert views["refused"].errors.get("refused", 0) >= 2
    assert views["rejected"].errors.get("http_status", 0) >= 2
    assert views["rejected"].http_statuses.get("503", 0) >= 2
    assert views["closing"].close_codes.get("1011", 0) >= 2
    for name in ("refused", "rejected", "closing"):
        assert views[name].status == "critical", name
        assert views[name].success_rate == 0.0
    assert views["good"].status == "healthy"
    assert snaps[-1].status == "critical"
    assert views["refused"].history["error_rate"][-1] == 1.0


async def test_slow_probes_overrun_instead_of_stacking():
    async with slow_reply_server(0.8) as url:
        # each probe takes ~0.8 s, the interval is 0.3 s: slots are missed, never stacked
        target = TargetConfig(name="slow", url=url, send="x", timeout=2.0)
        monitor = Monitor(make_config([target], interval=0.3), None)
        in_flight = 0
        peak = 0
        from wsmon_tui.engine import collectors as monitor_module

        real = monitor_module.probe_once

        async def counting(*args, **kwargs):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                return await real(*args, **kwargs)
            finally:
                in_flight -= 1

        monitor_module.probe_once = counting
        try:
            snaps = await run_for(monitor, 2.5)
        finally:
            monitor_module.probe_once = real
    view = snaps[-1].targets[0]
    assert peak == 1
    assert view.overruns >= 2
    assert view.success_rate == 1.0


async def test_metrics_port_serves_wsmon_view():
    async with echo_server() as url:
        monitor = Monitor(make_config([TargetConfig(name='a"b', url=url, timeout=1.0)]), None)
        server = MetricsServer(monitor.probe_metrics, "127.0.0.1", 0)
        await server.start()
        try:
            task = asyncio.ensure_future(monitor.run(1.5))
            await asyncio.sleep(1.0)
            async with httpx.AsyncClient() as client:
                page = (await client.get(f"http://127.0.0.1:{server.port}/metrics")).text
                missing = await client.get(f"http://127.0.0.1:{server.port}/nope")
            await task
        finally:
            await server.stop()
    assert missing.status_code == 404
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(page)}
    probes = families["wsmon_probes"]
    # every series names the deployment ([monitor] site is unset: no site label)
    labels = {"deployment": monitor.config.deployment.name, "target": 'a"b', "result": "success"}
    assert any(s.labels == labels and s.value >= 1 for s in probes.samples)
    assert "wsmon_probe_handshake_seconds" in families
    assert "wsmon_health_score" in families


async def test_store_failure_keeps_probing_in_memory(tmp_path: Path):
    store = Store.open(tmp_path)
    store.close()

    class Broken:
        """A store whose every call fails, as a full or vanished disk would."""

        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise OSError(28, "No space left on device")

            return fail

    async with echo_server() as url:
        monitor = Monitor(make_config([TargetConfig(name="a", url=url, timeout=1.0)]), Broken())
        snaps = await run_for(monitor, 1.0)
    assert snaps[-1].targets[0].probes >= 2
    assert any("not being stored" in note for note in snaps[-1].notes)


async def test_prometheus_source_against_real_prometheus(tmp_path: Path):
    from tests.conftest import require_binary
    from tests.prom_server import running_prometheus
    from wsmon_tui.config import PrometheusConfig

    require_binary("prometheus")
    async with DemoServer(fault_after=None) as demo:
        host = demo.url_base.removeprefix("http://")
        with running_prometheus(tmp_path / "prom", extra_targets=[host]) as prom:
            # wait until Prometheus has scraped the demo at least once
            deadline = time.monotonic() + 20
            async with httpx.AsyncClient() as client:
                while time.monotonic() < deadline:
                    r = await client.get(prom.url + "/api/v1/query",
                                         params={"query": "sum(ws_connections)"})
                    if r.json()["data"]["result"]:
                        break
                    await asyncio.sleep(0.3)
            config = make_config(
                [TargetConfig(name="chat", url=demo.ws_url, timeout=1.0)], interval=0.5,
                prometheus=PrometheusConfig(url=prom.url, queries={
                    "connections": "sum(ws_connections)",
                    "queue_depth": "sum(ws_send_queue_depth)",
                }),
                metrics=MetricsConfig(),
            )
            monitor = Monitor(config, None)
            snaps = await run_for(monitor, 2.0)
    fleet = snaps[-1].overall
    assert fleet["connections"] is not None and fleet["connections"] > 0
    assert fleet["queue_depth"] is not None


async def test_baseline_from_the_previous_versions_last_session(tmp_path: Path):
    from wsmon_tui.config import BaselineConfig, DeploymentConfig

    def config(url: str, version: str) -> Config:
        return make_config([TargetConfig(name="chat", url=url, send="x", timeout=2.0)], interval=0.3,
                           deployment=DeploymentConfig(name="chat-svc", version=version,
                                                       previous_version="1.0.0"),
                           baseline=BaselineConfig(source="previous_version", ratio=2.0, window=600))

    store = Store.open(tmp_path)
    try:
        async with echo_server() as fast:
            await run_for(Monitor(config(fast, "1.0.0"), store, state_dir=tmp_path), 1.5)
        async with close_after_accept_server(1011, "boom") as failing:
            snaps = await run_for(Monitor(config(failing, "2.0.0"), store, state_dir=tmp_path), 2.0)
    finally:
        store.close()
    # 2.0.0 fails where 1.0.0 did not: degraded against the previous version at once,
    # long before a session baseline (600 s) could have formed
    assert snaps[-1].targets[0].degraded_vs_baseline


# -- scheduling: waves, chains and the tick ------------------------------------------------------

def test_plan_chains_groups_targets_by_wave_and_endpoint():
    from wsmon_tui.engine.schedule import plan_chains

    a = [TargetConfig(name=f"a{i}", url=f"ws://Edge.example:80/p{i}") for i in range(12)]
    b = [TargetConfig(name=f"b{i}", url=f"wss://other.example/p{i}") for i in range(3)]
    chains = plan_chains([*a, *b], 1.0, per_wave=100)
    assert {offset for offset, _ in chains} == {0.0}  # one wave
    by_first = {members[0].name: [t.name for t in members] for _, members in chains}
    # 12 targets of one endpoint: two chains of 6 (at most CHAIN_MAX = 10 each), interleaved
    assert by_first["a0"] == [f"a{i}" for i in range(0, 12, 2)]
    assert by_first["a1"] == [f"a{i}" for i in range(1, 12, 2)]
    assert by_first["b0"] == ["b0", "b1", "b2"]
    assert sorted(t.name for _, m in chains for t in m) == sorted(t.name for t in [*a, *b])
    # waves of at most per_wave targets, spread over the interval
    waves = plan_chains(a, 1.0, per_wave=5)
    assert sorted({offset for offset, _ in waves}) == pytest.approx([0.0, 1 / 3, 2 / 3])
    assert all(len(m) <= 5 for _, m in waves)


def test_endpoint_key_fills_default_ports():
    from wsmon_tui.engine.schedule import endpoint_key

    assert endpoint_key("ws://Host.Example/x") == "ws://host.example:80"
    assert endpoint_key("wss://host.example/x?y=1") == "wss://host.example:443"
    assert endpoint_key("ws://127.0.0.1:8080/a") == endpoint_key("ws://127.0.0.1:8080/b")
    assert endpoint_key("ws://[::1]:9/") == "ws://::1:9"


async def test_one_endpoint_never_gets_simultaneous_handshakes(monkeypatch):
    """Targets on one server are chained: a handshake starts when the previous one has
    completed, so wsmon's own burst never shows up as the server's handshake latency."""
    from websockets.asyncio.server import serve

    from wsmon_tui.engine import collectors as monitor_module

    monkeypatch.setattr(monitor_module, "CHAIN_STAGGER", 1.0)  # a slow CI box must not start the next early
    in_handshake = peak = connections = handled = 0

    def process_request(connection, request):
        nonlocal in_handshake, peak
        in_handshake += 1  # from the upgrade request ...
        peak = max(peak, in_handshake)

    async def handler(ws):
        nonlocal in_handshake, handled, connections
        in_handshake -= 1  # ... until the 101 has been sent
        connections += 1
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            handled += 1

    async with serve(handler, "127.0.0.1", 0, compression=None, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        targets = [TargetConfig(name=f"t{i}", url=f"ws://127.0.0.1:{port}/p{i}", send="x", expect="x",
                                timeout=2.0) for i in range(4)]
        monitor = Monitor(make_config(targets, interval=3.0), None)
        snaps = await run_for(monitor, 3.5)
    assert handled >= 8  # two rounds of four
    assert peak == 1
    assert all(t.success_rate == 1.0 for t in snaps[-1].targets)


async def test_a_dead_endpoint_does_not_hold_up_its_chain():
    """Three targets on a server that never answers: each probe waits out its timeout, but
    the next in the chain starts after CHAIN_STAGGER, not after the timeout."""
    from tests.hostile import silent_tcp_server

    async with silent_tcp_server() as url:
        targets = [TargetConfig(name=f"dead{i}", url=f"{url}p{i}", timeout=1.5) for i in range(3)]
        monitor = Monitor(make_config(targets, interval=1.0), None)
        snaps = await run_for(monitor, 2.6)
    assert len(monitor.schedule_lag) >= 6  # rounds at 0 s and 2 s (1 s was an overrun)
    assert max(monitor.schedule_lag) < 0.6
    views = snaps[-1].targets
    assert all(v.errors.get("timeout", 0) >= 1 and v.overruns >= 1 for v in views)


async def test_a_tick_shows_the_probes_of_its_own_instant():
    """The tick falls on the same instant as the probes and waits (briefly) for them."""
    async with echo_server() as url:
        monitor = Monitor(make_config([TargetConfig(name="e", url=url, timeout=1.0)], interval=1.0), None)
        snaps = await run_for(monitor, 1.5)
    assert snaps[0].taken_at - monitor.session_started < 0.5  # the first snapshot comes with the first probe
    assert snaps[0].targets[0].probes == 1
    assert snaps[1].targets[0].probes == 2  # the probes at 0 s and at 1 s, the tick's own instant
