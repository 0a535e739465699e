"""Notification channels: who accepts what, the payload of each type, and how it is sent.

Payload builders are pure functions of (channel, notifications, deployment, now), so tests
can check shapes without a network; ``alerts/sender.py`` performs the I/O (httpx for webhook,
Slack, Alertmanager and PagerDuty; smtplib in a thread for email; an append for file) and
says what a failure means (retry, permanent, or maybe sent).

Filter decisions (``accepts``):

* ``Notification.channels`` names the channels (empty: all of them).
* Severity: the alert's severity (already escalated, if it was) must be at least the
  channel's ``min_severity``.
* Escalations: a channel with ``escalation = true`` receives every escalated notification
  whatever its ``min_severity``; other channels receive it too when the escalated
  severity passes their ``min_severity`` (the people watching them learn it got worse).
* ``acknowledged`` notifications go to every channel type except email and Alertmanager
  (Alertmanager has no acknowledgement; an email saying someone has it is noise). On
  PagerDuty they acknowledge the incident.

Alert text comes from rules and servers: it is data. ANSI escapes and control characters
are stripped everywhere, CR/LF cannot reach an email header, and Slack text is escaped
(``& < >``) with the untrusted parts in ``plain_text`` blocks so ``*bold*`` or ``<!here>``
stay literal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from wsmon_tui.alerts.notification import Notification
from wsmon_tui.config import ChannelConfig
from wsmon_tui.model import SEVERITY_ORDER, AlertView
from wsmon_tui.redact import header_secret_parts, url_secret_parts

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
ZERO_TIME = "0001-01-01T00:00:00Z"
"""Alertmanager's ``endsAt`` for an alert that has not resolved."""

SEVERITY_COLORS = {"critical": "#d32f2f", "warning": "#f9a825", "info": "#1976d2"}
RESOLVED_COLOR = "#2e7d32"
ACK_COLOR = "#757575"
SUMMARY_LIST_MAX = 20
"""How many notifications a summary message lists by name before "... and N more"."""

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LABEL_NAME_BAD = re.compile(r"[^A-Za-z0-9_]")


# -- small helpers ----------------------------------------------------------------------------


def clean(text: str) -> str:
    """Alert text without ANSI escapes or control characters (newlines and tabs kept)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def one_line(text: str, limit: int = 200) -> str:
    """``clean`` text on one line (no CR/LF can survive), at most ``limit`` characters."""
    flat = " ".join(clean(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def slack_escape(text: str) -> str:
    """Slack's mrkdwn escaping: ``&``, ``<`` and ``>`` (no links, mentions or tags from data)."""
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rfc3339(ts: float | None) -> str:
    if ts is None:
        return ZERO_TIME
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def channel_name(ch: ChannelConfig) -> str:
    return ch.name or ch.type


def channel_secrets(ch: ChannelConfig) -> set[str]:
    """What must never be stored or logged for this channel: keys, passwords, auth headers, URL tokens."""
    found = {s for s in (ch.password, ch.routing_key) if s}
    found.update(header_secret_parts(ch.headers))
    if ch.url:
        found.update(url_secret_parts(ch.url))
    return found


def accepts(ch: ChannelConfig, n: Notification) -> bool:
    """Whether channel ``ch`` should receive ``n`` (see the module doc for the rules)."""
    if n.channels and channel_name(ch) not in n.channels:
        return False
    if n.kind == "acknowledged" and ch.type in ("email", "alertmanager"):
        return False
    if n.escalation and ch.escalation:
        return True
    return SEVERITY_ORDER.get(n.alert.severity, 0) >= SEVERITY_ORDER.get(ch.min_severity, 1)


def is_firing_kind(kind: str) -> bool:
    return kind != "resolved"


def _status(kind: str) -> str:
    return "resolved" if kind == "resolved" else "firing"


def site_of(alert: AlertView) -> str:
    """The monitor's site the alert was raised from ("" when none): the alert engine puts
    ``[monitor] site`` in every alert's labels, over any rule label of that name."""
    return clean(str(alert.labels.get("site", "")))


def labels_of(alert: AlertView, deployment: str) -> dict[str, str]:
    """The rule's labels and ``site``, then the four wsmon labels (which always win).

    Nothing here differs between two monitors of one site watching the same deployment, so
    Alertmanager merges what they send into one alert (one page); ``site`` keeps two sites'
    alerts apart."""
    labels = {str(k): clean(str(v)) for k, v in alert.labels.items()}
    labels.update({"alertname": clean(alert.rule), "severity": alert.severity, "target": clean(alert.target),
                   "deployment": clean(deployment)})
    return labels


