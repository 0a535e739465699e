"""The engine lease: one acting engine per state dir.

A single row (``engine_lease``, ``id = 1``) in ``wsmon.db`` names the engine that acts for
the state dir: it alone evaluates alerts, sends notifications, rolls back and throttles.
Its holder id is unique per process run (host, pid and a random part); the row also
carries the pid, the host, the session id, when it was first taken (``since``), when it
was last renewed and when it expires.

* **acquire** (``try_acquire``): in one ``BEGIN IMMEDIATE`` transaction, take the row when
  it is missing, ours, expired, or held by a process on this host that no longer exists
  (a holder killed with -9 is replaced at once, not a TTL later).
* **renew** (``renew``): every tick, ``expires_at = now + ttl``, only while the row is
  still ours; ``False`` means another process took it (this one was suspended or hung past
  its expiry) and this one must stop acting at once.
* **release** (``release``): delete the row when it is ours (the session ended).

The TTL is ``lease_ttl(interval) = max(1.5 x interval, 3 s)``: long enough that a slow tick
or a busy database never loses it, short enough that a hung holder is replaced quickly.
Times are wall-clock (``time.time``): they are compared across processes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wsmon_tui.sqlite_util import immediate
from wsmon_tui.store.connect import connect
from wsmon_tui.store.history import process_gone
from wsmon_tui.store.schema import COORDINATION

MIN_TTL = 3.0
"""The lease never expires sooner than this after its last renewal."""


def lease_ttl(interval: float) -> float:
    """How long a lease lives after its last renewal: ``max(1.5 x interval, 3 s)``."""
    return max(1.5 * float(interval), MIN_TTL)


def standby_poll(interval: float) -> float:
    """How often a standby engine looks at the lease: ``min(interval / 4, 1 s)``."""
    return max(0.05, min(float(interval) / 4.0, 1.0))


def new_holder_id() -> str:
    """A holder id unique per process run: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """The lease row as read."""

    holder: str
    pid: int
    host: str
    session_id: str
    since: float
    renewed_at: float
    expires_at: float

    def describe(self) -> str:
        """``pid 123 on host, session S, since 12:00:00`` (for the standby line and refusals)."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        session = f"session {self.session_id}" if self.session_id else "no session yet"
        return f"pid {self.pid} on {self.host}, {session}, since {since}"

    def dead(self, now: float) -> bool:
        """Expired, or its process on this host is gone."""
        return self.expires_at <= now or process_gone(self.host, self.pid)


_COLUMNS = "holder, pid, host, session_id, since, renewed_at, expires_at"


def ensure_tables(conn: sqlite3.Connection) -> None:
    """The coordination tables (idempotent; the store's migration creates the same)."""
    for stmt in COORDINATION.split(";"):
        if stmt.strip():
            conn.execute(stmt)


def read_lease(conn: sqlite3.Connection) -> LeaseInfo | None:
    try:
        row = conn.execute(f"SELECT {_COLUMNS} FROM engine_lease WHERE id = 1").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return None if row is None else LeaseInfo(str(row[0]), int(row[1]), str(row[2]), str(row[3]),
                                              float(row[4]), float(row[5]), float(row[6]))


def others_act(conn: sqlite3.Connection, me: str, now: float) -> bool:
    """Whether a live engine other than ``me`` holds the lease (inside the caller's transaction)."""
    lease = read_lease(conn)
    return lease is not None and lease.holder != me and not lease.dead(now)


class EngineLease:
    """The lease of one process run on one state dir (see the module docstring)."""

    def __init__(self, db_path: Path, *, ttl: float, holder: str | None = None,
                 clock: Callable[[], float] = time.time, timeout: float = 1.0) -> None:
        self.db_path = Path(db_path)
        self.timeout = timeout
        """Seconds to wait on a locked database (short: a renewal runs every third of the TTL)."""
        self.ttl = float(ttl)
        self.holder = holder or new_holder_id()
        self.clock = clock
        self.held = False
        """Whether this process believes it holds the lease (set by acquire, renew, release)."""
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = connect(self.db_path, check_same_thread=False, timeout=self.timeout)
            try:
                with immediate(conn):
                    ensure_tables(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def current(self) -> LeaseInfo | None:
        """The lease row now (None: nobody holds it)."""
        return read_lease(self._db())

    def try_acquire(self, session_id: str = "") -> LeaseInfo | None:
        """Take the lease if it is free, ours or dead; None when taken, else the live holder."""
        now = self.clock()
        with immediate(self._db()) as conn:
            lease = read_lease(conn)
            if lease is not None and lease.holder != self.holder and not lease.dead(now):
                self.held = False
                return lease
            since = lease.since if lease is not None and lease.holder == self.holder else now
            conn.execute(f"INSERT OR REPLACE INTO engine_lease (id, {_COLUMNS})"
                         " VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                         (self.holder, os.getpid(), socket.gethostname(), session_id, since, now,
                          now + self.ttl))
        self.held = True
        return None

    def renew(self, session_id: str | None = None) -> bool:
        """Extend the lease if it is still ours; False when another process holds it now."""
        now = self.clock()
        with immediate(self._db()) as conn:
            cur = conn.execute(
                "UPDATE engine_lease SET renewed_at = ?, expires_at = ?, session_id = COALESCE(?, session_id)"
                " WHERE id = 1 AND holder = ?", (now, now + self.ttl, session_id, self.holder))
            self.held = cur.rowcount == 1
        return self.held

    def release(self) -> None:
        """Give the lease up (only when it is ours); never raises."""
        self.held = False
        with contextlib.suppress(sqlite3.Error), immediate(self._db()) as conn:
            conn.execute("DELETE FROM engine_lease WHERE id = 1 AND holder = ?", (self.holder,))

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
