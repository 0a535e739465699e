"""Property-based tests (hypothesis): no input crashes the parsers and writers; round trips hold.

Deterministic (``derandomize=True``: the examples are derived from the test, not from a
random seed) and bounded, so the suite is quick and a failure reproduces everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from wsmon_tui.config import Config, load_config
from wsmon_tui.durations import format_duration, parse_duration
from wsmon_tui.engine import promtext
from wsmon_tui.errors import ConfigError
from wsmon_tui.report import render
from wsmon_tui.selectors import Ratio, Selector, parse_expression

_SCALE = int(os.environ.get("WSMON_FUZZ_SCALE", "1"))
"""Multiply the example counts (``WSMON_FUZZ_SCALE=20`` for a long local hunt; CI runs 1)."""
FAST = settings(derandomize=True, max_examples=200 * _SCALE, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
SLOWER = settings(derandomize=True, max_examples=60 * _SCALE, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])



def _joined(tokens: st.SearchStrategy[str], most: int) -> st.SearchStrategy[str]:
    """Text made of ``tokens`` (some longer than one character): near-misses of valid input."""
    return st.lists(tokens, max_size=most).map("".join)


# ------------------------------------------------------------------ durations

DURATION_ALPHABET = st.sampled_from([*"0123456789.smhdw -+eE_naif", "ms", "1h30m", "\u0663", "\t"])


@FAST
@given(st.one_of(st.text(), _joined(DURATION_ALPHABET, 12), st.integers(), st.floats(), st.booleans(),
                 st.none()))
def test_parse_duration_returns_a_finite_non_negative_number_or_value_error(value: Any) -> None:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(seconds, float) and math.isfinite(seconds) and seconds >= 0


@FAST
@given(st.lists(st.integers(0, 10**6), min_size=4, max_size=4), st.sampled_from(["s", "h"]))
def test_parse_duration_of_unit_parts_is_their_sum(parts: list[int], bare: str) -> None:
    d, h, m, s = parts
    text = "".join(f"{n}{u}" for n, u in zip(parts, "dhms", strict=True) if n) or "0s"
    assert parse_duration(text, bare_unit=bare) == d * 86400 + h * 3600 + m * 60 + s
    assert parse_duration(text.upper(), bare_unit=bare) == parse_duration(text)
    assert parse_duration(str(s), bare_unit=bare) == s * (3600 if bare == "h" else 1)


@FAST
@given(st.tuples(st.integers(0, 400), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)))
def test_format_then_parse_is_exact_for_two_units(dhms: tuple[int, int, int, int]) -> None:
    d, h, m, s = dhms
    seconds = d * 86400 + h * 3600 + m * 60 + s
    assume(seconds >= 1 and sum(1 for x in dhms if x) <= 2)  # format_duration shows two units
    assert parse_duration(format_duration(seconds)) == seconds


@FAST
@given(st.floats(min_value=0, max_value=10 * 365 * 86400, allow_nan=False))
def test_format_then_parse_is_close_for_any_duration(seconds: float) -> None:
    back = parse_duration(format_duration(seconds))
    if seconds < 1:
        assert abs(back - seconds) <= 0.0005 + 1e-9
    else:
        # Two units are kept: what is dropped is less than the second unit shown.
        assert back <= seconds + 0.5
        assert seconds - back < max(60.0, seconds * 0.05) or seconds - back < 3600.0


@FAST
@given(st.integers(0, 999))
def test_milliseconds_round_trip(ms: int) -> None:
    assert math.isclose(parse_duration(format_duration(ms / 1000)), ms / 1000, rel_tol=1e-12)


# ------------------------------------------------------------------ selector / ratio expressions

EXPR_ALPHABET = st.sampled_from([*'abc_:.{}=!~"\'\\/ ,0123456789|*()[]+?', "=~", "!~", "{4294967296}"])


@FAST
@given(st.one_of(st.text(), _joined(EXPR_ALPHABET, 40)))
def test_parse_expression_gives_an_expression_or_value_error(text: str) -> None:
    try:
        expr = parse_expression(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(expr, Selector | Ratio)
    assert expr.names
    # Whatever parsed can be evaluated against an empty page and an empty document.
    assert expr.evaluate({}) is None
    try:
        expr.evaluate_json({})
    except ValueError:
        pass  # label matchers on a JSON path: refused with a message


LABEL_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(lambda s: not s.startswith("__"))
METRIC_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)


@st.composite
def selectors(draw: st.DrawFn) -> tuple[str, str, dict[str, str]]:
    """(selector text, metric name, labels of a sample that matches it)."""
    name = draw(METRIC_NAMES)
    labels = draw(st.dictionaries(LABEL_NAMES, st.text(max_size=8), max_size=3))
    parts = []
    for label, value in labels.items():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{label}="{escaped}"')
    text = name + ("{" + ",".join(parts) + "}" if parts else "")
    return text, name, labels


@FAST
@given(selectors(), st.dictionaries(LABEL_NAMES, st.text(max_size=5), max_size=2), st.floats(-1e9, 1e9))
def test_a_generated_selector_matches_exactly_its_sample(sel: tuple[str, str, dict[str, str]],
                                                         extra: dict[str, str], value: float) -> None:
    text, name, labels = sel
    expr = parse_expression(text)
    assert isinstance(expr, Selector) and expr.name == name
    sample = {**extra, **labels}
    assert expr.evaluate({name: [(sample, value)]}) == value
    ratio = parse_expression(f"{text} / {text}")
    assert isinstance(ratio, Ratio)
    assert ratio.evaluate({name: [(sample, value)]}) == (None if value == 0 else 1.0)


# ------------------------------------------------------------------ Prometheus text ingestion

SAFE_FLOATS = st.floats(allow_nan=False, allow_infinity=True, width=64)


@st.composite
def pages(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A valid exposition page written by prometheus_client, and the families in it."""
    names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,10}[a-z0-9]", fullmatch=True), min_size=1,
                          max_size=4, unique_by=lambda n: n.removesuffix("_total")))
    # A family name that is a prefix+suffix of another (a and a_count) would merge in the reference.
    assume(not any(a != b and b.startswith(a + "_") for a in names for b in names))

    class Collector:
        def collect(self) -> Any:
            yield from families

    families = []
    for name in names:
        label_names = draw(st.lists(LABEL_NAMES.filter(lambda s: s != "le"), max_size=2, unique=True))
        kind = draw(st.sampled_from(["gauge", "counter", "histogram"]))
        if kind == "gauge":
            fam = GaugeMetricFamily(name, "help \\ text\n", labels=label_names)
        elif kind == "counter":
            fam = CounterMetricFamily(name, "help", labels=label_names)
        else:
            fam = HistogramMetricFamily(name, "help", labels=label_names)
        for _ in range(draw(st.integers(1, 3))):
            values = [draw(st.text(max_size=6)) for _ in label_names]
            if kind == "histogram":
                counts = sorted(draw(st.lists(st.integers(0, 10**6), min_size=2, max_size=3)))
                bounds = sorted(set(draw(st.lists(st.floats(0, 100), min_size=1, max_size=2))))
                buckets = [(repr(b), c) for b, c in zip(bounds, counts, strict=False)]
                buckets.append(("+Inf", counts[-1]))
                fam.add_metric(values, buckets, sum_value=draw(st.floats(0, 1e6)))
            else:
                v = draw(SAFE_FLOATS if kind == "gauge" else st.floats(0, 1e12))
                fam.add_metric(values, v)
        families.append(fam)
    return generate_latest(Collector()).decode("utf-8"), names  # type: ignore[arg-type]


