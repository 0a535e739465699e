"""Build the report dict (DESIGN.md section 5) from stored history.

The writers in this package render the dict; this module only gathers it. Reports
read the store, so a report covers what happened even across restarts and crashes.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from wsmon_tui.config import Config
from wsmon_tui.model import Snapshot

SERVER_METRICS = ("connections", "messages_per_s", "server_error_rate", "queue_depth", "adoption",
                  "server_latency_ms", "connection_utilisation", "imbalance")
RESOURCE_METRICS = ("cpu_percent", "memory_percent", "load1", "tcp_connections", "process_cpu_percent",
                    "rss_mb", "open_fds", "threads", "process_connections")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _pcts(value: Any) -> dict[str, float | None]:
    if isinstance(value, dict):
        return {k: _finite(value.get(k)) for k in ("p50", "p95", "p99")}
    return {"p50": None, "p95": None, "p99": None}


def build_report(store: Any | None, config: Config, *, since: float, until: float | None = None,
                 session_id: str | None = None, snapshot: Snapshot | None = None) -> dict[str, Any]:
    """Gather the report for ``[since, until]`` (one session when ``session_id`` is given)."""
    until = until if until is not None else time.time()
    session: dict[str, Any] = {}
    sessions: list[dict[str, Any]] = []
    summary: dict[str, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    if store is not None:
        if session_id:
            session = store.session(session_id) or {}
        sessions = store.sessions(since=since)
        if not session and sessions:
            session = sessions[-1]
        summary = store.probe_summary(since=since, until=until, session_id=session_id)
        events = store.events(since=since, until=until)

    urls = {t.name: t.url for t in config.targets}
    for name, url in session.get("targets") or []:
        urls.setdefault(name, url)
    names = list(urls) + [n for n in summary if n not in urls]
    targets = []
    for name in names:
        row = summary.get(name, {})
        probes = int(row.get("probes") or 0)
        ok = int(row.get("ok") or 0)
        metrics = {m: _finite(_last(store, name, m, since, until)) for m in SERVER_METRICS}
        if snapshot is not None:
            live = next((t for t in snapshot.targets if t.name == name), None)
            if live is not None:
                metrics.update({k: _finite(v) for k, v in live.metrics.items() if v is not None})
        targets.append({
            "name": name,
            "url": urls.get(name, row.get("url", "")),
            "probes": probes,
            "success_rate": ok / probes if probes else None,
            "error_rate": (probes - ok) / probes if probes else None,
            "handshake_ms": _pcts(row.get("handshake_ms")),
            "rtt_ms": _pcts(row.get("rtt_ms")),
            "errors": dict(row.get("errors") or {}),
            "close_codes": {str(k): v for k, v in (row.get("close_codes") or {}).items()},
            "http_statuses": {str(k): v for k, v in (row.get("http_statuses") or {}).items()},
            "metrics": metrics,
            "last_error": row.get("last_error") or "",
        })

    resources: dict[str, Any] = {}
    for metric in RESOURCE_METRICS:
        points = store.samples("", metric, since, until) if store is not None else []
        if points:
            values = [v for _, v in points]
            resources[metric] = {"avg": sum(values) / len(values), "max": max(values), "last": values[-1]}

    if snapshot is not None:
        health = {"score": _finite(snapshot.health_score), "status": str(snapshot.status)}
    else:
        last = session.get("status") if session else None
        score = session.get("health_score") if session else None
        health = {"score": _finite(score), "status": last or "unknown"}

    alerts, notifications, rollbacks, rollout = _from_events(events)
    dep = config.deployment
    rollout_now = snapshot.deployment.rollout_percent if snapshot is not None else None
    # a config that names no deployment (report run without --config) takes the session's
    named = config.source is not None or snapshot is not None
    return {
        "generated_at": iso(time.time()),
        "window": {"start": iso(since), "end": iso(until)},
        "deployment": {"name": dep.name if named else session.get("deployment") or dep.name,
                       "version": dep.version if named else session.get("version") or dep.version,
                       "previous_version": dep.previous_version, "rollout_percent": rollout_now},
        "session": _session_fields(session),
        "health": health,
        "targets": targets,
        "resources": resources,
        "alerts": alerts,
        "rollbacks": rollbacks,
        "notifications": notifications,
        "rollout": rollout,
        "sessions": [_session_fields(s) for s in sessions],
        "stats": _alert_stats(alerts),
    }


def _last(store: Any | None, target: str, metric: str, since: float, until: float) -> float | None:
    if store is None:
        return None
    points = store.samples(target, metric, since, until)
    return points[-1][1] if points else None


def _session_fields(s: dict[str, Any]) -> dict[str, Any]:
    if not s:
        return {}
    return {
        "id": s.get("id"), "started_at": iso(s.get("started_at")), "ended_at": iso(s.get("ended_at")),
        "ended_by": s.get("ended_by"), "level": s.get("level"), "host": s.get("host"),
        "user": s.get("user"), "interval": s.get("interval"), "deployment": s.get("deployment"),
        "version": s.get("version"),
    }


def _from_events(events: list[dict[str, Any]]) -> tuple[list, list, list, list]:
    """Alerts, notifications, rollbacks and the rollout timeline from the event log.

    Later stages write events of kinds ``alert``, ``notification``, ``rollback`` and
    ``rollout``; the latest event per id wins.
    """
    alerts: dict[str, dict[str, Any]] = {}
    notes: dict[str, dict[str, Any]] = {}
    rollbacks: dict[str, dict[str, Any]] = {}
    rollout: list[dict[str, Any]] = []
    for ev in events:
        data = dict(ev.get("data") or {})
        kind = ev.get("kind")
        if kind == "alert" and data.get("id"):
            alerts[str(data["id"])] = {**alerts.get(str(data["id"]), {}), **data}
        elif kind == "notification":
            key = str(data.get("delivery_id") or data.get("id") or len(notes))
            notes[key] = {**notes.get(key, {}), **data}
        elif kind == "rollback":
            key = str(data.get("id") or len(rollbacks))
            rollbacks[key] = {**rollbacks.get(key, {}), **data}
        elif kind == "rollout":
            rollout.append({"at": iso(ev.get("at")), **data})
    for a in alerts.values():
        for key in ("started_at", "resolved_at", "firing_at", "acknowledged_at"):
            if isinstance(a.get(key), int | float):
                a[key] = iso(a[key])
    for r in rollbacks.values():
        for key in ("started_at", "finished_at"):
            if isinstance(r.get(key), int | float):
                r[key] = iso(r[key])
    return list(alerts.values()), list(notes.values()), list(rollbacks.values()), rollout


def _alert_stats(alerts: list[dict[str, Any]]) -> dict[str, float | None]:
    """Mean time to acknowledge and to resolve, in seconds (from the alerts' raw times)."""
    tta = [a["_tta_s"] for a in alerts if isinstance(a.get("_tta_s"), int | float)]
    ttr = [a["_ttr_s"] for a in alerts if isinstance(a.get("_ttr_s"), int | float)]
    return {"mtta_s": sum(tta) / len(tta) if tta else None, "mttr_s": sum(ttr) / len(ttr) if ttr else None}
