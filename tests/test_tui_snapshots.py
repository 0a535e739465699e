"""SVG snapshots (pytest-textual-snapshot): each view at 160x48, 120x40 and 80x24, in the
dark, light and high-contrast themes, of a healthy deployment and of an incident (targets
down, alerts firing, one acknowledged with a comment, a rollback verifying); and a few
special states (the rollback dialog, thirty targets, a rollback at a step in flight).

The app is fed fixed snapshots built from tests/tui_fixtures.py and a fixed clock, so
the pictures never depend on the time, the network or the engine's scheduling. The SVGs
live in tests/__snapshots__/test_tui_snapshots/. To accept a change on purpose run
``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the files (or at
the HTML report pytest-textual-snapshot writes on failure) before committing them.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.test_tui_app import make_app, until
from tests.tui_fixtures import (
    BASE,
    FAILING,
    FakeMonitor,
    alert,
    fleet,
    fleet_target,
    sequence,
    snapshot,
    target,
)
from wsmon_tui.model import RollbackView
from wsmon_tui.tui.app import WsmonApp
from wsmon_tui.tui.screens.confirm_rollback import ConfirmRollbackScreen

SIZES = {"120x40": (120, 40), "80x24": (80, 24)}
MATRIX_SIZES = {"160x48": (160, 48), **SIZES}
VIEWS = ("summary", "detailed", "alerts", "metrics")
THEMES = ("wsmon-dark", "wsmon-light", "wsmon-high-contrast")


@pytest.fixture(autouse=True)
def user(monkeypatch):
    monkeypatch.setenv("USER", "tester")


def filled_monitor() -> FakeMonitor:
    mon = FakeMonitor()
    now = BASE + 15
    for i in range(60):
        ts = now - 295 + i * 5
        mon.series.add("api-eu", "handshake_p95", ts, 2.0 + (i % 5) * 0.3)
        mon.series.add("api-us", "handshake_p95", ts, 3.0 + (i % 7) * 0.5)
        mon.series.add("api-eu", "rtt_p95", ts, 0.8 + (i % 4) * 0.1)
        mon.series.add("api-us", "rtt_p95", ts, 1.5 + (i % 6) * 0.2)
        mon.series.add("", "messages_per_s", ts, 600.0 + (i % 10) * 12)
        mon.series.add("", "connections", ts, 2300.0 + i * 2)
        mon.series.add("", "adoption", ts, 0.80 + (i % 3) * 0.01)
        mon.series.add("", "cpu_percent", ts, 20.0 + (i % 8))
        mon.series.add("", "memory_percent", ts, 61.0)
    return mon


ROLLING_BACK = RollbackView(
    id=4, state="running", trigger="HighErrorRate", reason="HighErrorRate firing", started_at=BASE + 8,
    steps=({"type": "flag", "name": "ws_transport", "ok": True, "duration_ms": 84.0, "detail": "set"},),
    automatic=True, user="wsmon-tui (automatic)", trigger_target="api-us", trigger_value=0.12,
    trigger_threshold=0.05, trigger_summary="api-us: probe error rate 12.0% over 12 probes in 60 s",
    planned=("ws_transport", "deploy"), state_since=BASE + 8)
"""A rollback at its second step, nine seconds in (the clock is BASE + 17)."""


VERIFYING = RollbackView(
    id=5, state="verifying", trigger="TargetDown", reason="TargetDown firing", started_at=BASE + 2,
    steps=({"type": "flag", "name": "ws_transport", "ok": True, "duration_ms": 84.0, "detail": "set"},
           {"type": "http", "name": "deploy", "ok": True, "duration_ms": 1350.0, "detail": "HTTP 200"}),
    automatic=True, user="wsmon-tui (automatic)", trigger_target="notify-ws-us-west-2", trigger_value=1.0,
    trigger_threshold=0.5, trigger_summary="notify-ws-us-west-2: every probe is failing (12 of 12 in 60 s)",
    planned=("ws_transport", "deploy"), state_since=BASE + 5, verify_deadline=BASE + 65, verify_streak=1,
    verify_needed=3)
"""Both steps done twelve seconds ago, one healthy evaluation of three (the clock is BASE + 17)."""

INCIDENT_TARGETS = ("chat-ws-ap-northeast-1", "chat-ws-eu-west-1", "chat-ws-us-east-1",
                    "edge-gw-eu-central-1", "market-feed-ap-south-1", "notify-ws-us-west-2",
                    "presence-ws-eu-west-1", "presence-ws-us-east-1")
"""Four down, two degraded, two healthy (``FAILING`` of tui_fixtures), in name order."""


def incident() -> list:
    """A healthy tick, then the incident: targets down, critical and warning alerts firing (one
    acknowledged with a comment), one pending, one resolved, and the rollback verifying."""
    targets = tuple(fleet_target(name, i) for i, name in enumerate(INCIDENT_TARGETS))
    acked = dataclasses.replace(alert("TargetDown", "chat-ws-eu-west-1", "critical", "firing", acked="alice",
                                      summary="every probe is failing"),
                                ack_comment="LB drained, waiting on the rollback")
    alerts = (alert("TargetDown", "notify-ws-us-west-2", "critical", "firing",
                    summary="every probe is failing"),
              alert("TargetDown", "market-feed-ap-south-1", "critical", "firing",
                    summary="every probe is failing"),
              acked,
              alert("HighErrorRate", "presence-ws-us-east-1", "critical", "firing"),
              alert("SlowHandshake", "chat-ws-ap-northeast-1", "warning", "firing",
                    summary="handshake p95 above 150 ms"),
              alert("QueueDepth", "edge-gw-eu-central-1", "warning", "pending", summary="send queue growing"),
              alert("HostCPU", "overall", "info", "resolved", summary="CPU above 90%"))
    bad = dataclasses.replace(snapshot(3, targets=targets, alerts=alerts, rollback=VERIFYING),
                              status="critical", health_score=31.0)
    return [healthy()[0], bad]


def add_incident_history(mon: FakeMonitor) -> None:
    """Handshake history of the incident's targets: the down ones stopped answering four
    minutes ago (the first alert), the others go on."""
    now = BASE + 15
    for n, name in enumerate(INCIDENT_TARGETS):
        down = FAILING.get(name, ("healthy",))[0] == "critical"
        for i in range(60):
            ts = now - 295 + i * 5
            if down and ts > BASE - 240:
                break
            mon.series.add(name, "handshake_p95", ts, 2.0 + n + (i % 5) * 0.4 + (i > 10) * 3.0 * (n % 3))


def healthy() -> list:
    """Every target healthy (with no error in its history either), no alert, no rollback."""
    targets = tuple(dataclasses.replace(t, history={**t.history, "error_rate": (0.0,) * 30})
                    for t in (target(name, 0) for name in ("api-eu", "api-us", "api-ap")))
    return [dataclasses.replace(snapshot(tick, targets=targets), health_score=97.0) for tick in (1, 2, 3)]


STATES = {"healthy": healthy, "incident": incident}


def fed_app(mode: str, *, rollback_dialog: bool = False, rolling_back: bool = False, thirty: bool = False,
            theme: str | None = None, state: str | None = None):
    """The app in ``mode`` and the ``run_before`` that feeds it the fixed sequence (or, with
    ``thirty``, the 30-target fleet with four down; with ``state``, that state of ``STATES``)."""
    mon = filled_monitor()
    if state == "incident":
        add_incident_history(mon)
    app, _ = make_app(mon, mode=mode, theme=theme)
    snaps = STATES[state]() if state else sequence()
    if rolling_back:
        snaps[-1] = dataclasses.replace(snaps[-1], rollback=ROLLING_BACK)

    async def run_before(pilot) -> None:
        assert isinstance(pilot.app, WsmonApp)
        for snap in [fleet(1), fleet(2)] if thirty else snaps:
            mon.publish(snap)
            await pilot.pause()
        await pilot.pause(0.15)
        if rollback_dialog:
            await pilot.press("R")
            await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmRollbackScreen))
            await pilot.pause(0.1)
        pilot.app.clear_notifications()  # toasts time out on the wall clock
        await pilot.pause(0.1)

    return app, run_before


@pytest.mark.parametrize("size", MATRIX_SIZES)
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("mode", VIEWS)
def test_view_snapshot(snap_compare, mode, state, theme, size):
    """Every view × state × theme × size: 72 pictures."""
    app, run_before = fed_app(mode, theme=theme, state=state)
    assert snap_compare(app, terminal_size=MATRIX_SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_rollback_dialog_snapshot(snap_compare, size):
    app, run_before = fed_app("summary", rollback_dialog=True)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", ["summary", "detailed"])
def test_thirty_targets_snapshot(snap_compare, mode, size):
    """Worst first; the summary folds the healthy and keeps its panels on screen."""
    app, run_before = fed_app(mode, thirty=True)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", ["summary", "alerts"])
def test_rollback_banner_snapshot(snap_compare, mode, size):
    app, run_before = fed_app(mode, rolling_back=True)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
