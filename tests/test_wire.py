"""The wire codec: every record a face receives comes back exactly as it was sent."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tui_fixtures import hostile_snapshot, sequence
from wsmon_tui.model import (
    AlertView,
    DeploymentView,
    HoldView,
    Percentiles,
    ProbeResult,
    ResourceView,
    RollbackView,
    Snapshot,
    TargetView,
)
from wsmon_tui.seam import RangeRequest, RuleInfo
from wsmon_tui.wire import decoder, dumps, from_wire, loads, to_wire


def over_the_wire(cls: type, obj: Any) -> Any:
    return from_wire(cls, loads(dumps(to_wire(obj))))


def same_shape(a: Any, b: Any) -> None:
    """Equal, with the same types all the way down (a tuple stays a tuple); NaN equals NaN."""
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b)
        for f in dataclasses.fields(a):
            same_shape(getattr(a, f.name), getattr(b, f.name))
    elif isinstance(a, Mapping):
        assert isinstance(b, Mapping) and list(a) == list(b)
        for k in a:
            same_shape(a[k], b[k])
    elif isinstance(a, tuple):
        assert type(b) is tuple and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same_shape(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b)
    else:
        assert (a == b and type(a) is type(b)) or (isinstance(a, str) and a == b), (a, b)


def test_the_fixture_sequence_and_the_hostile_snapshot_round_trip() -> None:
    for snap in [*sequence(), hostile_snapshot()]:
        back = over_the_wire(Snapshot, snap)
        assert back == snap
        same_shape(snap, back)


def test_non_finite_floats_and_none() -> None:
    snap = dataclasses.replace(sequence()[0], health_score=math.inf,
                               overall={"a": -math.inf, "b": math.nan, "c": None})
    back = over_the_wire(Snapshot, snap)
    same_shape(snap, back)
    assert back.health_score == math.inf and back.overall["c"] is None


def test_a_history_comes_back_floats_in_one_pass_and_odd_items_as_they_were() -> None:
    """History lists decode in one pass (whole numbers become floats, as every float
    field's); a list holding something else (never written by ``to_wire``) item by item."""
    history = decoder(Mapping[str, tuple[float, ...]])
    back = history(loads(dumps({"rtt_p95": [1, 2.5, math.inf], "odd": [1, None, "x"]})))
    assert back["rtt_p95"] == (1.0, 2.5, math.inf)
    assert all(type(v) is float for v in back["rtt_p95"])
    assert back["odd"] == (1.0, None, "x") and type(back["odd"][0]) is float


def test_results_and_requests() -> None:
    rule = RuleInfo(name="HighErrorRate", metric="error_rate", op=">", threshold=None, for_=60.0,
                    window=math.inf, runbook="x")
    assert over_the_wire(RuleInfo, rule) == rule
    tiered = RuleInfo(name="SlowHandshake", metric="handshake_p95", op=">", threshold=1000.0,
                      tiers=((3000.0, "critical"), (1000, "warning")), targets=("api-eu",), relative=True)
    back = over_the_wire(RuleInfo, tiered)
    assert back == tiered and isinstance(back.tiers[1], tuple) and isinstance(back.tiers[1][0], float)
    assert over_the_wire(RangeRequest, RangeRequest("", "connections")) == RangeRequest("", "connections")
    alert = sequence()[2].alerts[0]
    same_shape(alert, over_the_wire(AlertView, alert))
    rollback = {"id": 3, "state": "verifying", "steps": [{"name": "x", "ok": True, "duration_ms": 1.5}]}
    assert loads(dumps(to_wire(rollback))) == rollback


# -- property: any Snapshot hypothesis can build -----------------------------------------------

text = st.text(max_size=12)
floats = st.floats(allow_nan=True, allow_infinity=True)
opt_float = st.none() | floats
counts = st.dictionaries(text, st.integers(-10, 10**12), max_size=3)
values = st.dictionaries(text, opt_float, max_size=4)
percentiles = st.builds(Percentiles, opt_float, opt_float, opt_float)
probe = st.builds(ProbeResult, target=text, started_at=floats, ok=st.booleans(),
                  error_class=st.none() | text, detail=text, connect_ms=opt_float, handshake_ms=opt_float,
                  rtt_ms=opt_float, ping_ms=opt_float, duration_ms=opt_float,
                  close_code=st.none() | st.integers(0, 5000), close_reason=text,
                  http_status=st.none() | st.integers(100, 599))
hold = st.builds(HoldView, connected=st.booleans(), connected_since=opt_float, disconnects=counts,
                 reconnects=st.integers(0, 100), max_gap_s=opt_float, last_error=text)
target = st.builds(
    TargetView, name=text, url=text, status=st.sampled_from(["healthy", "critical", "unknown"]),
    health_score=opt_float, performance_score=opt_float, probes=st.integers(0, 10**6),
    success_rate=opt_float, error_rate=opt_float, handshake_ms=percentiles, rtt_ms=percentiles,
    errors=counts, close_codes=counts, http_statuses=counts, overruns=st.integers(0, 10),
    last_probe=st.none() | probe, metrics=values, instances=st.dictionaries(text, floats, max_size=3),
    scrape_errors=st.integers(0, 9), last_scrape_error=text, hold=st.none() | hold,
    degraded_vs_baseline=st.booleans(),
    history=st.dictionaries(text, st.tuples(floats, floats) | st.lists(floats, max_size=4).map(tuple),
                            max_size=3),
    values=values)
alert = st.builds(AlertView, id=text, rule=text, target=text, severity=text, state=text, value=opt_float,
                  threshold=opt_float, summary=text, started_at=opt_float, acknowledged_by=st.none() | text,
                  silenced=st.booleans(), escalated=st.booleans(),
                  labels=st.dictionaries(text, text, max_size=2), metric=text, fired_value=opt_float,
                  ack_comment=text)
json_scalar = st.none() | st.booleans() | st.integers() | text | st.floats(allow_nan=False)
step = st.dictionaries(text, json_scalar, max_size=3)
rollback_fields = dict(
    id=st.none() | st.integers(0, 10**6), state=text, trigger=text, reason=text, started_at=opt_float,
    steps=st.lists(step, max_size=2).map(tuple), auto_count=st.integers(0, 5), recommended=st.booleans(),
    kind=text, automatic=st.booleans(), trigger_target=text, trigger_value=opt_float,
    trigger_threshold=opt_float, trigger_summary=text, planned=st.lists(text, max_size=3).map(tuple),
    state_since=opt_float, verify_deadline=opt_float, verify_streak=st.integers(0, 9), detail=text)
rollback = st.builds(RollbackView, **rollback_fields,
                     throttle=st.none() | st.builds(RollbackView, **rollback_fields))
snapshots = st.builds(
    Snapshot, taken_at=floats, tick=st.integers(0, 10**9), session_id=text,
    deployment=st.builds(DeploymentView, text, text, text, opt_float), level=text, interval=floats,
    status=text, health_score=opt_float, targets=st.lists(target, max_size=3).map(tuple),
    resources=st.none() | st.builds(ResourceView, opt_float, opt_float, opt_float,
                                    st.none() | st.integers(0, 10**6), values, text),
    alerts=st.lists(alert, max_size=3).map(tuple), rollback=st.none() | rollback,
    notes=st.lists(text, max_size=2).map(tuple), overall=values)


@settings(max_examples=150, deadline=None)
@given(snapshots)
def test_any_snapshot_round_trips(snap: Snapshot) -> None:
    same_shape(snap, over_the_wire(Snapshot, snap))
