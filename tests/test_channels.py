"""Channels against real receivers: HTTP recorders, aiosmtpd, a file, and a real Alertmanager."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.receivers import (
    FakeClock,
    alertmanager_binary,
    make_notification,
    recording_server,
    running_alertmanager,
    smtp_server,
)
from wsmon_tui.alerts.channels import (
    ZERO_TIME,
    accepts,
    clean,
    slack_escape,
    slack_payload,
    summary_line,
    webhook_payload,
)
from wsmon_tui.alerts.outbox import Outbox
from wsmon_tui.config import ChannelConfig

HOSTILE = "<script>alert(1)</script> *bold* <!channel> \x1b[31mred\x1b[0m\r\nBcc: evil@example.com"


def _outbox(channels: list[ChannelConfig], **kw) -> Outbox:
    return Outbox(None, channels, deployment="chat", clock=kw.pop("clock", FakeClock()), **kw)


# -- filters ----------------------------------------------------------------------------------


def test_accepts_by_severity_names_escalation_and_kind() -> None:
    warn_ch = ChannelConfig(type="webhook", name="hook", min_severity="warning", url="http://x")
    crit_ch = ChannelConfig(type="slack", name="pager", min_severity="critical", url="http://x",
                            escalation=True)
    mail = ChannelConfig(type="email", name="mail", min_severity="info")
    info = make_notification(severity="info")
    warning = make_notification(severity="warning")
    assert not accepts(warn_ch, info) and accepts(warn_ch, warning)
    assert not accepts(crit_ch, warning)
    # An escalation reaches an escalation channel whatever its min_severity...
    escalated = make_notification(kind="escalated", severity="warning", escalation=True)
    assert accepts(crit_ch, escalated)
    # ...and other channels when the escalated severity passes theirs.
    assert accepts(warn_ch, escalated)
    # The rule's channel filter names channels.
    only_mail = make_notification(channels=("mail",))
    assert accepts(mail, only_mail) and not accepts(warn_ch, only_mail)
    # Acks go to PagerDuty/Slack/webhook/file but not email or Alertmanager.
    ack = make_notification(kind="acknowledged", acknowledged_by="ana")
    assert accepts(warn_ch, ack) and not accepts(mail, ack)
    assert not accepts(ChannelConfig(type="alertmanager", url="http://x"), ack)


# -- payload builders -------------------------------------------------------------------------


def test_webhook_payload_is_alertmanager_shaped() -> None:
    ch = ChannelConfig(type="webhook", name="hook", url="http://x")
    body = webhook_payload(ch, [make_notification()], "chat")
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "hook"
    assert body["truncatedAlerts"] == 0 and body["externalURL"] == ""
    alert = body["alerts"][0]
    assert alert["labels"] == {"alertname": "TargetDown", "severity": "critical", "target": "chat-ws",
                               "deployment": "chat", "team": "realtime"}
    assert set(alert["annotations"]) >= {"summary", "description", "runbook_url"}
    assert alert["endsAt"] == ZERO_TIME and alert["startsAt"].endswith("Z")
    assert alert["fingerprint"] == "fp-1" and alert["generatorURL"] == ""
    assert body["groupLabels"] == {"alertname": "TargetDown", "target": "chat-ws"}
    resolved = webhook_payload(ch, [make_notification(seq=2, kind="resolved")], "chat")
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["endsAt"] != ZERO_TIME


def test_slack_escapes_hostile_text_and_keeps_it_literal() -> None:
    body = slack_payload([make_notification(summary=HOSTILE)])
    assert "<script>" not in body["text"] and "&lt;script&gt;" in body["text"]
    assert "<!channel>" not in body["text"] and "&lt;!channel&gt;" in body["text"]
    assert "\x1b" not in json.dumps(body) and "\\u001b" not in json.dumps(body)
    assert "\r" not in json.dumps(body)
    section = body["blocks"][1]["text"]
    assert section["type"] == "plain_text" and "*bold*" in section["text"]
    assert body["attachments"][0]["color"] == "#d32f2f"
    assert slack_escape("a & b") == "a &amp; b"


def test_summary_line_names_and_counts() -> None:
    notes = [make_notification(f"fp-{i}", target=f"t{i}") for i in range(25)]
    line = summary_line(notes)
    assert line.startswith("25 more notifications: [CRITICAL] TargetDown on t0 (firing)")
    assert line.endswith("... and 5 more")
    assert clean("a\x1b[1mb\x07c\nd") == "abc\nd"


# -- real receivers ---------------------------------------------------------------------------


async def test_webhook_delivery_with_idempotency_key_and_headers() -> None:
    with recording_server() as rx:
        ch = ChannelConfig(type="webhook", name="hook", url=rx.url + "/hook", headers={"X-Team": "rt"})
        box = _outbox([ch])
        try:
            box.enqueue([make_notification()])
            await box.drain(5)
            [req] = await rx.wait_for(1)
            assert req.path == "/hook"
            assert req.headers["idempotency-key"] == "fp-1:1"
            assert req.headers["x-team"] == "rt" and req.headers["content-type"] == "application/json"
            assert req.json["alerts"][0]["labels"]["alertname"] == "TargetDown"
            assert box.deliveries()[0]["status"] == "sent"
        finally:
            await box.aclose()


async def test_slack_delivery_to_a_real_recorder() -> None:
    with recording_server() as rx:
        box = _outbox([ChannelConfig(type="slack", url=rx.url + "/services/x")])
        try:
            box.enqueue([make_notification(summary=HOSTILE), make_notification(seq=2, kind="resolved")])
            await box.drain(5)
            first, second = await rx.wait_for(2)
            assert "&lt;script&gt;" in first.json["text"]
            assert second.json["attachments"][0]["color"] == "#2e7d32"
            assert second.json["text"].startswith("[RESOLVED] TargetDown on chat-ws")
        finally:
            await box.aclose()


async def test_pagerduty_trigger_acknowledge_resolve() -> None:
    with recording_server() as rx:
        ch = ChannelConfig(type="pagerduty", url=rx.url + "/v2/enqueue", routing_key="R0UT1NGKEY0123456789")
        box = _outbox([ch])
        try:
            box.enqueue([make_notification(seq=1),
                         make_notification(seq=2, kind="acknowledged", acknowledged_by="ana"),
                         make_notification(seq=3, kind="resolved")])
            await box.drain(5)
            reqs = await rx.wait_for(3)
            actions = [r.json["event_action"] for r in reqs]
            assert actions == ["trigger", "acknowledge", "resolve"]
            trigger = reqs[0].json
            assert trigger["routing_key"] == "R0UT1NGKEY0123456789" and trigger["dedup_key"] == "fp-1"
            payload = trigger["payload"]
            assert payload["severity"] == "critical" and payload["component"] == "chat-ws"
            assert payload["group"] == "chat"
            assert payload["summary"].startswith("[CRITICAL] TargetDown on chat-ws")
            assert "custom_details" in payload and "source" in payload
            assert all(r.json["dedup_key"] == "fp-1" for r in reqs)
        finally:
            await box.aclose()


async def test_email_subject_body_and_no_header_injection() -> None:
    with smtp_server() as smtp:
        ch = ChannelConfig(type="email", smtp_server=smtp.address, sender="wsmon@example.com",
                           recipients=["oncall@example.com"], starttls=False, min_severity="info")
        box = _outbox([ch])
        try:
            box.enqueue([make_notification(summary=HOSTILE, rule="TargetDown\r\nBcc: evil@example.com"),
                         make_notification(seq=2, kind="resolved")])
            await box.drain(10)
            assert [d["status"] for d in box.deliveries()] == ["sent", "sent"]
            first, second = smtp.messages
            assert first["Subject"] == "[CRITICAL] TargetDown Bcc: evil@example.com on chat-ws"
            assert first["Bcc"] is None
            assert second["Subject"] == "[RESOLVED] TargetDown on chat-ws"
            assert smtp.handler.envelopes[0] == ("wsmon@example.com", ["oncall@example.com"])
            body = first.get_payload(decode=True).decode()
            assert "<script>alert(1)</script>" in body and "\x1b" not in body
            assert first["X-Wsmon-Idempotency-Key"] == "fp-1:1"
        finally:
            await box.aclose()


async def test_email_to_a_dead_server_fails_with_a_reason() -> None:
    from tests.prom_server import free_port

    ch = ChannelConfig(type="email", smtp_server=f"127.0.0.1:{free_port()}", sender="w@example.com",
                       recipients=["o@example.com"], starttls=False, password="hunter2-secret-pass",
                       username="w", timeout=2)
    box = _outbox([ch])
    try:
        box.enqueue([make_notification()])
        await box.drain(5)
        [d] = box.deliveries()
        assert d["status"] == "failed" and "SMTP" in d["last_error"]
        assert "hunter2" not in d["last_error"]
    finally:
        await box.aclose()


async def test_file_channel_appends_json_lines_0600(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "alerts.jsonl"
    box = _outbox([ChannelConfig(type="file", path=str(path), min_severity="info")])
    try:
        box.enqueue([make_notification(summary=HOSTILE), make_notification(seq=2, kind="resolved")])
        await box.drain(5)
        lines = path.read_text().splitlines()
        assert len(lines) == 2
        first, second = (json.loads(line) for line in lines)
        assert first["kind"] == "firing" and first["idempotency_key"] == "fp-1:1"
        assert first["alert"]["rule"] == "TargetDown" and "<script>" in first["alert"]["summary"]
        assert second["kind"] == "resolved"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        await box.aclose()


async def test_real_alertmanager_receives_refreshes_and_resolves(tmp_path: Path) -> None:
    binary = alertmanager_binary() or require_binary("prometheus-alertmanager")
    clock = FakeClock(time.time() - 100)  # resolve times must be in the past for Alertmanager
    with running_alertmanager(tmp_path / "am", binary) as am:
        ch = ChannelConfig(type="alertmanager", url=am.url)
        box = Outbox(None, [ch], deployment="chat", clock=clock, refresh_interval=60)
        try:
            firing = make_notification(created_at=clock.now, labels={"team": "realtime", "bad-name": "x"})
            box.enqueue([firing])
            await box.drain(10)
            assert box.deliveries()[0]["status"] == "sent", box.deliveries()
            [alert] = am.alerts()
            assert alert["labels"]["alertname"] == "TargetDown"
            assert alert["labels"]["deployment"] == "chat" and alert["labels"]["target"] == "chat-ws"
            assert alert["labels"]["bad_name"] == "x"
            assert alert["status"]["state"] == "active"
            first_ends = alert["endsAt"]
            # Re-sent while firing: at most once per refresh interval.
            box.refresh_firing([firing.alert], clock.now + 1)
            assert await _drained(box) == 0
            clock.advance(61)
            box.refresh_firing([firing.alert], clock.now)
            assert await _drained(box) == 1
            [alert] = am.alerts()
            assert alert["endsAt"] > first_ends
            # Resolve sets endsAt: Alertmanager no longer lists it as active.
            resolved = make_notification(seq=2, kind="resolved", created_at=firing.created_at + 30,
                                         labels=dict(firing.alert.labels))
            box.enqueue([resolved])
            await box.drain(10)
            remaining = [a for a in am.alerts() if a["labels"]["alertname"] == "TargetDown"]
            assert all(a["endsAt"] == _iso(firing.created_at + 30) for a in remaining), remaining
        finally:
            await box.aclose()


async def _drained(box: Outbox) -> int:
    return await box._pass()


def _iso(ts: float) -> str:
    from wsmon_tui.alerts.channels import rfc3339

    return rfc3339(ts)


@pytest.mark.parametrize("kind", ["firing", "resolved"])
def test_webhook_summary_payload_holds_latest_per_alert(kind: str) -> None:
    ch = ChannelConfig(type="webhook", url="http://x")
    notes = [make_notification("a", 1), make_notification("a", 2, kind), make_notification("b", 1)]
    body = webhook_payload(ch, notes, "chat", summary=True)
    assert body["summary"] == {"count": 3}
    assert [a["fingerprint"] for a in body["alerts"]] == ["a", "b"]
    assert body["alerts"][0]["status"] == kind
    assert body["commonAnnotations"]["summary"].startswith("3 more notifications: ")