def _flat(fams: promtext.Families) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(n, tuple(sorted(lab.items()))): v for n, samples in fams.items() for lab, v in samples}


@SLOWER
@given(pages())
def test_promtext_reads_what_prometheus_client_reads(page: tuple[str, list[str]]) -> None:
    text, names = page
    # The family names as a user writes them (counter "x_total" is wanted as "x" or "x_total").
    wanted = {n.removesuffix("_total") for n in names}
    accepted = promtext.accepted_names(wanted)
    reference: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in accepted:
                reference[(s.name, tuple(sorted(s.labels.items())))] = s.value
    got = _flat(promtext.parse(text, wanted))
    assert got.keys() == reference.keys()
    for key, value in reference.items():
        assert got[key] == value or (math.isnan(got[key]) and math.isnan(value)), key


PROM_ALPHABET = st.sampled_from([*'ab_{}="\\ #\n\t,.0123456789eE+-', "NaN", "+Inf", "# EOF", "\r\n", "le"])


@FAST
@given(st.one_of(st.text(), _joined(PROM_ALPHABET, 60)),
       st.lists(st.sampled_from(["a", "ab", "a_b", "b", "le"]), max_size=3))
def test_promtext_on_any_text_returns_or_raises_promtext_error(text: str, wanted: list[str]) -> None:
    try:
        fams = promtext.parse(text, wanted)
    except promtext.PromTextError as exc:
        assert str(exc).startswith("line ")
        return
    for name, samples in fams.items():
        assert name in promtext.accepted_names(wanted)
        for labels, value in samples:
            assert isinstance(labels, dict) and isinstance(value, float)


