"""The SQLite store against real files: sessions, samples and rollups, probes, events,
durability across kill -9, two processes at once, corrupt files and permissions."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from wsmon_tui.errors import StoreError
from wsmon_tui.model import ProbeResult
from wsmon_tui.stats import percentile, percentiles
from wsmon_tui.store import DB_NAME, SCHEMA_VERSION, Store

REPO = Path(__file__).resolve().parents[1]
T0 = 1_800_000_000.0  # a minute boundary (divisible by 60)


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "state")
    try:
        yield s
    finally:
        s.close()


def _begin(store: Store, **kw) -> str:
    args = {"deployment": "chat", "version": "v2", "level": "standard", "config_digest": "abc",
            "interval": 5.0, "targets": [("edge", "ws://127.0.0.1:1/ws")], "started_at": T0}
    args.update(kw)
    return store.begin_session(**args)


def _run_child(tmp_path: Path, code: str, *args: str) -> subprocess.Popen:
    script = tmp_path / f"child_{time.monotonic_ns()}.py"
    script.write_text(textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


# -- opening -------------------------------------------------------------------------------


def test_open_creates_private_dir_and_file(tmp_path):
    state = tmp_path / "a" / "state"
    with Store.open(state) as s:
        _begin(s)
        assert s.flush()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / DB_NAME).stat().st_mode) == 0o600
    for extra in (state / f"{DB_NAME}-wal", state / f"{DB_NAME}-shm"):
        if extra.exists():
            assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0
    conn = sqlite3.connect(state / DB_NAME)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_open_tightens_loose_permissions(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    (state / DB_NAME).touch()
    (state / DB_NAME).chmod(0o644)
    Store.open(state).close()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / DB_NAME).stat().st_mode) == 0o600


def test_corrupt_file_names_the_file_and_how_to_move_it(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / DB_NAME).write_bytes(b"this is not sqlite at all\n" * 200)
    with pytest.raises(StoreError) as err:
        Store.open(state)
    msg = str(err.value)
    assert str(state / DB_NAME) in msg
    assert f"mv {state / DB_NAME} {state / DB_NAME}.corrupt-" in msg
    assert "run again" in msg


def test_unusable_state_dir_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=str(blocker / "state")):
        Store.open(blocker / "state")


def test_open_without_create_needs_history(tmp_path):
    with pytest.raises(StoreError, match="no history"):
        Store.open(tmp_path / "none", create=False)
    assert not (tmp_path / "none").exists()
    Store.open(tmp_path / "s").close()
    Store.open(tmp_path / "s", create=False).close()


def test_newer_schema_is_refused(tmp_path):
    Store.open(tmp_path / "s").close()
    conn = sqlite3.connect(tmp_path / "s" / DB_NAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer wsmon-tui"):
        Store.open(tmp_path / "s")


# -- sessions --------------------------------------------------------------------------------


def test_session_lifecycle(store):
    sid = _begin(store, host="bastion", user="ops")
    assert sid.startswith("20270115-080000-") and len(sid) == len("20270115-080000-ab12")
    s = store.session(sid)
    assert s is not None
    assert (s["deployment"], s["version"], s["level"], s["interval"]) == ("chat", "v2", "standard", 5.0)
    assert s["targets"] == [("edge", "ws://127.0.0.1:1/ws")]
    assert (s["host"], s["user"], s["pid"]) == ("bastion", "ops", os.getpid())
    assert s["ended_at"] is None and s["last_seen"] == T0

    store.heartbeat(sid, at=T0 + 30, status="degraded", health_score=71.5, summary={"targets": {"edge": 1}})
    assert store.flush()
    s = store.session(sid)
    assert (s["last_seen"], s["status"], s["health_score"]) == (T0 + 30, "degraded", 71.5)
    assert s["summary"] == {"targets": {"edge": 1}}

    store.end_session(sid, "sigterm", ended_at=T0 + 40)
    store.end_session(sid, "user", ended_at=T0 + 50)  # the first end wins
    s = store.session(sid)
    assert (s["ended_at"], s["ended_by"]) == (T0 + 40, "sigterm")
    with pytest.raises(ValueError):
        store.end_session(sid, "because")
    assert store.session("nope") is None


def test_sessions_filters_and_latest(store):
    a = _begin(store, version="v1", started_at=T0)
    store.end_session(a, "duration", ended_at=T0 + 100)
    b = _begin(store, version="v2", started_at=T0 + 200)
    c = _begin(store, deployment="other", started_at=T0 + 300)
    assert [s["id"] for s in store.sessions()] == [a, b, c]
    assert [s["id"] for s in store.sessions(deployment="chat")] == [a, b]
    assert [s["id"] for s in store.sessions(deployment="chat", version="v1")] == [a]
    assert [s["id"] for s in store.sessions(since=T0 + 150)] == [b, c]  # a ended before
    assert store.latest_session()["id"] == c
    assert len({a, b, c}) == 3


def test_mark_crashed_sessions(store):
    old = _begin(store, started_at=T0)
    fresh = _begin(store, started_at=T0)
    ended = _begin(store, started_at=T0)
    store.end_session(ended, "user", ended_at=T0 + 5)
    store.heartbeat(old, at=T0 + 10, status="healthy", health_score=100, summary={})
    store.heartbeat(fresh, at=T0 + 95, status="healthy", health_score=100, summary={})
    assert store.flush()
    assert store.mark_crashed_sessions(stale_after=30, now=T0 + 100) == [old]
    s = store.session(old)
    assert (s["ended_by"], s["ended_at"]) == ("crash", T0 + 10)
    assert store.session(fresh)["ended_at"] is None
    assert store.session(ended)["ended_by"] == "user"
    assert store.mark_crashed_sessions(stale_after=30, now=T0 + 100) == []


# -- samples and rollups -------------------------------------------------------------------------


def test_samples_round_trip(store):
    for i in range(10):
        store.record_samples("s", T0 + i, [("edge", "rtt_p95", float(i)), ("", "cpu_percent", 50.0 + i)])
    store.record_samples("s", T0 + 4, [("edge", "rtt_p95", float("nan"))])  # skipped
    assert store.flush()
    got = store.samples("edge", "rtt_p95", T0 + 2, T0 + 5)
    assert got == [(T0 + 2, 2.0), (T0 + 3, 3.0), (T0 + 4, 4.0), (T0 + 5, 5.0)]
    assert len(store.samples("", "cpu_percent", 0)) == 10
    assert store.samples("edge", "missing", 0) == []
    assert set(store.series()) == {("edge", "rtt_p95"), ("", "cpu_percent")}
    assert store.dropped_writes == 0


def test_a_batch_reaches_the_writer_as_one_item_and_one_transaction(store):
    """The monitor hands over a tick at once: the writer thread wakes once for it."""
    sid = _begin(store)
    writes: list[int] = []
    real = store._write_batch

    def counting(items, rows):
        writes.append(rows)
        real(items, rows)

    store._write_batch = counting
    assert store.flush()
    with store.batch():
        store.record_samples(sid, T0 + 1, [("edge", "m", 1.0), ("edge", "n", 2.0)])
        store.record_probes(sid, [ProbeResult("edge", T0 + 1, True, handshake_ms=3.0),
                                  ProbeResult("edge", T0 + 1.5, False, "refused", "no")])
        store.heartbeat(sid, at=T0 + 1, status="healthy", health_score=99.0, summary={})
        with store.batch():  # nested: joins the outer batch
            store.record_samples(sid, T0 + 1, [("edge", "o", 3.0)])
        assert store._queue.qsize() == 0  # nothing handed over yet
    assert store._queue.qsize() <= 1
    assert store.flush()
    assert writes == [6]  # 3 samples + 2 probes + 1 heartbeat, one transaction
    assert store.samples("edge", "o", 0) == [(T0 + 1, 3.0)]
    assert store.probe_summary(since=0, session_id=sid)["edge"]["probes"] == 2
    assert store.session(sid)["health_score"] == 99.0


def test_cleanup_rolls_up_whole_minutes(store):
    # three minutes of 1 s samples: values 0..179
    for i in range(180):
        store.record_samples("s", T0 + i, [("edge", "m", float(i))])
    assert store.flush()
    now = T0 + 150 + 3600  # raw kept one hour: cut at T0+120 (a minute boundary)
    store.cleanup(now, retention_raw=3600, retention=86400)
    assert store.rollups("edge", "m", 0) == [
        (T0, 0.0, 59.0, 29.5, 60),
        (T0 + 60, 60.0, 119.0, 89.5, 60),
    ]
    got = store.samples("edge", "m", T0, T0 + 125)
    assert got == [(T0, 29.5), (T0 + 60, 89.5), *[(T0 + i, float(i)) for i in range(120, 126)]]

    # a late sample for an already rolled-up minute is merged, not lost
    store.record_samples("s", T0 + 30.5, [("edge", "m", 1000.0)])
    assert store.flush()
    store.cleanup(now, retention_raw=3600, retention=86400)
    first = store.rollups("edge", "m", 0)[0]
    assert first[:3] == (T0, 0.0, 1000.0) and first[4] == 61
    assert first[3] == pytest.approx((29.5 * 60 + 1000) / 61)

    # rollups older than the retention go
    store.cleanup(T0 + 86400 + 90, retention_raw=3600, retention=86400)
    assert [r[0] for r in store.rollups("edge", "m", 0)] == [T0 + 120]
    assert store.samples("edge", "m", 0)[0] == (T0 + 120, pytest.approx(149.5))


def test_cleanup_shrinks_the_file(tmp_path):
    with Store.open(tmp_path / "s") as s:
        for i in range(600):
            s.record_samples("s", T0 + i, [(f"t{k}", "m", float(i)) for k in range(50)])
        assert s.flush(10)
        s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = (tmp_path / "s" / DB_NAME).stat().st_size
        s.cleanup(T0 + 10_000, retention_raw=60, retention=86400)
        s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        after = (tmp_path / "s" / DB_NAME).stat().st_size
        assert len(s.rollups("t0", "m", 0)) == 10
    assert after < before / 3


# -- probes --------------------------------------------------------------------------------


def test_probe_summary(store):
    sid = _begin(store)
    results = [ProbeResult("edge", T0 + i, True, handshake_ms=float(i + 1), rtt_ms=0.5 * (i + 1),
                           close_code=1000) for i in range(10)]
    results += [
        ProbeResult("edge", T0 + 20, False, "closed", "abnormal [bold]x", close_code=1006),
        ProbeResult("edge", T0 + 21, False, "http_status", "503 from upstream", http_status=503),
        ProbeResult("edge", T0 + 22, False, "timeout", "no reply in 2s"),
        ProbeResult("api", T0 + 5, False, "refused", "connection refused"),
    ]
    for r in results:
        store.record_probes(sid, [r])
    store.record_probes("other", [ProbeResult("edge", T0 + 30, True, handshake_ms=999.0)])
    assert store.flush()

    summ = store.probe_summary(since=T0, session_id=sid)
    edge = summ["edge"]
    assert (edge["probes"], edge["ok"]) == (13, 10)
    assert edge["success_rate"] == pytest.approx(10 / 13)
    assert edge["error_rate"] == pytest.approx(3 / 13)
    assert edge["errors"] == {"closed": 1, "http_status": 1, "timeout": 1}
    assert edge["close_codes"] == {"1006": 1}
    assert edge["http_statuses"] == {"503": 1}
    assert edge["handshake_ms"] == {"p50": 5.5, "p95": pytest.approx(9.55), "p99": pytest.approx(9.91)}
    assert edge["rtt_ms"]["p50"] == pytest.approx(2.75)
    assert (edge["first_ts"], edge["last_ts"]) == (T0, T0 + 22)
    assert edge["last_error"]["error_class"] == "timeout"
    assert summ["api"]["errors"] == {"refused": 1}
    assert summ["api"]["handshake_ms"] == {"p50": None, "p95": None, "p99": None}

    everything = store.probe_summary(since=T0)
    assert everything["edge"]["probes"] == 14
    window = store.probe_summary(since=T0 + 20, until=T0 + 21)
    assert window["edge"]["probes"] == 2 and "api" not in window


def test_cleanup_drops_old_probe_results(store):
    store.record_probes("s", [ProbeResult("edge", T0, True, handshake_ms=1.0),
                              ProbeResult("edge", T0 + 7200, False, "refused", "refused")])
    assert store.flush()
    store.cleanup(T0 + 3600 + 60, retention_raw=60, retention=3600)
    assert store.probe_summary(since=0)["edge"]["probes"] == 1
    assert store.probe_summary(since=0)["edge"]["errors"] == {"refused": 1}


def test_percentile_interpolates():
    """The store's report figures use the one shared percentile."""
    assert percentiles([]) == (None, None, None)
    assert percentiles([3.0, 1.0, 2.0, 4.0])[0] == 2.5
    assert percentile([4.0], 99) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5


