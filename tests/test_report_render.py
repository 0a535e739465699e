"""Report writers: Markdown, JSON and HTML from the report dict (docs/report.md), with hostile text."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsmon_tui.redact import redact_url
from wsmon_tui.report import format_for_path, render, write
from wsmon_tui.report.document import REQUIRED_KEYS
from wsmon_tui.report.sanitize import html_text, md_cell, strip_control

FORMATS = ("md", "json", "html")

HOSTILE = [
    "| pipe",
    "`tick` ``double``",
    "<script>alert(1)</script>",
    "[bold]",
    "[/foo]",
    "\x1b[31mred\x1b[0m",
    "bell\x07",
    "bad \ud800 surrogate \udfff",
    "**star** _under_ ~strike~",
    "# heading",
    "line\nbreak\r\nand\ttab",
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\",
    "<img src=x onerror=alert(1)>",
    "\u202eevil",
]


def full_report(s: Callable[[str], str] = lambda x: x, nan: float = 0.5) -> dict[str, Any]:
    """A realistic report dict; ``s`` maps each untrusted string (so tests can make them hostile)."""
    return {
        "generated_at": "2026-11-27T21:00:00+00:00",
        "window": {"start": "2026-11-27T17:00:00+00:00", "end": "2026-11-27T21:00:00+00:00"},
        "deployment": {"name": s("chat-gateway"), "version": s("v2.4.1"), "previous_version": s("v2.4.0"),
                       "rollout_percent": 25.0},
        "session": {"id": s("s-20261127-1700"), "started_at": "2026-11-27T17:00:00+00:00",
                    "ended_at": None, "ended_by": s("signal"), "level": "standard", "host": s("bastion-1"),
                    "user": s("oncall"), "interval": 30.0},
        "health": {"score": 72.45, "status": "degraded"},
        "targets": [
            {"name": s("eu-west"), "url": s("wss://ws.example.test/chat?token=hunter2"), "probes": 480,
             "success_rate": 0.9875, "error_rate": 0.0125,
             "handshake_ms": {"p50": 41.234, "p95": 120.0, "p99": 2450.7},
             "rtt_ms": {"p50": 3.2, "p95": 9.87, "p99": None},
             "errors": {"timeout": 4, s("closed"): 2},
             "close_codes": {"1006": 2, "1001": 7, s("1012"): 1},
             "http_statuses": {"503": 3},
             "metrics": {"connections": 15234.0, "messages_per_s": 812.3, "server_error_rate": 0.004,
                         "queue_depth": 12.0, "adoption": 0.93, "server_latency_ms": 35.5,
                         "connection_utilisation": nan, s("imbalance"): 1.4},
             "scrape_errors": 1, "last_error": s("upgrade rejected: 503 Service Unavailable")},
            {"name": s("us-east"), "url": s("ws://127.0.0.1:8765/ws"), "probes": 0, "success_rate": None,
             "error_rate": None, "handshake_ms": {"p50": None, "p95": None, "p99": None},
             "rtt_ms": {"p50": None, "p95": None, "p99": None}, "errors": {}, "close_codes": {},
             "http_statuses": {}, "metrics": {}, "scrape_errors": 0, "last_error": None},
        ],
        "resources": {"cpu_percent": {"avg": 35.2, "max": 91.0}, "memory_percent": 61.3, "load1": 1.7,
                      "tcp_connections": 812, "process": {"rss_mb": 512.4, "open_fds": 301},
                      "error": s("")},
        "alerts": [
            {"id": s("a1b2c3"), "rule": s("high_error_rate"), "target": s("eu-west"), "severity": "critical",
             "state": "resolved", "started_at": "2026-11-27T18:00:00+00:00",
             "resolved_at": "2026-11-27T18:12:30+00:00", "acknowledged_by": s("alice"), "value": 0.21,
             "threshold": 0.15, "summary": s("error rate 21% on eu-west")},
            {"id": s("d4e5f6"), "rule": s("handshake_p95"), "target": s("us-east"), "severity": "warning",
             "state": "firing", "started_at": "2026-11-27T20:50:00+00:00", "resolved_at": None,
             "acknowledged_by": None, "value": nan, "threshold": 1000, "summary": s("slow handshakes")},
        ],
        "rollbacks": [
            {"id": 1, "trigger": s("auto"), "reason": s("rule high_error_rate critical for 60s"),
             "started_at": "2026-11-27T18:01:00+00:00", "finished_at": "2026-11-27T18:03:10+00:00",
             "outcome": "verified",
             "steps": [{"type": "flag", "name": s("ws_v2"), "ok": True, "duration_ms": 12.5,
                        "detail": s("rollout 25 -> 0")},
                       {"type": "http", "name": s("drain"), "ok": False, "duration_ms": 3001.0,
                        "detail": s("HTTP 502 from deploy API")}]},
        ],
        "notifications": [
            {"alert_id": s("a1b2c3"), "channel": s("slack"), "status": "sent", "attempts": 1,
             "last_error": None, "sent_at": "2026-11-27T18:00:05+00:00"},
            {"alert_id": s("a1b2c3"), "channel": s("email"), "status": "failed", "attempts": 5,
             "last_error": s("SMTP 550 mailbox unavailable"), "sent_at": None},
        ],
        "sessions": [{"id": s("s-20261127-1700"), "started_at": "2026-11-27T17:00:00+00:00",
                      "ended_at": None, "ended_by": None, "level": "standard", "host": s("bastion-1"),
                      "user": s("oncall"), "interval": 30.0}],
        "rollout": [{"at": "2026-11-27T17:00:00+00:00", "rollout_percent": 10.0, "adoption": 0.95},
                    {"at": "2026-11-27T18:00:00+00:00", "rollout_percent": 25.0, "adoption": nan}],
        "stats": {"mtta_s": 95.0, "mttr_s": 750.0},
    }


def empty_report() -> dict[str, Any]:
    return {
        "generated_at": "2026-11-27T21:00:00+00:00",
        "window": {"start": "2026-11-27T20:00:00+00:00", "end": "2026-11-27T21:00:00+00:00"},
        "deployment": {"name": "svc", "version": "", "previous_version": None},
        "session": {}, "health": {"score": None, "status": "unknown"}, "targets": [], "resources": {},
        "alerts": [], "rollbacks": [], "notifications": [],
    }


# ---------------------------------------------------------------- helpers


def md_table_rows(md: str) -> list[list[str]]:
    """Each Markdown table (a run of lines starting with "|") as its lines."""
    tables: list[list[str]] = []
    current: list[str] = []
    for line in md.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def unescaped_pipes(line: str) -> int:
    """Cell separators as GFM counts them: a backslash escapes the next character."""
    count, i = 0, 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == "|":
            count += 1
        i += 1
    return count


def assert_md_tables_well_formed(md: str) -> None:
    tables = md_table_rows(md)
    for table in tables:
        expected = unescaped_pipes(table[0])
        assert expected >= 2
        assert re.fullmatch(r"\|( ---:? \|)+", table[1]), table[1]
        for row in table:
            assert unescaped_pipes(row) == expected, row


def assert_no_controls(out: str) -> None:
    bad = [c for c in out if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0]
    assert not bad, bad[:5]
    out.encode("utf-8")  # no lone surrogates


_ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "span", "dl", "dt",
                 "dd", "section", "div", "table", "thead", "tbody", "tr", "th", "td", "footer"}
_ALLOWED_ATTRS = {"class", "lang", "charset", "http-equiv", "content", "name"}
_VOID = {"meta"}


class _TagAudit(HTMLParser):
    """Every tag and attribute the page really has, and whether they nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.attrs: set[str] = set()
        self.classes: set[str] = set()
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attrs.add(name)
            if name == "class":
                self.classes.update((value or "").split())
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def assert_html_structure(page: str) -> None:
    """No tag or attribute that the writer itself does not emit: hostile text stayed text."""
    audit = _TagAudit()
    audit.feed(page)
    audit.close()
    assert audit.tags <= _ALLOWED_TAGS, audit.tags - _ALLOWED_TAGS
    assert audit.attrs <= _ALLOWED_ATTRS, audit.attrs - _ALLOWED_ATTRS
    assert all(re.fullmatch(r"[a-z][a-z0-9_-]*", c) for c in audit.classes), audit.classes
    assert not audit.errors and not audit.stack, (audit.errors, audit.stack)


