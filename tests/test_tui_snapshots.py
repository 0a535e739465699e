"""SVG snapshots (pytest-textual-snapshot) of each view at 120x40 and 80x24.

The app is fed the fixed snapshot sequence of tests/tui_fixtures.py and a fixed clock, so
the pictures never depend on the time, the network or the engine's scheduling. The SVGs
live in tests/__snapshots__/test_tui_snapshots/. To accept a change on purpose run
``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the files (or at
the HTML report pytest-textual-snapshot writes on failure) before committing them.
"""

from __future__ import annotations

import pytest

from tests.test_tui_app import make_app, until
from tests.tui_fixtures import BASE, FakeMonitor, fleet, sequence
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


def fed_app(mode: str, *, rollback_dialog: bool = False, thirty: bool = False):
    """The app in ``mode`` and the ``run_before`` that feeds it the fixed sequence (or, with
    ``thirty``, the 30-target fleet with four down)."""
    mon = filled_monitor()
    app, _ = make_app(mon, mode=mode)

    async def run_before(pilot) -> None:
        assert isinstance(pilot.app, WsmonApp)
        for snap in [fleet(1), fleet(2)] if thirty else sequence():
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
