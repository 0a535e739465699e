"""The durable outbox: retries until the receiver is back, survives kill -9, drops after max_age,
summarises what a rate limit holds back, keeps secrets out of the database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.receivers import FakeClock, make_notification, recording_server
from wsmon_tui.alerts.outbox import Outbox, delivery_counts, report_deliveries
from wsmon_tui.alerts.ratelimit import SlidingWindow, parse_rate_limit
from wsmon_tui.config import ChannelConfig

ROOT = Path(__file__).resolve().parents[1]


@contextlib.asynccontextmanager
async def worker(box: Outbox) -> AsyncIterator[asyncio.Task[None]]:
    """``box.run`` in a task, always stopped (bounded) and closed on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(box.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await box.aclose()


async def wait_status(box: Outbox, status: str, count: int = 1, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = [d for d in box.deliveries() if d["status"] == status]
        if len(rows) >= count:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} {status}: {box.deliveries()}")
        await asyncio.sleep(0.02)


# -- rate limit primitives --------------------------------------------------------------------


def test_parse_rate_limit_and_window() -> None:
    assert parse_rate_limit("10/m") == (10, 60.0) and parse_rate_limit(" 2 / h ") == (2, 3600.0)
    assert parse_rate_limit(None) is None
    with pytest.raises(ValueError):
        parse_rate_limit("0/m")
    w = SlidingWindow(2, 60, sent=[100.0])
    assert w.available(110) == 1
    w.record(110)
    assert w.available(120) == 0 and w.next_slot(120) == 160.0
    assert w.available(160) == 1 and w.available(170.5) == 2


# -- retries ----------------------------------------------------------------------------------


async def test_receiver_failing_then_recovering_gets_it_once() -> None:
    with recording_server() as rx:
        rx.fail_next(3, status=503)
        ch = ChannelConfig(type="webhook", url=rx.url)
        box = Outbox(None, [ch], deployment="chat", backoff_base=0.05)
        async with worker(box):
            box.enqueue([make_notification()])
            await rx.wait_for(1)
            [d] = await wait_status(box, "sent")
        assert len(rx.failed) == 3 and len(rx.requests) == 1
        assert d["attempts"] == 4 and d["last_error"] == ""
        assert rx.requests[0].headers["idempotency-key"] == "fp-1:1"


async def test_connection_refused_then_back_on_the_same_port() -> None:
    with recording_server() as rx:
        rx.down()
        box = Outbox(None, [ChannelConfig(type="webhook", url=rx.url)], deployment="chat", backoff_base=0.05,
                     backoff_max=0.2)
        async with worker(box):
            box.enqueue([make_notification()])
            [failed] = await wait_status(box, "failed")
            assert "ConnectError" in failed["last_error"] and failed["attempts"] >= 1
            rx.up()
            await rx.wait_for(1)
            await wait_status(box, "sent")
        assert len(rx.requests) == 1


async def test_failed_firing_holds_back_the_resolution_so_order_is_kept() -> None:
    with recording_server() as rx:
        rx.fail_next(1)
        clock = FakeClock()
        box = Outbox(None, [ChannelConfig(type="webhook", url=rx.url)], deployment="chat", clock=clock)
        try:
            box.enqueue([make_notification(seq=1), make_notification(seq=2, kind="resolved")])
            await box.drain(5)  # fp-1:1 fails
            box.enqueue([make_notification("other", 1)])
            await box.drain(5)  # another alert is not held up
            statuses = {(d["alert_id"], d["seq"]): d["status"] for d in box.deliveries()}
            assert statuses == {("fp-1", 1): "failed", ("fp-1", 2): "pending", ("other", 1): "sent"}
            clock.advance(2)  # past the first backoff (at most 1 s)
            await box.drain(5)
            keys = [r.headers["idempotency-key"] for r in rx.requests]
            assert keys == ["other:1", "fp-1:1", "fp-1:2"]
        finally:
            await box.aclose()


async def test_retry_after_is_honoured() -> None:
    with recording_server() as rx:
        rx.fail_next(1, status=429)
        rx.retry_after = 30
        clock = FakeClock()
        box = Outbox(None, [ChannelConfig(type="webhook", url=rx.url)], deployment="chat", clock=clock)
        try:
            box.enqueue([make_notification()])
            await box.drain(5)
            [d] = box.deliveries()
            assert d["status"] == "failed" and "HTTP 429" in d["last_error"]
            assert d["next_at"] >= clock.now + 30
        finally:
            await box.aclose()


async def test_max_age_drops_with_a_reason() -> None:
    with recording_server() as rx:
        rx.fail_for(60)
        clock = FakeClock()
        ch = ChannelConfig(type="webhook", url=rx.url, max_age=600)
        box = Outbox(None, [ch], deployment="chat", clock=clock)
        try:
            box.enqueue([make_notification(created_at=clock.now)])
            await box.drain(5)
            assert box.deliveries()[0]["status"] == "failed"
            clock.advance(601)
            await box.drain(5)
            [d] = box.deliveries()
            assert d["status"] == "dropped"
            assert "max_age 600s" in d["last_error"] and "HTTP 500" in d["last_error"]
            assert len(rx.requests) == 0
        finally:
            await box.aclose()


# -- durability -------------------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from tests.receivers import make_notification
    from wsmon_tui.alerts.outbox import Outbox
    from wsmon_tui.config import ChannelConfig
    box = Outbox(Path({db!r}), [ChannelConfig(type="webhook", url={url!r})], deployment="chat")
    ids = box.enqueue([make_notification(created_at=time.time())])
    print("enqueued", ids, flush=True)
    time.sleep(60)  # never sends: killed before
""")


async def test_enqueued_then_kill_9_is_sent_after_restart(tmp_path: Path) -> None:
    db = tmp_path / "state" / "wsmon.db"
    with recording_server() as rx:
        code = _CHILD.format(root=str(ROOT), db=str(db), url=rx.url)
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)  # type: ignore[union-attr]
            assert line.startswith(b"enqueued [1]"), (line, proc.stderr.read() if proc.poll() else b"")  # type: ignore[union-attr]
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
        assert proc.returncode == -signal.SIGKILL
        assert rx.requests == []
        box = Outbox(db, [ChannelConfig(type="webhook", url=rx.url)], deployment="chat")
        async with worker(box):
            [req] = await rx.wait_for(1)
            await wait_status(box, "sent")
        assert req.headers["idempotency-key"] == "fp-1:1"
        rows = report_deliveries(db, 0, time.time() + 1)
        assert [(r["alert_id"], r["channel"], r["kind"], r["status"], r["attempts"]) for r in rows] == [
            ("fp-1", "webhook", "firing", "sent", 1)]
        assert isinstance(rows[0]["sent_at"], float) and rows[0]["last_error"] == ""
        assert delivery_counts(db) == {"pending": 0, "sent": 1, "failed": 0, "dropped": 0,
                                    "failed_permanent": 0, "uncertain": 0}


async def test_enqueue_is_idempotent_and_survives_reopen(tmp_path: Path) -> None:
    db = tmp_path / "wsmon.db"
    chans = [ChannelConfig(type="file", path=str(tmp_path / "a.jsonl")),
             ChannelConfig(type="webhook", name="hook", url="http://127.0.0.1:9/")]
    box = Outbox(db, chans, deployment="chat")
    assert len(box.enqueue([make_notification()])) == 2
    assert box.enqueue([make_notification()]) == []  # same fingerprint:seq
    box.close()
    again = Outbox(db, chans[:1], deployment="chat")  # the webhook channel was removed
    try:
        await again.drain(5)
        by_channel = {d["channel"]: d for d in again.deliveries(fingerprint="fp-1")}
        assert by_channel["file"]["status"] == "sent"
        assert by_channel["hook"]["status"] == "dropped"
        assert "no longer configured" in by_channel["hook"]["last_error"]
    finally:
        again.close()
    assert report_deliveries(tmp_path / "missing.db", 0, 1e12) == []


# -- rate limits ------------------------------------------------------------------------------


async def test_rate_limit_burst_sends_two_then_one_summary_and_loses_nothing() -> None:
    with recording_server() as rx:
        clock = FakeClock()
        ch = ChannelConfig(type="webhook", url=rx.url, rate_limit="2/m")
        box = Outbox(None, [ch], deployment="chat", clock=clock)
        try:
            box.enqueue([make_notification(f"fp-{i}", created_at=clock.now) for i in range(10)])
            await box.drain(5)
            assert len(rx.requests) == 2
            assert sum(d["status"] == "sent" for d in box.deliveries()) == 2
            clock.advance(30)
            await box.drain(5)
            assert len(rx.requests) == 2  # the window is still full
            clock.advance(31)
            await box.drain(5)
            assert len(rx.requests) == 3
            summary = rx.requests[2].json
            assert summary["summary"] == {"count": 8}
            assert summary["commonAnnotations"]["summary"].startswith("8 more notifications: ")
            held = sorted(f"fp-{i}" for i in range(2, 10))
            assert sorted(a["fingerprint"] for a in summary["alerts"]) == held
            rows = box.deliveries()
            assert all(d["status"] == "sent" for d in rows)
            assert [d["via"] for d in rows].count("summary") == 8
            assert len({d["summary_id"] for d in rows if d["via"] == "summary"}) == 1
        finally:
            await box.aclose()


async def test_rate_limited_summary_retries_when_the_receiver_fails() -> None:
    with recording_server() as rx:
        clock = FakeClock()
        box = Outbox(None, [ChannelConfig(type="slack", url=rx.url, rate_limit="1/m")], deployment="chat",
                     clock=clock)
        try:
            box.enqueue([make_notification(f"fp-{i}") for i in range(4)])
            await box.drain(5)
            rx.fail_next(1)
            clock.advance(61)
            await box.drain(5)
            assert len(rx.failed) == 1 and len(rx.requests) == 1
            assert {d["status"] for d in box.deliveries()[1:]} == {"failed"}
            clock.advance(5)
            await box.drain(5)
            assert len(rx.requests) == 2 and rx.requests[1].json["text"].startswith("3 more notifications")
            assert {d["status"] for d in box.deliveries()} == {"sent"}
        finally:
            await box.aclose()


async def test_pagerduty_resolves_bypass_the_rate_limit() -> None:
    with recording_server() as rx:
        clock = FakeClock()
        ch = ChannelConfig(type="pagerduty", url=rx.url, routing_key="key-0123456789", rate_limit="1/h")
        box = Outbox(None, [ch], deployment="chat", clock=clock)
        try:
            box.enqueue([make_notification("a"), make_notification("b"),
                         make_notification("a", 2, "resolved")])
            await box.drain(5)
            actions = [(r.json["event_action"], r.json["dedup_key"]) for r in rx.requests]
            assert actions == [("trigger", "a"), ("resolve", "a")]
        finally:
            await box.aclose()


# -- secrets ----------------------------------------------------------------------------------


async def test_secrets_never_reach_last_error_or_the_database(tmp_path: Path) -> None:
    secret = "s3cr3tT0kenValue0987654321"
    db = tmp_path / "wsmon.db"
    with recording_server() as rx:
        rx.fail_next(5)
        rx.fail_body = f"bad auth Bearer {secret} for ?token={secret}".encode()
        ch = ChannelConfig(type="webhook", url=f"{rx.url}/hook?token={secret}",
                           headers={"Authorization": f"Bearer {secret}"})
        box = Outbox(db, [ch], deployment="chat", secrets={secret})
        try:
            box.enqueue([make_notification()])
            await box.drain(5)
            [d] = box.deliveries()
            assert d["status"] == "failed" and "HTTP 500" in d["last_error"]
            assert secret not in d["last_error"] and "***" in d["last_error"]
            assert rx.failed[0].headers["authorization"] == f"Bearer {secret}"  # it was really sent
        finally:
            await box.aclose()
    for path in tmp_path.glob("wsmon.db*"):
        assert secret.encode() not in path.read_bytes()


async def test_run_stops_promptly_and_enqueue_wakes_it() -> None:
    with recording_server() as rx:
        box = Outbox(None, [ChannelConfig(type="webhook", url=rx.url)], deployment="chat")
        async with worker(box):
            await asyncio.sleep(0.2)  # the worker is idle, asleep for up to 5 s
            started = time.monotonic()
            box.enqueue([make_notification()])
            await rx.wait_for(1, timeout=2)
            assert time.monotonic() - started < 1.5


async def test_prune_forgets_finished_deliveries_and_keeps_open_ones() -> None:
    clock = FakeClock()
    with recording_server() as up, recording_server() as down:
        down.down()
        box = Outbox(None, [ChannelConfig(type="webhook", name="up", url=up.url),
                            ChannelConfig(type="webhook", name="down", url=down.url)],
                     deployment="chat", clock=clock, backoff_base=0.05, backoff_max=0.1)
        box.enqueue([make_notification(seq=1)])
        await box.drain(2)
        assert {d["channel"]: d["status"] for d in box.deliveries()} == {"up": "sent", "down": "failed"}
        assert box.prune(clock() - 1) == 0  # nothing is old enough yet
        clock.advance(3600)
        assert box.prune(clock() - 60) == 1
        # the delivery still owed to the receiver that is down stays, with its notification
        [left] = box.deliveries()
        assert left["channel"] == "down" and left["status"] == "failed" and left["seq"] == 1
        box.close()
