"""The metrics view tells the incident's story: a small chart per target with its thresholds,
the first alert and the rollback marked on every time axis, charts drawn again only when
their data changed and only on the visible screen."""

from __future__ import annotations

from dataclasses import replace

from tests.test_tui_app import make_app, until
from tests.test_tui_views import screen_text
from tests.tui_fixtures import BASE, FakeMonitor, alert, snapshot, target
from wsmon_tui.model import Percentiles, RollbackView, Snapshot
from wsmon_tui.tui.widgets.charts import Chart

NOW = BASE + 15  # snapshot(3).taken_at


def incident(tick: int = 3) -> Snapshot:
    """api-us went slow and critical, its alert fired 2.5 min ago, a rollback ran and was verified."""
    slow = replace(target("api-us", 1, status="critical"), handshake_ms=Percentiles(700.0, 1150.0, 1300.0),
                   values={})
    fired = replace(alert("SlowHandshake", "api-us", "warning", "firing"), firing_at=NOW - 150)
    rollback = RollbackView(id=4, state="verified", trigger="manual", started_at=NOW - 100,
                            finished_at=NOW - 30, steps=({"name": "flag", "ok": True, "duration_ms": 800.0},))
    return snapshot(tick, targets=(target("api-eu", 0), slow, target("api-ap", 2)), alerts=(fired,),
                    rollback=rollback)


def fill(mon: FakeMonitor, until_ts: float) -> None:
    for i in range(60):
        ts = until_ts - 295 + i * 5
        if ts > until_ts:
            break
        mon.series.add("api-eu", "handshake_p95", ts, 2.0 + (i % 5) * 0.3)
        mon.series.add("api-ap", "handshake_p95", ts, 3.0 + (i % 3) * 0.3)
        mon.series.add("api-us", "handshake_p95", ts, 5.0 if i < 20 else 800.0 + (i - 20) * 10)
        mon.series.add("", "connections", ts, 2300.0 + i)
        mon.series.add("", "cpu_percent", ts, 20.0 + i % 8)


async def test_small_charts_per_target_with_threshold_lines_and_incident_markers():
    mon = FakeMonitor()
    fill(mon, NOW)
    app, _ = make_app(mon, mode="metrics")
    async with app.run_test(size=(160, 60)) as pilot:
        mon.publish(incident())
        screen = app.screen
        small = [screen.query_one(f"#chart-target-{i}", Chart) for i in range(6)]
        await until(pilot, lambda: bool(small[0].spec.series and small[0].spec.series[0].xs
                                         and small[0].spec.hlines))
        await pilot.pause(0.1)
        # one small chart per target, the worst first; the unused ones hidden
        assert [c.display for c in small] == [True, True, True, False, False, False]
        titles = [c.spec.title.split()[0] for c in small[:3]]
        assert titles == ["api-us", "api-ap", "api-eu"]
        us = small[0].spec
        assert [(line.label, line.y) for line in us.hlines] == [("warn", 1000.0), ("crit", 3000.0)]
        assert {m.kind for m in us.markers} == {"alert", "rollback", "verified"}
        # every chart of the screen on the same time axis, with the same markers
        fleet = [screen.query_one(f"#chart-{k}", Chart).spec for k in ("connections", "resources")]
        assert all(s.x == us.x and s.markers == us.markers for s in fleet)
        text = screen_text(app)
        assert "first alert SlowHandshake · api-us 2m 30s ago" in text
        assert "rollback started #4 1m 40s ago" in text and "rollback verified 30s ago" in text
        assert "╌ warn 1000" in text  # the legend, above the plot
        plot = small[0].render().plain.splitlines()[1:]  # the plot, below its title and legend
        assert any("╌" in row for row in plot), "no threshold line"
        assert sum("┊" in row for row in plot) >= 3, "no marker"
        assert sum(c.display for c in small) == 3 and "more target" not in text

        # drawn again only when the data changed: a repaint of the same snapshot draws nothing
        before = [c.renders for c in small[:3]]
        screen.paint(force=True)
        await pilot.pause(0.1)
        assert [c.renders for c in small[:3]] == before

        # another metric per target, by key
        await pilot.press("m")
        await pilot.pause(0.1)
        assert "Round-trip p95" in screen_text(app)

        # hidden: new snapshots and new data neither fetch nor draw the metrics charts
        await pilot.press("1")
        await pilot.pause(0.1)
        asked, drawn = len(mon.range_requests), [c.renders for c in small]
        fill(mon, NOW + 5)
        mon.publish(incident(tick=4))
        await pilot.pause(0.3)
        assert len(mon.range_requests) == asked and [c.renders for c in small] == drawn
        await pilot.press("4")
        await until(pilot, lambda: [c.renders for c in small] != drawn)


async def test_many_targets_show_the_worst_and_summarise_the_rest():
    mon = FakeMonitor()
    many = tuple(target(f"node-{i:02d}", 0) for i in range(9))
    bad = replace(target("node-bad", 1, status="critical"), values={})
    app, _ = make_app(mon, mode="metrics")
    async with app.run_test(size=(160, 60)) as pilot:
        mon.publish(snapshot(3, targets=(*many, bad)))
        await pilot.pause(0.3)
        screen = app.screen
        small = [screen.query_one(f"#chart-target-{i}", Chart) for i in range(6)]
        assert all(c.display for c in small)
        assert small[0].spec.title.startswith("node-bad  CRITICAL")
        text = screen_text(app)
        assert "worst 6 of 10" in text
        assert "4 more targets: 4 healthy" in text