# ---------------------------------------------------------------- format selection


@pytest.mark.parametrize(("name", "fmt"), [("r.md", "md"), ("R.MARKDOWN", "md"), ("x/y.json", "json"),
                                           ("a.html", "html"), ("a.HTM", "html")])
def test_format_for_path(name: str, fmt: str) -> None:
    assert format_for_path(name) == fmt
    assert format_for_path(Path(name)) == fmt


@pytest.mark.parametrize("name", ["report.txt", "report", "report.md.bak"])
def test_format_for_path_rejects_unknown_suffix(name: str) -> None:
    with pytest.raises(ValueError, match=r"\.md, \.json or \.html"):
        format_for_path(name)


def test_render_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="md, json or html"):
        render(empty_report(), "pdf")


def test_write_picks_format_by_suffix(tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    for name in ("r.md", "r.json", "r.html"):
        assert write(tmp_path / name, full_report()) == name.split(".")[1]
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["health"]["status"] == "degraded"
    assert (tmp_path / "r.md").read_text(encoding="utf-8").startswith("# wsmon-tui report")
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.json", "r.md"]  # no temp files left
    with pytest.raises(ValueError):
        write(tmp_path / "r.txt", full_report())
    assert not (tmp_path / "r.txt").exists()


# ---------------------------------------------------------------- JSON


def test_json_full_round_trips_with_every_key() -> None:
    out = render(full_report(nan=math.nan), "json")
    data = json.loads(out)
    assert list(data)[: len(REQUIRED_KEYS)] == list(REQUIRED_KEYS)
    assert {"sessions", "rollout", "stats"} <= set(data)
    assert data["targets"][0]["metrics"]["connection_utilisation"] is None
    assert data["alerts"][1]["value"] is None
    assert data["rollout"][1]["adoption"] is None
    assert data["targets"][0]["handshake_ms"] == {"p50": 41.234, "p95": 120.0, "p99": 2450.7}
    assert data["targets"][0]["close_codes"] == {"1001": 7, "1006": 2, "1012": 1}
    assert data["health"] == {"score": 72.45, "status": "degraded"}
    assert "NaN" not in out and "Infinity" not in out


def test_json_infinities_become_null_and_keys_are_stable() -> None:
    report = full_report(nan=math.inf)
    report["health"]["score"] = -math.inf
    report["targets"][0]["metrics"] = {"b": 1, "a": math.nan, 1006: 2}
    data = json.loads(render(report, "json"))
    assert data["health"]["score"] is None
    assert data["targets"][0]["metrics"] == {"1006": 2, "a": None, "b": 1}
    assert render(report | {"targets": [{"name": "t", "probes": 10**400}]}, "md").count("| t |") == 2
    assert list(data["targets"][0]["metrics"]) == ["1006", "a", "b"]
    shuffled = dict(reversed(list(report.items())))
    assert render(shuffled, "json") == render(report, "json")


def test_json_empty_report_has_every_key() -> None:
    for report in (empty_report(), {}):
        data = json.loads(render(report, "json"))
        assert set(REQUIRED_KEYS) <= set(data)
        assert data["targets"] == [] and data["alerts"] == []


# ---------------------------------------------------------------- Markdown and HTML content


def test_markdown_carries_the_facts() -> None:
    md = render(full_report(), "md")
    assert md.startswith("# wsmon-tui report — chat-gateway v2.4.1\n")
    assert "🟡 DEGRADED** · score 72 / 100" in md
    assert "2026-11-27T17:00:00+00:00 → 2026-11-27T21:00:00+00:00" in md
    assert "| eu-west | 480 | 98.8% | 1.2% | 41.2 | 120.0 | 2450.7 | 9.9 | 15.2k | 812.3 | 12 | 93.0% |" in md
    assert "| us-east | 0 | — | — | — | — | — | — | — | — | — | — |" in md
    assert "token=\\*\\*\\*" in md and "hunter2" not in md
    assert "normal during a rolling deploy" in md
    assert "MTTA (time to acknowledge): 1m 35s" in md and "12m 30s" in md
    assert "✗ no" in md and "✓ yes" in md
    assert "| cpu\\_percent | 35% | 91% |" in md and "| process.rss\\_mb | 512.4 MB |" in md
    for title in ("Targets", "Errors", "Resources", "Alerts", "Rollbacks", "Notifications", "Rollout",
                  "Sessions"):
        assert f"\n## {title}\n" in md
    assert "None in this window." not in md.split("## Targets")[1].split("## Resources")[0]
    assert_md_tables_well_formed(md)


def test_markdown_empty_report_says_none() -> None:
    md = render(empty_report(), "md")
    for title in ("Targets", "Resources", "Alerts", "Rollbacks", "Notifications", "Rollout"):
        body = md.split(f"\n## {title}\n")[1].split("\n## ")[0]
        assert "*None in this window.*" in body, title
    assert "⚪ UNKNOWN** · score — / 100" in md
    assert_md_tables_well_formed(md)


def test_html_is_self_contained_and_carries_the_facts() -> None:
    page = render(full_report(), "html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", page), "no external resources"
    assert "prefers-color-scheme: dark" in page
    assert 'class="badge status-degraded"' in page
    assert '<td class="sev-critical">critical</td>' in page
    assert '<td class="bad">✗ no</td>' in page
    assert "15.2k" in page and "98.8%" in page and "hunter2" not in page
    for title in ("Targets", "Errors", "Resources", "Alerts", "Rollbacks", "Notifications", "Rollout"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("<table>") == page.count("</table>") >= 8
    assert_html_structure(page)


def test_html_empty_report() -> None:
    page = render(empty_report(), "html")
    assert page.count("None in this window.") >= 8
    assert "<table>" not in page
    assert_html_structure(page)


# ---------------------------------------------------------------- hostile text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_never_raw(hostile: str) -> None:
    report = full_report(lambda x: f"{x} {hostile}")
    outputs = {fmt: render(report, fmt) for fmt in FORMATS}
    for fmt, out in outputs.items():
        assert_no_controls(out)
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, fmt
    md, page = outputs["md"], outputs["html"]
    assert_md_tables_well_formed(md)
    for raw in ("<script", "<img", "[bold]", "[/foo]", "`tick`", "``double``", "**star**", "_under_",
                "~strike~"):
        assert raw not in md, raw
    for raw in ("<script", "<img", "[bold]", "[/foo]"):
        assert raw not in page, raw
    assert_html_structure(page)
    assert "<" not in md, "the Markdown writer emits no HTML, so any '<' came from data"
    assert "<" not in outputs["json"]
    data = json.loads(outputs["json"])
    assert data["deployment"]["name"] == strip_control(f"chat-gateway {hostile}", keep_newlines=True)


def test_hostile_strings_in_keys_and_statuses() -> None:
    bad = "<b>|`x`\x1b[2J[bold]"
    report = full_report()
    report["health"]["status"] = bad
    report["alerts"][0]["state"] = bad
    report["alerts"][0]["severity"] = 'x" onmouseover="alert(1)'
    report["targets"][0]["errors"] = {bad: 3}
    report["targets"][0]["http_statuses"] = {bad: 1}
    report["resources"] = {bad: {bad: 1.0}}
    for fmt in FORMATS:
        out = render(report, fmt)
        assert_no_controls(out)
        assert "<b>" not in out.replace('"<b>', "") or fmt == "json"
    page = render(report, "html")
    assert "onmouseover=" not in page.replace("onmouseover=&quot;", "")
    assert_html_structure(page)
    assert_md_tables_well_formed(render(report, "md"))


def test_sanitize_functions() -> None:
    assert strip_control("a\x1b[1;31mb\x1b[0mc\x07d\x9b2Je\tf\ng") == "abcde f g"
    assert strip_control("x\r\ny\rz", keep_newlines=True) == "x\ny\nz"
    assert strip_control("a\ud83db") == "a\ufffdb"
    assert md_cell("| a `b` *c* _d_ [e](f) <i> #") == r"\| a \`b\` \*c\* \_d\_ \[e\](f) &lt;i> #"
    assert md_cell("# title") == r"\# title" and md_cell("> quote") == r"\> quote"
    assert md_cell("1. item") == r"1\. item"
    assert md_cell("72.5") == "72.5" and md_cell("-5") == "-5" and md_cell("- x") == r"\- x"
    assert md_cell(None) == "—"
    assert html_text("<a href='x'>[b]</a>") == "&lt;a href=&#x27;x&#x27;&gt;&#91;b&#93;&lt;/a&gt;"
    assert redact_url("wss://bob:pw@h:443/p?api_key=k&room=1") == "wss://bob:***@h:443/p?api_key=***&room=1"
    assert redact_url("ws://127.0.0.1:8765/ws") == "ws://127.0.0.1:8765/ws"


# ---------------------------------------------------------------- properties

_ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ANY_TEXT, min_size=1, max_size=8))
def test_any_text_in_every_string_field_renders(texts: list[str]) -> None:
    counter = iter(range(10**6))

    def pick(_: str) -> str:
        return texts[next(counter) % len(texts)]

    report = full_report(pick)
    for fmt in FORMATS:
        out = render(report, fmt)
        assert isinstance(out, str)
        assert_no_controls(out)
        if fmt == "md":
            assert_md_tables_well_formed(out)
            assert "<" not in out
        if fmt == "json":
            data = json.loads(out)
            assert all(ord(c) >= 0x20 or c == "\n" for c in data["deployment"]["name"])
        if fmt == "html":
            assert_html_structure(out)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _ANY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_ANY_TEXT, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*REQUIRED_KEYS, "sessions", "rollout", "stats"]), _JSONISH))
def test_any_shape_renders_without_raising(report: dict[str, Any]) -> None:
    """Wrong types and missing keys show as dashes; they never crash the report."""
    for fmt in FORMATS:
        out = render(report, fmt)
        assert_no_controls(out)
    assert_md_tables_well_formed(render(report, "md"))
    assert_html_structure(render(report, "html"))
    assert set(REQUIRED_KEYS) <= set(json.loads(render(report, "json")))
