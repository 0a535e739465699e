"""SQLite history: sessions, time series with 1-minute rollups, probe results and an event log.

One file, ``<state_dir>/wsmon.db`` (0600, in a 0700 dir), in WAL mode with
``synchronous=NORMAL`` and a busy timeout, so several wsmon processes (a monitor, a
``status`` or ``report`` run, a second monitor) can share one state dir.

Two connections per process:

* the **writer** thread owns one: samples, probe results and heartbeats are queued by
  the engine (``record_*`` never block the event loop) and written in batches, one
  transaction per batch: whatever is waiting when the writer wakes, up to ~1000 rows
  (the monitor hands over a whole tick as one item, ``Store.batch``). A batch that cannot be written
  (disk full, locked past the busy timeout) is counted in ``dropped_writes`` and
  ``last_write_error``; the writer never raises into the caller and keeps going.
* the **caller** connection (guarded by a lock) serves reads and the few synchronous
  writes: sessions begin/end and ``record_event``, committed before returning because
  people act on them.

Samples. Raw samples are appended to a plain rowid table ``(ts, series_id, value)`` with
an index on ``ts`` only, next to a small ``series(id, target, metric)`` table. Samples
arrive in time order, so every commit touches only the right-hand edge of both B-trees:
~40 B a sample on disk and ~0.5 M samples/s through ``record_samples`` + ``flush`` (2x a
bare executemany without any index; see benchmarks/bench_store.py). The alternative,
clustering by series (``WITHOUT ROWID`` keyed ``(series_id, ts)``, 24 B a sample), makes
a one-series query a range read but dirties one page per series on every commit: ~4 KB
of WAL a sample and ~8x slower, I/O bound (``bench_store.py --compare``). The price of the choice:
a one-series query reads every sample in its time window (~30 ms for 300 s of 1000
series at 1 s), and reports mostly want every series of a window anyway.
``cleanup`` rolls raw samples older than ``retention_raw`` into one row per series per
minute (min, max, avg, count; keyed by series, so long-range reads are range reads) and
deletes rollups and probe results older than ``retention``. The file uses
``auto_vacuum=INCREMENTAL`` so the space a cleanup frees goes back to the file system.
"""

from __future__ import annotations

import atexit
import contextlib
import getpass
import json
import math
import os
import queue
import secrets
import shlex
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsmon_tui.errors import StoreError
from wsmon_tui.paths import create_private_file, ensure_state_dir
from wsmon_tui.sqlite_util import immediate
from wsmon_tui.stats import percentiles

if TYPE_CHECKING:  # only attributes are read; keeps the store importable on its own
    from wsmon_tui.model import ProbeResult

DB_NAME = "wsmon.db"
SCHEMA_VERSION = 1
ENDED_BY = frozenset({"duration", "sigint", "sigterm", "sighup", "user", "error", "crash"})

BATCH_ROWS = 1000
QUEUE_MAX = 20_000
"""Queued items (one ``record_*`` call each) before new ones are dropped and counted."""

