"""History that answers: the report's figures from the grouped and per-series reads are the
figures of reading every row (the code before schema 3), the migration keeps the data, the
writer settles samples by series, and the series reads use the series key."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from wsmon_tui.config import Config
from wsmon_tui.model import counts_close_code, counts_http_status
from wsmon_tui.report.build import build_report
from wsmon_tui.stats import percentiles
from wsmon_tui.store import DB_NAME, SCHEMA_VERSION, Store
from wsmon_tui.store.writer import SETTLE_EVERY, SETTLE_LAG

END = 1_800_000_000.0


def _gen() -> Any:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gen_history.py"
    spec = importlib.util.spec_from_file_location("gen_history", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_history", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("history")
    _gen().generate(state, targets=12, hours=2.0, interval=10.0, rolled_hours=1.0, seed=3, end=END)
    return state


class EveryRow:
    """The store read the way it was before schema 3: every row of the window, in Python."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = store.path

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def samples(self, target: str, metric: str, since: float, until: float | None = None) -> list:
        hi = float("inf") if until is None else until
        rows = self.store._read(
            "SELECT minute, avg FROM rollups r JOIN series s ON s.id = r.series_id WHERE s.target = ?1"
            " AND s.metric = ?2 UNION ALL SELECT ts, value FROM series_samples r JOIN series s ON"
            " s.id = r.series_id WHERE s.target = ?1 AND s.metric = ?2 UNION ALL SELECT ts, value FROM"
            " samples r JOIN series s ON s.id = r.series_id WHERE s.target = ?1 AND s.metric = ?2",
            (target, metric))
        return sorted((ts, v) for ts, v in rows if since <= ts <= hi)

    def last_values(self, pairs: Any, since: float, until: float | None = None) -> dict:
        out = {}
        for pair in pairs:
            points = self.samples(*pair, since, until)
            if points:
                out[pair] = points[-1][1]
        return out

    def probe_summary(self, *, since: float, until: float | None = None,
                      session_id: str | None = None) -> dict[str, dict]:
        """The loop over every probe row that ``probe_summary`` was before."""
        rows = self.store._read("SELECT target, ts, ok, error_class, detail, handshake_ms, rtt_ms,"
                                " close_code, http_status, session_id FROM probes ORDER BY ts, id")
        out: dict[str, dict] = {}
        lat: dict[str, tuple[list[float], list[float]]] = {}
        hi = float("inf") if until is None else until
        for target, ts, ok, eclass, detail, hs, rtt, code, status, sid in rows:
            if not since <= ts <= hi or (session_id is not None and sid != session_id):
                continue
            s = out.get(target)
            if s is None:
                s = out[target] = {"probes": 0, "ok": 0, "errors": {}, "close_codes": {}, "http_statuses": {},
                                   "first_ts": ts, "last_ts": ts, "last_error": None}
                lat[target] = ([], [])
            s["probes"] += 1
            s["last_ts"] = ts
            if ok:
                s["ok"] += 1
            else:
                key = eclass or "unknown"
                s["errors"][key] = s["errors"].get(key, 0) + 1
                s["last_error"] = {"ts": ts, "error_class": eclass, "detail": detail,
                                   "close_code": code, "http_status": status}
            if counts_close_code(bool(ok), code):
                s["close_codes"][str(code)] = s["close_codes"].get(str(code), 0) + 1
            if counts_http_status(bool(ok), status):
                s["http_statuses"][str(status)] = s["http_statuses"].get(str(status), 0) + 1
            if hs is not None:
                lat[target][0].append(hs)
            if rtt is not None:
                lat[target][1].append(rtt)
        for target, s in out.items():
            s["success_rate"] = s["ok"] / s["probes"]
            s["error_rate"] = 1.0 - s["success_rate"]
            for key, values in (("handshake_ms", lat[target][0]), ("rtt_ms", lat[target][1])):
                p50, p95, p99 = percentiles(values)
                s[key] = {"p50": p50, "p95": p95, "p99": p99}
        return out


@pytest.mark.parametrize("since, session", [(END - 7200, False), (END - 9000, False), (END - 5000, True)])
def test_report_figures_are_those_of_reading_every_row(history, since, session):
    with Store.open(history, create=False) as store:
        sid = store.latest_session()["id"] if session else None
        fast = build_report(store, Config(), since=since, until=END - 100, session_id=sid)
        slow = build_report(EveryRow(store), Config(), since=since, until=END - 100, session_id=sid)
        assert store.probe_summary(since=since, until=END - 100, session_id=sid) == \
            EveryRow(store).probe_summary(since=since, until=END - 100, session_id=sid)
    fast.pop("generated_at")
    slow.pop("generated_at")
    assert fast == slow
    assert sum(t["probes"] for t in fast["targets"]) > 0
    assert any(t["errors"] for t in fast["targets"]) and any(t["close_codes"] for t in fast["targets"])
    assert fast["targets"][0]["metrics"]["connections"] is not None
    assert set(fast["resources"]) == {"cpu_percent", "memory_percent", "rss_mb"}


def test_last_values_take_the_newest_of_rollups_settled_and_unsettled(history):
    with Store.open(history, create=False) as store:
        slow = EveryRow(store)
        pairs = [(f"ws-{i:03d}", m) for i in range(12) for m in ("connections", "rtt_p95", "nope")]
        for since, until in ((END - 7200, None), (END - 8000, END - 7000), (END - 9000, END - 7300),
                             (END - 100, END)):
            assert store.last_values(pairs, since, until) == slow.last_values(pairs, since, until)
            assert store.samples("ws-003", "rtt_p95", since, until) == \
                slow.samples("ws-003", "rtt_p95", since, until)


