"""On a laptop (issue 14): the monitor sleeps and wakes, and its own network goes.

Real peers only: a real ``wsmon-tui monitor`` process stopped with SIGSTOP in the middle of a
probe and continued, a real echo server, a real webhook receiver; a real Monitor whose three
targets on 127.0.0.2/.3/.4 refuse, then one of them answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.receivers import Request, recording_server
from tests.test_monitor_cli import start, wait_for_line
from wsmon_tui.config import AlertsConfig, ChannelConfig, Config, MonitorConfig, ResourcesConfig, TargetConfig
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.engine.offline import offline_hosts
from wsmon_tui.model import ProbeResult, TargetView
from wsmon_tui.store import Store

ASLEEP = 12.0
"""Seconds the monitor is stopped: the issue's 30 s made this test 40 s long; 12 s is well past
the 5 s that count as asleep and shows the same thing."""


def alerts_in(requests: list[Request]) -> list[tuple[str, str, str]]:
    """(alertname, target, status) per alert in Alertmanager-webhook payloads."""
    out = []
    for r in requests:
        for a in r.json["alerts"]:
            out.append((a["labels"]["alertname"], a["labels"].get("target", ""), a["status"]))
    return out


async def test_a_monitor_stopped_mid_probe_marks_the_gap_and_pages_nothing(tmp_path: Path):
    """SIGSTOP while a probe waits for its reply, SIGCONT 12 s later: the gap is noticed and
    recorded, the probe that straddled it is dropped, and no rule judges the gap."""
    armed: list[int] = []  # the monitor's pid once it should be stopped at its next probe

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            if armed:  # the probe has sent its message and waits for the reply: stop it now
                pid = armed.pop()
                os.kill(pid, signal.SIGSTOP)
                # reply only once it is stopped: on a busy machine it could otherwise read the
                # reply before the signal lands, and no probe would straddle the gap
                for _ in range(200):
                    if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T":
                        break
                    await asyncio.sleep(0.01)
                stopped.set()
            await ws.send(message)

    stopped = asyncio.Event()
    state = tmp_path / "state"
    with recording_server() as hook:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            cfg = tmp_path / "wsmon.toml"
            cfg.write_text(
                '[monitor]\nlevel = "debug"\ninterval = "0.5s"\n'
                '[resources]\nhost = false\n'  # the shared machine's CPU is not under test
                '[[targets]]\nname = "chat"\n'
                f'url = "ws://127.0.0.1:{port}/"\nsend = "hello"\nexpect = "hello"\ntimeout = "1s"\n'
                '[[alerts.channels]]\ntype = "webhook"\nname = "hook"\n'
                f'url = "{hook.url}/hook"\nmin_severity = "info"\n'
                # true on every tick (a count, never missing): its `for` is running when the monitor
                # stops, and would be over as it continues if the time asleep counted towards it
                '[[alerts.rules]]\nname = "ForAcrossTheGap"\nmetric = "abnormal_closes"\nop = ">="\n'
                'threshold = 0\nfor = "12s"\nseverity = "info"\n')
            proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), cwd=tmp_path)
            try:
                for _ in range(4):
                    await wait_for_line(proc, "chat: healthy")
                armed.append(proc.pid)
                await asyncio.wait_for(stopped.wait(), 10)
                await asyncio.sleep(ASLEEP)
                os.kill(proc.pid, signal.SIGCONT)
                # longer than TargetDown's `for` (5 s at debug): a page from the gap would be sent
                deadline = time.monotonic() + 9
                while time.monotonic() < deadline:
                    await wait_for_line(proc, "chat: healthy", timeout=deadline - time.monotonic() + 2)
                proc.send_signal(signal.SIGTERM)
                _, stderr = await asyncio.wait_for(proc.communicate(), 15)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)
                    proc.kill()
                await proc.wait()
        assert proc.returncode == 0, stderr.decode()
        # nothing paged, before, during or after the gap
        assert alerts_in(hook.requests) == [], stderr.decode()
    said = re.search(r"note: resumed after (\d+) s asleep", stderr.decode())
    assert said is not None and abs(int(said[1]) - ASLEEP) <= 2, stderr.decode()
    with Store.open(state, create=False) as store:
        [gap] = store.events(kinds=["gap"])
        session = store.latest_session()
    data = gap["data"] if isinstance(gap["data"], dict) else json.loads(gap["data"])
    assert ASLEEP - 1 <= data["end"] - data["start"] <= ASLEEP + 3
    assert ASLEEP - 2 <= data["asleep_s"] <= ASLEEP + 2
    assert session["ended_by"] == "sigterm"
    lines = (state / "sessions" / f"{session['id']}.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    assert events.count("gap") == 1
    # the probe that was waiting for its reply when the monitor stopped is not evidence
    assert "probe_dropped" in events
    assert "notification" not in events


def _free_port_on(*hosts: str) -> int:
    """A port with nothing listening on any of ``hosts`` (loopback addresses)."""
    for _ in range(20):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        try:
            for host in hosts[1:]:
                with socket.socket() as s:
                    s.bind((host, port))
        except OSError:
            continue
        return port
    raise AssertionError("no free port")


HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


def offline_config(port: int, hook_url: str) -> Config:
    targets = [TargetConfig(name=f"t{i}", url=f"ws://{h}:{port}/", timeout=1.0)
               for i, h in enumerate(HOSTS, 2)]
    channels = [ChannelConfig(type="webhook", name="hook", url=hook_url + "/hook", min_severity="info")]
    return Config(monitor=MonitorConfig(level="debug", interval=0.3), targets=targets,
                  alerts=AlertsConfig(channels=channels), resources=ResourcesConfig(host=False))


async def _until(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_every_target_on_three_hosts_refused_is_one_page_about_the_monitor(tmp_path: Path):
    """Three targets on three hosts all refused: one MonitorOffline page, no TargetDown; when
    one target answers, MonitorOffline resolves and the two still failing page as TargetDown."""
    port = _free_port_on(*HOSTS)
    state = tmp_path / "state"
    with recording_server() as hook:
        store = Store.open(state)
        monitor = Monitor(offline_config(port, hook.url), store, state_dir=state)
        task = asyncio.ensure_future(monitor.run(60.0))
        try:
            await _until(lambda: ("MonitorOffline", "overall", "firing") in alerts_in(hook.requests), 20)
            await asyncio.sleep(2.0)  # room for a per-target page, were one sent
            assert alerts_in(hook.requests) == [("MonitorOffline", "overall", "firing")]
            snap = monitor.latest
            assert snap is not None and snap.overall["offline_hosts"] == 3.0
            held = {a.target: a for a in snap.alerts if a.rule == "TargetDown"}
            assert set(held) == {"t2", "t3", "t4"}
            assert all(a.state == "firing" and not a.silenced and a.inhibited_by == "MonitorOffline"
                       for a in held.values())

            async def echo(ws: ServerConnection) -> None:
                async for message in ws:
                    await ws.send(message)

            async with serve(echo, HOSTS[0], port):  # t2 answers: this machine is online after all
                wanted = {("TargetDown", "t3", "firing"), ("TargetDown", "t4", "firing"),
                          ("MonitorOffline", "overall", "resolved")}
                await _until(lambda: wanted <= set(alerts_in(hook.requests)), 15)
                await asyncio.sleep(1.0)
        finally:
            monitor.request_stop("test")
            await asyncio.wait_for(task, 15)
            store.close()
    sent = alerts_in(hook.requests)
    assert sent.count(("MonitorOffline", "overall", "firing")) == 1
    assert ("TargetDown", "t2", "firing") not in sent  # the target that answered is not paged
    assert sorted(a for a in sent if a[0] == "TargetDown") == [("TargetDown", "t3", "firing"),
                                                              ("TargetDown", "t4", "firing")]


def failing_view(url: str, error_class: str, probes: int = 3) -> TargetView:
    """A target whose every probe in the window failed with ``error_class``, never connecting."""
    last = ProbeResult(target=url, started_at=0.0, ok=False, error_class=error_class)
    return TargetView(name=url, url=url, probes=probes, success_rate=0.0, last_probe=last,
                      values={"probe_success_rate": 0.0, error_class: float(probes)})


@pytest.mark.parametrize("urls,expected", [
    (["ws://127.0.0.2:1/", "ws://127.0.0.3:1/", "ws://127.0.0.4:1/"], 3.0),
    (["ws://127.0.0.2:1/", "ws://127.0.0.2:2/", "ws://127.0.0.2:3/"], 1.0),  # one host down: its own pages
    (["ws://127.0.0.2:1/", "ws://127.0.0.3:1/"], 0.0),  # two targets say nothing about this machine
])
def test_offline_hosts_counts_hosts_only_when_every_target_fails_at_the_network_level(urls, expected):
    assert offline_hosts([failing_view(u, "refused") for u in urls]) == expected
    assert offline_hosts([failing_view(u, "http_status") for u in urls]) == 0.0
    assert offline_hosts([]) is None


def test_sleep_watch_sees_a_stop_on_the_monotonic_clock(monkeypatch):
    from wsmon_tui.engine import wake

    now = {"mono": 100.0}
    monkeypatch.setattr(wake, "_boottime", lambda: None)
    monkeypatch.setattr(wake.time, "monotonic", lambda: now["mono"])
    monkeypatch.setattr(wake.time, "time", lambda: now["mono"])
    watch = wake.SleepWatch(tick_period=1.0, interval=0.5, wall=lambda: 1000.0 + now["mono"])
    assert watch.check() is None  # the first tick only sets the reference
    for _ in range(3):
        now["mono"] += 1.2  # a busy tick is not a sleep
        assert watch.check() is None
    now["mono"] += 31.0
    gap = watch.check()
    assert gap is not None and gap.asleep == pytest.approx(30.0)
    assert gap.end - gap.start == pytest.approx(31.0)
    assert gap.start < gap.cutoff < gap.end
    now["mono"] += 1.0
    assert watch.check() is None


def test_windows_start_afresh_after_the_floor():
    from wsmon_tui.engine.series import EngineWindows, SeriesBook

    samples, history = SeriesBook(), SeriesBook()
    for ts in (10.0, 20.0, 30.0):
        history.add("chat", "probe_success_rate", ts, 0.0)
        samples.add("chat", "rtt_ms", ts, 5.0)
    windows = EngineWindows(samples, history)
    windows.floor = 25.0
    assert windows.values_since("chat", "probe_success_rate", 0.0) == [0.0]
    assert windows.values_since("chat", "rtt_ms", 0.0) == [5.0]
    windows.floor = 35.0
    assert windows.last("chat", "probe_success_rate") is None
    assert len(windows.points_since("chat", "probe_success_rate", 0.0)) == 3  # the charts keep every point
    assert windows.first("chat", "probe_success_rate") == (10.0, 0.0)  # so does the baseline


def test_resume_restarts_a_pending_for_and_holds_a_firing_alert():
    from tests.test_alert_engine import Clock, World, err_rule, make_config
    from wsmon_tui.alerts.engine import AlertEngine

    clock = Clock()
    engine = AlertEngine(make_config(err_rule(name="Slow", for_=30.0),
                                     err_rule(name="Fast", keep_firing_for=10.0)), None, clock=clock)
    world = World(clock)
    try:
        world.run(engine, error_rate=0.5)
        clock.advance(20)
        world.run(engine, error_rate=0.5)
        states = {a.rule: a.state for a in engine.views()}
        assert states == {"Slow": "pending", "Fast": "firing"}
        clock.advance(60)  # asleep: nothing judged
        engine.resume(clock())
        assert {a.rule: a.state for a in engine.views() if a.state != "resolved"} == {"Fast": "firing"}
        clock.advance(5)
        world.run(engine, error_rate=0.0)  # not true, but held from the resume
        world.run(engine, error_rate=0.5)
        assert {a.rule: a.state for a in engine.views()} == {"Fast": "firing", "Slow": "pending"}
        clock.advance(31)
        world.run(engine, error_rate=0.5)
        assert {a.rule: a.state for a in engine.views()} == {"Fast": "firing", "Slow": "firing"}
    finally:
        engine.close()