_SCHEMA = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    deployment TEXT NOT NULL,
    version TEXT NOT NULL,
    level TEXT NOT NULL,
    config_digest TEXT NOT NULL,
    interval REAL NOT NULL,
    targets TEXT NOT NULL,
    host TEXT,
    user TEXT,
    pid INTEGER,
    started_at REAL NOT NULL,
    ended_at REAL,
    ended_by TEXT,
    last_seen REAL NOT NULL,
    status TEXT,
    health_score REAL,
    summary TEXT
);
CREATE INDEX sessions_started ON sessions(started_at);
CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    metric TEXT NOT NULL,
    UNIQUE (target, metric)
);
CREATE TABLE samples (
    ts REAL NOT NULL,
    series_id INTEGER NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX samples_ts ON samples(ts);
CREATE TABLE rollups (
    series_id INTEGER NOT NULL,
    minute REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    avg REAL NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (series_id, minute)
) WITHOUT ROWID;
CREATE TABLE probes (
    id INTEGER PRIMARY KEY,
    session_id TEXT,
    target TEXT NOT NULL,
    ts REAL NOT NULL,
    ok INTEGER NOT NULL,
    error_class TEXT,
    detail TEXT NOT NULL DEFAULT '',
    connect_ms REAL,
    handshake_ms REAL,
    rtt_ms REAL,
    ping_ms REAL,
    duration_ms REAL,
    close_code INTEGER,
    close_reason TEXT NOT NULL DEFAULT '',
    http_status INTEGER
);
CREATE INDEX probes_ts ON probes(ts);
CREATE INDEX probes_session ON probes(session_id, ts);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_at ON events(at);
CREATE INDEX events_kind ON events(kind, at);
"""

#: Migrations from version N to N+1, applied in order by ``Store.open``.
_MIGRATIONS: dict[int, str] = {}

_SESSION_COLS = ("id", "deployment", "version", "level", "config_digest", "interval", "targets", "host",
                 "user", "pid", "started_at", "ended_at", "ended_by", "last_seen", "status",
                 "health_score", "summary")


def _connect(db: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(db, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _corrupt_message(db: Path, exc: BaseException) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = shlex.quote(f"{db}.corrupt-{stamp}")
    return (f"{db} is not a usable wsmon database ({exc}). Move it aside and run again: "
            f"mv {shlex.quote(str(db))} {aside}")


def _percentiles(values: list[float]) -> dict[str, float | None]:
    p50, p95, p99 = percentiles(values)
    return {"p50": p50, "p95": p95, "p99": p99}


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()
_OPEN: weakref.WeakSet[Store] = weakref.WeakSet()


@atexit.register
def _close_open_stores() -> None:
    """Write what is queued when the program exits without closing its store (daemon writer)."""
    for store in list(_OPEN):
        store.close()


class Store:
    """The state database of one state dir. Open with ``Store.open``; thread-safe."""

    def __init__(self, db: Path, conn: sqlite3.Connection, writer_conn: sqlite3.Connection) -> None:
        self.path = db
        self._conn = conn
        self._lock = threading.Lock()
        self._wconn = writer_conn
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_MAX)
        self._stats_lock = threading.Lock()
        self._dropped = 0
        self.last_write_error: str = ""
        """The last error the writer met ("" when none); shown to the user with ``dropped_writes``."""
        self._series: dict[tuple[str, str], int] = {}
        self._closed = False
        self._batching = threading.local()
        self._writer = threading.Thread(target=self._writer_loop, name="wsmon-store-writer", daemon=True)
        self._writer.start()
        _OPEN.add(self)

    # -- opening -------------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: Path, *, create: bool = True, busy_timeout: float = 5.0) -> Store:
        """Open (and create, unless ``create`` is false) ``state_dir/wsmon.db``.

        Raises ``StoreError`` naming the dir or file when it cannot be used: an unwritable
        state dir, a file that is not a database (with the command that moves it aside),
        or a database written by a newer wsmon-tui.
        """
        state_dir = Path(state_dir).expanduser()
        db = state_dir / DB_NAME
        if not create and not db.exists():
            raise StoreError(f"no history in {state_dir}: {db} does not exist")
        try:
            ensure_state_dir(state_dir)
        except OSError as exc:
            raise StoreError(f"cannot use state dir {state_dir}: {exc.strerror or exc}") from exc
        if not os.access(state_dir, os.W_OK | os.X_OK):
            raise StoreError(f"cannot use state dir {state_dir}: not writable")
        try:
            create_private_file(db)
        except OSError as exc:
            raise StoreError(f"cannot open {db}: {exc.strerror or exc}") from exc
        conn = wconn = None
        try:
            conn = _connect(db, busy_timeout)
            cls._prepare(conn, db)
            wconn = _connect(db, busy_timeout)
            # SQLite's default page cache (2 MB), said out loud: it fills as the database
            # grows, so its size is the process's memory plateau. 16 MB used to be set here;
            # bench_store measured no gain from it (541k vs 557k samples/s, within noise),
            # and a monitor's RSS then kept creeping up for the better part of an hour.
            wconn.execute("PRAGMA cache_size = -2000")
        except sqlite3.DatabaseError as exc:
            for c in (conn, wconn):
                if c is not None:
                    c.close()
            if isinstance(exc, sqlite3.OperationalError):  # locked, I/O error, cannot open: not corrupt
                raise StoreError(f"cannot open {db}: {exc}") from exc
            raise StoreError(_corrupt_message(db, exc)) from exc
        except StoreError:
            if conn is not None:
                conn.close()
            raise
        return cls(db, conn, wconn)

    @staticmethod
    def _prepare(conn: sqlite3.Connection, db: Path) -> None:
        """WAL, schema creation or migration; any DatabaseError means an unusable file."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{db} was written by a newer wsmon-tui (schema {version}, this one knows "
                             f"{SCHEMA_VERSION}); upgrade wsmon-tui or use another --state-dir")
        if version == 0:
            # auto_vacuum must be chosen before the first table exists.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch to WAL (journal_mode is {mode})")
        if version == SCHEMA_VERSION:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            if version == 0:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                version = SCHEMA_VERSION
            while version < SCHEMA_VERSION:
                for stmt in _MIGRATIONS[version].split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                version += 1
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Write what is queued, stop the writer and close both connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._writer.join(timeout=30.0)
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the caller connection, committed before returning."""
        with self._lock:
            if self._closed:
                raise StoreError(f"{self.path} is closed")
            try:
                with immediate(self._conn) as conn:
                    yield conn
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write {self.path}: {exc}") from exc

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._closed:
                raise StoreError(f"{self.path} is closed")
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read {self.path}: {exc}") from exc

    # -- sessions ------------------------------------------------------------------

    def begin_session(self, *, deployment: str, version: str, level: str, config_digest: str,
                      interval: float, targets: list[tuple[str, str]], host: str | None = None,
                      user: str | None = None, started_at: float | None = None) -> str:
        """Record the start of a monitoring session; returns its id (``20261127-203851-ab12``)."""
        at = time.time() if started_at is None else started_at
        if host is None:
            host = socket.gethostname()
        if user is None:
            try:
                user = getpass.getuser()
            except Exception:  # no passwd entry in some containers
                user = str(os.getuid())
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(at))
        targets_json = json.dumps([[n, u] for n, u in targets])
        for _ in range(20):
            sid = f"{stamp}-{secrets.token_hex(2)}"
            try:
                with self._tx() as c:
                    c.execute("INSERT INTO sessions (id, deployment, version, level, config_digest,"
                              " interval, targets, host, user, pid, started_at, last_seen)"
                              " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                              (sid, deployment, version, level, config_digest, interval, targets_json,
                               host, user, os.getpid(), at, at))
                return sid
            except StoreError as exc:
                if not isinstance(exc.__cause__, sqlite3.IntegrityError):
                    raise
        raise StoreError(f"cannot find a free session id in {self.path}")

    def end_session(self, session_id: str, ended_by: str, ended_at: float | None = None) -> None:
        """Mark a session ended (``ended_by`` is one of ``ENDED_BY``); a second call changes nothing."""
        if ended_by not in ENDED_BY:
            raise ValueError(f"ended_by must be one of {sorted(ENDED_BY)}, not {ended_by!r}")
        at = time.time() if ended_at is None else ended_at
        with self._tx() as c:
            c.execute("UPDATE sessions SET ended_at = ?, ended_by = ?, last_seen = max(last_seen, ?)"
                      " WHERE id = ? AND ended_at IS NULL", (at, ended_by, at, session_id))

    def heartbeat(self, session_id: str, *, at: float, status: str, health_score: float | None,
                  summary: dict) -> None:
        """Queue ``last_seen`` and the latest status of a session (for ``wsmon-tui status``)."""
        summary_json = json.dumps(summary, default=str)
        self._enqueue(("heartbeat", session_id, at, status, health_score, summary_json), 1)

    def session(self, session_id: str) -> dict | None:
        rows = self._read(f"SELECT {', '.join(_SESSION_COLS)} FROM sessions WHERE id = ?", (session_id,))
        return self._session_dict(rows[0]) if rows else None

    def sessions(self, *, since: float | None = None, deployment: str | None = None,
                 version: str | None = None) -> list[dict]:
        """Sessions oldest first; ``since`` keeps those that ended, or were last seen, at/after it."""
        where, params = [], []
        if since is not None:
            where.append("coalesce(ended_at, last_seen) >= ?")
            params.append(since)
        if deployment is not None:
            where.append("deployment = ?")
            params.append(deployment)
        if version is not None:
            where.append("version = ?")
            params.append(version)
        clause = " WHERE " + " AND ".join(f"({w})" for w in where) if where else ""
        rows = self._read(f"SELECT {', '.join(_SESSION_COLS)} FROM sessions{clause} ORDER BY started_at, id",
                          params)
        return [self._session_dict(r) for r in rows]

    def latest_session(self) -> dict | None:
        rows = self._read(f"SELECT {', '.join(_SESSION_COLS)} FROM sessions ORDER BY started_at DESC, id DESC"
                          " LIMIT 1")
        return self._session_dict(rows[0]) if rows else None

    def mark_crashed_sessions(self, *, stale_after: float, now: float | None = None) -> list[str]:
        """End, as ``crash``, sessions never ended whose ``last_seen`` is more than ``stale_after`` s old,
        or whose monitor process on this host no longer exists.

        ``ended_at`` becomes the session's ``last_seen``: the last moment it was known alive.
        """
        cutoff = (time.time() if now is None else now) - stale_after
        with self._tx() as c:
            ids = [r[0] for r in c.execute("SELECT id FROM sessions WHERE ended_at IS NULL AND last_seen < ?"
                                           " ORDER BY started_at", (cutoff,))]
            # a session whose process on this host is gone crashed, however recent its heartbeat
            for sid, host, pid in c.execute("SELECT id, host, pid FROM sessions WHERE ended_at IS NULL"):
                if sid not in ids and process_gone(host, pid):
                    ids.append(sid)
            c.executemany("UPDATE sessions SET ended_at = last_seen, ended_by = 'crash' WHERE id = ?",
                          [(i,) for i in ids])
        return ids

    @staticmethod
    def _session_dict(row: tuple[Any, ...]) -> dict:
        d = dict(zip(_SESSION_COLS, row, strict=True))
        d["targets"] = [tuple(t) for t in json.loads(d["targets"])]
        d["summary"] = json.loads(d["summary"]) if d["summary"] else {}
        return d

    # -- queued writes ---------------------------------------------------------------

    @property
    def dropped_writes(self) -> int:
        """Samples, probe results and heartbeats that could not be stored (the engine tells the user)."""
        return self._dropped

    def _drop(self, n: int, why: str) -> None:
        with self._stats_lock:
            self._dropped += n
            self.last_write_error = why

    def _enqueue(self, item: tuple[Any, ...], n: int) -> None:
        held = getattr(self._batching, "items", None)
        if held is not None:
            held.append((item, n))
            return
        if self._closed:
            self._drop(n, "store is closed")
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._drop(n, f"write queue full ({QUEUE_MAX} batches waiting): the disk is too slow")

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hand everything queued inside (on this thread) to the writer as one item.

        The monitor records a tick's heartbeat, samples and probe results this way: the
        writer thread wakes once per tick, not once per call (each wake-up costs CPU).
        """
        if getattr(self._batching, "items", None) is not None:
            yield  # nested: the outer batch hands it over
            return
        self._batching.items = held = []
        try:
            yield
        finally:
            self._batching.items = None
            if held:
                self._enqueue(("many", [item for item, _ in held]), sum(n for _, n in held))

    def record_samples(self, session_id: str, ts: float, rows: Iterable[tuple[str, str, float]]) -> None:
        """Queue ``(target, metric, value)`` samples taken at ``ts``; never blocks.

        The session is not stored per sample (the time range identifies it); NaN values are skipped.
        """
        batch = [(t, m, float(v)) for t, m, v in rows if v == v]
        if batch:
            self._enqueue(("samples", ts, batch), len(batch))

    def record_probes(self, session_id: str, results: Iterable[ProbeResult]) -> None:
        """Queue probe results; never blocks."""
        for result in results:
            self._enqueue(("probe", session_id, result), 1)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued before this call has been written (or dropped and counted).

        Returns false if that did not happen within ``timeout`` seconds or the store is closed.
        """
        if self._closed or not self._writer.is_alive():
            return False
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def _writer_loop(self) -> None:
        """Sleep until something is queued, then write everything waiting in one transaction.

        No timer: an idle store costs no wake-ups, and the monitor queues a tick as one
        item (``batch``). A burst from other callers is coalesced up to ``BATCH_ROWS``
        because the queue fills while the previous transaction commits.
        """
        stop = False
        while not stop:
            pending: list[Any] = []
            waiters: list[_Flush] = []
            rows = 0
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Flush):
                    waiters.append(item)
                else:
                    for one in (item[1] if item[0] == "many" else (item,)):
                        pending.append(one)
                        rows += len(one[2]) if one[0] == "samples" else 1
                if stop or rows >= BATCH_ROWS:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if pending:
                self._write_batch(pending, rows)
            for w in waiters:
                w.done.set()
        self._wconn.close()

    def _write_batch(self, items: list[Any], rows: int) -> None:
        c = self._wconn
        try:
            c.execute("BEGIN IMMEDIATE")
            try:
                samples: list[tuple[int, float, float]] = []
                probes: list[tuple[Any, ...]] = []
                beats: list[tuple[Any, ...]] = []
                for item in items:
                    kind = item[0]
                    if kind == "samples":
                        _, ts, batch = item
                        samples.extend((self._series_id(c, t, m), ts, v) for t, m, v in batch)
                    elif kind == "probe":
                        _, sid, r = item
                        probes.append((sid, r.target, r.started_at, int(r.ok), r.error_class, r.detail,
                                       r.connect_ms, r.handshake_ms, r.rtt_ms, r.ping_ms, r.duration_ms,
                                       r.close_code, r.close_reason, r.http_status))
                    elif kind == "heartbeat":
                        _, sid, at, status, score, summary = item
                        beats.append((at, status, score, summary, sid))
                if samples:
                    c.executemany("INSERT INTO samples (series_id, ts, value) VALUES (?,?,?)",
                                  samples)
                if probes:
                    c.executemany("INSERT INTO probes (session_id, target, ts, ok, error_class, detail,"
                                  " connect_ms, handshake_ms, rtt_ms, ping_ms, duration_ms, close_code,"
                                  " close_reason, http_status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", probes)
                if beats:
                    c.executemany("UPDATE sessions SET last_seen = max(last_seen, ?), status = ?,"
                                  " health_score = ?, summary = ? WHERE id = ?", beats)
                c.execute("COMMIT")
            except BaseException:
                self._series.clear()  # ids created in the rolled-back transaction are gone
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        except Exception as exc:  # the writer must survive anything and say why
            self._drop(rows, f"{type(exc).__name__}: {exc}")

    def _series_id(self, c: sqlite3.Connection, target: str, metric: str) -> int:
        key = (target, metric)
        sid = self._series.get(key)
        if sid is None:
            c.execute("INSERT OR IGNORE INTO series (target, metric) VALUES (?, ?)", key)
            sid = c.execute("SELECT id FROM series WHERE target = ? AND metric = ?", key).fetchone()[0]
            self._series[key] = sid
        return sid

    # -- reading history ---------------------------------------------------------------

    def series(self) -> list[tuple[str, str]]:
        """Every stored ``(target, metric)`` pair."""
        return [(t, m) for t, m in self._read("SELECT target, metric FROM series ORDER BY target, metric")]

    def samples(self, target: str, metric: str, since: float,
                until: float | None = None) -> list[tuple[float, float]]:
        """``(ts, value)`` oldest first: raw samples where kept, else 1-minute rollups.

        A rollup contributes its average at the minute's start.
        """
        hi = math.inf if until is None else until
        return [(ts, v) for ts, v in self._read(
            "SELECT minute, avg FROM rollups WHERE series_id = (SELECT id FROM series WHERE target = ? AND"
            " metric = ?) AND minute >= ? AND minute <= ?"
            " UNION ALL SELECT ts, value FROM samples WHERE series_id = (SELECT id FROM series WHERE"
            " target = ? AND metric = ?) AND ts >= ? AND ts <= ? ORDER BY 1",
            (target, metric, since, hi, target, metric, since, hi))]

    def rollups(self, target: str, metric: str, since: float,
                until: float | None = None) -> list[tuple[float, float, float, float, int]]:
        """``(minute, min, max, avg, count)`` rows of one series, oldest first."""
        hi = math.inf if until is None else until
        return [tuple(r) for r in self._read(  # type: ignore[misc]
            "SELECT minute, min, max, avg, count FROM rollups WHERE series_id = (SELECT id FROM series"
            " WHERE target = ? AND metric = ?) AND minute >= ? AND minute <= ? ORDER BY minute",
            (target, metric, since, hi))]

    def probe_summary(self, *, since: float, until: float | None = None,
                      session_id: str | None = None) -> dict[str, dict]:
        """Per target: probes, ok, success_rate, error_rate, errors by class, close_codes,
        http_statuses, handshake_ms / rtt_ms percentiles, first_ts, last_ts, last_error.

        ``close_codes`` counts the close codes of failed probes and any code other than 1000.
        """
        where = ["ts >= ?", "ts <= ?"]
        params: list[Any] = [since, math.inf if until is None else until]
        if session_id is not None:
            where.append("session_id = ?")
            params.append(session_id)
        rows = self._read("SELECT target, ts, ok, error_class, detail, handshake_ms, rtt_ms, close_code,"
                          " http_status FROM probes WHERE " + " AND ".join(where) + " ORDER BY ts, id",
                          params)
        out: dict[str, dict] = {}
        lat: dict[str, tuple[list[float], list[float]]] = {}
        for target, ts, ok, eclass, detail, hs, rtt, code, status in rows:
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
            if code is not None and (not ok or code != 1000):
                s["close_codes"][str(code)] = s["close_codes"].get(str(code), 0) + 1
            if status is not None and not ok:
                s["http_statuses"][str(status)] = s["http_statuses"].get(str(status), 0) + 1
            if hs is not None:
                lat[target][0].append(hs)
            if rtt is not None:
                lat[target][1].append(rtt)
        for target, s in out.items():
            s["success_rate"] = s["ok"] / s["probes"]
            s["error_rate"] = 1.0 - s["success_rate"]
            s["handshake_ms"] = _percentiles(lat[target][0])
            s["rtt_ms"] = _percentiles(lat[target][1])
        return out

    # -- retention -----------------------------------------------------------------------

    def cleanup(self, now: float, *, retention_raw: float, retention: float) -> None:
        """Roll raw samples older than ``retention_raw`` into 1-minute rollups; drop old rollups and probes.

        The cut is on a minute boundary so a minute is rolled up whole, and a rollup that
        already exists for a minute (samples that arrived late) is merged, not replaced.
        Probe results are kept as long as rollups (``retention``). Blocking: call it from a
        thread (``asyncio.to_thread``) in an event loop.
        """
        raw_cut = math.floor((now - retention_raw) / 60.0) * 60.0
        roll_cut = now - retention
        with self._tx() as c:
            c.execute(
                "INSERT INTO rollups (series_id, minute, min, max, avg, count)"
                " SELECT series_id, CAST(ts / 60 AS INTEGER) * 60.0 AS m, min(value), max(value), avg(value),"
                " count(*) FROM samples WHERE ts < ?"
                " GROUP BY series_id, m"
                " ON CONFLICT (series_id, minute) DO UPDATE SET min = min(min, excluded.min),"
                " max = max(max, excluded.max),"
                " avg = (avg * count + excluded.avg * excluded.count) / (count + excluded.count),"
                " count = count + excluded.count", (raw_cut,))
            c.execute("DELETE FROM samples WHERE ts < ?", (raw_cut,))
            c.execute("DELETE FROM rollups WHERE series_id IN (SELECT id FROM series) AND minute < ?",
                      (roll_cut,))
            c.execute("DELETE FROM probes WHERE ts < ?", (roll_cut,))
        with self._lock:
            try:
                # executescript steps the pragma to the end; execute() would free a single page.
                self._conn.executescript("PRAGMA incremental_vacuum;")
            except sqlite3.Error:
                pass  # only space reclaim; busy now, the next cleanup frees it

    # -- events ----------------------------------------------------------------------------

    def record_event(self, session_id: str | None, kind: str, at: float, data: dict) -> int:
        """Append an event (alert, ack, silence, delivery, rollback, ...); committed before returning."""
        with self._tx() as c:
            cur = c.execute("INSERT INTO events (session_id, kind, at, data) VALUES (?,?,?,?)",
                            (session_id, kind, at, json.dumps(data, default=str)))
            return int(cur.lastrowid or 0)

    def events(self, *, kinds: Iterable[str] | None = None, since: float | None = None,
               until: float | None = None, session_id: str | None = None) -> list[dict]:
        """Events oldest first as ``{"id", "session_id", "kind", "at", "data"}``."""
        where: list[str] = []
        params: list[Any] = []
        if kinds is not None:
            kinds = list(kinds)
            if not kinds:
                return []
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if until is not None:
            where.append("at <= ?")
            params.append(until)
        if session_id is not None:
            where.append("session_id = ?")
            params.append(session_id)
        clause = " WHERE " + " AND ".join(where) if where else ""
        rows = self._read(f"SELECT id, session_id, kind, at, data FROM events{clause} ORDER BY at, id",
                          params)
        return [{"id": i, "session_id": s, "kind": k, "at": a, "data": json.loads(d)}
                for i, s, k, a, d in rows]


def process_gone(host: str | None, pid: int | None) -> bool:
    """True when a session's monitor ran on this host and its process no longer exists."""
    if not pid or host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        return False
    return False
