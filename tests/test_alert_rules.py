"""Compiled rules, default rules per level, reading metric values, templates, maintenance windows."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.test_alert_engine import T0, Clock, World, make_config
from wsmon_tui.alerts.defaults import default_rules
from wsmon_tui.alerts.engine import build_rules
from wsmon_tui.alerts.maintenance import MaintenanceWindow
from wsmon_tui.alerts.rules import (
    CANONICAL_RULE_METRICS,
    FLEET_METRICS,
    MetricReader,
    compile_rule,
    make_rule,
    render,
    step_up,
)
from wsmon_tui.config import CANONICAL_METRICS, DEFAULT_RULE_NAMES, MaintenanceConfig, RuleConfig
from wsmon_tui.engine.series import SeriesBook
from wsmon_tui.levels import LEVELS
from wsmon_tui.model import DeploymentView, ProbeResult, ResourceView, Snapshot, TargetView


def test_canonical_rule_metrics_cover_the_config_and_overall():
    assert CANONICAL_METRICS <= CANONICAL_RULE_METRICS
    assert "overall" in CANONICAL_RULE_METRICS
    assert CANONICAL_RULE_METRICS | {"threads"} >= FLEET_METRICS


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_default_rules_have_the_promised_names_and_level_thresholds(level):
    rules = {r.name: r for r in default_rules(level)}
    assert set(rules) == DEFAULT_RULE_NAMES
    p = LEVELS[level]
    assert [(t.threshold, t.severity) for t in rules["HighErrorRate"].tiers] == [
        (p.error_rate[1], "critical"), (p.error_rate[0], "warning")]
    assert rules["SlowHandshake"].tiers[-1].threshold == p.handshake_p95_ms[0]
    assert rules["SlowRoundTrip"].tiers[0].threshold == p.rtt_p95_ms[1]
    assert rules["HostCPU"].fleet and rules["HostMemory"].fleet and not rules["QueueBackpressure"].fleet
    assert rules["TargetDown"].severity == "critical"
    assert rules["HighErrorRate"].for_ == p.alert_for
    assert rules["AdoptionDrop"].relative_baseline == p.window
    assert all(r.default for r in rules.values())


def test_default_rules_off_and_configured_rules_replace_defaults():
    mine = RuleConfig(name="HighErrorRate", metric="error_rate", op=">", threshold=0.5, severity="critical")
    extra = RuleConfig(name="Mine", metric="queue_depth", op=">=", threshold=3, targets=["a"],
                       channels=["pd"])
    rules = {r.name: r for r in build_rules(make_config(mine, extra, default_rules=True))}
    assert len(rules) == len(DEFAULT_RULE_NAMES) + 1
    assert [(t.threshold, t.severity) for t in rules["HighErrorRate"].tiers] == [(0.5, "critical")]
    assert not rules["HighErrorRate"].default
    assert rules["Mine"].targets == frozenset({"a"}) and rules["Mine"].channels == ("pd",)
    assert [r.name for r in build_rules(make_config(extra, default_rules=False))] == ["Mine"]


def test_compile_rule_and_tiers():
    rule = compile_rule(RuleConfig(name="R", metric="rtt_p95", op="<=", threshold=5.0, for_=30,
                                   keep_firing_for=10, window=60, aggregate="max", severity="info",
                                   labels={"team": "edge"}))
    assert (rule.for_, rule.keep_firing_for, rule.window, rule.aggregate) == (30, 10, 60, "max")
    assert rule.match(5.0).severity == "info" and rule.match(5.1) is None and rule.match(None) is None
    assert dict(rule.labels) == {"team": "edge"} and not rule.fleet
    tiered = make_rule("T", "queue_depth", ">", [(10, "warning"), (100, "critical")])
    assert tiered.match(50).severity == "warning" and tiered.match(500).severity == "critical"
    for bad in ({"metric": "nope"}, {"op": "=~"}, {"tiers": [(1, "fatal")]}, {"aggregate": "median"}):
        kw = {"metric": "error_rate", "op": ">", "tiers": [(1, "warning")], **bad}
        with pytest.raises(ValueError, match="rule 'X'"):
            make_rule("X", kw.pop("metric"), kw.pop("op"), kw.pop("tiers"), **kw)


def test_step_up():
    assert [step_up(s) for s in ("info", "warning", "critical")] == ["warning", "critical", "critical"]


def _snapshot(now: float, targets: tuple[TargetView, ...], **kw) -> Snapshot:
    return Snapshot(taken_at=now, tick=1, session_id="s", deployment=DeploymentView("d"), level="standard",
                    interval=10.0, targets=targets, **kw)


def test_reader_current_values_come_from_the_tick_record_only():
    book = SeriesBook()
    now = T0
    tv = TargetView(name="a", url="ws://x", probes=3, success_rate=0.75, error_rate=0.25,
                    last_probe=ProbeResult(target="a", started_at=now, ok=True, handshake_ms=42.0),
                    metrics={"queue_depth": 7.0, "refused": 3.0}, degraded_vs_baseline=True)
    book.add("a", "timeout", now - 1000, 9.0)  # history is for windows: never a current value
    snap = _snapshot(now, (tv,), health_score=55.0, overall={"connections": 900.0},
                     resources=ResourceView(cpu_percent=12.0, process={"cpu_percent": 99.0, "rss_mb": 80.0}))
    r = MetricReader(snap, book, now)
    assert r.current("error_rate", "a") == 0.25
    assert r.current("handshake_ms", "a") == 42.0
    assert r.current("queue_depth", "a") == 7.0
    assert r.current("baseline_degradation", "a") == 1.0
    assert r.current("refused", "a") == 3.0
    assert r.current("timeout", "a") is None
    assert r.current("overall", "overall") == 55.0
    assert r.current("cpu_percent", "overall") == 12.0  # the host's, not the process's
    assert r.current("rss_mb", "overall") == 80.0
    assert r.current("error_rate", "missing") is None


def test_reader_windows_and_cache():
    book = SeriesBook()
    for i, v in enumerate([10.0, 20.0, 30.0, 40.0, 1000.0]):
        book.add("a", "handshake_ms", T0 - 40 + i * 10, v)
        book.add("a", "rtt_p95", T0 - 40 + i * 10, v)
    book.add("", "health_score", T0 - 5, 40.0)
    book.add("", "health_score", T0, 60.0)
    snap = _snapshot(T0, (TargetView(name="a", url="ws://x"),))
    r = MetricReader(snap, book, T0)
    assert r.windowed("rtt_p95", "a", 25.0, "avg") == pytest.approx((30 + 40 + 1000) / 3)
    assert r.windowed("rtt_p95", "a", 100.0, "min") == 10.0
    assert r.windowed("handshake_ms", "a", 100.0, "p95") == pytest.approx(808.0)
    assert r.windowed("handshake_p50", "a", 100.0, "last") == 30.0  # raw probes' median
    assert r.windowed("overall", "overall", 10.0, "avg") == 50.0
    book.add("a", "rtt_p95", T0, 5000.0)
    assert r.windowed("rtt_p95", "a", 25.0, "avg") == pytest.approx((30 + 40 + 1000) / 3)  # cached per tick


def test_relative_baseline():
    clock = Clock()
    w = World(clock)
    rule = make_rule("Drop", "adoption", "<", [(0.7, "warning")], relative_baseline=30.0)
    baselines: dict = {}
    for _ in range(4):  # 0, 10, 20, 30 s: baseline = 0.8
        snap = w.snapshot(metrics={"adoption": 0.8})
        clock.advance(10)
    snap = w.snapshot(metrics={"adoption": 0.4})
    value = MetricReader(snap, w.book, clock(), baselines).value(rule, "edge-1")
    assert value == pytest.approx(0.5) and rule.match(value) is not None
    assert list(baselines.values()) == [pytest.approx(0.8)]
    early = World(Clock())
    snap = early.snapshot(metrics={"adoption": 0.1})
    assert MetricReader(snap, early.book, T0, {}).value(rule, "edge-1") is None  # no baseline yet


@pytest.mark.parametrize("template, expected", [
    ("{target} {value} {threshold}", "a{value} 0.5 0.1"),
    ("{value:.0%} vs {threshold:.1f}", "50% vs 0.1"),
    ("{0} {target.__class__} {target[0]} {nope} {value!r}",
     "{0} {target.__class__} {target[0]} {nope} {value!r}"),
    ("unbalanced { brace", "unbalanced { brace"),
    ("bad spec {value:zz}", "bad spec {value:zz}"),
    ("{{literal}} {target}", "{literal} a{value}"),
    ("no fields", "no fields"),
])
def test_render_is_safe(template, expected):
    assert render(template, {"target": "a{value}", "value": 0.5, "threshold": 0.1}) == expected


def test_render_missing_value():
    assert render("{value:.1f} ms", {"value": None}) == "n/a ms"


def _ts(text: str, tz: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def test_one_off_window_with_naive_start_in_its_timezone():
    w = MaintenanceWindow(MaintenanceConfig(start="2025-03-01T22:00", duration=3600, timezone="Asia/Tokyo"))
    assert not w.active(_ts("2025-03-01T21:59:59", "Asia/Tokyo"))
    assert w.active(_ts("2025-03-01T22:00:00", "Asia/Tokyo"))
    assert w.active(_ts("2025-03-01T22:59:59", "Asia/Tokyo"))
    assert not w.active(_ts("2025-03-01T23:00:00", "Asia/Tokyo"))


def test_daily_window_keeps_local_time_across_dst():
    w = MaintenanceWindow(MaintenanceConfig(start="03:00", duration=1800, every=86400,
                                            timezone="Europe/Berlin"))
    for day in ("2025-03-29", "2025-03-31", "2025-10-27"):  # before and after both DST changes
        assert w.active(_ts(f"{day}T03:10", "Europe/Berlin"))
        assert not w.active(_ts(f"{day}T02:55", "Europe/Berlin"))
        assert not w.active(_ts(f"{day}T03:31", "Europe/Berlin"))


def test_window_crossing_midnight_and_sub_daily_period():
    night = MaintenanceWindow(MaintenanceConfig(start="23:30", duration=3600, every=86400, timezone="UTC"))
    assert night.active(_ts("2025-01-02T00:15", "UTC"))
    assert not night.active(_ts("2025-01-02T00:31", "UTC"))
    hourly = MaintenanceWindow(MaintenanceConfig(start="2025-01-01T00:00:00+00:00", duration=300,
                                                 every=3600))
    assert hourly.active(_ts("2025-01-05T07:04", "UTC"))
    assert not hourly.active(_ts("2025-01-05T07:06", "UTC"))
    assert not hourly.active(_ts("2024-12-31T23:01", "UTC"))
    weekly = MaintenanceWindow(MaintenanceConfig(start="2025-01-04T10:00:00", duration=7200, every=7 * 86400,
                                                 timezone="Europe/Berlin"))  # Saturdays
    assert weekly.active(_ts("2025-07-05T11:00", "Europe/Berlin"))
    assert not weekly.active(_ts("2025-07-06T11:00", "Europe/Berlin"))
