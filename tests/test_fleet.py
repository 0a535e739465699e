"""``wsmon-tui --fleet``: ``FleetEngine`` over a real Prometheus scraping two real monitors of
one deployment at two sites (eu-west reaches a server whose handshake takes 120 ms, us-east
finds it refusing connections) and a real Alertmanager both monitors page. The Snapshot has a
row per site, worst first, with the percentiles PromQL gives; the alerts are grouped by
(alertname, target) with their sites; an acknowledgement and a silence are real Alertmanager
silences; the four views show the rows; and what the fleet cannot do is refused in words."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import DataTable

from tests.conftest import require_binary
from tests.hostile import refused_url, slow_handshake_server
from tests.prom_server import free_port, running_prometheus
from tests.receivers import alertmanager_binary, running_alertmanager
from tests.test_exporter import bucket_of
from tests.test_tui_app import text_of, until
from wsmon_tui.cli import main
from wsmon_tui.config import (
    AlertsConfig,
    ChannelConfig,
    Config,
    DeploymentConfig,
    FleetConfig,
    MonitorConfig,
    ResourcesConfig,
    RuleConfig,
    TargetConfig,
)
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.fleet import FleetEngine
from wsmon_tui.fleet.engine import ROLLBACK_REFUSED, FleetUnsupported
from wsmon_tui.fleet.promql import RULES_FILE, recorded_names
from wsmon_tui.model import Snapshot
from wsmon_tui.seam import RangeRequest
from wsmon_tui.tui.app import WsmonApp
from wsmon_tui.tui.screens.ack import AckScreen

SERVERS = [pytest.mark.prometheus, pytest.mark.alertmanager, pytest.mark.slow]
"""The marks of the tests that start a real Prometheus and Alertmanager (the config and flag
tests above them start nothing)."""


def servers(test: Callable[..., Any]) -> Callable[..., Any]:
    for mark in SERVERS:
        test = mark(test)
    return test

DEPLOYMENT = "chat-gateway"
RULES = Path(__file__).resolve().parents[1] / RULES_FILE
HANDSHAKE_DELAY = 0.12
WINDOW = 30.0


# -- config and flag ----------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [("prometheus", "ftp://prom:9090"), ("alertmanager", "am.local")])
def test_a_fleet_url_that_is_not_http_is_one_message_naming_file_key_and_value(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: str) -> None:
    path = tmp_path / "wsmon.toml"
    path.write_text(f'[fleet]\n{key} = "{value}"\n', encoding="utf-8")
    assert main(["config", "check", str(path)]) == 2
    _out, err = capsys.readouterr()
    [line] = err.splitlines()
    assert line == f'wsmon-tui: {path}: fleet.{key}: expected a http:// or https:// URL, got "{value}"'


def test_fleet_without_a_prometheus_is_a_usage_error(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wsmon.toml"
    path.write_text('[fleet]\nalertmanager = "http://127.0.0.1:9093"\n', encoding="utf-8")
    assert main(["--config", str(path), "--fleet"]) == 2
    _out, err = capsys.readouterr()
    assert "Traceback" not in err
    line = err.splitlines()[0]  # then the usage errors' "Try 'wsmon-tui --help'."
    assert str(path) in line and "fleet.prometheus: required" in line and "got nothing" in line


@pytest.mark.parametrize("flag", [["--export", "r.md"], ["--demo"]])
def test_fleet_with_export_or_demo_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                                    flag: list[str]) -> None:
    assert main(["--fleet", *flag]) == 2
    _out, err = capsys.readouterr()
    assert err.splitlines()[0] == (f"wsmon-tui: --fleet and {flag[0]}: the fleet view probes and exports "
                                   "nothing; each site's monitor does")


def test_recording_rules_must_be_true_false_or_auto(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wsmon.toml"
    path.write_text('[fleet]\nrecording_rules = "yes"\n', encoding="utf-8")
    assert main(["config", "check", str(path)]) == 2
    _out, err = capsys.readouterr()
    [line] = err.splitlines()
    assert line == f'wsmon-tui: {path}: fleet.recording_rules: expected true, false or "auto", got "yes"'


def test_the_shipped_recording_rules_pass_promtool_and_make_the_series_the_engine_reads() -> None:
    promtool = require_binary("promtool")
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True,
                             timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout
    text = RULES.read_text(encoding="utf-8")
    for name in recorded_names("5m").values():  # the engine's names for the default window
        assert f"- record: {name}\n" in text


# -- two sites, one Prometheus, one Alertmanager --------------------------------------------------


def site_config(site: str, url: str, am_url: str) -> Config:
    rules = [RuleConfig(name="Watched", metric="health_score", op="<=", threshold=100, severity="warning",
                        summary="{target} watched from {site}"),
             RuleConfig(name="WebSocketDown", metric="consecutive_failures", op=">=", threshold=2,
                        severity="critical")]
    return Config(monitor=MonitorConfig(level="debug", interval=0.5, site=site),
                  deployment=DeploymentConfig(name=DEPLOYMENT), resources=ResourcesConfig(host=False),
                  targets=[TargetConfig(name="chat", url=url, timeout=1.0)],
                  alerts=AlertsConfig(default_rules=False, rules=rules, channels=[
                      ChannelConfig(type="alertmanager", url=am_url, min_severity="info")]))


@dataclass
class Fleet:
    engine: FleetEngine
    prometheus: str
    alertmanager: str


async def instant(url: str, query: str, at: float) -> dict[str, float]:
    """``query`` answered by Prometheus at ``at``, by site."""
    async with httpx.AsyncClient(timeout=5) as client:
        params = {"query": query, "time": f"{at:.3f}"}
        answer = (await client.get(url + "/api/v1/query", params=params)).json()
    return {r["metric"].get("site", ""): float(r["value"][1]) for r in answer["data"]["result"]}


def ready(snap: Snapshot) -> bool:
    rows = {t.name: t for t in snap.targets}
    groups = {a.id: a.labels.get("sites") for a in snap.alerts}
    return (set(rows) == {"chat@eu-west", "chat@us-east"} and all(t.probes > 0 for t in rows.values())
            and rows["chat@eu-west"].handshake_ms.p95 is not None
            and rows["chat@us-east"].errors.get("refused", 0) > 0
            and groups.get("Watched|chat") == "eu-west,us-east"
            and groups.get("WebSocketDown|chat") == "us-east")


@asynccontextmanager
async def two_sites(tmp: Path, *, rules: bool = False) -> AsyncIterator[Fleet]:
    """With ``rules``, Prometheus loads the shipped recording rules and the engine requires their
    series (``recording_rules = true``, the rules' 5m window), so it is ready once they exist."""
    require_binary("prometheus")
    binary = alertmanager_binary() or require_binary("prometheus-alertmanager")
    ports = {"eu-west": free_port(), "us-east": free_port()}
    targets = [f"127.0.0.1:{p}" for p in ports.values()]
    with running_alertmanager(tmp / "am", binary) as am, \
            running_prometheus(tmp / "prom", extra_targets=targets,
                               rule_files=[RULES] if rules else None) as prom:
        async with slow_handshake_server(HANDSHAKE_DELAY) as good, refused_url() as bad:
            monitors = [Monitor(site_config("eu-west", good, am.url), None, metrics_port=ports["eu-west"]),
                        Monitor(site_config("us-east", bad, am.url), None, metrics_port=ports["us-east"])]
            tasks = [asyncio.ensure_future(m.run(120.0)) for m in monitors]
            config = Config(fleet=FleetConfig(prometheus=prom.url, alertmanager=am.url,
                                              window=300.0 if rules else WINDOW,
                                              recording_rules=True if rules else "auto"))
            engine = FleetEngine(config, refresh=0.5)
            try:
                deadline = time.monotonic() + 60
                snap = await engine.poll()
                while not ready(snap) and time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    snap = await engine.poll()
                assert ready(snap), (snap.targets, snap.alerts, snap.notes)
                yield Fleet(engine, prom.url, am.url)
            finally:
                await engine.close()
                for m in monitors:
                    m.request_stop("test done")
                await asyncio.wait_for(asyncio.gather(*tasks), 20)


@servers
async def test_the_fleet_engine_reads_both_sites_alerts_and_acts_on_alertmanager(tmp_path: Path) -> None:
    async with two_sites(tmp_path) as fleet:
        engine = fleet.engine
        query = ("histogram_quantile(0.95, sum by (deployment, site, target, le) "
                 "(rate(wsmon_probe_handshake_seconds_bucket[30s])))")
        snap = await engine.poll()
        direct = await instant(fleet.prometheus, query, snap.taken_at)  # the same instant's answer
        row = {t.name: t for t in snap.targets}["chat@eu-west"]
        assert row.handshake_ms.p95 == pytest.approx(direct["eu-west"] * 1000, abs=1e-6)
        low, high = bucket_of(HANDSHAKE_DELAY)
        assert low * 1000 <= row.handshake_ms.p95 <= high * 1000 * 4  # a loaded machine slows the handshake

        names = [t.name for t in snap.targets]
        assert names == ["chat@us-east", "chat@eu-west"], names  # worst site first
        east = snap.targets[0]
        assert east.status == "critical" and east.success_rate == 0.0 and east.errors["refused"] > 0
        assert east.handshake_ms.p95 is None  # no handshake ever completed: nothing, not a zero
        assert row.success_rate == 1.0
        assert snap.status == "critical" and "FLEET" in engine.attached_to
        # no recording rules in this Prometheus: "auto" falls back to the raw queries, and says so
        assert engine.mode == "raw" and engine.attached_to.endswith(" · raw")
        assert f"fleet: raw queries over 30s (no recorded series for 30s: {RULES_FILE} makes them)" \
            in snap.notes
        required = FleetEngine(Config(fleet=FleetConfig(prometheus=fleet.prometheus, window=WINDOW,
                                                        recording_rules=True)))
        try:
            missing = await required.poll()  # true: the recorded series or nothing, and why
        finally:
            await required.close()
        assert required.mode == "recorded" and all(t.handshake_ms.p95 is None for t in missing.targets)
        [note] = [n for n in missing.notes if "recording_rules = true" in n]
        assert recorded_names("30s")["probes"] in note and RULES_FILE in note
        assert "instances" in snap.not_recorded and "hold" in snap.not_recorded

        alerts = {a.id: a for a in snap.alerts}
        assert alerts["WebSocketDown|chat"].severity == "critical"
        assert next(iter(alerts)) == "WebSocketDown|chat"  # most severe first
        assert alerts["Watched|chat"].labels["sites"] == "eu-west,us-east"
        assert alerts["Watched|chat"].target == "chat@eu-west,us-east"  # what the alerts view shows

        # an acknowledgement: a short silence by the user, "ACK: comment", on every site
        before = time.time()
        acked = await engine.acknowledge("Watched|chat", user="alice", comment="looking at it")
        assert acked.acknowledged_by == "alice" and acked.ack_comment == "looking at it"
        async with httpx.AsyncClient(timeout=5) as client:
            silences = (await client.get(fleet.alertmanager + "/api/v2/silences")).json()
        [ack] = [s for s in silences if s["createdBy"] == "alice"]
        assert ack["comment"] == "ACK: looking at it" and ack["status"]["state"] == "active"
        assert {(m["name"], m["value"]) for m in ack["matchers"]} == {
            ("alertname", "Watched"), ("target", "chat")}
        from wsmon_tui.fleet.alertmanager import parse_time

        ends = parse_time(ack["endsAt"])
        assert ends is not None and before + 890 <= ends <= time.time() + 910

        # a silence of one site's row matches that site only
        sid = await engine.silence(rule="WebSocketDown", target="chat@us-east", duration=600, comment="known",
                                   user="bob")
        async with httpx.AsyncClient(timeout=5) as client:
            made = (await client.get(f"{fleet.alertmanager}/api/v2/silence/{sid}")).json()
        assert made["createdBy"] == "bob" and made["comment"] == "known"
        assert {(m["name"], m["value"]) for m in made["matchers"]} == {
            ("alertname", "WebSocketDown"), ("target", "chat"), ("site", "us-east")}
        async with httpx.AsyncClient(timeout=5) as client:
            members = (await client.get(fleet.alertmanager + "/api/v2/alerts", params={
                "filter": ['alertname="WebSocketDown"', 'site="us-east"']})).json()
        assert [m["status"]["silencedBy"] for m in members] == [[sid]]
        snap = await engine.poll()
        down = {a.id: a for a in snap.alerts}["WebSocketDown|chat"]
        # the group is silenced when every site's member is (a loaded machine may time out eu-west too)
        assert down.silenced == (down.labels["sites"] == "us-east") and down.acknowledged_by is None

        # taking the acknowledgement back expires its silence
        back = await engine.unacknowledge("Watched|chat", user="alice")
        assert back.acknowledged_by is None

        # history Prometheus holds; what it cannot do is said
        now = time.time()
        wanted = [RangeRequest("chat@eu-west", "handshake_p95"), RangeRequest("chat@eu-west", "connections")]
        ranges = await engine.metric_ranges(wanted, now - 60, now)
        assert ranges[wanted[0]] and all(low * 1000 <= v for _t, v in ranges[wanted[0]])
        assert ranges[wanted[1]] == []
        with pytest.raises(FleetUnsupported, match="roll back at the site's monitor") as refused:
            await engine.rollback(reason="test", user="alice")
        assert str(refused.value) == ROLLBACK_REFUSED


@servers
async def test_the_dashboard_shows_the_fleet_rows_says_fleet_and_acknowledges_on_alertmanager(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "tester")
    async with two_sites(tmp_path) as fleet:
        app = WsmonApp(fleet.engine, mode="summary", refresh=0.1)
        async with app.run_test(size=(140, 40)) as pilot:
            # what the monitors do not export is said on the summary, not left as empty figures
            await until(pilot, lambda: "not exported" in text_of(app, "#resources-panel"), timeout=30)
            await pilot.press("2")
            await until(pilot, lambda: app.current_mode == "detailed")
            def rows() -> list[str]:
                try:
                    table = app.screen.query_one("#targets-table", DataTable)
                except Exception:
                    return []
                return [str(r.key.value) for r in table.ordered_rows]

            await until(pilot, lambda: set(rows()) == {"chat@eu-west", "chat@us-east"}, timeout=30)
            header = str(app.screen.query_one("#header").content)
            assert "FLEET" in header and fleet.prometheus.removeprefix("http://") in header
            await pilot.press("3")
            await until(pilot, lambda: app.current_mode == "alerts")
            table = app.screen.query_one("#alerts-table", DataTable)
            await until(pilot, lambda: any(str(r.key.value).startswith("Watched|chat@")
                                           for r in table.ordered_rows), timeout=30)
            [key] = [r.key.value for r in table.ordered_rows if str(r.key.value).startswith("Watched|chat@")]
            assert str(table.get_cell(key, "target")) == "chat@eu-west,us-east"
            table.focus()
            table.move_cursor(row=table.get_row_index(key))
            await pilot.press("a")  # acknowledged from the TUI: a real Alertmanager silence
            await until(pilot, lambda: isinstance(app.screen, AckScreen))
            await pilot.press(*"on it", "enter")

            def acks() -> list[dict]:
                silences = httpx.get(fleet.alertmanager + "/api/v2/silences", timeout=5).json()
                return [s for s in silences if s["comment"] == "ACK: on it"]

            await until(pilot, lambda: bool(acks()), timeout=30)
            [ack] = acks()
            assert ack["createdBy"] == "tester" and ack["status"]["state"] == "active"
            await pilot.press("q")


@servers
async def test_a_source_not_answering_is_said_and_a_refused_silence_is_an_error(tmp_path: Path) -> None:
    """Prometheus refusing connections: a note naming it and no rows (nothing stale shown as now).
    Alertmanager refusing a silence (a matcher matching the empty string): its words, not a crash."""
    binary = alertmanager_binary() or require_binary("prometheus-alertmanager")
    with running_alertmanager(tmp_path / "am", binary) as am:
        dead = f"http://127.0.0.1:{free_port()}"
        engine = FleetEngine(Config(fleet=FleetConfig(prometheus=dead, alertmanager=am.url)), refresh=0.5)
        try:
            snap = await engine.poll()
            assert snap.targets == () and snap.status == "unknown"
            assert any(n.startswith(f"prometheus {dead}: ") for n in snap.notes), snap.notes
            assert not any(n.startswith("alertmanager") for n in snap.notes), snap.notes
            with pytest.raises(FleetUnsupported, match="alertmanager refused the silence: HTTP 400"):
                await engine.silence(rule="", target=None, duration=60, comment="x", user="alice")
            engine.read_only = True
            from wsmon_tui.errors import ReadOnlyError

            with pytest.raises(ReadOnlyError):
                await engine.silence(rule="X", target=None, duration=60, comment="x", user="alice")
            assert httpx.get(am.url + "/api/v2/silences", timeout=5).json() == []
        finally:
            await engine.close()


@servers
async def test_with_the_recording_rules_loaded_the_engine_reads_the_recorded_series(tmp_path: Path) -> None:
    """The shipped rules in a real Prometheus: the engine's figures are the recorded series' at the
    refresh's instant, exactly. The recorded rate is the rule group's last evaluation, up to its
    interval (15 s) before the refresh: the raw query evaluated at that evaluation's instant gives
    the same percentile, and at the refresh's instant one in the same bucket. An engine left on
    "auto" finds the series and uses them; Prometheus reports what the rules cost."""
    async with two_sites(tmp_path, rules=True) as fleet:
        names = recorded_names("5m")
        auto = FleetEngine(Config(fleet=FleetConfig(prometheus=fleet.prometheus)), refresh=0.5)  # default 5m
        try:
            snap = await auto.poll()
        finally:
            await auto.close()
        assert auto.mode == "recorded" and auto.attached_to.endswith(" · recorded"), snap.notes
        assert f"fleet: recorded series (5m) from {RULES_FILE}" in snap.notes
        rows = {t.name: t for t in snap.targets}
        assert set(rows) == {"chat@eu-west", "chat@us-east"}

        by = "deployment, site, target, le"
        p95_series = f'{names["handshake_quantile"]}{{quantile="0.95"}}'
        recorded = await instant(fleet.prometheus, p95_series, snap.taken_at)
        p95 = rows["chat@eu-west"].handshake_ms.p95
        assert p95 == pytest.approx(recorded["eu-west"] * 1000, abs=1e-6)
        low, high = bucket_of(HANDSHAKE_DELAY)
        assert low * 1000 <= p95 <= high * 1000 * 4
        # the recorded sample is the rule's evaluation, a little before the refresh: at that
        # evaluation's own instant the raw query agrees (a scrape landing just after the rule
        # read the buckets is all that may differ); at the refresh's instant, roughly
        evaluated = await instant(fleet.prometheus, f"timestamp({p95_series})", snap.taken_at)
        assert snap.taken_at - 60 <= evaluated["eu-west"] <= snap.taken_at
        buckets = "rate(wsmon_probe_handshake_seconds_bucket[5m])"
        raw_query = f"histogram_quantile(0.95, sum by ({by}) ({buckets}))"
        then = await instant(fleet.prometheus, raw_query, evaluated["eu-west"])
        assert p95 == pytest.approx(then["eu-west"] * 1000, rel=0.05)
        raw = await instant(fleet.prometheus, raw_query, snap.taken_at)
        assert low * 1000 <= raw["eu-west"] * 1000 <= high * 1000 * 4
        assert rows["chat@us-east"].handshake_ms.p95 is None  # refused: no handshake, recorded or raw
        assert "us-east" not in raw

        probes = await instant(fleet.prometheus, f'sum by (site) ({names["probes"]}{{result="success"}})',
                               snap.taken_at)
        total = await instant(fleet.prometheus, f"sum by (site) ({names['probes']})", snap.taken_at)
        west = rows["chat@eu-west"]
        assert west.probes == round(total["eu-west"]) and west.success_rate == pytest.approx(
            probes["eu-west"] / total["eu-west"])
        assert rows["chat@us-east"].success_rate == 0.0

        # the rules' own cost, as Prometheus reports it (docs/fleet-scale.md reads the same series)
        cost = await instant(fleet.prometheus, 'prometheus_rule_group_last_duration_seconds'
                             '{rule_group=~".*wsmon-fleet"}', time.time())
        assert cost and all(v >= 0 for v in cost.values())
