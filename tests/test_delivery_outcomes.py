"""What a failed delivery means, against real receivers: a refusal is final, a timeout after
sending repeats a bounded number of times (fewer where the receiver does not deduplicate),
and the file channel never follows a symlink."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest

from tests.receivers import FakeClock, make_notification, recording_server, smtp_server
from tests.test_outbox import worker
from wsmon_tui.alerts.outbox import Outbox, delivery_counts
from wsmon_tui.alerts.sender import MAYBE_SENT_LIMIT, maybe_sent_limit
from wsmon_tui.config import ChannelConfig


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_a_4xx_is_a_permanent_failure_never_retried(status: int) -> None:
    with recording_server() as rx:
        rx.fail_next(10, status=status)
        clock = FakeClock()
        box = Outbox(None, [ChannelConfig(type="webhook", url=rx.url)], deployment="chat", clock=clock)
        try:
            box.enqueue([make_notification(), make_notification(seq=2, kind="resolved")])
            await box.drain(5)
            for _ in range(5):  # an hour passes: nothing is tried again
                clock.advance(900)
                await box.drain(5)
            first, second = box.deliveries()
            assert first["status"] == "failed_permanent" and first["attempts"] == 1
            assert f"HTTP {status}" in first["last_error"] and "not retried" in first["last_error"]
            # the refusal does not hold the resolution back forever: it was tried (and refused) too
            assert second["status"] == "failed_permanent"
            assert len(rx.failed) == 2 and rx.requests == []
        finally:
            await box.aclose()


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
async def test_408_429_and_5xx_are_retried_until_they_arrive(status: int) -> None:
    with recording_server() as rx:
        rx.fail_next(2, status=status)
        rx.retry_after = 7
        clock = FakeClock()
        box = Outbox(None, [ChannelConfig(type="webhook", url=rx.url)], deployment="chat", clock=clock)
        try:
            box.enqueue([make_notification()])
            await box.drain(5)
            [d] = box.deliveries()
            assert d["status"] == "failed" and d["next_at"] >= clock.now + 7  # Retry-After honoured
            for _ in range(2):
                clock.advance(8)
                await box.drain(5)
            [d] = box.deliveries()
            assert d["status"] == "sent" and d["attempts"] == 3
            assert len(rx.failed) == 2 and len(rx.requests) == 1
        finally:
            await box.aclose()


async def test_permanent_failures_show_in_the_counts(tmp_path: Path) -> None:
    with recording_server() as rx:
        rx.fail_next(1, status=404)
        db = tmp_path / "wsmon.db"
        box = Outbox(db, [ChannelConfig(type="slack", url=rx.url)], deployment="chat", clock=FakeClock())
        try:
            box.enqueue([make_notification()])
            await box.drain(5)
        finally:
            await box.aclose()
        counts = delivery_counts(db)
        assert counts["failed_permanent"] == 1 and counts["failed"] == 0


async def _run_against_slow(box: Outbox, seconds: float) -> list[dict]:
    """Enqueue one notification, let the worker run ``seconds``; the deliveries then."""
    async with worker(box):
        box.enqueue([make_notification()])
        await asyncio.sleep(seconds)
        return box.deliveries()


async def test_slow_http_receivers_get_a_bounded_number_of_copies() -> None:
    """Each answers 200 after the channel's timeout: Slack is tried twice, the webhook (which carries an
    Idempotency-Key) at most four times; before, both got one copy per backoff step."""
    with recording_server() as slack_rx, recording_server() as hook_rx:
        slack_rx.delay = hook_rx.delay = 0.6
        channels = [ChannelConfig(type="slack", url=slack_rx.url, timeout=0.2),
                    ChannelConfig(type="webhook", url=hook_rx.url, timeout=0.2)]
        box = Outbox(None, channels, deployment="chat", backoff_base=0.05, backoff_max=0.1,
                     uncertain_delay=0.4)
        by_channel = {d["channel"]: d for d in await _run_against_slow(box, 4.0)}
        assert len(slack_rx.requests) == MAYBE_SENT_LIMIT["slack"] == 2
        assert len(hook_rx.requests) == maybe_sent_limit("webhook") == 4
        keys = {r.headers["idempotency-key"] for r in hook_rx.requests}
        assert keys == {"fp-1:1"}  # every copy the receiver can dedup on
        for name, limit in (("slack", 2), ("webhook", 4)):
            d = by_channel[name]
            assert d["status"] == "uncertain" and d["uncertain"] == limit
            assert "may have arrived" in d["last_error"]
        assert "slack does not deduplicate" in by_channel["slack"]["last_error"]


async def test_slack_retry_after_a_timeout_waits_the_longer_delay_and_then_succeeds() -> None:
    with recording_server() as rx:
        rx.delay = 0.5
        box = Outbox(None, [ChannelConfig(type="slack", url=rx.url, timeout=0.2)], deployment="chat",
                     backoff_base=0.05, backoff_max=0.1, uncertain_delay=1.0)
        async with worker(box):
            box.enqueue([make_notification()])
            await rx.wait_for(1)
            await asyncio.sleep(0.4)
            rx.delay = 0.0
            started = time.monotonic()
            await rx.wait_for(2, timeout=5)
            waited = time.monotonic() - started
            deadline = time.monotonic() + 5
            while box.deliveries()[0]["status"] != "sent" and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            [d] = box.deliveries()
        assert d["status"] == "sent" and d["uncertain"] == 1  # the record says a copy may be extra
        assert waited > 0.3  # the retry waited the uncertain delay, not the 0.1 s backoff
        assert len(rx.requests) == 2


async def test_slow_smtp_server_gets_the_message_twice_at_most() -> None:
    with smtp_server() as smtp:
        smtp.handler.delay = 1.5
        ch = ChannelConfig(type="email", smtp_server=smtp.address, sender="w@example.com",
                           recipients=["o@example.com"], starttls=False, timeout=0.5)
        box = Outbox(None, [ch], deployment="chat", backoff_base=0.05, backoff_max=0.1, uncertain_delay=0.3)
        [d] = await _run_against_slow(box, 5.0)
        assert len(smtp.messages) == 2
        assert d["status"] == "uncertain" and d["uncertain"] == 2


async def test_file_channel_refuses_a_symlink_and_leaves_its_target_alone(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    link = tmp_path / "alerts.jsonl"
    link.symlink_to(target)
    box = Outbox(None, [ChannelConfig(type="file", path=str(link))], deployment="chat", clock=FakeClock())
    try:
        box.enqueue([make_notification()])
        await box.drain(5)
        [d] = box.deliveries()
        assert d["status"] == "failed_permanent" and "symlink" in d["last_error"]
        assert target.read_text() == "keep me\n" and link.is_symlink()
    finally:
        await box.aclose()


async def test_file_channel_creates_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    old = os.umask(0)
    try:
        box = Outbox(None, [ChannelConfig(type="file", path=str(path))], deployment="chat", clock=FakeClock())
        try:
            box.enqueue([make_notification()])
            await box.drain(5)
            assert box.deliveries()[0]["status"] == "sent"
        finally:
            await box.aclose()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