# ------------------------------------------------------------------ config loader

KEYS = st.sampled_from([
    "monitor", "targets", "deployment", "metrics", "alerts", "rules", "channels", "rollback", "steps",
    "throttle", "flags", "prometheus", "queries", "maintenance", "resources", "baseline", "ui",
    "name", "url", "timeout", "interval", "level", "metric", "op", "threshold", "for", "severity", "type",
    "argv", "headers", "expect", "send", "ping", "hold", "verify_tls", "ca_file", "metrics_url", "on",
    "health_below", "rollout", "enabled", "path", "provider", "start", "every", "timezone", "rate_limit",
    "connections", "latency_histogram", "max_concurrency", "expect_status", "json", "body", "auto",
])
INTERESTING = st.sampled_from([
    "5m", "-1s", "0", "ws://127.0.0.1:1/", "wss://h.invalid/", "http://127.0.0.1:1/", "${WSMON_PROP_UNSET}",
    "${}", "$${X}", "error_rate", "cpu_percent", ">", "=>", "critical", "fatal", "command", "http", "flag",
    "re:((", "re:a{4294967296}", 'x{a="b"}', "a / b", "10/m", "25:00", "Mars/Base", "", "\x00", "é",
])
SCALARS = st.one_of(INTERESTING, st.text(max_size=12), st.integers(-(2**63), 2**63 - 1), st.booleans(),
                    st.floats(allow_nan=True), st.datetimes(timezones=st.just(dt.UTC)), st.dates(),
                    st.times())
TOML_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(KEYS, st.text(max_size=6)), inner, max_size=4)),
    max_leaves=20)
SECTIONS = st.dictionaries(
    st.one_of(KEYS, st.text(max_size=8)),
    st.one_of(TOML_VALUES, st.lists(st.dictionaries(KEYS, TOML_VALUES, max_size=6), max_size=3)),
    max_size=5)


@SLOWER
@given(SECTIONS)
def test_the_config_loader_gives_a_config_or_config_error(data: dict[str, Any]) -> None:
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):
        assume(False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.toml"
        path.write_text(text, encoding="utf-8")
        try:
            config = load_config(path, environ={})
        except ConfigError as exc:
            assert exc.problems and all(line.startswith(str(path)) for line in exc.problems)
            return
    assert isinstance(config, Config)


# ------------------------------------------------------------------ report writers

JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
              st.sampled_from(["<script>", "|`*_[bold]", "\x1b[31m", "\ud800", "1006", "critical"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(
                                ["name", "url", "p50", "score", "status", "errors", "1006", "rule"])), inner,
                                max_size=4)),
    max_leaves=25)
REPORT_KEYS = ["generated_at", "window", "deployment", "session", "health", "targets", "resources", "alerts",
               "rollbacks", "notifications", "sessions", "rollout", "stats"]
TARGET_KEYS = ["name", "url", "probes", "success_rate", "error_rate", "handshake_ms", "rtt_ms", "errors",
               "close_codes", "http_statuses", "metrics"]
REPORTS = st.fixed_dictionaries({}, optional={
    **{k: JSONISH for k in REPORT_KEYS},
    "targets": st.one_of(JSONISH, st.lists(
        st.fixed_dictionaries({}, optional={k: JSONISH for k in TARGET_KEYS}), max_size=3)),
    "health": st.one_of(JSONISH, st.fixed_dictionaries({}, optional={"score": JSONISH, "status": JSONISH})),
    "alerts": st.one_of(JSONISH, st.lists(st.dictionaries(st.sampled_from(
        ["id", "rule", "severity", "state", "started_at", "resolved_at", "acknowledged_by", "target"]),
        JSONISH), max_size=3)),
})


@SLOWER
@given(REPORTS)
def test_report_writers_render_any_report_dict(data: dict[str, Any]) -> None:
    md = render(data, "md")
    html = render(data, "html")
    js = render(data, "json")
    assert isinstance(md, str) and isinstance(html, str)
    parsed = json.loads(js)
    assert isinstance(parsed, dict) and "targets" in parsed
    assert "<script>" not in html.split("</style>", 1)[-1]
    assert "\x1b" not in md and "\x1b" not in html and "\x1b" not in js
    md.encode("utf-8")  # no lone surrogates left
    html.encode("utf-8")
