"""What the charts plot, without a terminal: ticks, the shared time axis, markers, scales,
legends, the incident's events and the per-target plan."""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.tui_fixtures import BASE, HOSTILE, alert, snapshot, target
from wsmon_tui.model import RollbackView
from wsmon_tui.seam import RuleInfo
from wsmon_tui.tui.chartmodel import (
    Axis,
    ChartSpec,
    Event,
    HLine,
    Series,
    clip,
    fit_axis,
    integer_ticks,
    legend,
    markers_on,
    robust_top,
    time_axis,
    value_axis,
)
from wsmon_tui.tui.incident import FaultMemo, events_line, next_fault, rollback_events
from wsmon_tui.tui.metrics_charts import TARGET_METRICS, MetricsPlan, rest_summary, worst_first
from wsmon_tui.tui.thresholds import Thresholds
from wsmon_tui.tui.widgets.charts import title_line


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6), st.floats(min_value=0.5, max_value=1e6),
       st.integers(min_value=1, max_value=8))
@example(5e-324, 4.0, 1)  # lo / step underflowed to 0: the first tick fell below lo
def test_integer_ticks_are_whole_round_and_inside(lo, span, most):
    hi = lo + span
    ticks = integer_ticks(lo, hi, most)
    assert all(isinstance(t, int) for t in ticks)
    assert len(ticks) <= most + 1
    assert list(ticks) == sorted(set(ticks))
    if len(ticks) > 1:
        step = ticks[1] - ticks[0]
        assert str(step).rstrip("0") in ("1", "2", "5")
        assert all(b - a == step for a, b in itertools.pairwise(ticks))
        assert lo <= ticks[0] and ticks[-1] <= hi


