"""Health/performance scoring, fleet roll-up and baseline degradation."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsmon_tui.engine.scoring import (
    Baseline,
    TargetHealthInput,
    overall,
    penalty,
    performance_score,
    score_target,
)
from wsmon_tui.levels import LEVELS

STD = LEVELS["standard"]  # error 5%/15%, handshake 1000/3000 ms, rtt 500/2000 ms


def inp(**kw) -> TargetHealthInput:
    base = {"probes": 20, "success_rate": 1.0, "error_rate": 0.0, "handshake_p95": 50.0, "rtt_p95": 10.0}
    base.update(kw)
    return TargetHealthInput(**base)


def test_no_probes_is_unknown():
    assert score_target(TargetHealthInput(0, None, None, None, None), STD) == (None, "unknown",
                                                                               ["no probes yet"])


def test_healthy_target_scores_100():
    score, status, reasons = score_target(inp(), STD)
    assert (score, status, reasons) == (100.0, "healthy", [])


def test_error_rate_thresholds_and_reasons():
    score, status, reasons = score_target(inp(error_rate=0.18, success_rate=0.82), STD)
    assert status == "critical"
    assert reasons == ["error rate 18% > 15% (critical)"]
    assert score is not None and score < 50
    score, status, reasons = score_target(inp(error_rate=0.08, success_rate=0.92), STD)
    assert status == "degraded"
    assert reasons == ["error rate 8% > 5% (warning)"]
    assert score is not None and 50 < score < 85


def test_error_rate_derived_from_success_rate():
    _, status, reasons = score_target(inp(error_rate=None, success_rate=0.9), STD)
    assert status == "degraded" and reasons[0].startswith("error rate 10%")


def test_every_probe_failing_is_critical_zero():
    score, status, reasons = score_target(inp(success_rate=0.0, error_rate=1.0, handshake_p95=None,
                                              rtt_p95=None), STD)
    assert (score, status) == (0.0, "critical")
    assert reasons == ["every probe failing (20 of 20)"]


def test_handshake_p95_past_critical():
    score, status, reasons = score_target(inp(handshake_p95=3500.0), STD)
    assert status == "critical"
    assert reasons == ["handshake p95 3500 ms > 3000 ms (critical)"]
    assert score is not None and score <= 50


def test_score_moves_smoothly_before_the_status_flips():
    """Below the warning threshold the score still falls as the error rate rises."""
    prev = None
    for er in (0.0, 0.01, 0.02, 0.03, 0.04, 0.05):
        score, status, _ = score_target(inp(error_rate=er, success_rate=1 - er), STD)
        assert status == "healthy"
        if prev is not None:
            assert score < prev
        prev = score
    assert prev == pytest.approx(85.0)
    # latency too: 850 ms is under the 1000 ms warning but above "good" (750 ms)
    score, status, _ = score_target(inp(handshake_p95=850.0), STD)
    assert status == "healthy" and score == pytest.approx(94.0)
    # well under the warning (up to three quarters of it) costs nothing
    assert score_target(inp(handshake_p95=700.0, rtt_p95=370.0), STD)[0] == 100.0


@given(st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=1))
def test_score_is_monotonic_in_error_rate(a, b):
    lo, hi = sorted((a, b))
    s_lo, st_lo, _ = score_target(inp(error_rate=lo, success_rate=1 - lo), STD)
    s_hi, st_hi, _ = score_target(inp(error_rate=hi, success_rate=1 - hi), STD)
    assert 0 <= s_hi <= s_lo <= 100
    rank = {"healthy": 0, "degraded": 1, "critical": 2}
    assert rank[st_hi] >= rank[st_lo]


def test_other_signals():
    _, status, reasons = score_target(inp(queue_depth=6000.0), STD)
    assert status == "critical" and reasons == ["queue depth 6000 > 5000 (critical)"]
    _, status, reasons = score_target(inp(connection_utilisation=0.85), STD)
    assert status == "degraded" and reasons == ["connection utilisation 85% > 80% (warning)"]
    _, status, reasons = score_target(inp(server_error_rate=0.2), STD)
    assert status == "critical" and reasons == ["server error rate 20% > 15% (critical)"]
    _, status, reasons = score_target(inp(rtt_p95=700.0), STD)
    assert status == "degraded" and reasons == ["rtt p95 700 ms > 500 ms (warning)"]
    score, status, reasons = score_target(inp(scrape_ok=False), STD)
    assert (score, status, reasons) == (85.0, "degraded", ["metrics scrape failing"])
    score, status, reasons = score_target(inp(abnormal_closes=2), STD)  # 2 of 20 = 10%
    assert status == "degraded"
    assert reasons == ["abnormal closes 2 in 20 probes (10%) > 5% (warning)"]


def test_worst_dominates_and_others_add():
    one, _, _ = score_target(inp(error_rate=0.08, success_rate=0.92), STD)
    two, status, reasons = score_target(inp(error_rate=0.08, success_rate=0.92, rtt_p95=700.0), STD)
    assert status == "degraded" and len(reasons) == 2
    assert two < one
    assert one - two < 100 - one  # the second signal counts for less than the first


def test_stricter_level_is_stricter():
    s_std, st_std, _ = score_target(inp(error_rate=0.04, success_rate=0.96), STD)
    s_cmp, st_cmp, _ = score_target(inp(error_rate=0.04, success_rate=0.96), LEVELS["comprehensive"])
    assert st_std == "healthy" and st_cmp == "degraded" and s_cmp < s_std


def test_penalty_curve():
    assert penalty(0, 0.05, 0.15) == 0
    assert penalty(0.05, 0.05, 0.15) == pytest.approx(15)
    assert penalty(0.15, 0.05, 0.15) == pytest.approx(50)
    assert penalty(0.30, 0.05, 0.15) == pytest.approx(100)
    assert penalty(5.0, 0.05, 0.15) == 100
    assert penalty(400, 1000, 3000, good=500) == 0
    assert penalty(750, 1000, 3000, good=750) == 0


def test_performance_score():
    assert performance_score(None, None, STD) is None
    assert performance_score(100.0, 50.0, STD) == 100.0
    assert performance_score(1000.0, None, STD) == 60.0
    assert performance_score(3000.0, None, STD) == 0.0
    assert performance_score(9000.0, 10.0, STD) == 0.0
    mid = performance_score(2000.0, None, STD)
    assert mid == pytest.approx(30.0)
    # the worse of the two wins
    assert performance_score(100.0, 2000.0, STD) == 0.0
    # monotonic
    vals = [performance_score(x, None, STD) for x in range(0, 4000, 100)]
    assert all(a >= b for a, b in itertools.pairwise(vals))


def test_overall():
    assert overall([]) == (None, "unknown")
    assert overall([(None, "unknown")]) == (None, "unknown")
    assert overall([(100.0, "healthy"), (None, "unknown")]) == (100.0, "healthy")
    score, status = overall([(100.0, "healthy")] * 9 + [(0.0, "critical")])
    assert status == "critical"
    assert score == pytest.approx(45.0)  # (90 + 0) / 2: the mean alone would say 90
    assert overall([(90.0, "healthy"), (70.0, "degraded")]) == (75.0, "degraded")


# -- baseline -----------------------------------------------------------------------------------


def test_baseline_from_session_start():
    b = Baseline(window=60.0, ratio=2.0)
    t0 = 1000.0
    for i, hs in enumerate([100.0, 120.0, 110.0]):
        b.observe("a", t0 + i * 10, t0, hs, 0.0)
        assert b.degraded("a", 10_000.0, 1.0) == (False, "")  # still forming
    b.observe("a", t0 + 61, t0, 999.0, 0.5)  # after the window: not part of the baseline
    assert b.ready("a")
    assert b.values("a") == (110.0, 0.0)
    assert b.degraded("a", 200.0, 0.0) == (False, "")
    bad, why = b.degraded("a", 300.0, 0.0)
    assert bad and why == "handshake p95 300 ms is 2.7x the baseline 110 ms"
    # error rate: 0 baseline uses the 1% floor, so 0.1% is not "infinitely worse"
    assert b.degraded("a", 100.0, 0.001) == (False, "")
    assert b.degraded("a", 100.0, 0.02) == (False, "")
    bad, why = b.degraded("a", 100.0, 0.05)
    assert bad and "error rate 5% vs baseline 0%" in why


def test_baseline_latency_floor_and_unknown_target():
    b = Baseline(window=10.0, ratio=2.0)
    b.observe("fast", 0.0, 0.0, 2.0, 0.0)
    b.observe("fast", 11.0, 0.0, None, None)
    assert b.degraded("fast", 5.0, 0.0) == (False, "")  # 2 -> 5 ms is noise, not a regression
    assert b.degraded("fast", 45.0, 0.0)[0]
    assert b.degraded("never-seen", 1e6, 1.0) == (False, "")


def test_seeded_baseline_wins():
    b = Baseline(window=60.0, ratio=1.5)
    b.seed("a", 200.0, 0.02)
    assert b.ready("a")
    b.observe("a", 0.0, 0.0, 5000.0, 0.9)  # ignored: the seed is the baseline
    assert b.values("a") == (200.0, 0.02)
    assert b.degraded("a", 290.0, 0.02) == (False, "")
    assert b.degraded("a", 310.0, 0.02)[0]
    assert b.degraded("a", 200.0, 0.031)[0]
    b.seed("b", None, None)
    assert not b.ready("b")
    with pytest.raises(ValueError):
        Baseline(window=1.0, ratio=0.5)


async def test_a_real_target_answering_well_under_its_thresholds_scores_100():
    """A real server answering every probe in ~100 ms, two thirds of the debug level's 150 ms
    round-trip warning: nothing is wrong, so the target (and the fleet) reads 100. With "good" at
    half the warning it read 95."""
    from tests.hostile import echo_server
    from wsmon_tui.config import Config, MonitorConfig, TargetConfig
    from wsmon_tui.engine.monitor import Monitor

    async with echo_server(delay=0.1) as url:
        config = Config(monitor=MonitorConfig(level="debug", interval=0.4),
                        targets=[TargetConfig(name="steady", url=url, timeout=2.0, send="hi {nonce}")])
        monitor = Monitor(config, None, stages=False)
        await monitor.run(2.5)
    snap = monitor.latest
    assert snap is not None
    [tv] = snap.targets
    assert tv.probes >= 4 and tv.success_rate == 1.0
    assert tv.rtt_ms.p95 is not None and 95 <= tv.rtt_ms.p95 < 0.75 * LEVELS["debug"].rtt_p95_ms[0]
    assert (tv.health_score, tv.status, snap.health_score) == (100.0, "healthy", 100.0)
    assert tv.performance_score == 100.0
