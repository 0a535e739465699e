"""A fixed Snapshot sequence and a FakeMonitor for the TUI tests.

The view tests need snapshots that do not depend on the clock, the network or the
engine's scheduling, so ``FakeMonitor`` implements the seam the app talks to
(``wsmon_tui.seam.EngineLink``: run, subscribe, request_stop, the commands, the history
questions) and publishes the snapshots a test hands it; ``series`` holds the history its
``metric_ranges`` answers from. It can also stand in for the Monitor inside an
``EngineHost``. At least one test in test_tui_app.py runs the real engine against a real
local server.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from wsmon_tui.config import Config, DeploymentConfig, RollbackConfig, RuleConfig, StepConfig
from wsmon_tui.engine.series import SeriesBook
from wsmon_tui.errors import ReadOnlyError, WsmonError
from wsmon_tui.model import (
    AlertView,
    DeploymentView,
    HoldView,
    Percentiles,
    ProbeResult,
    ResourceView,
    RollbackView,
    Snapshot,
    TargetView,
)
from wsmon_tui.seam import RuleInfo

BASE = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOSTILE = "[/foo] [bold]x[/bold] \x1b[31mred\x1b[0m [link=http://e]y"


def make_config(*, auto: bool | str = False, name: str = "chat-gateway") -> Config:
    config = Config()
    config.deployment = DeploymentConfig(name=name, version="2.4.0", previous_version="2.3.1")
    config.rollback = RollbackConfig(
        auto=auto,  # type: ignore[arg-type]
        steps=[StepConfig(type="flag", name="ws_transport", enabled=False, rollout=0.0),
               StepConfig(type="http", name="deploy", method="POST", url="http://127.0.0.1:9/rollback")],
    )
    config.alerts.rules = [RuleConfig(name="HighErrorRate", metric="error_rate", op=">", threshold=0.05,
                                      for_=60.0, severity="critical", runbook="https://runbooks.example/ws")]
    return config


def _hist(n: int, start: float, step: float) -> tuple[float, ...]:
    return tuple(round(start + step * (i % 7), 2) for i in range(n))


def target(name: str, i: int, *, status: str = "healthy", error_rate: float = 0.0) -> TargetView:
    return TargetView(
        name=name, url=f"ws://127.0.0.1:8{i}00/ws", status=status,
        health_score=97.0 - 30 * (status != "healthy"),
        performance_score=91.0, probes=12, success_rate=1 - error_rate, error_rate=error_rate,
        handshake_ms=Percentiles(1.2 + i, 2.5 + i, 4.0 + i), rtt_ms=Percentiles(0.4, 0.9 + i, 1.5 + i),
        errors={"timeout": 2 * i, "closed": i} if i else {}, close_codes={"1006": i} if i else {},
        http_statuses={"503": 1} if i else {},
        last_probe=ProbeResult(target=name, started_at=BASE, ok=not i, error_class="closed" if i else None,
                               detail="connection closed" if i else "", handshake_ms=2.0, rtt_ms=0.8,
                               close_code=1006 if i else None),
        metrics={"connections": 1200.0 + i * 10, "messages_per_s": 340.5, "server_error_rate": 0.001,
                 "queue_depth": 3.0, "adoption": 0.82, "server_latency_ms": 12.0, "imbalance": 1.1},
        instances={"pod-a": 600.0, "pod-b": 600.0 + i * 10},
        hold=HoldView(connected=True, connected_since=BASE - 120, disconnects={"1006": i}, reconnects=i),
        history={"handshake_p95": _hist(30, 2.0 + i, 0.3), "error_rate": _hist(30, error_rate, 0.01)},
    )


MEASURES = {"HighErrorRate": ("error_rate", 0.12, 0.05), "SlowHandshake": ("handshake_p95", 278.0, 150.0),
            "QueueDepth": ("queue_depth", 140.0, 100.0), "TargetDown": ("consecutive_failures", 12.0, 3.0),
            "HostCPU": ("cpu_percent", 93.0, 90.0)}
"""The metric, value and threshold of the fixture's rules (other rules: no metric, 0.12 / 0.05)."""