def test_counts_get_whole_number_ticks_even_on_a_small_range():
    assert integer_ticks(0, 3) == (0, 1, 2, 3)
    assert integer_ticks(2300, 2418) == (2300, 2350, 2400)
    axis = value_axis((Series("errors", (0.0,), (2.0,)),), integer=True)  # 2 errors: not 0, 0.5, 1, 1.5
    assert axis.integer and all(t == int(t) for t in axis.ticks) and axis.ticks == (0.0, 1.0, 2.0)
    for rows in range(2, 20):  # fitted to any plot height, still whole numbers
        fitted = fit_axis(axis, rows)
        assert all(t == int(t) for t in fitted.ticks), rows


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1e5), st.floats(min_value=0.01, max_value=1e5), st.integers(3, 30))
def test_fitted_ticks_fall_evenly_on_rows(lo, span, rows):
    axis = value_axis((Series("v", (0.0, 1.0), (lo, lo + span)),), zero=False)
    fitted = fit_axis(axis, rows)
    slack = 1e-6 * span
    assert fitted.lo <= axis.lo + slack and fitted.hi >= axis.hi - slack  # the data stays inside
    assert fitted.ticks[0] == fitted.lo and abs(fitted.ticks[-1] - fitted.hi) <= 1e-6 * max(1, abs(fitted.hi))
    intervals = len(fitted.ticks) - 1
    assert (rows - 1) % intervals == 0 and intervals <= max(1, (rows - 1) // 2)


def test_every_chart_of_a_range_shares_one_time_axis():
    five = time_axis(300, BASE)
    assert (five.axis.lo, five.axis.hi) == (-5.0, 0.0)
    assert (five.axis.labels[-1], five.axis.label) == ("now", "minutes ago")
    assert time_axis(300, BASE) == five  # equal axes for every chart painted at this snapshot
    hour = time_axis(3600, BASE)
    assert hour.axis.lo == -60 and hour.axis.ticks[0] == -60.0
    day = time_axis(86400, BASE)
    assert day.axis.lo == -24 and day.axis.label == "hours ago"


def test_markers_are_placed_on_the_time_axis_and_only_inside_it():
    axis = time_axis(300, BASE)
    events = (Event(BASE - 120, "rollback", "#1"), Event(BASE - 255, "alert", "HighErrorRate"),
              Event(BASE - 900, "verified", "old"), Event(BASE, "verifying", ""))
    marks = markers_on(axis, events)
    assert [(m.x, m.kind) for m in marks] == [(-4.25, "alert"), (-2.0, "rollback"), (0.0, "verifying")]
    assert [m.x for m in markers_on(time_axis(3600, BASE), events)] == [-15.0, -4.25, -2.0, 0.0]


def test_one_robust_scale_keeps_an_incident_and_drops_a_warm_up_spike():
    steady = [3.0] * 59
    assert robust_top([[500.0, *steady], [4.0] * 60]) == 4.0  # a first-probe outlier: clipped
    failing = [3.0] * 50 + [600.0] * 10  # bad for its last ten points: sets the scale
    assert robust_top([failing, [4.0] * 60]) == 600.0
    assert robust_top([[], [float("nan")]]) is None
    series, was = clip(Series("a", (0.0, 1.0), (1.0, 9.0)), 4.0)
    assert was and series.ys == (1.0, 4.0)


def test_a_threshold_near_the_data_is_in_range_a_far_one_is_not():
    data = (Series("p95", (0.0, 1.0), (300.0, 627.0)),)
    near = value_axis(data, (HLine(1000.0, "warn", "threshold-warning"),))
    assert near.hi == 1000.0
    far = value_axis((Series("p95", (0.0,), (3.0,)),), (HLine(1000.0, "warn", "threshold-warning"),))
    assert far.hi == 3.0


def test_legend_is_text_in_the_lines_colours_and_names_are_never_markup():
    spec = ChartSpec(HOSTILE, (Series(HOSTILE, (0.0,), (1.0,)), Series("b", (0.0,), (2.0,), "series-1")),
                     (HLine(500.0, "warn", "threshold-warning"), HLine(2000.0, "crit", "threshold-error")),
                     y=Axis(0, 1000), unit="ms", clipped=1000.0)
    parts = legend(spec)
    assert [role for _, role in parts] == ["series-0", "series-1", "threshold-warning", "threshold-error",
                                           "muted"]
    assert parts[2][0] == "╌ warn 500" and parts[3][0] == "╌ crit 2000 ↑"  # ↑: above the plotted range
    assert parts[4][0].startswith("▲ above 1000")
    line = title_line(spec, {"series-1": (1, 2, 3)})
    assert "[bold]x[/bold]" in line.plain and "\x1b" not in line.plain  # shown, not parsed, escapes gone
    assert any("rgb(1,2,3)" in str(span.style) for span in line.spans)
    assert legend(ChartSpec("one", (Series("a", (0.0,), (1.0,)),))) == ()  # one line needs no key


def test_the_first_alert_of_a_fault_is_remembered_until_the_next_fault():
    first = alert("HighErrorRate", "api-us", "critical", "firing")  # firing at BASE - 240
    later = replace(alert("SlowHandshake", "api-eu", "warning", "firing"), firing_at=BASE - 100)
    memo = next_fault(FaultMemo(), snapshot(1, alerts=(later,)))
    assert memo.first is not None and memo.first.at == BASE - 100
    memo = next_fault(memo, snapshot(2, alerts=(later, first)))  # an earlier one seen late: it began then
    assert memo.first is not None and memo.first.at == BASE - 240 and "HighErrorRate" in memo.first.label
    resolved = replace(first, state="resolved", resolved_at=BASE + 20)
    memo = next_fault(memo, snapshot(5, alerts=(resolved,)))
    assert memo.quiet_since == BASE + 25 and memo.first.at == BASE - 240  # kept after the fault ends
    memo = next_fault(memo, snapshot(6, alerts=()))
    assert memo.first.at == BASE - 240  # still marked once the snapshot forgot it
    again = replace(alert("SlowRoundTrip", "api-eu", "warning", "firing"), firing_at=BASE + 40)
    memo = next_fault(memo, snapshot(9, alerts=(resolved, again)))
    assert memo.first.at == BASE + 40 and memo.quiet_since is None  # a new fault
    info = replace(alert("QueueDepth", "x", "info", "firing"), firing_at=BASE - 999)
    rollback_alert = replace(alert("RollbackInProgress", "x", "warning", "firing"), firing_at=BASE - 999)
    memo = next_fault(FaultMemo(), snapshot(1, alerts=(info, rollback_alert, later)),
                      rules={"SlowHandshake", "HighErrorRate"})
    assert memo.first is not None and memo.first.at == BASE - 100  # not info, nor the rollback's own


def test_rollback_start_and_verification_are_events():
    steps = ({"name": "flag", "ok": True, "duration_ms": 1500.0},
             {"name": "deploy", "ok": True, "duration_ms": 500})

    def kinds(rb: RollbackView) -> list[tuple[str, float]]:
        return [(e.kind, e.at) for e in rollback_events(rb)]

    verifying = RollbackView(id=7, state="verifying", started_at=BASE - 60, steps=steps)
    assert kinds(verifying) == [("rollback", BASE - 60), ("verifying", BASE - 58)]  # after its steps
    verified = replace(verifying, state="verified", finished_at=BASE - 10)
    assert kinds(verified) == [("rollback", BASE - 60), ("verified", BASE - 10)]
    failed = replace(verifying, state="failed_verification", finished_at=BASE - 5)
    assert rollback_events(failed)[-1].kind == "failed"
    assert rollback_events(RollbackView(id=None, state="idle")) == ()
    assert rollback_events(replace(verifying, state="dry_run")) == ()
    key = events_line(rollback_events(verified), BASE)
    assert key[0] == ("┊ rollback started #7 1m 00s ago   ", "marker-rollback")


def test_small_charts_per_target_worst_first_on_one_scale_with_thresholds_and_markers():
    targets = tuple(replace(target(f"t{i}", 0), values={"handshake_p95": 10.0 + i}) for i in range(8))
    bad = replace(target("bad", 1, status="critical"), values={"handshake_p95": 900.0})
    snap = snapshot(3, targets=(*targets, bad))
    now = snap.taken_at
    points = {"bad": [(now - 200 + i * 10, 700.0 + i * 10) for i in range(20)]}
    th = Thresholds([RuleInfo("SlowHandshake", "handshake_p95", ">", 1000.0,
                              tiers=((3000.0, "critical"), (1000.0, "warning")))])
    plan = MetricsPlan(snap, time_axis(300, now), lambda t, m: points.get(t, [(now - 60, 11.0)]), th,
                       (Event(now - 150, "alert", "SlowHandshake · bad"),))
    hs = TARGET_METRICS[0]
    shown, rest = plan.targets(hs)
    assert [t.name for t in shown] == ["bad", "t7", "t6", "t5", "t4", "t3"] and len(rest) == 3
    assert rest_summary(rest, hs) == "3 more targets: 3 healthy; highest handshake p95 12.0 ms (t2)"
    charts = plan.target_charts(hs, shown)
    assert len({c.y for c in charts}) == 1  # one y scale for every small chart
    first = charts[0]
    assert first.title.startswith("bad  CRITICAL") and first.title_role == "threshold-error"
    assert [(line.y, line.role) for line in first.hlines] == [(1000.0, "threshold-warning"),
                                                              (3000.0, "threshold-error")]
    assert first.y is not None and first.y.hi >= 1000.0  # the near threshold is in range
    assert [(m.x, m.kind) for m in first.markers] == [(-2.5, "alert")]
    assert all(c.x == plan.axis.axis for c in charts) and all(c.x == plan.axis.axis
                                                               for c in plan.fleet_charts().values() if c.x)
    rate = plan.target_charts(TARGET_METRICS[2], shown)[0]
    assert rate.unit == "%" and rate.series[0].ys[0] == points["bad"][0][1] * 100  # 0-1 in %
    assert worst_first(snap.targets, "handshake_p95")[0].name == "bad"


def test_a_target_whose_probes_all_fail_says_so_instead_of_no_data_yet():
    """A down target's handshake chart is empty because no probe measured one, not because the
    monitor has just started: the chart says which."""
    down = replace(target("refusing", 0, status="critical"), probes=12, success_rate=0.0)
    new = replace(target("starting", 1), probes=0)
    snap = snapshot(3, targets=(down, new))
    plan = MetricsPlan(snap, time_axis(300, snap.taken_at), lambda t, m: [], Thresholds([]))
    texts = {c.title.split()[0]: c.empty_text for c in plan.target_charts(TARGET_METRICS[0], [down, new])}
    assert texts == {"refusing": "no successful probe in this range", "starting": "no data yet"}
