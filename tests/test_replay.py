"""Replaying a real recorded session (tests/replay_support.py): frames in recorded order holding
what the live screens were given, each event on its frame, stepping and jumping, refusals.

The session is recorded once per test run by a real Monitor against the real DemoServer; the
replay reads it back from the SQLite state database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import sqlite3
from pathlib import Path

import pytest

from tests.replay_support import ACK_COMMENT, ACK_USER, RULE, Recorded
from wsmon_tui.config import Config
from wsmon_tui.errors import ReadOnlyError, UsageError, WsmonError
from wsmon_tui.model import Snapshot
from wsmon_tui.replay import ReplayEngine, parse_speed
from wsmon_tui.replay.frames import FrameBuilder
from wsmon_tui.replay.source import StoreReader, find_session
from wsmon_tui.seam import RangeRequest, ReplayEvent
from wsmon_tui.store import Store


def engine_for(rec: Recorded, **kw) -> ReplayEngine:
    return ReplayEngine(rec.state, config=Config(), session=rec.session_id, **kw)


async def until(condition, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def running(engine: ReplayEngine) -> asyncio.Task[str]:
    task = asyncio.create_task(engine.run())
    await until(lambda: engine.shown)
    return task


async def stop(engine: ReplayEngine, task: asyncio.Task[str]) -> str:
    engine.request_stop("user")
    return await asyncio.wait_for(task, 10)


def by_kind(engine: ReplayEngine, kind: str) -> list[ReplayEvent]:
    return [e for e in engine.events if e.kind == kind]


def the_alert(snap: Snapshot, rule: str = RULE):
    return next((a for a in snap.alerts if a.rule == rule), None)


async def test_frames_come_in_recorded_order_and_hold_what_the_live_screens_had(recorded_session):
    rec = recorded_session
    engine = engine_for(rec, speed=10_000)
    seen: list[Snapshot] = []
    engine.subscribe(seen.append)
    frames = len(engine.recording.times)
    task = asyncio.create_task(engine.run())
    await until(lambda: len(seen) >= frames)
    assert await stop(engine, task) == "user"
    times = [s.taken_at for s in seen]
    assert times == sorted(times) and len(set(times)) == len(times) == frames
    assert [s.tick for s in seen] == list(range(1, frames + 1))
    # the frames are the instants the session stored its samples, with the stored values
    with Store.open(rec.state, create=False) as store:
        stored = dict(store.samples("chat-ws", "health_score", 0))
        fleet = dict(store.samples("", "health_score", 0))
    assert set(stored) <= set(times) and len(stored) >= frames - 1
    for snap in seen:
        if snap.taken_at in stored:
            assert snap.targets[0].health_score == stored[snap.taken_at]
        assert snap.health_score == fleet.get(snap.taken_at)
    # and what the live screens were given at the same tick (alerts and rollback: as given)
    compared = 0
    for snap in seen:
        live = rec.live_at(snap.taken_at)
        if live is None:
            continue
        compared += 1
        assert snap.status == live.status, snap.taken_at
        assert [t.status for t in snap.targets] == [t.status for t in live.targets]
        assert snap.targets[0].rtt_ms.p95 == live.targets[0].rtt_ms.p95
        assert snap.targets[0].metrics.get("connections") == live.targets[0].metrics.get("connections")
        assert snap.targets[0].errors == live.targets[0].errors
        assert snap.targets[0].last_probe == live.targets[0].last_probe
        assert snap.deployment.rollout_percent == live.deployment.rollout_percent
        shown = sorted((a.rule, a.state, a.acknowledged_by, a.silenced) for a in snap.alerts)
        assert shown == sorted((a.rule, a.state, a.acknowledged_by, a.silenced) for a in live.alerts), \
            snap.taken_at
        assert snap.rollback is not None and live.rollback is not None
        mine, theirs = snap.rollback, live.rollback
        assert (mine.state, mine.id, mine.steps, mine.auto_count) == \
            (theirs.state, theirs.id, theirs.steps, theirs.auto_count), snap.taken_at
    assert compared == frames
    statuses = [s.status for s in seen]
    assert "critical" in statuses and statuses[0] == "healthy" and statuses[-1] == "healthy"
    # a frame built alone (a step back, a jump) is the frame built in order
    fresh = FrameBuilder(StoreReader(rec.state), engine.recording)
    try:
        assert [fresh.build(i) for i in reversed(range(frames))] == seen[::-1]
    finally:
        fresh.reader.close()
    # what the store never kept is said, not made up
    assert seen[0].not_recorded and "hold" in seen[0].not_recorded
    assert "pending_alerts" not in seen[0].not_recorded  # they are in the alert pictures
    assert seen[0].targets[0].performance_score is None and not seen[0].targets[0].instances


def without_pictures(rec: Recorded, tmp_path: Path) -> Recorded:
    """A copy of the session as a version that wrote no alert and rollback pictures left it:
    its alerts and rollbacks are rebuilt from the stored rows."""
    state = tmp_path / "older"
    state.mkdir(mode=0o700)
    src = sqlite3.connect(rec.state / "wsmon.db")
    dst = sqlite3.connect(state / "wsmon.db")
    try:
        src.backup(dst)
        with dst:
            dst.execute("DELETE FROM events WHERE kind IN ('alerts', 'rollback')")
    finally:
        src.close()
        dst.close()
    return dataclasses.replace(rec, state=state)


@pytest.mark.parametrize("recorded_by", ["this version", "a version without pictures"])
async def test_alert_ack_and_rollback_events_land_on_their_frames(recorded_session, recorded_by, tmp_path):
    rec = recorded_session if recorded_by == "this version" else without_pictures(recorded_session, tmp_path)
    engine = engine_for(rec)
    assert bool(engine.recording.alert_pictures) is (recorded_by == "this version")
    try:
        rec = engine.recording
        kinds = [e.kind for e in engine.events]
        for kind in ("alert_fired", "ack", "rollback_started", "rollback_step", "rollback_verifying",
                     "rollback_finished", "alert_resolved"):
            assert kind in kinds, kinds

        def frames(event: ReplayEvent) -> tuple[Snapshot, Snapshot]:
            k = rec.frame_of(event.at)
            assert k > 0
            return engine.frame(k - 1), engine.frame(k)

        fired = next(e for e in by_kind(engine, "alert_fired") if e.label.startswith(RULE))
        before, at = frames(fired)
        assert (the_alert(at).state, the_alert(at).severity) == ("firing", "critical")
        assert the_alert(before) is None or the_alert(before).state != "firing"
        [ack] = by_kind(engine, "ack")
        assert ack.label == f"{ACK_USER} acknowledged {RULE} on chat-ws: {ACK_COMMENT}"
        assert rec.frame_of(ack.at) > rec.frame_of(fired.at)  # acked from the face, after the tick
        before, at = frames(ack)
        assert (the_alert(at).acknowledged_by, the_alert(at).ack_comment) == (ACK_USER, ACK_COMMENT)
        assert the_alert(before) is None or the_alert(before).acknowledged_by is None
        [started] = by_kind(engine, "rollback_started")
        before, at = frames(started)
        assert before.rollback.state == "idle" and at.rollback.id == 1
        assert at.rollback.state in ("running", "verifying") and at.rollback.auto_count == 1
        progress = next(e for e in by_kind(engine, "alert_fired") if e.label.startswith("RollbackInProgress"))
        assert rec.frame_of(progress.at) >= rec.frame_of(started.at)
        assert the_alert(frames(progress)[1], "RollbackInProgress").state == "firing"
        [step] = by_kind(engine, "rollback_step")
        before, at = frames(step)
        assert not before.rollback.steps
        assert [(s["name"], s["ok"], s["detail"]) for s in at.rollback.steps] == [
            ("disable websocket_enabled", True, "HTTP 200")]
        [finished] = by_kind(engine, "rollback_finished")
        assert finished.label == "rollback #1 verified"
        assert "started" in started.label and "HTTP 200" in step.label
        before, at = frames(finished)
        assert (before.rollback.state, at.rollback.state) == ("verifying", "verified")
        assert at.rollback.finished_at is not None and before.rollback.finished_at is None
        resolved = next(e for e in by_kind(engine, "alert_resolved") if e.label.startswith(RULE))
        before, at = frames(resolved)
        assert (the_alert(before).state, the_alert(at).state) == ("firing", "resolved")
        # in the order they happened, as the database holds them
        assert [e.at for e in engine.events] == sorted(e.at for e in engine.events)
        assert rec.frame_of(fired.at) <= rec.frame_of(ack.at) <= rec.frame_of(started.at) \
            <= rec.frame_of(step.at) <= rec.frame_of(finished.at)
    finally:
        engine.close()


async def test_next_event_and_stepping_move_the_frame(recorded_session):
    engine = engine_for(recorded_session, paused=True)
    task = await running(engine)
    rec = engine.recording
    event_frames = sorted({rec.frame_of(e.at) for e in engine.events})
    try:
        assert engine.position().index == 0 and engine.position().paused
        visited = []
        while (event := engine.jump(1)) is not None:
            want = rec.frame_of(event.at)
            await until(lambda want=want: engine.shown[-1] == want)
            visited.append(engine.position().index)
        assert visited == [f for f in event_frames if f > 0]
        assert engine.latest is not None and engine.latest.taken_at == rec.times[visited[-1]]
        back = engine.jump(-1)
        assert back is not None
        await until(lambda: engine.shown[-1] == visited[-2])
        here = engine.position().index
        engine.step(1)
        await until(lambda: engine.shown[-1] == here + 1)
        engine.step(-1)
        await until(lambda: engine.shown[-1] == here)
        assert engine.latest is not None and engine.latest.taken_at == rec.times[here]
        engine.step(-1000)
        await until(lambda: engine.shown[-1] == 0)
        assert engine.jump(-1) is None
        engine.step(1000)
        await until(lambda: engine.shown[-1] == len(rec.times) - 1)
        assert engine.position().at_end and engine.position().paused
        assert engine.jump(1) is None
        assert engine.toggle_pause() is False  # playing on from the end starts again
        await until(lambda: engine.shown[-1] == 0)
    finally:
        await stop(engine, task)


def _counts(rec: Recorded) -> tuple[int, ...]:
    conn = sqlite3.connect(rec.state / "wsmon.db")
    try:
        return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("alert_acks", "alert_silences", "alert_history", "rollback_actions", "events"))
    finally:
        conn.close()


async def test_a_replay_refuses_every_command_and_writes_nothing(recorded_session):
    before = _counts(recorded_session)
    engine = engine_for(recorded_session, paused=True)
    task = await running(engine)
    try:
        engine.read_only = False
        assert engine.read_only is True
        alert = the_alert(engine.frame(len(engine.recording.times) // 2))
        assert alert is not None
        for command in (engine.acknowledge(alert.id, "bob", "x"), engine.unacknowledge(alert.id, "bob"),
                        engine.silence(rule=RULE, target=None, duration=60.0, comment="x", user="bob"),
                        engine.rollback(reason="x", user="bob")):
            with pytest.raises(ReadOnlyError, match="replay is read-only"):
                await command
        assert (await engine.refresh_now()).taken_at == engine.recording.times[0]
    finally:
        await stop(engine, task)
    assert _counts(recorded_session) == before


async def test_history_answers_never_run_past_the_frame_on_screen(recorded_session):
    engine = engine_for(recorded_session, paused=True)
    task = await running(engine)
    try:
        rec = engine.recording
        k = len(rec.times) // 2
        engine.seek(k)
        await until(lambda: engine.shown[-1] == k)
        want = RangeRequest("chat-ws", "rtt_p95")
        points = (await engine.metric_ranges([want], rec.start, math.inf))[want]
        assert points and points[-1][0] == rec.times[k] and all(ts <= rec.times[k] for ts, _ in points)
        info = await engine.rule_info("HealthCritical")
        assert info is None or info.name == "HealthCritical"
        report = await engine.report("md")
        assert recorded_session.session_id in report and "wsmon-tui replay" in report
    finally:
        await stop(engine, task)


def test_the_latest_ended_session_of_the_deployment_is_the_default(recorded_session):
    reader = StoreReader(recorded_session.state)
    try:
        assert find_session(reader, None, deployment="demo-chat")["id"] == recorded_session.session_id
        assert find_session(reader, None, deployment=None)["id"] == recorded_session.session_id
        assert find_session(reader, recorded_session.session_id[:17], deployment=None)["id"] == \
            recorded_session.session_id
        with pytest.raises(WsmonError, match="no ended session of deployment 'other'") as info:
            find_session(reader, None, deployment="other")
        assert info.value.exit_code == 1
        with pytest.raises(WsmonError, match="no session 'nope'") as info:
            find_session(reader, "nope", deployment=None)
        assert info.value.exit_code == 2
    finally:
        reader.close()


def test_speed_is_a_positive_factor():
    assert parse_speed("4") == 4.0 and parse_speed("0.5x") == 0.5 and parse_speed("×2") == 2.0
    for bad in ("0", "-1", "fast", "inf", "nan"):
        with pytest.raises(UsageError, match="--speed"):
            parse_speed(bad)
