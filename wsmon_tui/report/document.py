"""The report's facts laid out once, as plain text in sections and tables.

``build(data)`` turns the report dict (docs/report.md) into a ``Document``; the
Markdown and HTML writers only serialise it, escaping every string on the way out.
Both formats therefore carry the same facts, and escaping happens in exactly one
place per format. Strings in a ``Document`` are raw (possibly hostile) text.

The builder is forgiving: missing keys, ``None`` and values of the wrong type show
as "—" rather than raising, because a report is most needed when things are broken.
Numbers are formatted by ``wsmon_tui.fmt``, the convention the TUI and the live table
share: measures compact ("15.2k"), exact counts (probes, errors, attempts) in full.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wsmon_tui.fmt import MISSING as DASH
from wsmon_tui.fmt import as_number, count, duration, exact_count, ms, num, pct, percent, rate
from wsmon_tui.redact import redact_url

from .sanitize import clip

NONE_IN_WINDOW = "None in this window."

#: Top-level keys of the report, in the order docs/report.md lists them.
REQUIRED_KEYS: tuple[str, ...] = (
    "generated_at", "window", "deployment", "session", "health", "targets",
    "resources", "alerts", "rollbacks", "notifications",
)
OPTIONAL_KEYS: tuple[str, ...] = ("sessions", "rollout", "stats")

#: Close codes that are normal while servers roll (same set as ``model.BENIGN_CLOSE_CODES``;
#: kept here so rendering a stored report needs nothing but this package).
BENIGN_CLOSE_CODES = frozenset({1000, 1001, 1012})
_BENIGN_KEYS = frozenset(str(code) for code in BENIGN_CLOSE_CODES)

CLOSE_CODE_MEANINGS: dict[str, str] = {
    "1000": "normal closure",
    "1001": "going away",
    "1002": "protocol error",
    "1003": "unsupported data",
    "1005": "no status",
    "1006": "abnormal closure (no close frame)",
    "1007": "invalid payload",
    "1008": "policy violation",
    "1009": "message too big",
    "1010": "missing extension",
    "1011": "server error",
    "1012": "service restart",
    "1013": "try again later",
    "1014": "bad gateway",
    "1015": "TLS handshake failure",
}

#: Fields shown in the per-target tables; the rest of ``metrics`` goes to "Other metrics".
_SHOWN_METRICS = ("connections", "messages_per_s", "queue_depth", "adoption",
                  "server_error_rate", "server_latency_ms")
_DETAIL_LIMIT = 300


# ---------------------------------------------------------------- document model


@dataclass(frozen=True, slots=True)
class Cell:
    """One table cell: raw text, plus a style hint the HTML writer maps to a class."""

    text: str
    style: str = ""
    """"" | "num" | "status-<name>" | "sev-<name>" | "ok" | "bad" | "muted" | "code"."""


@dataclass(slots=True)
class Table:
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    numeric: frozenset[int] = frozenset()
    """Indexes of right-aligned columns."""
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Para:
    text: str
    style: str = ""
    """"" | "muted" | "note" | "subhead"."""


Block = Table | Para


@dataclass(slots=True)
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2


@dataclass(slots=True)
class Document:
    title: str
    facts: list[tuple[str, str]]
    """Label/value lines under the title (window, session, ...)."""
    status: str
    score: str
    sections: list[Section]


# ---------------------------------------------------------------- formatting


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def text(value: Any) -> str:
    """Any value as display text; ``None`` as a dash. Not escaped: the writers do that."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return num(value)
    return str(value)


def fmt_metric(name: str, value: Any) -> str:
    """A value by its canonical name's unit: *_rate and adoption are shares, *_ms ms, ..."""
    if name.endswith(("_rate", "utilisation", "utilization")) or name == "adoption":
        return pct(value)
    if name.endswith("_percent"):
        return percent(value)
    if name.endswith("_ms"):
        return ms(value, unit=False)
    if name.endswith("_mb"):
        shown = num(value)
        return shown if shown == DASH else f"{shown} MB"
    if name.endswith("per_s"):
        return rate(value, unit=False)
    if name.endswith("_s"):
        return duration(value)
    if name.endswith("probes"):
        return exact_count(value)
    if name.endswith(("_fds", "threads", "connections", "queue_depth")):
        return count(value)
    return num(value)


def _num(value: str) -> Cell:
    return Cell(value, "num")


def _status_cell(value: Any, prefix: str) -> Cell:
    raw = text(value)
    return Cell(raw, f"{prefix}-{raw.lower()}" if raw != DASH else "muted")


def _last_error(value: Any) -> Any:
    """A target's last error as people read it: ``class: detail`` (the JSON keeps the fields)."""
    if isinstance(value, Mapping):
        return f"{value.get('error_class') or 'error'}: {value.get('detail') or ''}".rstrip(": ")
    return value