def alert(rule: str, target_name: str, severity: str, state: str, *, acked: str | None = None,
          summary: str = "error rate above 5%") -> AlertView:
    metric, value, threshold = MEASURES.get(rule, ("", 0.12, 0.05))
    return AlertView(
        id=f"{rule}:{target_name}", rule=rule, target=target_name, severity=severity, state=state,
        value=value, threshold=threshold, metric=metric, fired_value=value if state != "pending" else None,
        summary=summary, runbook="https://runbooks.example/ws",
        started_at=BASE - 300, firing_at=BASE - 240 if state != "pending" else None,
        resolved_at=BASE - 10 if state == "resolved" else None, acknowledged_by=acked,
        acknowledged_at=BASE - 100 if acked else None, labels={"team": "realtime"},
    )


def snapshot(tick: int, *, targets: tuple[TargetView, ...] | None = None,
             alerts: tuple[AlertView, ...] = (), rollback: RollbackView | None = None,
             name: str = "chat-gateway") -> Snapshot:
    if targets is None:
        targets = (target("api-eu", 0), target("api-us", 1, status="degraded", error_rate=0.02))
    return Snapshot(
        taken_at=BASE + 5 * tick, tick=tick, session_id="20260101-000000-test",
        deployment=DeploymentView(name, "2.4.0", "2.3.1", rollout_percent=25.0),
        level="standard", interval=5.0, status="degraded" if any(t.status != "healthy" for t in targets)
        else "healthy", health_score=82.0, targets=targets,
        resources=ResourceView(cpu_percent=23.0, memory_percent=61.0, load1=0.42, tcp_connections=188,
                               process={"cpu_percent": 4.0, "rss_mb": 88.0, "open_fds": 41.0,
                                        "threads": 9.0}),
        alerts=alerts, rollback=rollback or RollbackView(id=None, state="idle"),
        overall={"connections": 2410.0, "messages_per_s": 681.0, "adoption": 0.82, "queue_depth": 6.0},
    )


SERVICES = ("chat-ws", "notify-ws", "presence-ws", "market-feed", "edge-gw")
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1", "ap-northeast-1")
FAILING = {
    # name: (status, error class, HTTP status, close code)
    "notify-ws-us-west-2": ("critical", "refused", None, None),
    "chat-ws-eu-west-1": ("critical", "http_status", 503, None),
    "market-feed-ap-south-1": ("critical", "closed", None, 1011),
    "presence-ws-us-east-1": ("critical", "timeout", None, None),
    "chat-ws-ap-northeast-1": ("degraded", "closed", None, 1006),
    "edge-gw-eu-central-1": ("degraded", None, None, None),
}
"""The fleet's unhealthy targets: four down, two degraded (one whose last probe succeeded)."""


def fleet_target(name: str, i: int) -> TargetView:
    """A target of ``fleet()``: healthy unless ``FAILING`` says otherwise."""
    status, error, http, code = FAILING.get(name, ("healthy", None, None, None))
    down = status == "critical"
    success = 0.0 if down else 0.9 if status == "degraded" else 1.0
    probe = ProbeResult(target=name, started_at=BASE, ok=error is None, error_class=error,
                        detail=f"{error} ({http or code or ''})" if error else "",
                        handshake_ms=None if down else 2.0 + i % 5, rtt_ms=None if down else 0.8,
                        close_code=code, http_status=http)
    return TargetView(
        name=name, url=f"wss://{name}.example.net/ws", status=status,
        health_score=5.0 if down else 60.0 if status == "degraded" else 95.0 + i % 5,
        probes=12, success_rate=success, error_rate=1 - success,
        handshake_ms=Percentiles() if down else Percentiles(1.0 + i % 7, 2.0 + i % 11, 3.0 + i % 13),
        rtt_ms=Percentiles() if down else Percentiles(0.4, 0.5 + i % 9, 1.0 + i % 9),
        errors={error: 12 if down else 1} if error else {},
        last_probe=probe,
        metrics={"connections": 1000.0 + 37 * i, "messages_per_s": 100.0 + i},
        history={"handshake_p95": _hist(30, 2.0 + i % 11, 0.3), "error_rate": _hist(30, 1 - success, 0.01)},
    )


