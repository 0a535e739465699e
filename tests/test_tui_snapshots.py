"""SVG snapshots of each view at 120x40 and 80x24, fed by the fixed snapshot sequence.

pytest-textual-snapshot is not installed in this venv, so the comparison is done here
with ``App.export_screenshot()``: the SVGs live in tests/snapshots/. To accept a change
on purpose, run ``TUI_SNAPSHOT_UPDATE=1 pytest tests/test_tui_snapshots.py`` and
look at the files before committing them.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest

from tests.test_tui_app import make_app, until
from tests.tui_fixtures import BASE, FakeMonitor, sequence
from wsmon_tui.tui.screens.confirm_rollback import ConfirmRollbackScreen

SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZES = {"120x40": (120, 40), "80x24": (80, 24)}


def _visible_text(svg: str) -> str:
    import html

    rows: dict[float, list[str]] = {}
    for y, text in re.findall(r'<text class="[^"]*" x="[^"]*" y="([^"]*)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(y), []).append(html.unescape(text))
    return "\n".join("".join(parts) for _, parts in sorted(rows.items())).replace("\xa0", " ")


def assert_svg_snapshot(svg: str, name: str) -> None:
    path = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("TUI_SNAPSHOT_UPDATE"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path.name}; create it with TUI_SNAPSHOT_UPDATE=1 and review it")
    expected = path.read_text(encoding="utf-8")
    if svg != expected:
        diff = "\n".join(difflib.unified_diff(_visible_text(expected).splitlines(),
                                              _visible_text(svg).splitlines(), "expected", "actual",
                                              lineterm=""))
        pytest.fail(f"{path.name} differs (text diff below; styles may differ too):\n{diff}")


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


async def _shot(mode: str, size: tuple[int, int], *, rollback_dialog: bool = False) -> str:
    mon = filled_monitor()
    app, _ = make_app(mon, mode=mode)
    async with app.run_test(size=size) as pilot:
        for snap in sequence():
            mon.publish(snap)
            await pilot.pause()
        await pilot.pause(0.15)
        if rollback_dialog:
            await pilot.press("R")
            await until(pilot, lambda: isinstance(app.screen, ConfirmRollbackScreen))
            await pilot.pause(0.1)
        app.clear_notifications()
        await pilot.pause(0.1)
        return app.export_screenshot()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", ["summary", "detailed", "alerts", "metrics"])
async def test_view_snapshot(mode, size):
    assert_svg_snapshot(await _shot(mode, SIZES[size]), f"{mode}_{size}")


@pytest.mark.parametrize("size", SIZES)
async def test_rollback_dialog_snapshot(size):
    assert_svg_snapshot(await _shot("summary", SIZES[size], rollback_dialog=True), f"rollback_dialog_{size}")