def annotations_of(alert: AlertView) -> dict[str, str]:
    return {"summary": clean(alert.summary), "description": clean(alert.description),
            "runbook_url": clean(alert.runbook)}


def _starts(n: Notification) -> float:
    return n.alert.firing_at or n.alert.started_at or n.created_at


def _ends(n: Notification) -> float | None:
    if n.kind != "resolved":
        return None
    return n.alert.resolved_at or n.created_at


def latest_per_alert(notifications: Sequence[Notification]) -> list[Notification]:
    """The newest notification of each alert (by seq), in first-seen order."""
    latest: dict[str, Notification] = {}
    for n in notifications:
        old = latest.get(n.fingerprint)
        if old is None or n.seq >= old.seq:
            latest[n.fingerprint] = n
    return list(latest.values())


def summary_line(notifications: Sequence[Notification]) -> str:
    """``N more notifications: [CRITICAL] TargetDown on chat-ws (firing), ...`` (one line)."""
    items = [f"[{n.alert.severity.upper()}] {one_line(n.alert.rule, 80)} on {one_line(n.alert.target, 80)}"
             f" ({n.kind})" for n in notifications[:SUMMARY_LIST_MAX]]
    more = len(notifications) - SUMMARY_LIST_MAX
    if more > 0:
        items.append(f"... and {more} more")
    return f"{len(notifications)} more notifications: " + ", ".join(items)


def headline(n: Notification) -> str:
    """``[CRITICAL] TargetDown on chat-ws``; ``[RESOLVED] ...`` for a resolution (one line)."""
    tag = "RESOLVED" if n.kind == "resolved" else n.alert.severity.upper()
    text = f"[{tag}] {one_line(n.alert.rule, 80)} on {one_line(n.alert.target, 80)}"
    site = site_of(n.alert)
    if site:
        text += f" (from {one_line(site, 64)})"
    if n.kind == "acknowledged":
        text += f" acknowledged by {one_line(n.alert.acknowledged_by or 'someone', 60)}"
    elif n.kind == "escalated":
        text += " (escalated)"
    elif n.kind == "reminder":
        text += " (still firing)"
    return text


# -- payloads ---------------------------------------------------------------------------------


def _webhook_alert(n: Notification, deployment: str) -> dict[str, Any]:
    annotations = annotations_of(n.alert)
    if n.alert.acknowledged_by:
        annotations["acknowledged_by"] = clean(n.alert.acknowledged_by)
    return {
        "status": _status(n.kind),
        "labels": labels_of(n.alert, n.deployment or deployment),
        "annotations": annotations,
        "startsAt": rfc3339(_starts(n)),
        "endsAt": rfc3339(_ends(n)),
        "generatorURL": "",
        "fingerprint": n.fingerprint,
    }


def webhook_payload(ch: ChannelConfig, notifications: Sequence[Notification], deployment: str, *,
                    summary: bool = False) -> dict[str, Any]:
    """Alertmanager's webhook body (version "4"); a summary carries the latest state of each alert."""
    shown = latest_per_alert(notifications) if summary else list(notifications)
    alerts = [_webhook_alert(n, deployment) for n in shown]
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    first = shown[0]
    if summary:
        group_labels = {"deployment": clean(deployment)}
        site = site_of(first.alert)
        if site:
            group_labels["site"] = site
        common_labels = group_labels
        common_annotations = {"summary": summary_line(notifications)}
    else:
        group_labels = {"alertname": clean(first.alert.rule), "target": clean(first.alert.target)}
        common_labels = alerts[0]["labels"]
        common_annotations = alerts[0]["annotations"]
    key = ",".join(f"{k}={json.dumps(v, ensure_ascii=True)}" for k, v in sorted(group_labels.items()))
    body: dict[str, Any] = {
        "version": "4",
        "receiver": channel_name(ch),
        "status": status,
        "groupKey": "{}:{" + key + "}",
        "truncatedAlerts": 0,
        "groupLabels": group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations,
        "externalURL": "",
        "alerts": alerts,
    }
    if summary:
        body["summary"] = {"count": len(notifications)}
    else:
        body["kind"] = first.kind
    return body


