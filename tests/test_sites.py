"""``[monitor] site``: the config key, the ``site`` and ``deployment`` labels on every series of
wsmon's own /metrics, and in every alert: identical for two monitors of one site (Alertmanager
and PagerDuty merge them), different across sites, unchanged when no site is set."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import require_binary
from tests.hostile import echo_server, refused_url
from tests.prom_server import free_port
from tests.test_alert_engine import Clock, World, err_rule
from wsmon_tui.alerts.alert import fingerprint
from wsmon_tui.alerts.channels import (
    alertmanager_alert,
    email_message,
    file_record,
    pagerduty_event,
    pagerduty_summary_event,
    slack_payload,
    webhook_payload,
)
from wsmon_tui.alerts.engine import AlertEngine
from wsmon_tui.alerts.notification import Notification
from wsmon_tui.cli import main
from wsmon_tui.config import (
    AlertsConfig,
    ChannelConfig,
    Config,
    DeploymentConfig,
    MonitorConfig,
    TargetConfig,
    load_config,
)
from wsmon_tui.engine.monitor import Monitor

# -- the config key ---------------------------------------------------------------------------


def test_site_is_read_and_unset_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Config().monitor.site == ""
    monkeypatch.setenv("WSMON_SITE", "eu-west")
    path = tmp_path / "wsmon.toml"
    path.write_text('[monitor]\nsite = "${WSMON_SITE}"\n', encoding="utf-8")
    assert load_config(path).monitor.site == "eu-west"


@pytest.mark.parametrize("bad", ["eu west", '"quoted"', "-leading-dash", "x" * 65, "é"])
def test_a_bad_site_is_a_config_error_naming_file_key_and_value(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    path = tmp_path / "wsmon.toml"
    path.write_text(f"[monitor]\nsite = '{bad}'\n", encoding="utf-8")
    assert main(["config", "check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    [line] = err.splitlines()
    assert line.startswith(f"wsmon-tui: {path}: monitor.site: expected a site name (1-64 letters")
    assert line.endswith(f"got {json.dumps(bad, ensure_ascii=False)}"), line


# -- alerts -----------------------------------------------------------------------------------


def site_config(site: str) -> Config:
    rule = err_rule(summary="{rule} on {target} seen from {site}", labels={"team": "rt", "site": "rule's"})
    return Config(monitor=MonitorConfig(site=site), deployment=DeploymentConfig(name="chat"),
                  alerts=AlertsConfig(default_rules=False, rules=[rule]))


def fire(config: Config, db: Path) -> Notification:
    """The firing notification of one engine on its own database for a target at 50 % errors."""
    clock = Clock()
    engine = AlertEngine(config, db, clock=clock)
    try:
        _, notes = World(clock).run(engine, error_rate=0.5)
    finally:
        engine.close()
    [note] = notes
    assert note.kind == "firing"
    return note


def test_two_monitors_of_a_site_send_identical_alerts_and_two_sites_different_ones(tmp_path: Path) -> None:
    a = fire(site_config("eu-west"), tmp_path / "a.db")
    b = fire(site_config("eu-west"), tmp_path / "b.db")
    us = fire(site_config("us-east"), tmp_path / "c.db")
    none = fire(site_config(""), tmp_path / "d.db")
    am = {name: alertmanager_alert(n.alert, n.kind, n.deployment, 1_750_000_000.0, 180.0)["labels"]
          for name, n in (("a", a), ("b", b), ("us", us), ("none", none))}
    assert am["a"] == am["b"] == {"alertname": "Errors", "severity": "warning", "target": "edge-1",
                                  "deployment": "chat", "site": "eu-west", "team": "rt"}
    assert am["us"] == {**am["a"], "site": "us-east"}
    # no site: the label is the rule's own (monitor labels win only when there is one)
    assert am["none"]["site"] == "rule's"
    # the fingerprint (PagerDuty's dedup_key, the Idempotency-Key's first half) follows the labels
    assert a.fingerprint == b.fingerprint == fingerprint("Errors", "edge-1", "chat", "eu-west")
    assert us.fingerprint != a.fingerprint
    assert none.fingerprint == fingerprint("Errors", "edge-1", "chat")  # ids stored before sites
    assert a.alert.summary == "Errors on edge-1 seen from eu-west"


def test_every_channel_shows_the_site(tmp_path: Path) -> None:
    n = fire(site_config("eu-west"), tmp_path / "a.db")
    hook = ChannelConfig(type="webhook", name="hook", url="http://x")
    body = webhook_payload(hook, [n], "chat")
    assert body["alerts"][0]["labels"]["site"] == "eu-west"
    assert body["commonLabels"]["site"] == "eu-west"
    assert webhook_payload(hook, [n], "chat", summary=True)["groupLabels"] == {"deployment": "chat",
                                                                               "site": "eu-west"}
    slack = slack_payload([n])
    assert slack["blocks"][0]["text"]["text"] == "[WARNING] Errors on edge-1 (from eu-west)"
    assert {"type": "plain_text", "text": "Site: eu-west"} in slack["blocks"][2]["fields"]
    mail = email_message(ChannelConfig(type="email", sender="w@example.com", recipients=["o@example.com"]),
                         [n], "chat", "k")
    assert mail["Subject"] == "[WARNING] Errors on edge-1 (from eu-west)"
    assert "\nSite: eu-west\n" in mail.get_content()
    pd = ChannelConfig(type="pagerduty", routing_key="rk")
    event = pagerduty_event(pd, n, "chat")
    assert event["dedup_key"] == n.fingerprint
    assert event["payload"]["custom_details"]["labels"]["site"] == "eu-west"
    assert event["payload"]["summary"].startswith("[WARNING] Errors on edge-1 (from eu-west)")
    assert pagerduty_summary_event(pd, [n], "chat")["dedup_key"] == "wsmon-summary:chat:eu-west"
    record = file_record(ChannelConfig(type="file", path="x"), [n], "chat", "k", 1_750_000_000.0)
    assert record["site"] == "eu-west" and record["alert"]["labels"]["site"] == "eu-west"


def test_without_a_site_payloads_are_as_before(tmp_path: Path) -> None:
    config = site_config("")
    config.alerts.rules[0].labels = {"team": "rt"}
    n = fire(config, tmp_path / "a.db")
    assert "site" not in alertmanager_alert(n.alert, n.kind, "chat", 1_750_000_000.0, 180.0)["labels"]
    assert slack_payload([n])["blocks"][0]["text"]["text"] == "[WARNING] Errors on edge-1"
    pd = ChannelConfig(type="pagerduty", routing_key="rk")
    assert pagerduty_summary_event(pd, [n], "chat")["dedup_key"] == "wsmon-summary:chat"
    assert "site" not in file_record(ChannelConfig(type="file", path="x"), [n], "chat", "k", 0.0)


# -- /metrics ---------------------------------------------------------------------------------


async def metrics_page(site: str) -> str:
    """The /metrics page of a real Monitor probing a good and a refused target for ~2.5 s."""
    async with echo_server() as good, refused_url() as bad:
        config = Config(monitor=MonitorConfig(level="debug", interval=0.5, site=site),
                        deployment=DeploymentConfig(name="chat-gateway"),
                        targets=[TargetConfig(name="good", url=good, send="hi", timeout=1.0),
                                 TargetConfig(name="bad", url=bad, timeout=1.0)])
        monitor = Monitor(config, None, metrics_port=free_port())
        task = asyncio.ensure_future(monitor.run(3.0))
        try:
            while monitor.metrics_server is None:
                await asyncio.sleep(0.05)
            await asyncio.sleep(2.5)
            async with httpx.AsyncClient() as client:
                page = (await client.get(f"http://127.0.0.1:{monitor.metrics_server.port}/metrics")).text
        finally:
            await asyncio.wait_for(task, 20)
    return page


def samples(page: str) -> list:
    return [s for f in text_string_to_metric_families(page) for s in f.samples]


async def test_every_series_carries_deployment_and_site() -> None:
    promtool = require_binary("promtool")
    page = await metrics_page("eu-west")
    checked = subprocess.run([promtool, "check", "metrics"], input=page.encode(), capture_output=True,
                             timeout=30, check=False)
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()
    got = samples(page)
    names = {s.name for s in got}
    # every family is there: probes of both targets, the snapshot's gauges, the alerts count
    assert {"wsmon_probes_total", "wsmon_probe_errors_total", "wsmon_probe_handshake_seconds_bucket",
            "wsmon_probe_rtt_seconds_count", "wsmon_health_score", "wsmon_status",
            "wsmon_alerts_firing"} <= names
    lines = [ln for ln in page.splitlines() if ln and not ln.startswith("#")]
    assert len(got) == len(lines) > 40
    for s in got:
        assert s.labels.get("deployment") == "chat-gateway" and s.labels.get("site") == "eu-west", s
    results = {(s.labels["target"], s.labels["result"]): s.value
               for s in got if s.name == "wsmon_probes_total"}
    # both results from a target's first probe: a target that never succeeded has success 0, so a
    # success rate (success / all) is 0 for it in Prometheus rather than missing
    assert set(results) == {("good", "success"), ("good", "failure"), ("bad", "success"), ("bad", "failure")}
    assert results[("bad", "success")] == 0 and results[("bad", "failure")] >= 2
    assert results[("good", "failure")] == 0 and results[("good", "success")] >= 2


async def test_without_a_site_series_carry_deployment_only() -> None:
    got = samples(await metrics_page(""))
    assert got and all(s.labels.get("deployment") == "chat-gateway" and "site" not in s.labels for s in got)
