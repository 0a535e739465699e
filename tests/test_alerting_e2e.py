"""Alerting end to end, the way issue 4 is judged: a real Monitor probing a refused target,
real receivers (HTTP, SMTP, Alertmanager, a file), a receiver that is down when the alert
fires, a restart, and acks from the command line reaching the running monitor."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from tests.conftest import require_binary
from tests.hostile import echo_server, refused_url
from tests.receivers import alertmanager_binary, recording_server, running_alertmanager, smtp_server
from wsmon_tui.config import ChannelConfig, Config, MonitorConfig, TargetConfig
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.store import Store


def config_for(url: str, channels: list[ChannelConfig], *, name: str = "chat") -> Config:
    return Config(monitor=MonitorConfig(level="debug", interval=0.3),
                  targets=[TargetConfig(name=name, url=url, timeout=1.0)],
                  alerts=Config().alerts.__class__(channels=channels))


async def run_monitor(config: Config, state: Path, seconds: float) -> Monitor:
    store = Store.open(state)
    try:
        monitor = Monitor(config, store, state_dir=state)
        await asyncio.wait_for(monitor.run(seconds), seconds + 20)
    finally:
        store.close()
    return monitor


def firing_rules(payloads: list[dict]) -> list[tuple[str, str]]:
    """(alertname, status) per alert in Alertmanager-webhook payloads."""
    return [(a["labels"]["alertname"], a["status"]) for p in payloads for a in p["alerts"]]


async def test_refused_target_pages_once_on_every_channel(tmp_path: Path):
    require_binary("prometheus-alertmanager") if not alertmanager_binary() else None
    binary = alertmanager_binary()
    assert binary
    with (
        recording_server() as hook,
        recording_server() as slack,
        recording_server() as pager,
        smtp_server() as smtp,
        running_alertmanager(tmp_path / "am", binary) as am,
    ):
        channels = [
            ChannelConfig(type="webhook", name="hook", url=hook.url + "/hook", min_severity="critical"),
            ChannelConfig(type="slack", name="slack", url=slack.url + "/slack", min_severity="critical"),
            ChannelConfig(type="pagerduty", name="pd", url=pager.url + "/v2/enqueue", routing_key="rk-1",
                          min_severity="critical"),
            ChannelConfig(type="email", name="mail", smtp_server=smtp.address, sender="wsmon@example.com",
                          recipients=["oncall@example.com"], starttls=False, min_severity="critical"),
            ChannelConfig(type="file", name="file", path=str(tmp_path / "alerts.jsonl"),
                          min_severity="critical"),
            ChannelConfig(type="alertmanager", name="am", url=am.url, min_severity="critical"),
        ]
        async with refused_url() as url:
            await run_monitor(config_for(url, channels), tmp_path / "state", 8.0)
        # one critical alert (TargetDown; it inhibits the error-rate rules), once per channel
        assert firing_rules([r.json for r in hook.requests]) == [("TargetDown", "firing")]
        assert len(slack.requests) == 1 and "TargetDown" in json.dumps(slack.requests[0].json)
        [event] = [r.json for r in pager.requests]
        assert event["event_action"] == "trigger" and event["routing_key"] == "rk-1"
        assert [m["Subject"] for m in smtp.messages] == ["[CRITICAL] TargetDown on chat"]
        lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
        assert len(lines) == 1 and "TargetDown" in lines[0]
        names = {a["labels"]["alertname"] for a in am.alerts()}
        assert names == {"TargetDown"}


async def test_a_refused_target_pages_exactly_once_at_every_severity(tmp_path: Path):
    """No min_severity: every alert that notifies reaches the receiver. A refused target from the
    first probe pages once (TargetDown); HighErrorRate, which would fire 10 s in on its own, is
    inhibited from the start, and LowSuccessRate has not the evidence to judge."""
    with recording_server() as hook:
        channels = [ChannelConfig(type="webhook", name="hook", url=hook.url + "/hook")]
        async with refused_url() as url:
            monitor = await run_monitor(config_for(url, channels), tmp_path / "state", 13.0)
        await asyncio.sleep(0.5)
        got = firing_rules([r.json for r in hook.requests])
    assert got == [("TargetDown", "firing")]
    snap = monitor.latest
    assert snap is not None
    by = {a.rule: a for a in snap.alerts}
    assert by["TargetDown"].summary.startswith("chat: every probe is failing (")
    high = by["HighErrorRate"]
    assert high.state == "firing" and high.inhibited_by == "TargetDown" and not high.silenced
    assert "probes in 3 s" in high.summary
    assert "LowSuccessRate" not in by


async def test_a_backend_dying_mid_session_pages_once(tmp_path: Path):
    """A target that answered for a while dies (as a backend behind a proxy does): its window
    still holds good probes, so a rate rule sees the errors before "every probe in the window
    failed" could be true. TargetDown judges the latest probes (two failing in a row), so it is
    pending one interval after the death, holds the rate rules back, and is the one page."""
    with recording_server() as hook:
        channels = [ChannelConfig(type="webhook", name="hook", url=hook.url + "/hook")]
        state = tmp_path / "state"
        store = Store.open(state)
        try:
            async with echo_server() as url:
                monitor = Monitor(config_for(url, channels), store, state_dir=state)
                run = asyncio.ensure_future(monitor.run(16.0))
                await asyncio.sleep(4.0)  # healthy: a window full of good probes
            died = time.monotonic()  # the server is gone: every probe from now on is refused
            await asyncio.wait_for(run, 30)
        finally:
            store.close()
        await asyncio.sleep(0.5)
        got = firing_rules([r.json for r in hook.requests])
    assert time.monotonic() - died > 11.0  # past HighErrorRate's `for` (10 s at debug): it had its chance
    assert got == [("TargetDown", "firing")], got
    by = {a.rule: a for a in monitor.latest.alerts} if monitor.latest else {}
    assert by["TargetDown"].summary.startswith("chat: every probe is failing (the last ")
    assert by["HighErrorRate"].inhibited_by == "TargetDown"


async def test_a_receiver_down_when_it_fires_gets_it_after_a_restart(tmp_path: Path):
    state = tmp_path / "state"
    with recording_server() as hook:
        hook.down()
        channels = [ChannelConfig(type="webhook", name="hook", url=hook.url + "/hook",
                                  min_severity="critical")]
        async with refused_url() as url:
            config = config_for(url, channels)
            await run_monitor(config, state, 7.0)
            assert hook.requests == []
            hook.up()
            # The next session resumes the stored delivery (the alert is still firing, not new)
            # when its stored backoff is up: up to ~4 s after the first session ended, so the
            # session runs until the delivery arrives (bounded) instead of for a fixed time.
            store = Store.open(state)
            try:
                monitor = Monitor(config, store, state_dir=state)
                task = asyncio.ensure_future(monitor.run(15.0))
                try:
                    await hook.wait_for(1, timeout=14)
                    await asyncio.sleep(1.5)  # room for a duplicate, were it re-sent as new
                    got = list(hook.requests)
                finally:
                    monitor.request_stop("test")
                    await asyncio.wait_for(task, 10)
            finally:
                store.close()
    assert firing_rules([r.json for r in got]).count(("TargetDown", "firing")) == 1
    keys = [r.headers.get("idempotency-key") for r in got]
    assert len(keys) == len(set(keys))


async def cli(*args: str, cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsmon_tui", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


async def test_ack_and_silence_from_the_cli_reach_a_running_monitor(tmp_path: Path):
    state = tmp_path / "state"
    with recording_server() as pager:
        channels = [ChannelConfig(type="pagerduty", name="pd", url=pager.url + "/v2/enqueue",
                                  routing_key="rk-2", min_severity="warning")]
        async with refused_url() as url:
            config = config_for(url, channels)
            store = Store.open(state)
            monitor = Monitor(config, store, state_dir=state)
            task = asyncio.ensure_future(monitor.run(12.0))
            try:
                deadline = time.monotonic() + 8
                while time.monotonic() < deadline and not any(
                        a.rule == "TargetDown" and a.state == "firing"
                        for a in (monitor.latest.alerts if monitor.latest else ())):
                    await asyncio.sleep(0.1)
                alert = next(a for a in monitor.latest.alerts if a.rule == "TargetDown")
                code, out = await cli("alerts", "ack", alert.id[:8], "--user", "alice", "--comment", "on it",
                                      "--state-dir", str(state), cwd=tmp_path)
                assert code == 0, out
                code, out = await cli("alerts", "list", "--format", "json", "--state-dir", str(state),
                                      cwd=tmp_path)
                listed = {a["id"]: a for a in json.loads(out)}
                assert listed[alert.id]["acknowledged_by"] == "alice"
                # the running monitor sees the ack and mirrors it to PagerDuty
                deadline = time.monotonic() + 8
                while time.monotonic() < deadline and not any(
                        r.json.get("event_action") == "acknowledge" for r in pager.requests):
                    await asyncio.sleep(0.1)
                shown = next(a for a in monitor.latest.alerts if a.id == alert.id)
                assert shown.acknowledged_by == "alice"
                code, out = await cli("alerts", "silence", "--rule", "HighErrorRate", "--duration", "1h",
                                      "--comment", "known", "--state-dir", str(state), cwd=tmp_path)
                assert code == 0, out
                code, out = await cli("alerts", "silences", "--state-dir", str(state), cwd=tmp_path)
                assert "HighErrorRate" in out
                code, out = await cli("alerts", "ack", "nosuchid", "--state-dir", str(state), cwd=tmp_path)
                assert code == 1 and "nosuchid" in out and "Traceback" not in out
            finally:
                monitor.request_stop("user")
                await asyncio.wait_for(task, 20)
                store.close()
    actions = [r.json["event_action"] for r in pager.requests]
    assert actions[0] == "trigger" and "acknowledge" in actions


async def test_unacknowledged_warning_escalates_to_the_escalation_channel(tmp_path: Path):
    from wsmon_tui.config import AlertsConfig, RuleConfig

    boss_file = tmp_path / "boss.jsonl"
    with recording_server() as hook:
        async with refused_url() as url:
            config = config_for(url, [])
            config.alerts = AlertsConfig(
                default_rules=False, escalate_after=1.5,
                rules=[RuleConfig(name="Failing", metric="error_rate", op=">", threshold=0.5,
                                  severity="warning", cooldown=600)],
                channels=[
                    ChannelConfig(type="webhook", name="team", url=hook.url + "/t", min_severity="warning"),
                    ChannelConfig(type="file", name="boss", path=str(boss_file), min_severity="critical",
                                  escalation=True),
                ])
            await run_monitor(config, tmp_path / "state", 5.0)
    records = [json.loads(line) for line in boss_file.read_text().splitlines()]
    # the boss hears only the escalation, now critical; the team heard the warning first
    assert [(r["kind"], r["escalation"], r["alert"]["severity"]) for r in records] == [
        ("escalated", True, "critical")]
    team = [a["labels"]["severity"] for p in (r.json for r in hook.requests) for a in p["alerts"]]
    assert team[0] == "warning"
