"""Alertmanager's v2 API as the fleet view reads it: alerts grouped by (alertname, target) with
the sites that fire, and silences, an acknowledgement being a short silence whose comment
starts with ``ACK:`` (as karma does).

Group ids are ``alertname|target`` (the same alert of several sites is one row); an
``AlertView``'s ``target`` is ``target@site,site`` (what the alerts view shows) and its
``labels["sites"]`` lists the sites, comma-separated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from wsmon_tui.alerts.channels import rfc3339
from wsmon_tui.model import SEVERITY_ORDER, AlertView

ACK_PREFIX = "ACK: "


def parse_time(text: Any) -> float | None:
    """An RFC 3339 time from Alertmanager as POSIX seconds; None for missing or the zero time."""
    if not isinstance(text, str) or not text or text.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def group_id(alertname: str, target: str) -> str:
    return f"{alertname}|{target}"


def split_group(alert_id: str) -> tuple[str, str]:
    name, _, target = alert_id.partition("|")
    return name, target


def matchers(alertname: str, target: str | None, site: str | None = None) -> list[dict[str, Any]]:
    out = [{"name": "alertname", "value": alertname, "isRegex": False, "isEqual": True}]
    if target:
        out.append({"name": "target", "value": target, "isRegex": False, "isEqual": True})
    if site:
        out.append({"name": "site", "value": site, "isRegex": False, "isEqual": True})
    return out


def silence_body(*, alertname: str, target: str | None, site: str | None, starts: float, ends: float,
                 user: str, comment: str) -> dict[str, Any]:
    return {"matchers": matchers(alertname, target, site), "startsAt": rfc3339(starts),
            "endsAt": rfc3339(ends), "createdBy": user or "wsmon-tui",
            "comment": comment or "silenced from wsmon-tui"}


def _ack_of(alert: dict[str, Any], silences: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    for sid in alert.get("status", {}).get("silencedBy") or ():
        s = silences.get(sid)
        if s is not None and str(s.get("comment", "")).startswith(ACK_PREFIX.strip()):
            return s
    return None


def group_alerts(alerts: Sequence[dict[str, Any]], silences: Sequence[dict[str, Any]]) -> list[AlertView]:
    """One ``AlertView`` per (alertname, target), most severe and then earliest first."""
    by_id = {str(s.get("id")): s for s in silences}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in alerts:
        labels = a.get("labels") or {}
        groups[(str(labels.get("alertname", "")), str(labels.get("target", "")))].append(a)
    out: list[AlertView] = []
    for (name, target), members in groups.items():
        states = [str(m.get("status", {}).get("state", "")) for m in members]
        sites = sorted({str((m.get("labels") or {}).get("site", "")) for m in members} - {""})
        severity = max((str((m.get("labels") or {}).get("severity", "warning")) for m in members),
                       key=lambda s: SEVERITY_ORDER.get(s, 1))
        first = min(members, key=lambda m: parse_time(m.get("startsAt")) or 0.0)
        ann = first.get("annotations") or {}
        acks = [s for s in (_ack_of(m, by_id) for m in members) if s is not None]
        silenced = all(st == "suppressed" and (m.get("status", {}).get("silencedBy") or ())
                       for st, m in zip(states, members, strict=True))
        inhibited = next((",".join(m["status"]["inhibitedBy"]) for m in members
                          if m.get("status", {}).get("inhibitedBy")), "")
        ack = acks[0] if acks else None
        labels = {k: str(v) for k, v in (first.get("labels") or {}).items() if k != "site"}
        labels["sites"] = ",".join(sites)
        started = parse_time(first.get("startsAt"))
        out.append(AlertView(
            id=group_id(name, target), rule=name, target=f"{target}@{','.join(sites)}" if sites else target,
            severity=severity, state="firing",
            summary=str(ann.get("summary", "")), description=str(ann.get("description", "")),
            runbook=str(ann.get("runbook_url", ann.get("runbook", ""))),
            started_at=started, firing_at=started,
            acknowledged_by=str(ack.get("createdBy", "")) if ack else None,
            acknowledged_at=parse_time(ack.get("startsAt")) if ack else None,
            ack_comment=str(ack.get("comment", "")).removeprefix(ACK_PREFIX) if ack else "",
            silenced=silenced and ack is None, labels=labels, inhibited_by=inhibited))
    out.sort(key=lambda a: (-SEVERITY_ORDER.get(a.severity, 1), a.started_at or 0.0, a.id))
    return out
