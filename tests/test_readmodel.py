"""The read model: one record per tick, and the same figures live and in the report.

The live figures (``engine/readmodel.py`` over the collectors' state) and the report's
(``Store.probe_summary`` over stored probes) must agree for the same probes: one
percentile, one rule for which close codes and HTTP statuses count.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsmon_tui.config import TargetConfig
from wsmon_tui.engine.readmodel import TargetInputs, read_fleet, read_target
from wsmon_tui.engine.series import SeriesBook
from wsmon_tui.engine.state import TargetState
from wsmon_tui.levels import LEVELS
from wsmon_tui.metrics import CANONICAL_METRICS, PROBE_METRICS
from wsmon_tui.model import ProbeResult, ResourceView
from wsmon_tui.store import Store

T0 = 1_767_225_600.0


def probe(i: int, *, ok: bool = True, hs: float | None = 2.0, rtt: float | None = 5.0,
          error_class: str | None = None, code: int | None = None, status: int | None = None) -> ProbeResult:
    return ProbeResult(target="edge", started_at=T0 + i, ok=ok, error_class=error_class, handshake_ms=hs,
                       rtt_ms=rtt, close_code=code, http_status=status, detail="x" if not ok else "")


def live(results: list[ProbeResult]) -> tuple:
    state = TargetState(TargetConfig(name="edge", url="ws://127.0.0.1:9/"), deque(maxlen=1000))
    samples = SeriesBook()
    for r in results:
        state.observe(r)
        if r.handshake_ms is not None:
            samples.add("edge", "handshake_ms", r.started_at, r.handshake_ms)
        if r.rtt_ms is not None:
            samples.add("edge", "rtt_ms", r.started_at, r.rtt_ms)
    judged: list[tuple] = []
    view = read_target(
        TargetInputs(state=state, samples=samples, history=SeriesBook(), scrape=None, hold=None,
                     baseline=lambda hs, err: judged.append((hs, err)) or False),
        now=T0 + len(results), window=10_000.0, level=LEVELS["standard"], connection_limit=None)
    return view, judged


def stored(results: list[ProbeResult], tmp: Path) -> dict:
    store = Store.open(tmp)
    try:
        session = store.begin_session(deployment="d", version="1", level="standard", config_digest="x",
                                      interval=1.0, targets=[("edge", "ws://127.0.0.1:9/")], started_at=T0)
        store.record_probes(session, results)
        assert store.flush(5)
        return store.probe_summary(since=0, session_id=session)["edge"]
    finally:
        store.close()


def test_live_and_report_figures_agree(tmp_path: Path):
    results = [
        probe(0), probe(1, hs=3.0, rtt=7.0), probe(2, hs=40.0, rtt=90.0),
        probe(3, code=1001),  # a good probe the server then closed with "going away": not an error
        probe(4, ok=False, hs=2.5, rtt=None, error_class="closed", code=1006),
        probe(5, ok=False, hs=None, rtt=None, error_class="http_status", status=503),
        probe(6, ok=False, hs=None, rtt=None, error_class="refused"),
    ]
    view, judged = live(results)
    report = stored(results, tmp_path)
    assert dict(view.close_codes) == report["close_codes"] == {"1006": 1}
    assert dict(view.http_statuses) == report["http_statuses"] == {"503": 1}
    assert dict(view.errors) == report["errors"]
    assert view.probes == report["probes"] and view.success_rate == pytest.approx(report["success_rate"])
    assert view.handshake_ms.as_dict() == pytest.approx(report["handshake_ms"])
    assert view.rtt_ms.as_dict() == pytest.approx(report["rtt_ms"])
    assert judged == [(view.handshake_ms.p95, view.error_rate)]  # the baseline was asked once


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0.1, 5000),
                          st.sampled_from([None, 1000, 1001, 1006, 1011])), min_size=1, max_size=40))
def test_live_and_report_agree_on_any_probes(tmp_path_factory, rows):
    results = [probe(i, ok=ok, hs=hs, rtt=hs * 2, error_class=None if ok else "closed", code=code)
               for i, (ok, hs, code) in enumerate(rows)]
    view, _ = live(results)
    report = stored(results, tmp_path_factory.mktemp("store"))
    assert dict(view.close_codes) == report["close_codes"]
    assert view.handshake_ms.as_dict() == pytest.approx(report["handshake_ms"])


def test_the_record_names_every_probe_metric_and_nothing_unknown():
    view, _ = live([probe(0), probe(1, ok=False, hs=None, rtt=None, error_class="timeout")])
    assert set(PROBE_METRICS) <= set(view.values)
    assert set(view.values) <= CANONICAL_METRICS
    assert view.values["timeout"] == 1.0 and view.values["error_rate"] == 0.5
    assert view.history["error_rate"] == (0.5,)  # this tick's value ends the sparkline


def test_fleet_figures_carry_resources_and_health():
    fleet = read_fleet([], None, connection_limit=None, health_score=87.5,
                       resources=ResourceView(cpu_percent=12.0, process={"rss_mb": 80.0}))
    assert fleet["health_score"] == 87.5 and fleet["cpu_percent"] == 12.0 and fleet["rss_mb"] == 80.0
    assert set(fleet) <= CANONICAL_METRICS