def slack_payload(notifications: Sequence[Notification], *, summary: bool = False) -> dict[str, Any]:
    """An incoming-webhook message: escaped ``text``, ``plain_text`` blocks, a coloured attachment."""
    if summary:
        title = f"{len(notifications)} more notifications"
        body = summary_line(notifications)
        worst = max((n.alert.severity for n in notifications), key=lambda s: SEVERITY_ORDER.get(s, 0))
        color = SEVERITY_COLORS.get(worst, ACK_COLOR)
        fields: list[dict[str, str]] = []
    else:
        n = notifications[0]
        title = headline(n)
        body = clean(n.alert.summary or n.alert.description or title)
        color = (RESOLVED_COLOR if n.kind == "resolved" else ACK_COLOR if n.kind == "acknowledged"
                 else SEVERITY_COLORS.get(n.alert.severity, ACK_COLOR))
        fields = [{"type": "plain_text", "text": f"Severity: {n.alert.severity}"},
                  {"type": "plain_text", "text": f"Target: {one_line(n.alert.target, 150)}"},
                  {"type": "plain_text", "text": f"State: {n.kind}"},
                  {"type": "plain_text", "text": f"Deployment: {one_line(n.deployment, 150) or '-'}"}]
        if site_of(n.alert):
            fields.append({"type": "plain_text", "text": f"Site: {one_line(site_of(n.alert), 64)}"})
        if n.alert.runbook:
            fields.append({"type": "plain_text", "text": f"Runbook: {one_line(n.alert.runbook, 300)}"})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": one_line(title, 150)}},
        {"type": "section", "text": {"type": "plain_text", "text": body[:3000] or "-"}},
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    text = slack_escape(f"{title}: {body}" if body != title else title)
    return {"text": text, "blocks": blocks,
            "attachments": [{"color": color, "fallback": text, "text": slack_escape(body), "mrkdwn_in": []}]}


def email_message(ch: ChannelConfig, notifications: Sequence[Notification], deployment: str, key: str, *,
                  summary: bool = False) -> EmailMessage:
    msg = EmailMessage()
    if summary:
        where = one_line(deployment, 80) or "wsmon"
        subject = f"[SUMMARY] {len(notifications)} more notifications on {where}"
        lines = [summary_line(notifications), ""]
        lines += [headline(n) + f": {one_line(n.alert.summary, 300)}" for n in notifications[:200]]
    else:
        n = notifications[0]
        subject = headline(n)
        a = n.alert
        lines = [subject, "",
                 f"Summary: {clean(a.summary)}", f"Description: {clean(a.description)}",
                 f"Deployment: {clean(n.deployment or deployment)}",
                 *([f"Site: {site_of(a)}"] if site_of(a) else []), f"Target: {clean(a.target)}",
                 f"Rule: {clean(a.rule)}", f"Severity: {a.severity}", f"State: {n.kind}",
                 f"Value: {a.value}", f"Threshold: {a.threshold}", f"Started: {rfc3339(_starts(n))}"]
        if n.kind == "resolved":
            lines.append(f"Resolved: {rfc3339(_ends(n))}")
        if a.acknowledged_by:
            lines.append(f"Acknowledged by: {clean(a.acknowledged_by)}")
        if a.runbook:
            lines.append(f"Runbook: {clean(a.runbook)}")
        lines.append(f"Alert id: {n.fingerprint}")
    msg["Subject"] = one_line(subject, 200)
    msg["From"] = one_line(ch.sender or "", 300)
    msg["To"] = ", ".join(one_line(r, 300) for r in ch.recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="wsmon-tui")
    msg["X-Wsmon-Idempotency-Key"] = one_line(key, 200)
    msg.set_content("\n".join(lines) + "\n")
    return msg


def _alert_record(n: Notification) -> dict[str, Any]:
    a = n.alert
    return {"id": a.id, "rule": clean(a.rule), "target": clean(a.target), "severity": a.severity,
            "state": a.state, "value": a.value, "threshold": a.threshold, "summary": clean(a.summary),
            "description": clean(a.description), "runbook": clean(a.runbook),
            "started_at": rfc3339(a.started_at),
            "firing_at": rfc3339(a.firing_at) if a.firing_at else None,
            "resolved_at": rfc3339(a.resolved_at) if a.resolved_at else None,
            "acknowledged_by": a.acknowledged_by,
            "labels": {str(k): clean(str(v)) for k, v in a.labels.items()}}


