"""SVG snapshots (pytest-textual-snapshot) of each view at 120x40 and 80x24.

The app is fed the fixed snapshot sequence of tests/tui_fixtures.py and a fixed clock, so
the pictures never depend on the time, the network or the engine's scheduling. The SVGs
live in tests/__snapshots__/test_tui_snapshots/. To accept a change on purpose run
``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the files (or at
the HTML report pytest-textual-snapshot writes on failure) before committing them.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.test_tui_app import make_app, until
from tests.tui_fixtures import BASE, FakeMonitor, fleet, sequence
from wsmon_tui.model import RollbackView
from wsmon_tui.tui.app import WsmonApp
from wsmon_tui.tui.screens.confirm_rollback import ConfirmRollbackScreen

SIZES = {"120x40": (120, 40), "80x24": (80, 24)}


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


def fed_app(mode: str, *, rollback_dialog: bool = False, rolling_back: bool = False, thirty: bool = False):
    """The app in ``mode`` and the ``run_before`` that feeds it the fixed sequence (or, with
    ``thirty``, the 30-target fleet with four down)."""
    mon = filled_monitor()
    app, _ = make_app(mon, mode=mode)
    snaps = sequence()
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


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", ["summary", "detailed", "alerts", "metrics"])
def test_view_snapshot(snap_compare, mode, size):
    app, run_before = fed_app(mode)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


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