def test_minute_points_are_the_rollups_cleanup_would_make(history, tmp_path):
    with Store.open(history, create=False) as store:
        points = store.minute_points("", "cpu_percent", END - 9000, END)
        raw = store.samples("", "cpu_percent", END - 7200, END)
    minutes: dict[float, list[float]] = {}
    for ts, v in raw:
        minutes.setdefault(int(ts / 60) * 60.0, []).append(v)
    got = dict(points)
    assert len(points) == 150  # 30 rolled minutes before the window, 120 in it
    for minute, values in minutes.items():
        assert got[minute] == pytest.approx(sum(values) / len(values))


def test_series_reads_use_the_series_key(history):
    with Store.open(history, create=False) as store:
        seen: list[str] = []
        store._conn.set_trace_callback(seen.append)
        store.samples("ws-001", "rtt_p95", END - 7200, END)
        store.minute_points("ws-001", "rtt_p95", END - 7200, END)
        store.last_values([("ws-001", "connections")], END - 7200, END)
        store._conn.set_trace_callback(None)
        plans = [" ".join(r[3] for r in store._conn.execute("EXPLAIN QUERY PLAN " + sql))
                 for sql in seen if "series_samples" in sql]
    assert len(plans) == 3
    for plan in plans:
        assert "SEARCH series_samples USING PRIMARY KEY (series_id=? AND ts>? AND ts<?)" in plan, plan
        assert "SEARCH rollups USING PRIMARY KEY (series_id=? AND minute>? AND minute<?)" in plan, plan
        assert "SCAN series_samples" not in plan and "SCAN samples" not in plan, plan


def _as_schema_2(db: Path) -> None:
    """Turn a store into what schema 2 wrote: every raw sample in ``samples``."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO samples (ts, series_id, value) SELECT ts, series_id, value FROM series_samples")
    conn.execute("DROP TABLE series_samples")
    conn.execute("PRAGMA user_version = 2")
    conn.execute("COMMIT")
    conn.close()


def _table(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute(sql).fetchall())
    finally:
        conn.close()


def test_migration_from_schema_2_keeps_every_sample(tmp_path):
    with Store.open(tmp_path) as store:
        sid = store.begin_session(deployment="d", version="1", level="standard", config_digest="x",
                                  interval=1.0, targets=[("edge", "ws://e")])
        for i in range(100):
            store.record_samples(sid, END + i, [("edge", "rtt_p95", float(i)), ("", "cpu_percent", i / 2)])
        assert store.flush()
        store.cleanup(END + 100, retention_raw=40, retention=86400)
        before = store.samples("edge", "rtt_p95", 0)
        rollups = store.rollups("edge", "rtt_p95", 0)
    db = tmp_path / DB_NAME
    _as_schema_2(db)
    old_rows = _table(db, "SELECT series_id, ts, value FROM samples")
    assert old_rows and rollups

    with Store.open(tmp_path) as store:
        assert store.samples("edge", "rtt_p95", 0) == before
        assert store.rollups("edge", "rtt_p95", 0) == rollups
        assert store.session(sid) is not None
    assert _table(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _table(db, "SELECT series_id, ts, value FROM series_samples") == old_rows
    assert _table(db, "SELECT * FROM samples") == []


def test_a_failed_migration_leaves_schema_2_as_it_was(tmp_path):
    with Store.open(tmp_path) as store:
        store.record_samples("s", END, [("edge", "m", 1.0)])
        assert store.flush()
    db = tmp_path / DB_NAME
    _as_schema_2(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE series_samples (x)")  # in the way of the migration
    conn.close()
    with pytest.raises(Exception, match="series_samples"):
        Store.open(tmp_path)
    assert _table(db, "PRAGMA user_version") == [(2,)]
    assert _table(db, "SELECT series_id, ts, value FROM samples") == [(1, END, 1.0)]


def test_the_writer_settles_old_samples_by_series(tmp_path):
    with Store.open(tmp_path) as store:
        n = int(SETTLE_EVERY) + 30
        for i in range(n):
            store.record_samples("s", END + i, [("a", "m", float(i)), ("b", "m", -float(i))])
        assert store.flush()
        settled = store._read("SELECT count(*), max(ts) FROM series_samples")[0]
        waiting = store._read("SELECT count(*), min(ts) FROM samples")[0]
        assert settled[0] + waiting[0] == 2 * n
        assert settled[0] > 0 and settled[1] < END + n - SETTLE_LAG
        assert waiting[0] >= 2 * SETTLE_LAG
        assert [v for _, v in store.samples("a", "m", 0)] == [float(i) for i in range(n)]
        assert store.last_values([("b", "m")], 0) == {("b", "m"): -float(n - 1)}
        store.cleanup(END + n + 3600, retention_raw=3600 + 60, retention=86400)
        assert sum(r[4] for r in store.rollups("a", "m", 0)) > 0
        cut = (END + n - 60) // 60 * 60  # cleanup cuts on a minute
        assert store._read("SELECT count(*) FROM series_samples WHERE ts < ?", (cut,))[0][0] == 0
        assert store._read("SELECT count(*) FROM series_samples WHERE ts >= ?", (cut,))[0][0] > 0
