"""Figures and sparklines coloured by the engine's own thresholds, on one scale per metric.

The rules come from a real Monitor (the level's defaults and a configured rule); the
levels, the summary's big figures, the cards' sparkline scale and their bars are pure
functions of those rules and a snapshot.
"""

from __future__ import annotations

import math
from dataclasses import replace

from rich.color import Color
from rich.style import Style

from tests.tui_fixtures import alert, make_config, snapshot, target
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.model import Percentiles
from wsmon_tui.seam import RuleInfo
from wsmon_tui.tui.screens.summary import figure_values
from wsmon_tui.tui.thresholds import Thresholds
from wsmon_tui.tui.widgets.sparkline import BARS, CLIPPED, scaled_levels, scaled_segments
from wsmon_tui.tui.widgets.target_card import card_scales

LOW, HIGH = Color.from_rgb(0, 200, 0), Color.from_rgb(250, 0, 0)
LEVEL_STYLES = {"": Style(color="green"), "warning": Style(color="yellow"), "error": Style(color="red")}


async def engine_rules() -> list[RuleInfo]:
    """What a standard-level engine with the fixture's config answers ``rules()`` with."""
    monitor = Monitor(make_config(), None, stages=False)
    return await monitor.rules()


async def test_the_engine_tells_every_rule_with_its_tiers():
    monitor = Monitor(make_config(), None, stages=False)
    rules = {r.name: r for r in await monitor.rules()}
    assert rules["SlowRoundTrip"].tiers == ((2000.0, "critical"), (500.0, "warning"))
    assert rules["SlowRoundTrip"].threshold == 500.0  # the least severe, as rule_info always said
    # the configured HighErrorRate replaces the default one: one tier, its own severity
    assert rules["HighErrorRate"].tiers == ((0.05, "critical"),)
    assert rules["AdoptionDrop"].relative and not rules["HighErrorRate"].relative
    info = await monitor.rule_info("HighErrorRate")
    assert info is not None and info.threshold == 0.05 and info.for_ == 60.0
    assert await monitor.rule_info("NoSuchRule") is None


async def test_levels_follow_each_rules_comparison_and_tiers():
    th = Thresholds(await engine_rules())
    assert th.level("rtt_p95", 627.0) == "warning"  # 627 ms against the 500 ms threshold
    assert th.level("rtt_p95", 2500.0) == "error"
    assert th.level("rtt_p95", 499.0) == ""
    assert th.level("error_rate", 1.0) == "error"
    assert th.level("error_rate", 0.0) == ""
    assert th.level("probe_success_rate", 0.5) == "warning"  # a "<" rule: low is bad
    assert th.level("probe_success_rate", 1.0) == ""
    assert th.tiers("adoption") == ()  # relative to a baseline: no value to compare with
    assert th.level("rtt_p95", None) == "" and th.level("rtt_p95", math.nan) == ""
    assert not Thresholds() and Thresholds().level("rtt_p95", 1e9) == ""


def test_a_rule_for_some_targets_colours_only_those():
    th = Thresholds([RuleInfo("EuSlow", "rtt_p95", ">", 50.0, tiers=((50.0, "critical"),),
                              targets=("api-eu",))])
    assert th.level("rtt_p95", 60.0, "api-eu") == "error"
    assert th.level("rtt_p95", 60.0, "api-us") == ""
    assert th.worst("rtt_p95", [("api-us", 60.0), ("api-eu", 60.0)]) == "error"


async def test_big_figures_take_the_level_of_their_threshold():
    th = Thresholds(await engine_rules())
    slow = replace(target("api-eu", 0), rtt_ms=Percentiles(300.0, 627.0, 700.0), values={})
    down = replace(target("api-us", 1, status="critical", error_rate=1.0), values={})
    figures = figure_values(snapshot(3, targets=(slow, down)), th)
    assert figures["rtt"] == ("627.0 ms", "warning", "worst: api-eu")
    assert figures["errors"] == ("100.0%", "error", "worst: api-us")
    assert figures["handshake"][1] == ""  # 4.5 ms is far below 1000 ms
    # an alert firing on a metric colours its figure even where no value passes a tier
    dropping = snapshot(3, alerts=(alert("AdoptionDrop", "api-eu", "warning", "firing"),))
    assert figure_values(dropping, th)["adoption"][1] == "warning"
    assert figure_values(snapshot(3), th)["adoption"][1] == ""


def test_errors_at_100_percent_are_full_red_bars_not_a_flat_green_line():
    top = 1.0
    tiers = Thresholds([RuleInfo("HighErrorRate", "error_rate", ">", 0.05,
                                 tiers=((0.15, "critical"), (0.05, "warning")))]).tiers("error_rate")
    segments = scaled_segments([1.0] * 30, 20, top, tiers, LEVEL_STYLES, LOW, HIGH)
    assert [(s.text, s.style) for s in segments] == [("█" * 20, LEVEL_STYLES["error"])]
    healthy = scaled_segments([0.0] * 30, 20, top, tiers, LEVEL_STYLES, LOW, HIGH)
    assert [(s.text, s.style) for s in healthy] == [("▁" * 20, LEVEL_STYLES[""])]
    warm = scaled_segments([0.0, 0.0, 0.1, 0.2], 4, 0.2, tiers, LEVEL_STYLES, LOW, HIGH)
    assert [s.style for s in warm] == [LEVEL_STYLES[""], LEVEL_STYLES["warning"], LEVEL_STYLES["error"]]


def test_one_scale_per_metric_across_cards_and_a_warm_up_outlier_is_clipped_and_marked():
    steady = (20.0, 22.0, 21.0, 23.0, 22.0, 21.0, 20.0, 22.0, 23.0, 21.0) * 3
    warm_up = (900.0, *steady[1:])  # the first probe of a session: one slow handshake
    a = replace(target("api-eu", 0), history={"handshake_p95": warm_up, "error_rate": (0.0,) * 30})
    b = replace(target("api-us", 1), history={"handshake_p95": tuple(v * 2 for v in steady),
                                              "error_rate": (0.0,) * 30})
    scales = card_scales(snapshot(1, targets=(a, b)), Thresholds())
    top = scales.tops["handshake_p95"]
    assert top is not None and 44 <= top <= 46  # api-us's p95, not the outlier
    bars = scaled_levels(warm_up, 30, top)
    assert bars[0][0] == len(BARS)  # above the scale: drawn as the marked top glyph
    assert min(level for level, _ in bars[1:]) >= 3  # the rest is not flattened to the floor
    text = "".join(s.text for s in scaled_segments(warm_up, 30, top, (), None, LOW, HIGH))
    assert text[0] == CLIPPED and CLIPPED not in text[1:]
    # both cards share the scale: the same value draws the same bar on either
    assert scaled_levels((40.0,), 1, top) == scaled_levels((40.0,), 1, scales.tops["handshake_p95"] or 0)