def fleet(tick: int = 1, *, alerts: tuple[AlertView, ...] = ()) -> Snapshot:
    """Thirty targets with real-looking names, four down and two degraded, in name order
    (not worst first: the views must order them)."""
    names = sorted(f"{svc}-{region}" for svc in SERVICES for region in REGIONS)
    targets = tuple(fleet_target(name, i) for i, name in enumerate(names))
    down = [t.name for t in targets if t.status == "critical"]
    alerts = alerts or tuple(alert("TargetDown", name, "critical", "firing") for name in down)
    return replace(snapshot(tick, targets=targets, alerts=alerts), status="critical")


def sequence() -> list[Snapshot]:
    """Healthy, then an alert pending, then firing critical with a recommended rollback."""
    s1 = snapshot(1)
    s2 = snapshot(2, alerts=(alert("HighErrorRate", "api-us", "critical", "pending"),
                             alert("SlowHandshake", "api-eu", "warning", "firing", acked="alice")))
    s3 = snapshot(3, targets=(target("api-eu", 0),
                              target("api-us", 1, status="critical", error_rate=0.12)),
                  alerts=(alert("HighErrorRate", "api-us", "critical", "firing"),
                          alert("SlowHandshake", "api-eu", "warning", "firing", acked="alice"),
                          alert("QueueDepth", "overall", "info", "resolved")),
                  rollback=RollbackView(id=None, state="idle", recommended=True,
                                        reason="HighErrorRate firing on api-us"))
    return [s1, s2, s3]


def hostile_snapshot() -> Snapshot:
    """Every server-supplied string carries markup and ANSI escapes."""
    t = target(HOSTILE, 1, status="critical", error_rate=0.5)
    t = replace(t, url="ws://127.0.0.1/" + HOSTILE, last_scrape_error=HOSTILE, scrape_errors=1,
                errors={HOSTILE: 3}, close_codes={HOSTILE: 1},
                last_probe=replace(t.last_probe, detail=HOSTILE, close_reason=HOSTILE),  # type: ignore[arg-type]
                instances={HOSTILE: 5.0}, hold=HoldView(False, None, {HOSTILE: 2}, 1, None, HOSTILE))
    a = replace(alert(HOSTILE, HOSTILE, "critical", "firing", acked=HOSTILE, summary=HOSTILE),
                description=HOSTILE, runbook=HOSTILE, labels={HOSTILE: HOSTILE}, ack_comment=HOSTILE)
    snap = snapshot(4, targets=(t,), alerts=(a,), name=HOSTILE,
                    rollback=RollbackView(id=1, state="running", trigger=HOSTILE, reason=HOSTILE,
                                          steps=({"name": HOSTILE, "status": "ok", "detail": HOSTILE},)))
    return replace(snap, notes=(HOSTILE,), deployment=DeploymentView(HOSTILE, HOSTILE, HOSTILE, 10.0))