def _detail(value: Any) -> Cell:
    if value is None or value == "":
        return Cell(DASH, "muted")
    return Cell(clip(text(value), _DETAIL_LIMIT))


def _sorted_counts(counts: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Largest first, then by name: the worst offender leads."""
    def key(item: tuple[str, Any]) -> tuple[float, str]:
        num = as_number(item[1])
        return (-(num if num is not None and math.isfinite(num) else 0.0), str(item[0]))
    return sorted(counts.items(), key=key)


# ---------------------------------------------------------------- sections


def _facts(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    window = as_map(data.get("window"))
    deployment = as_map(data.get("deployment"))
    session = as_map(data.get("session"))
    facts = [("Window", f"{text(window.get('start'))} → {text(window.get('end'))}")]
    version = text(deployment.get("version"))
    previous = deployment.get("previous_version")
    if previous:
        version = f"{version} (previous: {text(previous)})"
    facts.append(("Version", version))
    if deployment.get("rollout_percent") is not None:
        facts.append(("Rollout", percent(deployment.get("rollout_percent"))))
    if session:
        facts.append(("Session", f"{text(session.get('id'))} · level {text(session.get('level'))}"
                      f" · every {duration(session.get('interval'))}"))
        facts.append(("Session time", f"{text(session.get('started_at'))} → "
                      f"{text(session.get('ended_at'))} (ended by {text(session.get('ended_by'))})"))
        facts.append(("Host", f"{text(session.get('host'))} · user {text(session.get('user'))}"))
        if session.get("replay"):
            facts.append(("Replay", text(session.get("replay"))))
    facts.append(("Generated", text(data.get("generated_at"))))
    return facts


def _targets_section(targets: list[Any]) -> Section:
    section = Section("Targets")
    if not targets:
        section.blocks.append(Para(NONE_IN_WINDOW, "muted"))
        return section
    probes = Table(["Target", "Probes", "Success", "Error rate", "Handshake p50 ms", "p95 ms", "p99 ms",
                    "RTT p95 ms", "Connections", "Msg/s", "Queue depth", "Adoption"],
                   numeric=frozenset(range(1, 12)))
    server = Table(["Target", "URL", "Server errors", "Server p95 ms", "Scrape errors", "Other metrics",
                    "Last error"], numeric=frozenset({2, 3, 4}))
    for raw in targets:
        t = as_map(raw)
        hs, rtt, metrics = as_map(t.get("handshake_ms")), as_map(t.get("rtt_ms")), as_map(t.get("metrics"))
        name = Cell(text(t.get("name")))
        probes.rows.append([
            name, _num(exact_count(t.get("probes"))), _num(pct(t.get("success_rate"))),
            _num(pct(t.get("error_rate"))), _num(ms(hs.get("p50"), unit=False)),
            _num(ms(hs.get("p95"), unit=False)), _num(ms(hs.get("p99"), unit=False)),
            _num(ms(rtt.get("p95"), unit=False)),
            _num(count(metrics.get("connections"))), _num(rate(metrics.get("messages_per_s"), unit=False)),
            _num(count(metrics.get("queue_depth"))), _num(pct(metrics.get("adoption"))),
        ])
        extra = sorted((str(k), v) for k, v in metrics.items() if k not in _SHOWN_METRICS)
        other = "; ".join(f"{k} {fmt_metric(k, v)}" for k, v in extra)
        url = t.get("url")
        server.rows.append([
            name, Cell(redact_url(url) if isinstance(url, str) else text(url), "code"),
            _num(pct(metrics.get("server_error_rate"))),
            _num(ms(metrics.get("server_latency_ms"), unit=False)),
            _num(exact_count(t.get("scrape_errors"))), _detail(other or None),
            _detail(_last_error(t.get("last_error"))),
        ])
    section.blocks += [probes, Para("Endpoints and server metrics", "subhead"), server]
    return section


def _errors_section(targets: list[Any]) -> Section:
    section = Section("Errors")
    classes = Table(["Target", "Class", "Count"], numeric=frozenset({2}))
    closes = Table(["Target", "Close code", "Meaning", "Count"], numeric=frozenset({3}))
    statuses = Table(["Target", "HTTP status", "Count"], numeric=frozenset({2}))
    drops = Table(["Target", "Close code", "Meaning", "Count"], numeric=frozenset({3}))
    for raw in targets:
        t = as_map(raw)
        name = Cell(text(t.get("name")))
        for code, n in _sorted_counts(as_map(t.get("hold_drops"))):
            key = str(code)
            benign = key in _BENIGN_KEYS
            meaning = CLOSE_CODE_MEANINGS.get(key, "")
            if benign:
                meaning = f"{meaning} — normal during a rolling deploy"
            drops.rows.append([name, Cell(key, "code"), Cell(meaning or DASH, "muted" if benign else ""),
                               _num(exact_count(n))])
        for cls, n in _sorted_counts(as_map(t.get("errors"))):
            classes.rows.append([name, Cell(text(cls), "code"), _num(exact_count(n))])
        for code, n in _sorted_counts(as_map(t.get("close_codes"))):
            key = str(code)
            meaning = CLOSE_CODE_MEANINGS.get(key, "")
            benign = key in _BENIGN_KEYS
            if benign:
                meaning = f"{meaning} — normal during a rolling deploy"
            closes.rows.append([name, Cell(key, "code"), Cell(meaning or DASH, "muted" if benign else ""),
                                _num(exact_count(n))])
        for status, n in _sorted_counts(as_map(t.get("http_statuses"))):
            statuses.rows.append([name, Cell(str(status), "code"), _num(exact_count(n))])
    for title, table, note in (
        ("By class", classes, ""),
        ("Close codes", closes, "1001 (going away) and 1012 (service restart) are normal while servers "
                                "roll; 1006 (no close frame) and 1011 (server error) are not."),
        ("HTTP statuses (upgrade rejected)", statuses, ""),
    ):
        section.blocks.append(Para(title, "subhead"))
        if table.rows:
            if note:
                section.blocks.append(Para(note, "note"))
            section.blocks.append(table)
        else:
            section.blocks.append(Para(NONE_IN_WINDOW, "muted"))
    if any(as_map(raw).get("hold_drops") is not None for raw in targets):  # some target holds one
        section.blocks.append(Para("Held connections dropped", "subhead"))
        if drops.rows:
            section.blocks += [Para("Disconnects of each target's held connection (hold = true) by close "
                                    "code, over the session; 1006: dropped without a close frame (e.g. "
                                    "nginx -s reload).", "note"), drops]
        else:
            section.blocks.append(Para("No held connection dropped.", "muted"))
    return section


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]], depth: int = 0) -> None:
    if isinstance(value, Mapping) and depth < 4:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out, depth + 1)
    else:
        out.append((prefix, value))


_STAT_ORDER = ("min", "avg", "mean", "p50", "p95", "max", "last")


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float)


def _resources_section(resources: Mapping[str, Any]) -> Section:
    """Measures with statistics ({"avg", "max", "last"}) in one table, single values in another."""
    section = Section("Resources")
    stats: dict[str, Mapping[str, Any]] = {}
    singles: list[tuple[str, Any]] = []
    for key, value in resources.items():
        name = str(key)
        if isinstance(value, Mapping) and value and all(_is_scalar(v) for v in value.values()) \
                and any(str(k) in _STAT_ORDER for k in value):
            stats[name] = value
        else:
            _flatten(name, value, singles)
    if not stats and not singles:
        section.blocks.append(Para(NONE_IN_WINDOW, "muted"))
        return section
    if stats:
        seen = {str(k) for v in stats.values() for k in v}
        columns = [k for k in _STAT_ORDER if k in seen] + sorted(seen - set(_STAT_ORDER))
        table = Table(["Measure", *(c.capitalize() for c in columns)],
                      numeric=frozenset(range(1, len(columns) + 1)))
        for name, value in stats.items():
            by_key = {str(k): v for k, v in value.items()}
            table.rows.append([Cell(name, "code"), *(_num(fmt_metric(name, by_key.get(c))) for c in columns)])
        section.blocks.append(table)
    if singles:
        table = Table(["Measure", "Value"], numeric=frozenset({1}))
        for name, value in singles:
            # Units follow the measure's own name ("process.rss_mb" is in MB).
            unit_name = name.rsplit(".", 1)[-1]
            if isinstance(value, str) or unit_name.endswith("error"):
                table.rows.append([Cell(name, "code"), _detail(value)])
            else:
                table.rows.append([Cell(name, "code"), _num(fmt_metric(unit_name, value))])
        section.blocks.append(table)
    return section


def _alerts_section(alerts: list[Any], stats: Mapping[str, Any]) -> Section:
    section = Section("Alerts")
    if stats or alerts:
        section.blocks.append(Para(f"MTTA (time to acknowledge): {duration(stats.get('mtta_s'))} · "
                                   f"MTTR (time to resolve): {duration(stats.get('mttr_s'))}"))
    if not alerts:
        section.blocks.append(Para(NONE_IN_WINDOW, "muted"))
        return section
    table = Table(["ID", "Rule", "Target", "Severity", "State", "Started", "Resolved", "Acknowledged by",
                   "Value", "Threshold", "Summary"], numeric=frozenset({8, 9}))
    for raw in alerts:
        a = as_map(raw)
        table.rows.append([
            Cell(text(a.get("id")), "code"), Cell(text(a.get("rule"))), Cell(text(a.get("target"))),
            _status_cell(a.get("severity"), "sev"), _status_cell(a.get("state"), "state"),
            Cell(text(a.get("started_at"))), Cell(text(a.get("resolved_at"))),
            Cell(text(a.get("acknowledged_by"))),
            _num(num(a.get("value"), 2)), _num(num(a.get("threshold"), 2)), _detail(a.get("summary")),
        ])
    section.blocks.append(table)
    return section


def _rollbacks_section(rollbacks: list[Any]) -> Section:
    section = Section("Rollbacks")
    if not rollbacks:
        section.blocks.append(Para(NONE_IN_WINDOW, "muted"))
        return section
    table = Table(["ID", "Trigger", "Reason", "Started", "Finished", "Outcome"])
    steps = Table(["Rollback", "Step", "Type", "Name", "OK", "Duration ms", "Detail"],
                  numeric=frozenset({1, 5}))
    for raw in rollbacks:
        r = as_map(raw)
        rid = Cell(text(r.get("id")), "code")
        table.rows.append([rid, Cell(text(r.get("trigger"))), _detail(r.get("reason")),
                           Cell(text(r.get("started_at"))), Cell(text(r.get("finished_at"))),
                           _status_cell(r.get("outcome"), "outcome")])
        for i, raw_step in enumerate(as_list(r.get("steps")), start=1):
            s = as_map(raw_step)
            ok = s.get("ok")
            steps.rows.append([rid, _num(str(i)), Cell(text(s.get("type"))), Cell(text(s.get("name"))),
                               Cell("✓ yes" if ok is True else "✗ no" if ok is False else DASH,
                                    "ok" if ok is True else "bad" if ok is False else "muted"),
                               _num(ms(s.get("duration_ms"), unit=False)), _detail(s.get("detail"))])
    section.blocks.append(table)
    if steps.rows:
        section.blocks += [Para("Steps", "subhead"), steps]
    return section


def _notifications_section(notifications: list[Any]) -> Section:
    section = Section("Notifications")
    if not notifications:
        section.blocks.append(Para(NONE_IN_WINDOW, "muted"))
        return section
    table = Table(["Alert", "Channel", "Status", "Attempts", "Sent", "Last error"], numeric=frozenset({3}))
    for raw in notifications:
        n = as_map(raw)
        table.rows.append([Cell(text(n.get("alert_id")), "code"), Cell(text(n.get("channel"))),
                           _status_cell(n.get("status"), "delivery"), _num(exact_count(n.get("attempts"))),
                           Cell(text(n.get("sent_at"))), _detail(n.get("last_error"))])
    section.blocks.append(table)
    return section


def _rollout_section(rollout: list[Any]) -> Section:
    section = Section("Rollout")
    if not rollout:
        section.blocks.append(Para(NONE_IN_WINDOW, "muted"))
        return section
    table = Table(["At", "Rollout", "Adoption"], numeric=frozenset({1, 2}))
    for raw in rollout:
        p = as_map(raw)
        table.rows.append([Cell(text(p.get("at"))), _num(percent(p.get("rollout_percent"))),
                           _num(pct(p.get("adoption")))])
    section.blocks.append(table)
    return section


def _sessions_section(sessions: list[Any]) -> Section:
    section = Section("Sessions")
    table = Table(["ID", "Started", "Ended", "Ended by", "Level", "Host", "User"])
    for raw in sessions:
        s = as_map(raw)
        table.rows.append([Cell(text(s.get(k)), "code" if k == "id" else "")
                           for k in ("id", "started_at", "ended_at", "ended_by", "level", "host", "user")])
    section.blocks.append(table)
    return section


def _score(value: Any) -> str:
    """The health score (0-100) as the TUI and the live table show it: a whole number."""
    num_value = as_number(value)
    return DASH if num_value is None or not math.isfinite(num_value) else num(num_value, 0)


def build(data: Mapping[str, Any]) -> Document:
    """The report dict as a ``Document`` (see the module docstring)."""
    data = as_map(data)
    deployment = as_map(data.get("deployment"))
    health = as_map(data.get("health"))
    targets = as_list(data.get("targets"))
    title = f"wsmon-tui report — {text(deployment.get('name'))} {text(deployment.get('version'))}"
    score = health.get("score")
    sections = [
        _targets_section(targets),
        _errors_section(targets),
        _resources_section(as_map(data.get("resources"))),
        _alerts_section(as_list(data.get("alerts")), as_map(data.get("stats"))),
        _rollbacks_section(as_list(data.get("rollbacks"))),
        _notifications_section(as_list(data.get("notifications"))),
        _rollout_section(as_list(data.get("rollout"))),
    ]
    if as_list(data.get("sessions")):
        sections.append(_sessions_section(as_list(data.get("sessions"))))
    status = health.get("status")
    return Document(
        title=title,
        facts=_facts(data),
        status=text(status) if status else "unknown",
        score=_score(score),
        sections=sections,
    )
