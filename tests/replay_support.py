"""A real session to replay: a real Monitor watching the real DemoServer through its fault.

The demo's round trip slows down after a second; ``SlowRoundTrip`` (rtt p95 > 100 ms) fires
and is acknowledged by "alice" from the face's side (``Monitor.acknowledge``), health drops
below 60 for a second, the rollback turns the demo's flag off over HTTP, health recovers,
the rollback is verified and the alerts resolve. Every Snapshot the Monitor published is
kept, so a test can hold a replayed frame against what the live screens were given.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from wsmon_tui.config import ResourcesConfig, RollbackConfig, RuleConfig, StepConfig
from wsmon_tui.demo.config import demo_config
from wsmon_tui.demo.server import DemoServer
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.model import Snapshot
from wsmon_tui.runtime import open_store

ACK_USER = "alice"
ACK_COMMENT = "looking into it"
RULE = "SlowRoundTrip"


@dataclass
class Recorded:
    state: Path
    session_id: str
    live: list[Snapshot] = field(default_factory=list)
    """Every Snapshot the Monitor published, in order."""

    def live_at(self, taken_at: float) -> Snapshot | None:
        return next((s for s in self.live if s.taken_at == taken_at), None)


async def _record(state: Path) -> Recorded:
    async with DemoServer("127.0.0.1", 0, fault_after=1.0) as demo:
        base = demo.url_base
        config = demo_config(base, str(state))
        config.monitor = dataclasses.replace(config.monitor, interval=0.5)
        config.targets = [dataclasses.replace(config.targets[0], timeout=3.0)]  # chat-ws, with metrics
        config.resources = ResourcesConfig(host=False)
        config.alerts.rules = [RuleConfig(name=RULE, metric="rtt_p95", op=">", threshold=100.0, for_=0.0,
                                          severity="critical")]
        config.rollback = RollbackConfig(
            auto=True, health_below=60.0, for_=1.0, max_auto=1, cooldown=600.0, verify_window=20.0,
            verify_successes=3,
            steps=[StepConfig(type="http", name="disable websocket_enabled", method="PUT",
                              url=base + "/flags/websocket_enabled", json={"enabled": False},
                              expect_status=[200], timeout=5.0)])
        store, error = open_store(state)
        assert store is not None, error
        monitor = Monitor(config, store, state_dir=state)
        monitor.window = 2.0  # recovery shows within seconds (the level's minimum is 60 s)
        recorded = Recorded(state=state, session_id="")
        acks: list[asyncio.Future[object]] = []
        verified_at: list[float] = []

        def watch(snap: Snapshot) -> None:
            recorded.live.append(snap)
            for alert in snap.alerts:
                if alert.rule == RULE and alert.state == "firing" and not acks:
                    acks.append(asyncio.ensure_future(monitor.acknowledge(alert.id, ACK_USER, ACK_COMMENT)))
            rb = snap.rollback
            if rb is not None and rb.state == "verified" and not verified_at:
                verified_at.append(snap.taken_at)
            if verified_at and snap.taken_at - verified_at[0] > 2 and \
                    not any(a.state == "firing" for a in snap.alerts):
                monitor.request_stop("user")

        monitor.subscribe(watch)
        try:
            await asyncio.wait_for(monitor.run(45.0), 60.0)
        finally:
            store.close()
        assert acks and acks[0].done() and acks[0].exception() is None, "the alert was acknowledged"
        assert verified_at, [(s.status, s.health_score) for s in recorded.live][-10:]
        recorded.session_id = monitor.session_id
        return recorded


def record_demo_session(state: Path) -> Recorded:
    """Record the session (about 10 s) into ``state``; returns it with the live Snapshots."""
    return asyncio.run(_record(state))