class FakeMonitor:
    """Only the Monitor surface the app uses; snapshots come from ``publish``."""

    def __init__(self, config: Config | None = None, *, state_dir: Path | None = None,
                 store: Any | None = None, with_engines: bool = True,
                 deliveries: list[dict[str, Any]] | None = None) -> None:
        self.config = config or make_config()
        self.state_dir = state_dir
        self.store = store
        self.series = SeriesBook()
        self.range_requests: list[tuple[tuple[Any, ...], float, float]] = []
        self.read_only = False
        self.acting = True
        """As a Monitor holding the lease: a dashboard running it asks before quitting."""
        self.session_id = "20260101-000000-test"
        self.session_started = BASE
        self.latest: Snapshot | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.stop_reason: str | None = None
        self.finished = False
        self.refreshes = 0
        self.with_engines = with_engines
        self._deliveries = deliveries
        self._subscribers: list[Any] = []
        self._stop = asyncio.Event()
        self.loop_threads: list[str] = []
        """The thread each command ran on (the seam runs them on the engine's)."""
        self.alert_engine = None
        self.rollback_answer: dict[str, Any] | None = None
        self.rollback_gate: asyncio.Event | None = None

    @property
    def windows(self) -> SeriesBook:
        return self.series

    async def deliveries(self, alert_id: str) -> list[dict[str, Any]]:
        if self._deliveries is None:
            raise WsmonError("delivery status is not available in this session")
        return list(self._deliveries)

    async def rule_info(self, name: str) -> RuleInfo | None:
        for rule in self.config.alerts.rules:
            if rule.name == name:
                return RuleInfo(name=rule.name, metric=rule.metric, op=rule.op, threshold=rule.threshold,
                                for_=rule.for_, runbook=rule.runbook)
        return None

    async def rules(self) -> list[RuleInfo]:
        """The level's default rules and the config's, as the engine answers (its own code)."""
        from wsmon_tui.alerts.engine_state import build_rules
        from wsmon_tui.engine.monitor import describe_rules

        return describe_rules(build_rules(self.config))

    async def metric_ranges(self, wanted: Any, since: float, until: float) -> dict[Any, list]:
        self.range_requests.append((tuple(wanted), since, until))
        if self.store is not None and 600 < until - since < math.inf:  # as EngineHost: old ranges
            return {w: list(self.store.samples(w.target, w.metric, since, until)) for w in wanted}
        return {w: [(ts, v) for ts, v in self.series.points_since(w.target, w.metric, since) if ts <= until]
                for w in wanted}

    async def report(self, fmt: str = "md", since: float | None = None) -> str:
        from wsmon_tui.report import render
        from wsmon_tui.report.build import build_report

        return render(build_report(self.store, self.config, since=self.session_started, until=BASE + 3600,
                                   session_id=self.session_id, snapshot=self.latest), fmt)

    def subscribe(self, callback: Any) -> None:
        self._subscribers.append(callback)

    def publish(self, snap: Snapshot) -> None:
        self.latest = snap
        for callback in list(self._subscribers):
            callback(snap)

    def request_stop(self, reason: str = "user") -> None:
        self.stop_reason = self.stop_reason or reason
        self._stop.set()

    async def run(self, duration: float | None = None) -> str:
        try:
            await asyncio.wait_for(self._stop.wait(), duration)
        except TimeoutError:
            self.stop_reason = "duration"
        await asyncio.sleep(0.05)  # closing the session takes a moment in the real engine
        self.finished = True
        return self.stop_reason or "duration"

    async def refresh_now(self) -> Snapshot:
        self.refreshes += 1
        assert self.latest is not None
        snap = replace(self.latest, tick=self.latest.tick + 1)
        self.publish(snap)
        return snap

    def _check(self, what: str) -> None:
        if self.read_only:
            raise ReadOnlyError(f"this session is read-only: {what} is not allowed")
        if not self.with_engines:
            raise WsmonError(f"{what} is not available in this session")

    async def acknowledge(self, alert_id: str, user: str, comment: str = "") -> None:
        import threading

        self.loop_threads.append(threading.current_thread().name)
        self._check("acknowledging alerts")
        self.calls.append(("acknowledge", {"alert_id": alert_id, "user": user, "comment": comment}))

    async def silence(self, *, rule: str, target: str | None, duration: float, comment: str,
                      user: str) -> None:
        self._check("silencing alerts")
        self.calls.append(("silence", {"rule": rule, "target": target, "duration": duration,
                                       "comment": comment, "user": user}))

    async def rollback(self, *, reason: str, user: str, dry_run: bool = False) -> dict[str, Any] | None:
        """Recorded; answers ``rollback_answer`` (the controller's action dict) once
        ``rollback_gate`` (when set) opens, as the engine answers once the steps ran."""
        self._check("rollback")
        self.calls.append(("rollback", {"reason": reason, "user": user, "dry_run": dry_run}))
        if self.rollback_gate is not None:
            await self.rollback_gate.wait()
        return self.rollback_answer
