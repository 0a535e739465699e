"""One number convention (wsmon_tui.fmt): the screen, the live table and the report agree."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsmon_tui import fmt
from wsmon_tui.config import Config
from wsmon_tui.live import LivePrinter
from wsmon_tui.model import DeploymentView, Percentiles, Snapshot, TargetView
from wsmon_tui.report.document import Table, build
from wsmon_tui.tui import fmt as tui_fmt
from wsmon_tui.tui.screens.detailed import COLUMNS

MISSING = fmt.MISSING


@pytest.mark.parametrize(("func", "value", "expected"), [
    (fmt.num, 12345.0, "12.3k"),
    (fmt.num, 812.34, "812.3"),
    (fmt.num, 9999.94, "9999.9"),
    (fmt.num, 9999.96, "10.0k"),
    (fmt.num, 999_960.0, "1.0M"),
    (fmt.num, 3_400_000, "3.4M"),
    (fmt.num, 2.5e9, "2.5G"),
    (fmt.num, -12345, "-12.3k"),
    (fmt.num, -0.01, "0.0"),
    (fmt.num, None, MISSING),
    (fmt.num, math.nan, MISSING),
    (fmt.num, math.inf, "∞"),
    (fmt.num, "n/a", "n/a"),
    (fmt.count, 812.4, "812"),
    (fmt.count, 15234, "15.2k"),
    (fmt.exact_count, 15234, "15,234"),
    (fmt.exact_count, 480.0, "480"),
    (fmt.exact_count, None, MISSING),
    (fmt.ms, 41.234, "41.2 ms"),
    (fmt.ms, 2450.7, "2450.7 ms"),
    (fmt.ms, None, MISSING),
    (fmt.rate, 812.34, "812.3/s"),
    (fmt.rate, 15234, "15.2k/s"),
    (fmt.pct, 0.988, "98.8%"),
    (fmt.pct, None, MISSING),
    (fmt.pct, math.inf, MISSING),
    (fmt.percent, 35.2, "35%"),
    (fmt.percent, 0.5, "0.5%"),
    (fmt.duration, 4.54, "4.5s"),
    (fmt.duration, 3, "3s"),
    (fmt.duration, 45.4, "45s"),
    (fmt.duration, 200, "3m 20s"),
    (fmt.duration, 7500, "2h 05m"),
    (fmt.duration, 100_800, "1d 04h"),
    (fmt.duration, -3, "0s"),
    (fmt.duration, None, MISSING),
    (fmt.timestamp, 1_764_273_600, "2025-11-27T20:00:00Z"),
    (fmt.timestamp, None, MISSING),
])
def test_convention(func, value, expected):
    assert func(value) == expected


def test_unitless_forms():
    assert fmt.ms(41.234, unit=False) == "41.2" and fmt.rate(5, unit=False) == "5.0"
    assert fmt.ms(None, unit=False) == MISSING and fmt.rate(math.inf) == "∞"


@pytest.mark.parametrize(("metric", "value", "expected"), [
    ("handshake_p95", 278.0, "278.0 ms"),
    ("adoption", 0.11, "11.0%"),
    ("error_rate", 0.05, "5.0%"),
    ("error_rate", 0.0, "0.0%"),
    ("cpu_percent", 75.0, "75%"),
    ("overall", 62.4, "62%"),  # the fleet's health score, a percent
    ("messages_per_s", 812.34, "812.3/s"),
    ("consecutive_failures", 3.0, "3"),
    ("abnormal_closes", 0.5, "0.5"),  # a fractional threshold on a count keeps its decimal
    ("imbalance", 1.1, "1.10×"),
    ("rss_mb", 88.4, "88 MiB"),
    ("handshake_p95", None, MISSING),
    ("no_such_metric", 0.0523, "0.05"),
])
def test_a_metric_value_reads_in_its_unit(metric, value, expected):
    assert fmt.metric_value(metric, value) == expected


def test_every_canonical_metric_has_the_unit_its_documentation_gives():
    """``metrics.UNITS`` (what the alerts view shows) and docs/metrics.md (what a rule's author
    reads) say the same unit for every name."""
    import re
    from pathlib import Path

    from wsmon_tui import metrics

    text = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text(encoding="utf-8")
    documented: dict[str, str] = {}
    for names, unit in re.findall(r"^\| ((?:`[a-z0-9_]+`(?:, )?)+) \| ([^|]+?) \|", text, re.M):
        for name in re.findall(r"`([a-z0-9_]+)`", names):
            documented[name] = unit
    assert set(metrics.UNITS) == set(metrics.CANONICAL_METRICS)
    wrong = {name: (unit, documented.get(name)) for name, unit in metrics.UNITS.items()
             if documented.get(name) != unit and not str(documented.get(name)).startswith(unit + " ")}
    assert wrong == {}
    assert metrics.unit_of("overall") == metrics.unit_of("health_score") == metrics.PERCENT


def test_one_missing_mark_everywhere():
    assert tui_fmt.DASH == fmt.DASH == MISSING == "—"


def test_tui_defines_no_number_formatting_of_its_own():
    for name in ("num", "ms", "pct", "count", "duration"):
        assert getattr(tui_fmt, name) is getattr(fmt, name)
    assert tui_fmt.pct100 is fmt.percent


# ---------------------------------------------------------------- the same value through each path

values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                   st.floats(min_value=-1e16, max_value=1e16), st.integers(-10**9, 10**12).map(float))


def _report_row(value: float | None) -> dict[str, str]:
    doc = build({"targets": [{"name": "t", "success_rate": value, "handshake_ms": {"p95": value},
                              "metrics": {"connections": value, "messages_per_s": value}}]})
    table = next(b for b in doc.sections[0].blocks if isinstance(b, Table))
    return {h: c.text for h, c in zip(table.headers, table.rows[0], strict=True)}


def _target(value: float | None) -> TargetView:
    return TargetView(name="t", url="ws://x/", success_rate=value, handshake_ms=Percentiles(p95=value),
                      metrics={"connections": value, "messages_per_s": value})


def _screen_row(value: float | None) -> dict[str, str]:
    return {key: str(get(_target(value))) for key, _, _, get in COLUMNS}


def _live_row(value: float | None) -> dict[str, str]:
    snap = Snapshot(taken_at=1.0, tick=1, session_id="s", deployment=DeploymentView("d", "1"),
                    level="standard", interval=1.0, status="healthy", health_score=None,
                    targets=(_target(value),))
    table = LivePrinter(Config()).render(snap).renderables[1]
    return {str(col.header): str(next(iter(col.cells))) for col in table.columns}


@given(values)
def test_same_value_same_text_in_report_screen_and_live_table(value):
    report, screen, live = _report_row(value), _screen_row(value), _live_row(value)
    assert report["Success"] == screen["success"] == live["ok"]
    assert report["Connections"] == screen["conns"] == live["conns"]
    assert report["Msg/s"] == screen["msgs"] == live["msg/s"]
    # The screen writes the unit in the cell, the report and the live table in the header.
    assert report["p95 ms"] == live["hs p95 ms"]
    unit = "" if report["p95 ms"] in (MISSING, "∞", "-∞") else " ms"
    assert screen["hs_p95"] == report["p95 ms"] + unit


@given(st.floats(min_value=-9.99e14, max_value=9.99e14))  # below 1000T
def test_measures_stay_narrow_and_close(value):
    text = fmt.num(value)
    assert len(text) <= 7
    suffix = text[-1] if text[-1] in "kMGT" else ""
    scale = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[suffix]
    shown = float(text.rstrip("kMGT")) * scale
    # one decimal is within half a tenth; 1e-9 absorbs binary rounding (0.75 shows 0.8, off by 0.05000…04)
    assert math.isclose(shown, value, rel_tol=0.05, abs_tol=0.05 + 1e-9)
    assert (suffix == "") == (abs(round(value, 1)) < fmt.COMPACT_FROM)


@given(st.integers(min_value=-10**15, max_value=10**15))
def test_exact_counts_are_exact(n):
    assert int(fmt.exact_count(n).replace(",", "")) == n
