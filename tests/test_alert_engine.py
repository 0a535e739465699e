"""The alert lifecycle with a controllable clock, on a real SQLite database."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from wsmon_tui.alerts.db import report_alerts
from wsmon_tui.alerts.engine import AlertEngine, UnknownAlert, fingerprint
from wsmon_tui.alerts.notification import Notification
from wsmon_tui.config import (
    AlertsConfig,
    Config,
    DeploymentConfig,
    MaintenanceConfig,
    MonitorConfig,
    RuleConfig,
)
from wsmon_tui.engine.series import SeriesBook
from wsmon_tui.metrics import PROBE_OUTCOME
from wsmon_tui.model import DeploymentView, Percentiles, ResourceView, Snapshot, TargetView

T0 = 1_750_000_000.0


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make_config(*rules: RuleConfig, default_rules: bool = False, escalate_after: float | None = None,
                ack_timeout: float | None = None, send_resolved: bool = True,
                maintenance: tuple[MaintenanceConfig, ...] = (), level: str = "standard") -> Config:
    return Config(
        monitor=MonitorConfig(level=level),  # type: ignore[arg-type]
        deployment=DeploymentConfig(name="chat"),
        alerts=AlertsConfig(default_rules=default_rules, escalate_after=escalate_after,
                            ack_timeout=ack_timeout, send_resolved=send_resolved, rules=list(rules),
                            maintenance=list(maintenance)),
    )


def err_rule(**kw: Any) -> RuleConfig:
    base: dict[str, Any] = {"name": "Errors", "metric": "error_rate", "op": ">", "threshold": 0.1,
                            "severity": "warning", "cooldown": 0.0}
    base.update(kw)
    return RuleConfig(**base)


class World:
    """Builds the Snapshot and SeriesBook the Monitor would hand over, one tick at a time."""

    def __init__(self, clock: Clock, targets: tuple[str, ...] = ("edge-1",)) -> None:
        self.clock = clock
        self.targets = targets
        self.book = SeriesBook()
        self.tick_no = 0

    def snapshot(self, *, error_rate: float | dict[str, float | None] | None = 0.0, probes: int = 10,
                 handshake_p95: float | None = 50.0, metrics: dict[str, float] | None = None,
                 health: float | None = 100.0, cpu: float | None = 10.0,
                 series_extra: dict[str, float] | None = None) -> Snapshot:
        self.tick_no += 1
        now = self.clock()
        views = []
        for name in self.targets:
            err = error_rate.get(name) if isinstance(error_rate, dict) else error_rate
            success = None if err is None else 1 - err
            # the read model's failing streak: every probe failing, or none (a partial rate ends it)
            streak = {"consecutive_failures": float(probes if err == 1.0 else 0)} if probes else {}
            for metric, value in (("error_rate", err), ("probe_success_rate", success),
                                  ("handshake_p95", handshake_p95), *((metrics or {}).items()),
                                  *((series_extra or {}).items())):
                if value is not None:
                    self.book.add(name, metric, now, value)
            if probes:  # one probe per tick (interval 10 s): the evidence rate rules count
                self.book.add(name, PROBE_OUTCOME, now, 0.0 if err is not None and err >= 0.5 else 1.0)
            views.append(TargetView(name=name, url=f"ws://127.0.0.1:1/{name}", probes=probes,
                                    success_rate=success, error_rate=err,
                                    handshake_ms=Percentiles(None, handshake_p95, None),
                                    health_score=health,
                                    metrics={**streak, **(metrics or {}), **(series_extra or {})}))
        if health is not None:
            self.book.add("", "health_score", now, health)
        return Snapshot(taken_at=now, tick=self.tick_no, session_id="s1", deployment=DeploymentView("chat"),
                        level="standard", interval=10.0, targets=tuple(views), health_score=health,
                        resources=ResourceView(cpu_percent=cpu, memory_percent=20.0,
                                               process={"cpu_percent": 99.0}))

    def run(self, engine: AlertEngine, **kw: Any) -> tuple[tuple, list[Notification]]:
        return engine.evaluate(self.snapshot(**kw), self.book)


def kinds(notes: list[Notification]) -> list[str]:
    return [n.kind for n in notes]


def open_engine(config: Config, db_path: Path | None, clock: Clock):
    return AlertEngine(config, db_path, clock=clock)


@pytest.fixture
def engines():
    made: list[AlertEngine] = []
    yield made
    for e in made:
        e.close()


def new(engines: list[AlertEngine], config: Config, db_path: Path | None, clock: Clock,
        **kw: Any) -> AlertEngine:
    e = AlertEngine(config, db_path, clock=clock, **kw)
    engines.append(e)
    return e


# -- for / keep_firing_for / window ---------------------------------------------------------


def test_for_keeps_an_alert_pending_then_fires_once(clock, db_path, engines):
    eng = new(engines, make_config(err_rule(for_=30.0)), db_path, clock)
    w = World(clock)
    views, notes = w.run(eng, error_rate=0.5)
    assert [v.state for v in views] == ["pending"] and notes == []
    clock.advance(20)
    views, notes = w.run(eng, error_rate=0.5)
    assert views[0].state == "pending" and notes == []
    clock.advance(10)
    views, notes = w.run(eng, error_rate=0.5)
    assert views[0].state == "firing" and kinds(notes) == ["firing"]
    assert notes[0].fingerprint == fingerprint("Errors", "edge-1", "chat") == views[0].id
    assert notes[0].seq == 1 and notes[0].deployment == "chat"
    clock.advance(10)
    _, notes = w.run(eng, error_rate=0.5)
    assert notes == []  # cooldown 0: no reminders


def test_condition_clearing_while_pending_leaves_no_alert(clock, db_path, engines):
    eng = new(engines, make_config(err_rule(for_=30.0)), db_path, clock)
    w = World(clock)
    w.run(eng, error_rate=0.5)
    assert eng.alerts("pending")
    clock.advance(10)
    views, notes = w.run(eng, error_rate=0.0)
    assert views == () and notes == []
    assert eng.alerts("all") == []
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM alert_alerts").fetchone()[0] == 0


def test_an_alert_acknowledged_while_pending_is_kept_when_it_clears(clock, db_path, engines):
    """What a person did is history: an ack on a pending alert is never silently dropped."""
    eng = new(engines, make_config(err_rule(for_=30.0)), db_path, clock)
    w = World(clock)
    views, _ = w.run(eng, error_rate=0.5)
    assert views[0].state == "pending"
    eng.acknowledge(views[0].id, "dave", "watching it")
    clock.advance(10)
    views, notes = w.run(eng, error_rate=0.0)
    assert [(v.state, v.acknowledged_by) for v in views] == [("resolved", "dave")] and notes == []
    kept = [(a.state, a.acknowledged_by, a.ack_comment) for a in eng.alerts("all")]
    assert kept == [("resolved", "dave", "watching it")]


def test_an_alert_acknowledged_while_pending_is_announced_as_firing_and_acknowledged(clock, db_path, engines):
    """The channels still learn it fired; the ack follows at once (PagerDuty acknowledges the
    incident it just opened), and neither reminders nor escalation come after."""
    cfg = make_config(err_rule(for_=30.0, cooldown=60.0), escalate_after=90.0)
    eng = new(engines, cfg, db_path, clock)
    w = World(clock)
    views, _ = w.run(eng, error_rate=0.5)
    eng.acknowledge(views[0].id, "dave")
    clock.advance(30)
    views, notes = w.run(eng, error_rate=0.5)
    assert views[0].state == "firing" and kinds(notes) == ["firing", "acknowledged"]
    assert [n.seq for n in notes] == [1, 2]
    later: list[Notification] = []
    for _ in range(20):
        clock.advance(10)
        later += w.run(eng, error_rate=0.5)[1]
    assert later == []


def test_an_alert_acknowledged_while_pending_ends_stale_with_the_session(clock, db_path, engines):
    cfg = make_config(err_rule(for_=30.0))
    eng = new(engines, cfg, db_path, clock)
    eng.begin_session("s1")
    w = World(clock)
    views, _ = w.run(eng, error_rate=0.5)
    eng.acknowledge(views[0].id, "dave")
    eng.unacknowledge(views[0].id, "dave")  # withdrawn, but both were done: still history
    clock.advance(5)
    eng.end_session()
    later = new(engines, cfg, db_path, clock)
    assert [(a.state, a.rule) for a in later.alerts("all")] == [("stale", "Errors")]
    with sqlite3.connect(db_path) as conn:
        events = [r[0] for r in conn.execute("SELECT event FROM alert_history ORDER BY id")]
    assert events == ["pending", "acknowledged", "unacknowledged", "stale"]


def test_keep_firing_for_rides_out_a_short_dip_then_resolves(clock, db_path, engines):
    eng = new(engines, make_config(err_rule(keep_firing_for=60.0)), db_path, clock)
    w = World(clock)
    _, notes = w.run(eng, error_rate=0.5)
    assert kinds(notes) == ["firing"]
    clock.advance(30)
    views, notes = w.run(eng, error_rate=0.0)
    assert views[0].state == "firing" and notes == []
    clock.advance(10)
    w.run(eng, error_rate=0.5)  # back above: the hold restarts from here
    clock.advance(50)
    views, notes = w.run(eng, error_rate=0.0)
    assert views[0].state == "firing" and notes == []
    clock.advance(15)
    views, notes = w.run(eng, error_rate=0.0)
    assert kinds(notes) == ["resolved"] and notes[0].seq == 2
    assert views[0].state == "resolved" and views[0].resolved_at == clock()


def test_send_resolved_false_sends_no_resolution(clock, db_path, engines):
    eng = new(engines, make_config(err_rule(), send_resolved=False), db_path, clock)
    w = World(clock)
    w.run(eng, error_rate=0.5)
    clock.advance(10)
    views, notes = w.run(eng, error_rate=0.0)
    assert views[0].state == "resolved" and notes == []


def test_window_avg_ignores_a_spike_but_fires_on_a_sustained_rise(clock, db_path, engines):
    rule = err_rule(window=60.0, aggregate="avg", threshold=0.2)
    eng = new(engines, make_config(rule), db_path, clock)
    w = World(clock)
    for _ in range(5):
        w.run(eng, error_rate=0.0)
        clock.advance(10)
    views, notes = w.run(eng, error_rate=0.9)  # one spike: avg of 0,0,0,0,0,0.9 over 60 s = 0.15
    assert views == () and notes == []
    clock.advance(10)
    views, notes = w.run(eng, error_rate=0.9)  # the window [now-60, now] holds 7 samples, 2 high
    assert views[0].state == "firing" and kinds(notes) == ["firing"]
    assert views[0].value == pytest.approx(1.8 / 7)


def test_severity_tiers_and_value_in_summary(clock, engines):
    from wsmon_tui.alerts.defaults import default_rules

    cfg = make_config(default_rules=True, level="debug")
    eng = new(engines, cfg, None, clock)
    assert {r.name for r in eng.rules} == {r.name for r in default_rules("debug")}
    w = World(clock)
    w.run(eng, error_rate=0.02)
    clock.advance(11)
    views, notes = w.run(eng, error_rate=0.02)
    high = next(v for v in views if v.rule == "HighErrorRate")
    assert high.state == "firing" and high.severity == "warning"
    assert "2.0%" in high.summary and "1.0%" in high.summary
    clock.advance(10)
    views, notes = w.run(eng, error_rate=0.5)
    high = next(v for v in views if v.rule == "HighErrorRate")
    assert high.severity == "critical" and high.threshold == 0.05
    assert [(n.kind, n.extra.get("reason")) for n in notes if n.alert.rule == "HighErrorRate"] == [
        ("firing", "severity_raised")]


# -- notifications over time ----------------------------------------------------------------


def test_cooldown_reminders_and_seq(clock, db_path, engines):
    eng = new(engines, make_config(err_rule(cooldown=300.0)), db_path, clock)
    w = World(clock)
    _, notes = w.run(eng, error_rate=0.5)
    assert kinds(notes) == ["firing"]
    seen: list[Notification] = []
    for _ in range(60):  # 10 minutes at 10 s
        clock.advance(10)
        _, notes = w.run(eng, error_rate=0.5)
        seen += notes
    assert kinds(seen) == ["reminder", "reminder"]
    assert [n.seq for n in seen] == [2, 3]
    assert seen[0].created_at == pytest.approx(T0 + 300)
    assert seen[0].extra["reason"] == "cooldown"


def test_escalation_once_one_step_up(clock, db_path, engines):
    eng = new(engines, make_config(err_rule(cooldown=0.0), escalate_after=120.0), db_path, clock)
    w = World(clock)
    w.run(eng, error_rate=0.5)
    out: list[Notification] = []
    for _ in range(30):
        clock.advance(10)
        out += w.run(eng, error_rate=0.5)[1]
    assert kinds(out) == ["escalated"]
    n = out[0]
    assert n.escalation is True and n.alert.severity == "critical" and n.alert.escalated
    assert n.created_at == pytest.approx(T0 + 120)
    assert eng.alerts("firing")[0].severity == "critical"


def test_ack_stops_escalation_and_reminders(clock, db_path, engines):
    eng = new(engines, make_config(err_rule(cooldown=60.0), escalate_after=120.0), db_path, clock)
    w = World(clock)
    views, _ = w.run(eng, error_rate=0.5)
    clock.advance(30)
    view = eng.acknowledge(views[0].id[:6], "alice", "on it")
    assert view.acknowledged_by == "alice" and view.ack_comment == "on it"
    out: list[Notification] = []
    for _ in range(30):
        clock.advance(10)
        out += w.run(eng, error_rate=0.5)[1]
    assert kinds(out) == ["acknowledged"]  # the ack itself (PagerDuty mirrors it), then silence
    assert out[0].alert.acknowledged_by == "alice"
    eng.unacknowledge(views[0].id, "alice")
    clock.advance(10)
    _, notes = w.run(eng, error_rate=0.5)
    assert kinds(notes) == ["escalated"]  # unacked and long past escalate_after


def test_ack_timeout_renotifies(clock, db_path, engines):
    eng = new(engines, make_config(err_rule(cooldown=30.0), ack_timeout=100.0), db_path, clock)
    w = World(clock)
    views, _ = w.run(eng, error_rate=0.5)
    eng.acknowledge(views[0].id, "bob")
    out: list[Notification] = []
    for _ in range(25):
        clock.advance(10)
        out += w.run(eng, error_rate=0.5)[1]
    assert [(n.kind, n.extra.get("reason"), round(n.created_at - T0)) for n in out] == [
        ("acknowledged", None, 0), ("reminder", "ack_timeout", 100), ("reminder", "ack_timeout", 200)]


def test_ack_clears_itself_when_the_alert_resolves(clock, db_path, engines):
    eng = new(engines, make_config(err_rule()), db_path, clock)
    w = World(clock)
    views, _ = w.run(eng, error_rate=0.5)
    eng.acknowledge(views[0].id, "carol", "looking")
    clock.advance(10)
    w.run(eng, error_rate=0.5)
    clock.advance(10)
    views, notes = w.run(eng, error_rate=0.0)
    assert kinds(notes) == ["resolved"] and views[0].acknowledged_by == "carol"
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT cleared_by FROM alert_acks").fetchall() == [("resolved",)]
    clock.advance(10)
    views, notes = w.run(eng, error_rate=0.5)  # a new occurrence: not acknowledged
    firing = [v for v in views if v.state == "firing"]
    assert firing[0].acknowledged_by is None and kinds(notes) == ["firing"]
    assert notes[0].seq == 4  # firing, acknowledged, resolved, firing: seq runs on per alert


# -- silences and maintenance -------------------------------------------------------------------


def test_silence_from_another_process_mutes_and_the_end_notifies(clock, db_path, engines):
    eng = new(engines, make_config(err_rule(for_=20.0)), db_path, clock)
    cli = new(engines, make_config(err_rule(for_=20.0)), db_path, clock)  # e.g. `alerts silence`
    w = World(clock, targets=("edge-1", "edge-2"))
    w.run(eng, error_rate=0.5)
    made = cli.silence(rule="Err*", target="edge-1", severity=None, duration=100.0, comment="deploy",
                       user="dave")
    assert made["active"] and made["created_by"] == "dave"
    clock.advance(20)
    views, notes = w.run(eng, error_rate=0.5)
    by_target = {v.target: v for v in views}
    assert by_target["edge-1"].state == "firing" and by_target["edge-1"].silenced
    assert not by_target["edge-2"].silenced
    assert [(n.kind, n.alert.target) for n in notes] == [("firing", "edge-2")]
    assert [s["id"] for s in eng.silences()] == [made["id"]]
    clock.advance(50)
    assert w.run(eng, error_rate=0.5)[1] == []
    clock.advance(40)  # the silence has expired: still firing, so now it is announced
    views, notes = w.run(eng, error_rate=0.5)
    assert [(n.kind, n.alert.target) for n in notes] == [("firing", "edge-1")]
    assert eng.silences() == [] and len(eng.silences(active_only=False)) == 1


def test_severity_matcher_and_silenced_resolve_is_quiet(clock, db_path, engines):
    eng = new(engines, make_config(err_rule()), db_path, clock)
    eng.silence(rule="Errors", target=None, severity="critical", duration=3600, comment="x", user="u")
    w = World(clock)
    _, notes = w.run(eng, error_rate=0.5)
    assert kinds(notes) == ["firing"]  # a warning does not match a critical-only silence
    eng.silence(rule="*", target=None, severity=None, duration=3600, comment="all", user="u")
    clock.advance(10)
    views, _ = w.run(eng, error_rate=0.5)
    assert views[0].silenced
    clock.advance(10)
    _, notes = w.run(eng, error_rate=0.0)
    assert notes == []  # muted alerts are not notified, their resolution neither


def test_ack_from_another_process_takes_effect(clock, db_path, engines):
    eng = new(engines, make_config(err_rule(cooldown=60.0)), db_path, clock)
    w = World(clock)
    views, _ = w.run(eng, error_rate=0.5)
    other = new(engines, make_config(err_rule(cooldown=60.0)), db_path, clock)
    other.acknowledge(views[0].id, "erin", "mine")
    clock.advance(10)
    views, notes = w.run(eng, error_rate=0.5)
    assert views[0].acknowledged_by == "erin" and kinds(notes) == ["acknowledged"]
    out = []
    for _ in range(12):
        clock.advance(10)
        out += w.run(eng, error_rate=0.5)[1]
    assert out == []
    other.unacknowledge(views[0].id, "erin")
    clock.advance(10)
    views, notes = w.run(eng, error_rate=0.5)
    assert views[0].acknowledged_by is None and kinds(notes) == ["reminder"]


def test_one_off_maintenance_window(clock, db_path, engines):
    start = "2025-06-15T14:00:00+00:00"  # T0 is 2025-06-15T15:06:40Z
    window = MaintenanceConfig(start=start, duration=7200.0)
    eng = new(engines, make_config(err_rule(), maintenance=(window,)), db_path, clock)
    w = World(clock)
    views, notes = w.run(eng, error_rate=0.5)
    assert views[0].state == "firing" and views[0].silenced and notes == []
    clock.t = 1_750_003_200.0 + 10  # 16:00:10Z, the window closed at 16:00
    views, notes = w.run(eng, error_rate=0.5)
    assert not views[0].silenced and kinds(notes) == ["firing"]


def test_daily_maintenance_window_in_a_timezone(clock, db_path, engines):
    # 17:00-17:30 in New York, daily; T0 = 11:06:40 EDT
    window = MaintenanceConfig(start="17:00", duration=1800.0, every=86400.0, timezone="America/New_York")
    eng = new(engines, make_config(err_rule(), maintenance=(window,)), db_path, clock)
    w = World(clock, targets=("a",))
    clock.t = 1_750_021_200.0 + 60  # 2025-06-15 21:01 UTC = 17:01 EDT
    views, notes = w.run(eng, error_rate=0.5)
    assert views[0].silenced and notes == []
    clock.t += 1800  # 17:31 EDT
    views, notes = w.run(eng, error_rate=0.5)
    assert not views[0].silenced and kinds(notes) == ["firing"]
    clock.t += 86400 - 1800  # next day 17:01 EDT
    views, _ = w.run(eng, error_rate=0.5)
    assert views[0].silenced


# -- restart ------------------------------------------------------------------------------


def test_firing_state_and_seq_survive_a_restart(clock, db_path):
    cfg = make_config(err_rule(cooldown=100.0, keep_firing_for=30.0))
    first = AlertEngine(cfg, db_path, clock=clock)
    w = World(clock)
    try:
        views, notes = w.run(first, error_rate=0.5)
        clock.advance(100)
        _, notes2 = w.run(first, error_rate=0.5)
        assert kinds(notes + notes2) == ["firing", "reminder"]
        fired_at = views[0].firing_at
    finally:
        first.close()
    second = AlertEngine(cfg, db_path, clock=clock)
    try:
        assert [a.state for a in second.alerts()] == ["firing"]
        clock.advance(10)
        views, notes = w.run(second, error_rate=0.5)
        assert notes == [] and views[0].firing_at == fired_at  # no duplicate firing notification
        clock.advance(95)
        _, notes = w.run(second, error_rate=0.5)
        assert kinds(notes) == ["reminder"] and notes[0].seq == 3
        clock.advance(10)
        w.run(second, error_rate=0.0)
        clock.advance(30)
        _, notes = w.run(second, error_rate=0.0)
        assert kinds(notes) == ["resolved"] and notes[0].seq == 4
    finally:
        second.close()
    third = AlertEngine(cfg, db_path, clock=clock)
    try:
        assert third.alerts() == [] and [a.state for a in third.alerts("resolved")] == ["resolved"]
        _, notes = w.run(third, error_rate=0.5)
        assert kinds(notes) == ["firing"] and notes[0].seq == 5
    finally:
        third.close()


def test_removed_rule_resolves_after_restart(clock, db_path):
    first = AlertEngine(make_config(err_rule()), db_path, clock=clock)
    w = World(clock)
    try:
        w.run(first, error_rate=0.5)
    finally:
        first.close()
    second = AlertEngine(make_config(), db_path, clock=clock)
    try:
        views, notes = w.run(second, error_rate=0.5)
        assert [v.state for v in views] == ["resolved"] and kinds(notes) == ["resolved"]
    finally:
        second.close()


# -- templating, external alerts, inhibition, errors ------------------------------------------


def test_templates_with_hostile_target_names(clock, engines):
    rule = err_rule(summary="{target} at {value:.0%} (>{threshold}) {0} {target.__class__} {nope}",
                    description="bad spec {value:zz} stays raw", runbook="https://rb/{rule}?t={target}")
    eng = new(engines, make_config(rule), None, clock)
    hostile = "x{value}\x1b[31m{threshold}"
    w = World(clock, targets=(hostile,))
    views, notes = w.run(eng, error_rate=0.5)
    a = views[0]
    assert a.summary == f"{hostile} at 50% (>0.1) {{0}} {{target.__class__}} {{nope}}"
    assert a.description == "bad spec {value:zz} stays raw"
    assert a.runbook == f"https://rb/Errors?t={hostile}"
    assert notes[0].alert.summary == a.summary


def test_raise_and_resolve_an_external_alert(clock, db_path, engines):
    eng = new(engines, make_config(), db_path, clock)
    notes = eng.raise_alert(rule="RollbackRecommended", target="overall", severity="critical",
                            summary="health 12 < 40 for 60s", value=12.0)
    assert kinds(notes) == ["firing"] and notes[0].alert.severity == "critical"
    assert eng.raise_alert(rule="RollbackRecommended", target="overall", severity="critical",
                           summary="still bad", value=10.0) == []
    w = World(clock)
    clock.advance(10)
    views, notes = w.run(eng)  # rules do not resolve it
    assert [v.rule for v in views] == ["RollbackRecommended"] and notes == []
    assert views[0].summary == "still bad"
    notes = eng.resolve_alert("RollbackRecommended", "overall")
    assert kinds(notes) == ["resolved"] and notes[0].seq == 2
    assert eng.resolve_alert("RollbackRecommended", "overall") == []


def test_target_down_inhibits_error_rate_alerts(clock, engines):
    eng = new(engines, make_config(default_rules=True, level="debug"), None, clock)
    w = World(clock)
    out: list[Notification] = []
    for _ in range(4):
        views, notes = w.run(eng, error_rate=1.0, handshake_p95=None)
        out += notes
        clock.advance(5)
    fired = {(n.alert.rule, n.kind) for n in out}
    assert ("TargetDown", "firing") in fired
    assert not any(rule == "HighErrorRate" for rule, _ in fired)
    high = next(v for v in views if v.rule == "HighErrorRate")
    # inhibited, not silenced: nobody muted it (it was shown as "silenced" before)
    assert high.state == "firing" and not high.silenced and high.inhibited_by == "TargetDown"
    assert high.labels["inhibited_by"] == "TargetDown"


def test_fleet_rules_use_host_figures(clock, engines):
    rule = RuleConfig(name="Cpu", metric="cpu_percent", op=">", threshold=90.0, cooldown=0.0)
    overall = RuleConfig(name="Fleet", metric="overall", op="<", threshold=50.0, cooldown=0.0)
    eng = new(engines, make_config(rule, overall), None, clock)
    w = World(clock, targets=("a", "b"))
    views, _ = w.run(eng, cpu=50.0, health=80.0)  # the process's cpu_percent (99) is not the host's
    assert views == ()
    views, _notes = w.run(eng, cpu=95.0, health=20.0)
    assert sorted((v.rule, v.target) for v in views) == [("Cpu", "overall"), ("Fleet", "overall")]


def test_unknown_and_ambiguous_ids(clock, db_path, engines):
    eng = new(engines, make_config(err_rule()), db_path, clock)
    w = World(clock, targets=tuple(f"t{i}" for i in range(40)))
    views, _ = w.run(eng, error_rate=0.5)
    with pytest.raises(UnknownAlert, match="no alert with id"):
        eng.acknowledge("zzzz", "u")
    ids = sorted(v.id for v in views)
    shared = next(a[0] for a, b in itertools.pairwise(ids) if a[0] == b[0])
    with pytest.raises(UnknownAlert, match="ambiguous"):
        eng.acknowledge(shared, "u")
    assert UnknownAlert.exit_code == 1


def test_read_only_engine_does_not_write(clock, db_path, engines):
    ro = new(engines, make_config(err_rule()), db_path, clock, read_only=True)
    w = World(clock)
    views, notes = w.run(ro, error_rate=0.5)
    assert views[0].state == "firing" and kinds(notes) == ["firing"]
    assert not db_path.exists()
    with pytest.raises(Exception, match="read-only"):
        ro.acknowledge(views[0].id, "u")


def test_read_only_engine_reads_an_existing_database_and_writes_nothing(clock, db_path, engines):
    rw = new(engines, make_config(err_rule()), db_path, clock)
    w = World(clock)
    views, _ = w.run(rw, error_rate=0.5)
    rw.acknowledge(views[0].id, "gail")
    before = db_path.read_bytes(), sorted(p.name for p in db_path.parent.iterdir())
    ro = new(engines, make_config(err_rule()), db_path, clock, read_only=True)
    clock.advance(10)
    views, notes = w.run(ro, error_rate=0.5)
    assert views[0].state == "firing" and views[0].acknowledged_by == "gail" and notes == []
    clock.advance(10)
    views, notes = w.run(ro, error_rate=0.0)
    assert views[0].state == "resolved" and kinds(notes) == ["resolved"]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT state FROM alert_alerts").fetchall() == [("firing",)]
    assert db_path.read_bytes() == before[0]


def test_report_alerts_fields_and_mtta_mttr(clock, db_path, engines):
    eng = new(engines, make_config(err_rule()), db_path, clock)
    w = World(clock)
    views, _ = w.run(eng, error_rate=0.5)
    clock.advance(60)
    eng.acknowledge(views[0].id, "frank", "ok")
    clock.advance(60)
    w.run(eng, error_rate=0.0)
    report = report_alerts(db_path, T0 - 10, clock())
    (a,) = report["alerts"]
    assert {"id", "rule", "target", "severity", "state", "started_at", "resolved_at", "acknowledged_by",
            "value", "threshold", "summary", "acknowledged_at", "escalated"} <= set(a)
    assert a["state"] == "resolved" and a["acknowledged_by"] == "frank"
    assert report["stats"]["mtta_s"] == pytest.approx(60) and report["stats"]["mttr_s"] == pytest.approx(120)
    assert report["stats"]["by_rule"] == {"Errors": 1}
    assert report_alerts(db_path, clock() + 10, clock() + 20)["alerts"] == []
    assert report_alerts(db_path.parent / "none.db", 0, 1)["alerts"] == []
    stats = eng.stats()
    assert stats["by_severity"] == {"warning": 1} and stats["by_state"] == {"resolved": 1}


def test_retention_prunes_old_resolved_alerts_and_expired_silences_but_never_active_ones(
        clock, db_path, engines):
    from wsmon_tui.alerts.db import prune_alerts

    eng = new(engines, make_config(err_rule()), db_path, clock)
    w = World(clock)
    views, _ = w.run(eng, error_rate=0.5)
    eng.acknowledge(views[0].id, "carol", "looking")
    eng.silence(rule="Other", target=None, severity=None, duration=60, comment="drill", user="carol")
    clock.advance(10)
    w.run(eng, error_rate=0.0)  # the first occurrence resolves
    resolved_at = clock()
    clock.advance(3600)
    w.run(eng, error_rate=0.5)  # a second occurrence, still firing
    started_second = clock()

    def count(table: str) -> int:
        with sqlite3.connect(db_path) as conn:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    assert (count("alert_alerts"), count("alert_acks"), count("alert_silences")) == (2, 1, 1)
    assert prune_alerts(db_path, resolved_at) == 0  # nothing older than the cut yet
    assert prune_alerts(db_path, started_second) == 1
    assert (count("alert_alerts"), count("alert_acks"), count("alert_silences")) == (1, 0, 0)
    with sqlite3.connect(db_path) as conn:
        events = [r[0] for r in conn.execute("SELECT event FROM alert_history ORDER BY id")]
    assert events == ["pending", "firing", "notify:firing"]  # the active occurrence keeps its history
    assert [v.state for v in eng.alerts("all")] == ["firing"]
    clock.advance(10 * 24 * 3600)
    assert prune_alerts(db_path, clock()) == 0  # active alerts stay, however old
    assert count("alert_alerts") == 1


def test_a_refused_target_pages_once_from_the_first_tick(clock, engines):
    """Every probe refused from the start: TargetDown is pending from the first probe and holds
    HighErrorRate back as soon as that has the evidence to judge (4 of the 10 probes expected in
    the 100 s window); only TargetDown is ever notified, and the summaries say what they rest on."""
    eng = new(engines, make_config(default_rules=True), None, clock)
    w = World(clock)
    out: list[Notification] = []
    for probes in range(1, 11):
        views, notes = w.run(eng, error_rate=1.0, probes=probes, handshake_p95=None)
        out += notes
        by = {v.rule: v for v in views}
        if probes < 4:
            assert set(by) == {"TargetDown"}  # one failed probe is no rate: not judged yet
        else:
            assert by["HighErrorRate"].inhibited_by == "TargetDown" and not by["HighErrorRate"].silenced
        clock.advance(10)
    assert [(n.alert.rule, n.kind) for n in out] == [("TargetDown", "firing")]
    assert by["TargetDown"].summary == "edge-1: every probe is failing (the last 10 in a row)"
    assert by["HighErrorRate"].state == "firing"
    assert by["HighErrorRate"].summary == \
        "edge-1: probe error rate 100.0% over 10 probes in 100 s, above 15.0%"


def test_rate_rules_wait_for_evidence_and_their_for(clock, engines):
    """A user's error-rate rule (no for) does not fire on one failed probe: it waits for
    max(3, a third of the window's expected probes), and says what it judged."""
    eng = new(engines, make_config(err_rule(threshold=0.5)), None, clock)
    w = World(clock)
    for probes in (1, 2, 3):
        views, notes = w.run(eng, error_rate=1.0, probes=probes)
        assert views == () and notes == []
        clock.advance(10)
    views, notes = w.run(eng, error_rate=1.0, probes=4)
    assert kinds(notes) == ["firing"]
    assert views[0].summary == "Errors on edge-1: error_rate > 50.0% (now 100.0% over 4 probes in 100 s)"


def test_a_new_session_ends_a_crashed_ones_alerts_stale_without_paging_again(clock, db_path, engines):
    cfg = make_config(err_rule(cooldown=600.0))
    eng = new(engines, cfg, db_path, clock)
    assert eng.begin_session("s1") == 0
    w = World(clock)
    _, notes = w.run(eng, error_rate=0.5)
    assert kinds(notes) == ["firing"]
    clock.advance(30)  # s1 crashed (no end_session); the next engine starts s2
    eng2 = new(engines, cfg, db_path, clock)
    assert eng2.begin_session("s2") == 1
    assert [(r["session_id"], r["state"]) for r in eng2._db.rows("all")] == [("s1", "stale")]
    views, notes = w.run(eng2, error_rate=0.5)
    assert views[0].state == "firing" and notes == []  # a new occurrence; the page already sent stands
    clock.advance(600)
    _, notes = w.run(eng2, error_rate=0.5)
    assert kinds(notes) == ["reminder"]
    eng2.end_session()  # ends stale too: no longer evaluated, nothing said about a fix
    assert [(r["session_id"], r["state"]) for r in eng2._db.rows("all")] == [("s2", "stale"), ("s1", "stale")]
    found = report_alerts(db_path, T0 - 1, clock() + 1, deployment="chat")
    assert [a["state"] for a in found["alerts"]] == ["stale", "stale"]
    assert found["stats"]["mttr_s"] is None  # stale is not resolved: no time to repair
    assert report_alerts(db_path, T0 - 1, clock() + 1, deployment="other")["alerts"] == []
    assert [a["state"] for a in report_alerts(db_path, T0 - 1, clock() + 1, session_id="s2")["alerts"]] \
        == ["stale"]