# -- events --------------------------------------------------------------------------------


def test_events_are_committed_at_once_and_filtered(store, tmp_path):
    sid = _begin(store)
    a = store.record_event(sid, "alert_firing", T0 + 1, {"rule": "errors", "value": 0.2})
    b = store.record_event(sid, "ack", T0 + 2, {"user": "ana", "comment": "looking"})
    c = store.record_event(None, "rollback", T0 + 3, {"state": "verified"})
    assert a < b < c
    # another connection sees them without any flush: they are committed
    conn = sqlite3.connect(tmp_path / "state" / DB_NAME)
    try:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 3
    finally:
        conn.close()
    assert [e["kind"] for e in store.events()] == ["alert_firing", "ack", "rollback"]
    assert store.events(kinds=["ack"])[0] == {"id": b, "session_id": sid, "kind": "ack", "at": T0 + 2,
                                              "data": {"user": "ana", "comment": "looking"}}
    assert [e["id"] for e in store.events(since=T0 + 2)] == [b, c]
    assert [e["id"] for e in store.events(until=T0 + 2)] == [a, b]
    assert [e["id"] for e in store.events(session_id=sid)] == [a, b]
    assert store.events(kinds=[]) == []


# -- the writer under trouble ---------------------------------------------------------------------


def test_locked_database_counts_dropped_writes_and_recovers(tmp_path):
    s = Store.open(tmp_path / "s", busy_timeout=0.2)
    blocker = sqlite3.connect(tmp_path / "s" / DB_NAME, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        t = time.monotonic()
        s.record_samples("s", T0, [("edge", "m", 1.0), ("edge", "n", 2.0)])
        assert time.monotonic() - t < 0.05  # queued, never blocked
        assert s.flush(5)
        assert s.dropped_writes == 2
        assert "locked" in s.last_write_error
        blocker.execute("ROLLBACK")
        s.record_samples("s", T0 + 1, [("edge", "m", 3.0)])
        assert s.flush(5)
        assert s.samples("edge", "m", 0) == [(T0 + 1, 3.0)]
        assert s.dropped_writes == 2
    finally:
        blocker.close()
        s.close()


def test_closed_store_drops_and_says_so(tmp_path):
    s = Store.open(tmp_path / "s")
    s.close()
    s.close()
    s.record_samples("s", T0, [("edge", "m", 1.0)])
    assert s.dropped_writes == 1
    assert not s.flush(0.1)
    with pytest.raises(StoreError):
        s.events()


def test_writer_commits_on_its_own_within_a_batch_interval(store, tmp_path):
    store.record_samples("s", T0, [("edge", "m", 1.0)])
    conn = sqlite3.connect(tmp_path / "state" / DB_NAME)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if conn.execute("SELECT count(*) FROM samples").fetchone()[0] == 1:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the queued sample was never committed")
    finally:
        conn.close()


# -- real processes --------------------------------------------------------------------------------

_WRITER = """
import sys, time
from pathlib import Path
from wsmon_tui.store import Store
s = Store.open(Path(sys.argv[1]))
sid = s.begin_session(deployment="d", version="v", level="debug", config_digest="x", interval=1.0,
                      targets=[("t", "ws://127.0.0.1:1")])
i = 0
while True:
    s.record_samples(sid, float(i), [("t", "m%d" % k, float(i)) for k in range(20)])
    if i % 25 == 0:
        s.record_event(sid, "tick", float(i), {"i": i})
    if i % 100 == 99:
        assert s.flush(5)
        print("flushed", i, flush=True)
    i += 1
    if i % 10 == 0:
        time.sleep(0.001)
"""


def test_kill_9_keeps_everything_committed(tmp_path):
    state = tmp_path / "state"
    proc = _run_child(tmp_path, _WRITER, str(state))
    last_flushed = -1
    try:
        deadline = time.monotonic() + 30
        while last_flushed < 500 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            last_flushed = int(line.split()[1])
        assert last_flushed >= 500, proc.stderr.read() if proc.poll() is not None else "too slow"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    conn = sqlite3.connect(state / DB_NAME)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    with Store.open(state) as s:
        ts = [t for t, _ in s.samples("t", "m0", 0)]
        assert ts == [float(i) for i in range(len(ts))]  # batches land whole and in order
        assert len(ts) > last_flushed
        for k in range(1, 20):  # one record_samples call is never split between batches
            assert len(s.samples("t", f"m{k}", 0)) == len(ts)
        ticks = [e["data"]["i"] for e in s.events(kinds=["tick"])]
        assert ticks[: last_flushed // 25 + 1] == list(range(0, last_flushed + 1, 25))
        # the session was never ended: the next monitor marks it crashed
        assert s.mark_crashed_sessions(stale_after=0, now=time.time() + 1) == [s.latest_session()["id"]]
        assert s.latest_session()["ended_by"] == "crash"


_CONCURRENT = """
import sys, time
from pathlib import Path
from wsmon_tui.store import Store
state, name, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
print("ready", flush=True)
for _ in range(1000):  # start together: both create the schema and write at once
    if go.exists():
        break
    time.sleep(0.01)
s = Store.open(state)
sid = s.begin_session(deployment=name, version="v", level="debug", config_digest="x", interval=1.0,
                      targets=[(name, "ws://127.0.0.1:1")])
for i in range(5000):
    s.record_samples(sid, float(i), [(name, "a", float(i)), (name, "b", -float(i))])
    if i % 100 == 0:
        s.record_event(sid, "tick", float(i), {"who": name})
s.end_session(sid, "duration")
s.close()
print("dropped", s.dropped_writes, flush=True)
"""


def test_two_processes_write_at_once(tmp_path):
    state = tmp_path / "state"
    go = tmp_path / "go"
    procs = [_run_child(tmp_path, _CONCURRENT, str(state), name, str(go)) for name in ("p1", "p2")]
    for p in procs:
        assert p.stdout.readline() == "ready\n"
    go.touch()
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        assert p.returncode == 0, err
        outs.append(out)
    assert outs == ["dropped 0\n", "dropped 0\n"]
    with Store.open(state) as s:
        for name in ("p1", "p2"):
            assert len(s.samples(name, "a", 0)) == 5000
            assert len(s.samples(name, "b", 0)) == 5000
            assert len([e for e in s.events(kinds=["tick"]) if e["data"]["who"] == name]) == 50
        assert sorted(x["deployment"] for x in s.sessions()) == ["p1", "p2"]
        assert all(x["ended_by"] == "duration" for x in s.sessions())


def test_store_imports_no_ui():
    code = "import sys, wsmon_tui.store; assert 'textual' not in sys.modules and 'rich' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
