"""A held connection dropped without a close frame (an ``nginx -s reload``) counts everywhere a
probe's abnormal close does: the record's ``hold_drops`` and ``abnormal_closes``, AbnormalCloses,
the health score, the monitor line, the report; 1001/1012 stay apart as for probes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from tests.hostile import drop_held_server
from wsmon_tui.config import Config, MonitorConfig, TargetConfig
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.live import status_line
from wsmon_tui.model import HoldView
from wsmon_tui.report import render
from wsmon_tui.report.build import build_report
from wsmon_tui.store import Store


async def test_a_held_connection_dropped_without_a_close_frame_counts_everywhere(tmp_path: Path):
    state = tmp_path / "state"
    async with drop_held_server(after=1.0) as url:
        config = Config(monitor=MonitorConfig(level="debug", interval=0.3),
                        targets=[TargetConfig(name="edge", url=url, timeout=1.0, hold=True, send="hi")])
        store = Store.open(state)
        try:
            monitor = Monitor(config, store, state_dir=state)
            await asyncio.wait_for(monitor.run(2.6), 20)
        finally:
            store.close()
    snap = monitor.latest
    assert snap is not None
    [tv] = snap.targets
    assert tv.success_rate == 1.0  # every probe fine: only the held connection saw the drop
    assert tv.hold is not None and dict(tv.hold.disconnects) == {"1006": 1}
    assert tv.values["hold_drops"] == 1.0 and tv.values["abnormal_closes"] == 1.0
    assert tv.health_score is not None and tv.health_score < 100 and tv.status != "healthy"
    assert "hold_drops=1006:1" in status_line(snap)
    closes = next(a for a in snap.alerts if a.rule == "AbnormalCloses")  # debug: more than 0
    assert closes.state == "pending" and closes.value == 1.0
    report = build_report(None, config, since=time.time() - 60, snapshot=snap)
    assert report["targets"][0]["hold_drops"] == {"1006": 1}
    md = render(report, "md")
    assert "Held connections dropped" in md
    assert "| edge | 1006 | abnormal closure (no close frame) | 1 |" in md
    # from history alone (no running engine): the stored hold_drop events give the same count
    store = Store.open(state)
    try:
        stored = build_report(store, config, since=time.time() - 60, session_id=snap.session_id)
    finally:
        store.close()
    assert stored["targets"][0]["hold_drops"] == {"1006": 1}
    # and `status` from the stored session (no engine running) says so too
    out = subprocess.run([sys.executable, "-m", "wsmon_tui", "status", "--state-dir", str(state)],
                         capture_output=True, text=True, timeout=30)
    assert "held connection drops: edge 1006x1" in out.stdout, out


def test_benign_hold_disconnects_stay_apart():
    """1001 and 1012 (a rolling deploy) are shown by code but are no abnormal drops."""
    from wsmon_tui.engine.readmodel import _hold_drops

    now = time.time()
    hold = HoldView(connected=True, connected_since=now, disconnects={"1001": 1, "1012": 2, "1011": 1},
                    drops=((now - 5, "1001"), (now - 4, "1012"), (now - 3, "1012"), (now - 2, "1011"),
                           (now - 500, "1006")))
    assert _hold_drops(hold, now - 60) == 1  # the 1011; the 1006 is outside the window
    assert _hold_drops(None, now - 60) is None