def file_record(ch: ChannelConfig, notifications: Sequence[Notification], deployment: str, key: str,
                now: float, *, summary: bool = False) -> dict[str, Any]:
    def one(n: Notification) -> dict[str, Any]:
        return {"kind": n.kind, "idempotency_key": n.idempotency_key, "fingerprint": n.fingerprint,
                "seq": n.seq, "created_at": rfc3339(n.created_at), "escalation": n.escalation,
                "alert": _alert_record(n)}

    base = {"at": rfc3339(now), "channel": channel_name(ch), "deployment": deployment}
    site = site_of(notifications[0].alert)
    if site:
        base["site"] = site
    if summary:
        return {**base, "kind": "summary", "idempotency_key": key, "count": len(notifications),
                "summary": summary_line(notifications), "notifications": [one(n) for n in notifications]}
    return {**base, **one(notifications[0])}


def _am_label_name(name: str) -> str:
    fixed = _LABEL_NAME_BAD.sub("_", name) or "_"
    return "_" + fixed if fixed[0].isdigit() else fixed


def alertmanager_alert(alert: AlertView, kind: str, deployment: str, now: float,
                       ttl: float) -> dict[str, Any]:
    """One alert for ``POST /api/v2/alerts``: ``endsAt`` is the resolve time, or ``now + ttl`` while
    firing (so an alert a dead wsmon stops refreshing resolves by itself)."""
    labels = {_am_label_name(k): v for k, v in labels_of(alert, deployment).items() if v}
    annotations = {k: v for k, v in annotations_of(alert).items() if v}
    starts = alert.firing_at or alert.started_at or now
    if kind == "resolved":
        ends = alert.resolved_at or now
    else:
        ends = now + ttl
    return {"labels": labels, "annotations": annotations, "startsAt": rfc3339(starts),
            "endsAt": rfc3339(max(ends, starts))}


def alertmanager_body(notifications: Sequence[Notification], deployment: str, now: float,
                      ttl: float) -> list[dict[str, Any]]:
    return [alertmanager_alert(n.alert, n.kind, n.deployment or deployment, now, ttl)
            for n in latest_per_alert(notifications)]


_PD_ACTIONS = {"resolved": "resolve", "acknowledged": "acknowledge"}


def pagerduty_event(ch: ChannelConfig, n: Notification, deployment: str) -> dict[str, Any]:
    """An Events v2 enqueue body: trigger / acknowledge / resolve, ``dedup_key`` = the fingerprint."""
    action = _PD_ACTIONS.get(n.kind, "trigger")
    event: dict[str, Any] = {"routing_key": ch.routing_key or "", "event_action": action,
                             "dedup_key": n.fingerprint, "client": "wsmon-tui"}
    if action == "trigger":
        a = n.alert
        event["payload"] = {
            "summary": one_line(f"{headline(n)}: {a.summary}" if a.summary else headline(n), 1024),
            "source": one_line(a.target, 255) or "wsmon-tui",
            "severity": a.severity if a.severity in SEVERITY_ORDER else "error",
            "component": one_line(a.target, 255),
            "group": one_line(n.deployment or deployment, 255),
            "class": one_line(a.rule, 255),
            "custom_details": {"description": clean(a.description), "value": a.value,
                               "threshold": a.threshold,
                               "runbook": clean(a.runbook), "idempotency_key": n.idempotency_key,
                               "labels": {str(k): clean(str(v)) for k, v in a.labels.items()}},
        }
    return event


def pagerduty_summary_event(ch: ChannelConfig, notifications: Sequence[Notification],
                            deployment: str) -> dict[str, Any]:
    """One trigger for the triggers a rate limit held back (dedup key ``wsmon-summary:<deployment>``,
    then ``:<site>`` when the monitor has one)."""
    worst = max((n.alert.severity for n in notifications), key=lambda s: SEVERITY_ORDER.get(s, 0))
    site = site_of(notifications[0].alert)
    return {"routing_key": ch.routing_key or "", "event_action": "trigger",
            "dedup_key": f"wsmon-summary:{deployment}" + (f":{site}" if site else ""), "client": "wsmon-tui",
            "payload": {"summary": one_line(summary_line(notifications), 1024), "source": "wsmon-tui",
                        "severity": worst if worst in SEVERITY_ORDER else "error",
                        "group": one_line(deployment, 255),
                        "custom_details": {"alerts": [n.idempotency_key for n in notifications[:500]]}}}
