"""Selector / ratio / JSON-path expressions of [metrics]."""

from __future__ import annotations

import pytest

from wsmon_tui.selectors import Ratio, Selector, parse_expression

FAMILIES = {
    "ws_connections": [
        ({"instance": "a", "path": "/ws"}, 10.0),
        ({"instance": "b", "path": "/ws"}, 20.0),
        ({"instance": "c", "path": "/admin"}, 5.0),
    ],
    "ws_messages_total": [({"kind": "text"}, 100.0), ({"kind": "binary"}, 50.0)],
    "clients": [({"transport": "websocket"}, 30.0), ({"transport": "longpoll"}, 10.0)],
    "zero": [({}, 0.0)],
}


def test_bare_name_sums_every_series() -> None:
    expr = parse_expression("ws_connections")
    assert isinstance(expr, Selector)
    assert expr.names == frozenset({"ws_connections"})
    assert expr.evaluate(FAMILIES) == 35.0


@pytest.mark.parametrize(("text", "expected"), [
    ('ws_connections{path="/ws"}', 30.0),
    ('ws_connections{path!="/ws"}', 5.0),
    ('ws_connections{instance=~"a|c"}', 15.0),
    ('ws_connections{instance!~"a|c"}', 20.0),
    ('ws_connections{instance=~"a"}', 10.0),  # anchored: "a" does not match "ab"
    ('ws_connections{ path = "/ws" , instance != "a" , }', 20.0),
    ("ws_connections{path='/ws'}", 30.0),
    ('ws_connections{missing=""}', 35.0),  # a missing label is the empty string
    ('ws_connections{missing="x"}', None),
    ("ws_connections{}", 35.0),
    ("nothing_here", None),
])
def test_matchers(text: str, expected: float | None) -> None:
    assert parse_expression(text).evaluate(FAMILIES) == expected


def test_regex_is_fully_anchored() -> None:
    fams = {"m": [({"i": "ab"}, 1.0), ({"i": "a"}, 2.0)]}
    assert parse_expression('m{i=~"a"}').evaluate(fams) == 2.0
    assert parse_expression('m{i=~"a.*"}').evaluate(fams) == 3.0


def test_counter_family_name_finds_total_samples() -> None:
    assert parse_expression("ws_messages").evaluate(FAMILIES) == 150.0
    assert parse_expression('ws_messages_total{kind="text"}').evaluate(FAMILIES) == 100.0


def test_escaped_label_value_in_selector() -> None:
    fams = {"m": [({"v": 'say "hi"\\ \n'}, 7.0)]}
    assert parse_expression(r'm{v="say \"hi\"\\ \n"}').evaluate(fams) == 7.0


def test_ratio() -> None:
    expr = parse_expression('clients{transport="websocket"} / clients')
    assert isinstance(expr, Ratio)
    assert expr.names == frozenset({"clients"})
    assert expr.evaluate(FAMILIES) == pytest.approx(0.75)
    assert parse_expression("clients / zero").evaluate(FAMILIES) is None
    assert parse_expression("clients / absent").evaluate(FAMILIES) is None
    assert parse_expression('ws_connections{path="/a/b"}/clients').names == {"ws_connections", "clients"}


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("   ", "empty"),
    ("m{", "expected a label name"),
    ("m{a}", "expected one of = != =~ !~"),
    ("m{a=b}", "expected a quoted label value"),
    ('m{a="b}', "unterminated"),
    ('m{a="b" c="d"}', "expected ',' or '}'"),
    ('m{a=~"("}', "invalid regex"),
    ("a / b / c", "only one '/'"),
    ("a b", "unexpected"),
    ("a /", "expected a metric name"),
    ("a.", "expected a path segment"),
    ('a.b{x="1"}', "label matchers need a Prometheus metric name"),
    ("{job=\"x\"}", "expected a metric name"),
])
def test_bad_expressions(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="bad metric expression") as info:
        parse_expression(text)
    assert fragment in str(info.value)


def test_error_names_the_position() -> None:
    with pytest.raises(ValueError, match="position 5"):
        parse_expression("m{a=b}")


DOC = {
    "server": {"connections": 42, "by_instance": {"a": 10, "b": 30, "note": "x"}},
    "items": [{"value": 1.5}, {"value": 2.5}, {"other": 9}],
    "list": [1, 2, 3],
    "flag": True,
    "text": "12",
    "clients": {"websocket": 30, "total": 40},
}


@pytest.mark.parametrize(("path", "expected"), [
    ("server.connections", 42.0),
    ("server.by_instance", 40.0),  # an object of numbers is summed, non-numbers skipped
    ("items.0.value", 1.5),
    ("items.1.value", 2.5),
    ("items.value", 4.0),  # a list of objects is mapped over, then summed
    ("items.9.value", None),
    ("list", 6.0),
    ("list.2", 3.0),
    ("flag", None),
    ("text", None),
    ("server.missing", None),
    ("server.connections.deeper", None),
])
def test_json_paths(path: str, expected: float | None) -> None:
    assert parse_expression(path).evaluate_json(DOC) == expected


def test_json_ratio() -> None:
    assert parse_expression("clients.websocket / clients.total").evaluate_json(DOC) == 0.75


def test_matchers_do_not_apply_to_json() -> None:
    with pytest.raises(ValueError, match="do not apply to JSON"):
        parse_expression('m{a="b"}').evaluate_json(DOC)


def test_check_metrics_reports_problems_by_key() -> None:
    from wsmon_tui.config import MetricsConfig
    from wsmon_tui.selectors import check_metrics

    good = MetricsConfig(connections="a", adoption="b / c", latency_histogram='h{r="/ws"}')
    assert check_metrics(good) == {}
    problems = check_metrics(MetricsConfig(connections="a{", errors="x / y / z", latency_histogram="a / b"))
    assert set(problems) == {"connections", "errors", "latency_histogram"}
    assert "position 3" in problems["connections"]
    assert "not a ratio" in problems["latency_histogram"]
