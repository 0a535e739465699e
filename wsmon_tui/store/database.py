"""SQLite history: sessions, time series with 1-minute rollups, probe results and an event log.

One file, ``<state_dir>/wsmon.db`` (0600, in a 0700 dir), in WAL mode with
``synchronous=NORMAL`` and a busy timeout, so several wsmon processes (a monitor, a
``status`` or ``report`` run, a second monitor) can share one state dir.

Two connections per process:

* the **writer** thread owns one: samples, probe results and heartbeats are queued by
  the engine (``record_*`` never block the event loop) and written in batches, one
  transaction per batch: whatever is waiting when the writer wakes, up to ~1000 rows
  (the monitor hands over a whole tick as one item, ``Store.batch``; ``writer.py``). A batch
  that cannot be written (disk full, locked past the busy timeout) is counted in
  ``dropped_writes`` and ``last_write_error``; the writer never raises into the caller and keeps going.
* the **caller** connection (guarded by a lock) serves reads and the few synchronous
  writes: sessions begin/end and ``record_event``, committed before returning because
  people act on them.

Samples. The writer appends raw samples to a plain rowid table ``samples (ts, series_id,
value)`` with an index on ``ts`` only, next to a small ``series(id, target, metric)`` table.
Samples arrive in time order, so every commit touches only the right-hand edge of both
B-trees: ~0.37 M samples/s through ``record_samples`` + ``flush``, settling included
(0.58 M before schema 3; see benchmarks/bench_store.py). Every ``SETTLE_EVERY`` (5 min)
of sample time the writer moves what is older than a minute into ``series_samples``,
``WITHOUT ROWID`` keyed ``(series_id, ts)`` (schema 3, ``schema.settle``): one sorted bulk
append per series. Readers read both, so a series' range or its last point is a range
read of ``series_samples`` plus the last few minutes of ``samples``, whatever the number
of series.

Why not index ``samples`` by ``(series_id, ts)``, or write ``series_samples`` directly: a
commit would then dirty one page per series, ~4 KB of WAL a sample; bench_store measured
the writer 14x slower with such an index (41k vs 580k samples/s) and 8x with the
clustered table written per tick (``--compare``). Settling in bulk every 5 minutes costs
each sample one more write and keeps the writer's speed.
``cleanup`` rolls raw samples older than ``retention_raw`` into 1-minute rollups and
deletes old rollups and probe results (``retention.py``).

This module holds ``Store`` itself: opening, the two connections, closing. Its methods
live with what they do: ``writer.py`` (queued and synchronous writes), ``history.py``
(reads), ``retention.py`` (cleanup); the tables are in ``schema.py`` and the connection
set-up, shared with every other owner of ``wsmon.db``, in ``connect.py``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from wsmon_tui.errors import StoreError
from wsmon_tui.paths import create_private_file, ensure_state_dir
from wsmon_tui.sqlite_util import immediate
from wsmon_tui.store.connect import DB_NAME, connect
from wsmon_tui.store.history import History
from wsmon_tui.store.retention import Retention
from wsmon_tui.store.schema import corrupt_message, prepare
from wsmon_tui.store.writer import Writer

_OPEN: weakref.WeakSet[Store] = weakref.WeakSet()


def _connect(db: Path, busy_timeout: float) -> sqlite3.Connection:
    """One of the store's two connections; ``prepare`` switches the file to WAL."""
    return connect(db, timeout=busy_timeout, check_same_thread=False, wal=False)


@atexit.register
def _close_open_stores() -> None:
    """Write what is queued when the program exits without closing its store (daemon writer)."""
    for store in list(_OPEN):
        store.close()


class Store(Writer, History, Retention):
    """The state database of one state dir. Open with ``Store.open``; thread-safe."""

    def __init__(self, db: Path, conn: sqlite3.Connection, writer_conn: sqlite3.Connection) -> None:
        self.path = db
        self._conn = conn
        self._lock = threading.Lock()
        self._closed = False
        self._start_writer(writer_conn)
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
            prepare(conn, db)
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
            raise StoreError(corrupt_message(db, exc)) from exc
        except StoreError:
            if conn is not None:
                conn.close()
            raise
        return cls(db, conn, wconn)

    def close(self) -> None:
        """Write what is queued, stop the writer and close both connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop_writer(timeout=30.0)
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

    def _iterate(self, sql: str, params: Iterable[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows streamed in chunks (under the store's lock until the last one: do not read inside)."""
        with self._lock:
            if self._closed:
                raise StoreError(f"{self.path} is closed")
            try:
                cur = self._conn.execute(sql, tuple(params))
                while rows := cur.fetchmany(10_000):
                    yield from rows
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read {self.path}: {exc}") from exc
