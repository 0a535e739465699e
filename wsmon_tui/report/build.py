"""Build the report dict (docs/report.md) from stored history.

The writers in this package render the dict; this module only gathers it. Reports
read the store, so a report covers what happened even across restarts and crashes.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from wsmon_tui import metrics
from wsmon_tui.config import Config
from wsmon_tui.model import Snapshot
from wsmon_tui.redact import redact_text, redact_url

#: The report's per-target server metrics (the stored ones: ``scrape_errors`` is not stored).
SERVER_METRICS = tuple(m for m in metrics.SERVER_METRICS if m in metrics.STORED_METRICS)
RESOURCE_METRICS = metrics.RESOURCE_METRICS


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
    if store is not None:
        if session_id:
            session = store.session(session_id) or {}
        sessions = store.sessions(since=since)
        if not session and sessions:
            session = sessions[-1]
        summary = store.probe_summary(since=since, until=until, session_id=session_id)

    urls = {t.name: t.url for t in config.targets}
    for name, url in session.get("targets") or []:
        urls.setdefault(name, url)
    names = list(urls) + [n for n in summary if n not in urls]
    # one read for every target's last server figures (each the last point of its series)
    last = store.last_values([(n, m) for n in names for m in SERVER_METRICS], since, until) \
        if store is not None else {}
    targets = []
    holds = {t.name: t.hold for t in snapshot.targets} if snapshot is not None else {}
    held = {t.name for t in config.targets if t.hold}
    stored_drops = _stored_hold_drops(store, since, until, session_id) if store is not None else {}
    for name in names:
        row = summary.get(name, {})
        probes = int(row.get("probes") or 0)
        ok = int(row.get("ok") or 0)
        metrics = {m: _finite(last.get((name, m))) for m in SERVER_METRICS}
        if snapshot is not None:
            live = next((t for t in snapshot.targets if t.name == name), None)
            if live is not None:
                metrics.update({k: _finite(v) for k, v in live.metrics.items() if v is not None})
        targets.append({
            "name": name,
            "url": redact_text(redact_url(str(urls.get(name, row.get("url", "")))), config.secrets),
            "probes": probes,
            "success_rate": ok / probes if probes else None,
            "error_rate": (probes - ok) / probes if probes else None,
            "handshake_ms": _pcts(row.get("handshake_ms")),
            "rtt_ms": _pcts(row.get("rtt_ms")),
            "errors": dict(row.get("errors") or {}),
            "close_codes": {str(k): v for k, v in (row.get("close_codes") or {}).items()},
            "http_statuses": {str(k): v for k, v in (row.get("http_statuses") or {}).items()},
            "hold_drops": _hold_drops(holds.get(name)) if name in holds else
            (stored_drops.get(name, {}) if name in held or name in stored_drops else None),
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

    dep = config.deployment
    rollout_now = snapshot.deployment.rollout_percent if snapshot is not None else None
    # a config that names no deployment (report run without --config) takes the session's
    named = config.source is not None or snapshot is not None
    alerts, stats, notifications, rollbacks, rollout = _stages(
        store.path if store is not None else None, since, until,
        deployment=dep.name if named else session.get("deployment") or dep.name, session_id=session_id)
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
        "stats": stats,
    }


def _session_fields(s: dict[str, Any]) -> dict[str, Any]:
    if not s:
        return {}
    return {
        "id": s.get("id"), "started_at": iso(s.get("started_at")), "ended_at": iso(s.get("ended_at")),
        "ended_by": s.get("ended_by"), "level": s.get("level"), "host": s.get("host"),
        "user": s.get("user"), "interval": s.get("interval"), "deployment": s.get("deployment"),
        "version": s.get("version"), "replay": replay_command(s.get("id")),
    }


def replay_command(session_id: Any) -> str | None:
    """The command that plays a session back through the dashboard (``wsmon-tui replay``)."""
    return f"wsmon-tui replay {session_id}" if session_id else None


def _stages(db_path: Any, since: float, until: float, *, deployment: str | None = None,
            session_id: str | None = None) -> tuple[list, dict, list, list, list]:
    """Alerts (with MTTA/MTTR), notifications, rollbacks and the rollout timeline.

    Each stage keeps its own tables in the store's database file and offers a reader
    that opens it read-only; times come back as epoch seconds and are made ISO here.
    """
    if db_path is None:
        return [], {"mtta_s": None, "mttr_s": None}, [], [], []
    from wsmon_tui.alerts.db import report_alerts
    from wsmon_tui.alerts.outbox import report_deliveries
    from wsmon_tui.rollback.audit import report_rollbacks, report_rollout

    found = report_alerts(db_path, since, until, deployment=deployment, session_id=session_id)
    alerts = [_iso_times(a) for a in found["alerts"]]
    stats = dict(found.get("stats") or {})
    notifications = [_iso_times(n) for n in report_deliveries(db_path, since, until)]
    rollbacks = []
    for rb in report_rollbacks(db_path, since, until):
        rb = _iso_times(rb)
        rb["steps"] = [dict(step) for step in rb.get("steps") or []]
        rollbacks.append(rb)
    rollout = [_iso_times(r) for r in report_rollout(db_path, since, until)]
    return alerts, stats, notifications, rollbacks, rollout


def _iso_times(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    for key, value in item.items():
        if (key.endswith("_at") or key == "at") and isinstance(value, int | float):
            out[key] = iso(value)
    return out


def _stored_hold_drops(store: Any, since: float, until: float,
                       session_id: str | None) -> dict[str, dict[str, int]]:
    """Held-connection drops by target and close code, from the ``hold_drop`` events."""
    out: dict[str, dict[str, int]] = {}
    for event in store.events(kinds=["hold_drop"], since=since, until=until, session_id=session_id):
        data = event["data"]
        codes = out.setdefault(str(data.get("target", "")), {})
        code = str(data.get("code", ""))
        codes[code] = codes.get(code, 0) + 1
    return {name: dict(sorted(codes.items())) for name, codes in out.items()}


def _hold_drops(hold: Any) -> dict[str, int] | None:
    """The held connection's disconnects by close code over the session, as the running engine
    counts them (None: no held connection)."""
    if hold is None:
        return None
    return {str(code): int(n) for code, n in sorted(hold.disconnects.items())}
