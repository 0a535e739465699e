"""promtext: the fast exposition parser, checked against prometheus_client's parsers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

from wsmon_tui.engine import promtext

TEXT_PAGE = r'''# HELP ws_connections Open connections.
# TYPE ws_connections gauge
ws_connections{instance="a",path="C:\\dir\\"} 10
ws_connections{instance="b",quote="say \"hi\"",nl="line1\nline2"} 20 1700000000000
ws_connections{instance="c",brace="}{,= #"} 5
ws_connections_opened_total{instance="a"} 999
ws_connectionsX 1
# a comment mentioning ws_connections{instance="z"} 100
# HELP ws_messages_total Messages.
# TYPE ws_messages_total counter
ws_messages_total{kind="text"} 1.5e3
ws_messages_total{kind="binary"}   +Inf
ws_messages_total{kind="ping"} -Inf
ws_queue NaN
ws_queue_depth 7
# TYPE ws_latency_seconds histogram
ws_latency_seconds_bucket{le="0.1"} 1
ws_latency_seconds_bucket{le="0.5"} 3
ws_latency_seconds_bucket{le="+Inf"} 4
ws_latency_seconds_sum 1.25
ws_latency_seconds_count 4
unrelated_metric{a="b"} 1
this line is garbage but not wanted {{{
'''

WANTED_TEXT = ("ws_connections", "ws_messages_total", "ws_queue", "ws_latency_seconds")

OM_PAGE = '''# HELP ws_messages Messages.
# TYPE ws_messages counter
ws_messages_total{kind="text"} 17 # {trace_id="abc \\" } 1"} 1.0 1700000000.5
ws_messages_created{kind="text"} 1700000000.0
# TYPE ws_latency_seconds histogram
ws_latency_seconds_bucket{le="0.1"} 1 # {trace_id="t1"} 0.05
ws_latency_seconds_bucket{le="1.0"} 3
ws_latency_seconds_bucket{le="+Inf"} 4
ws_latency_seconds_count 4
ws_latency_seconds_sum 2.5
# TYPE ws_up gauge
ws_up NaN
# EOF
'''


def flat(families: promtext.Families) -> dict[tuple, float]:
    return {(name, tuple(sorted(labels.items()))): value
            for name, samples in families.items() for labels, value in samples}


def reference(text: str, wanted, openmetrics: bool = False) -> dict[tuple, float]:
    names = promtext.accepted_names(wanted)
    out = {}
    for family in (om_parse if openmetrics else text_parse)(text):
        for s in family.samples:
            if s.name in names:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])), k


def test_text_page_matches_prometheus_client() -> None:
    # prometheus_client rejects the garbage line, so the reference sees the page without it.
    clean = TEXT_PAGE.replace("this line is garbage but not wanted {{{\n", "")
    got = flat(promtext.parse(TEXT_PAGE, WANTED_TEXT))
    assert_same(got, reference(clean, WANTED_TEXT))
    assert len(got) == 12


def test_escapes_and_special_values() -> None:
    fams = promtext.parse(TEXT_PAGE, ["ws_connections", "ws_messages_total", "ws_queue"])
    labels = [lab for lab, _ in fams["ws_connections"]]
    assert labels[0]["path"] == "C:\\dir\\"
    assert labels[1]["quote"] == 'say "hi"' and labels[1]["nl"] == "line1\nline2"
    assert labels[2]["brace"] == "}{,= #"
    assert [v for _, v in fams["ws_connections"]] == [10.0, 20.0, 5.0]  # timestamp ignored
    assert [v for _, v in fams["ws_messages_total"]] == [1500.0, math.inf, -math.inf]
    assert math.isnan(fams["ws_queue"][0][1])
    assert "ws_queue_depth" not in fams  # a neighbour with a shared prefix is not a suffix we want
    assert "ws_connections_opened_total" not in fams


def test_openmetrics_page_matches_reference() -> None:
    wanted = ["ws_messages", "ws_latency_seconds", "ws_up"]
    got = flat(promtext.parse(OM_PAGE, wanted))
    assert_same(got, reference(OM_PAGE, wanted, openmetrics=True))
    fams = promtext.parse(OM_PAGE, wanted)
    assert fams["ws_messages_total"] == [({"kind": "text"}, 17.0)]  # exemplar ignored
    assert fams["ws_latency_seconds_bucket"][0] == ({"le": "0.1"}, 1.0)


def test_nothing_after_eof_is_read() -> None:
    page = "m 1\n# EOF\nm 2\n"
    assert promtext.parse(page, ["m"]) == {"m": [({}, 1.0)]}
    assert promtext.parse("# EOF\nm 2\n", ["m"]) == {}


def test_crlf_and_blank_separators() -> None:
    page = 'm{a="1"} 1\r\nm\t2\r\n\r\nm{} 3 123\r\n'
    assert promtext.parse(page, ["m"]) == {"m": [({"a": "1"}, 1.0), ({}, 2.0), ({}, 3.0)]}


def test_unknown_escape_is_kept_like_prometheus_client() -> None:
    page = 'm{a="x\\ty"} 1\n'
    assert promtext.parse(page, ["m"])["m"][0][0]["a"] == "x\\ty"
    assert_same(flat(promtext.parse(page, ["m"])), reference(page, ["m"]))


@pytest.mark.parametrize("line", [
    'm{a="1" 5',
    'm{a=1} 5',
    "m{a=\"1\"}",
    "m abc",
    "m 1 2 3",
    'm{a="1",,b="2"} 1',
])
def test_malformed_wanted_line_raises_with_line_number(line: str) -> None:
    page = f"ok 1\n{line}\n"
    with pytest.raises(promtext.PromTextError, match="line 2"):
        promtext.parse(page, ["m"])


def test_malformed_unwanted_line_is_skipped() -> None:
    assert promtext.parse('other{a=1} x\nm 4\n', ["m"]) == {"m": [({}, 4.0)]}


def test_no_wanted_names() -> None:
    assert promtext.parse("m 1\n", []) == {}


label_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.integers(min_value=-(10**12), max_value=10**12).map(float))


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from(["ws_a", "ws_a_total", "ws_ab", "other"]),
                          st.dictionaries(st.sampled_from(["x", "y", "le"]), label_values, max_size=3),
                          values, st.booleans()),
                max_size=20, unique_by=lambda t: (t[0], tuple(sorted(t[1].items())))))
def test_random_pages_match_prometheus_client(rows) -> None:
    lines = []
    for name, labels, value, with_ts in rows:
        lab = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{lab}}} {_fmt(value)}" + (" 1700000000000" if with_ts else ""))
    page = "\n".join(lines) + "\n"
    assert_same(flat(promtext.parse(page, ["ws_a"])), reference(page, ["ws_a"]))


@pytest.mark.parametrize("openmetrics", [False, True])
def test_prometheus_client_own_exposition(openmetrics: bool) -> None:
    """A page rendered by prometheus_client itself (real library output, both formats)."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as om_generate
    from prometheus_client.platform_collector import PlatformCollector
    from prometheus_client.process_collector import ProcessCollector

    reg = CollectorRegistry()
    ProcessCollector(registry=reg)
    PlatformCollector(registry=reg)
    msgs = Counter("ws_messages", "Messages.", ["kind"], registry=reg)
    msgs.labels('te"xt\\\n').inc(3)
    msgs.labels("binary").inc(2.5)
    Gauge("ws_connections", "Open.", ["instance"], registry=reg).labels("a").set(float("nan"))
    hist = Histogram("ws_latency_seconds", "Latency.", registry=reg)
    for v in (0.01, 0.2, 0.7, 3.0, 20.0):
        hist.observe(v, exemplar={"trace_id": "abc"} if openmetrics else None)
    Summary("ws_handle_seconds", "Handling.", registry=reg).observe(0.5)
    page = (om_generate if openmetrics else generate_latest)(reg).decode()
    wanted = {f.name for f in (om_parse if openmetrics else text_parse)(page)}
    assert {"ws_messages", "ws_latency_seconds", "ws_handle_seconds"} <= wanted
    got = flat(promtext.parse(page, wanted))
    assert_same(got, reference(page, wanted, openmetrics))
    assert got[("ws_messages_total", (("kind", 'te"xt\\\n'),))] == 3.0
