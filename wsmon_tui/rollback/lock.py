"""One rollback at a time, everywhere: a lock row in the state database.

Every rollback (automatic, "ask", the TUI's key, the browser, ``wsmon-tui rollback``) goes
through ``RollbackController.rollback`` or its policy, and both take this lock
(``rollback_lock``, one row, in ``wsmon.db``) in one ``BEGIN IMMEDIATE`` transaction before
any step runs. It is released when the rollback ends (verified, failed,
failed_verification, dry run). A holder that died leaves the row behind: it counts as free
once it expires (the steps' timeouts + ``verify_window`` + a margin, from when it was taken;
``verify_window`` + the margin again when verification starts) or, at once, when the holder's
process on this host no longer exists.

A second attempt is refused (``RollbackRefused``) naming who holds it (user, pid, host), since
when, and the rollback's state (running / verifying).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from wsmon_tui.errors import WsmonError
from wsmon_tui.sqlite_util import immediate
from wsmon_tui.store.connect import connect
from wsmon_tui.store.history import process_gone
from wsmon_tui.store.lease import ensure_tables, new_holder_id

MARGIN = 30.0
"""Added to a held lock's expiry beyond the steps' timeouts and the verify window."""


class RollbackRefused(WsmonError):
    """A rollback that cannot start now (one is already running or verifying, here or elsewhere)."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class LockInfo:
    holder: str
    user: str
    pid: int
    host: str
    deployment: str
    action_id: int | None
    state: str
    since: float
    expires_at: float

    def dead(self, now: float) -> bool:
        return self.expires_at <= now or process_gone(self.host, self.pid)

    def refusal(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        which = f"rollback #{self.action_id}" if self.action_id is not None else "a rollback"
        of = f" of {self.deployment}" if self.deployment else ""
        return (f"refused: {which}{of} is {self.state}, started by {self.user} (pid {self.pid} on "
                f"{self.host}) since {since}; one rollback at a time: wait for its outcome")


_COLUMNS = "holder, user, pid, host, deployment, action_id, state, since, expires_at"


def _read(conn: sqlite3.Connection) -> LockInfo | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM rollback_lock WHERE id = 1").fetchone()
    if row is None:
        return None
    return LockInfo(str(row[0]), str(row[1]), int(row[2]), str(row[3]), str(row[4]),
                    None if row[5] is None else int(row[5]), str(row[6]), float(row[7]), float(row[8]))


class RollbackLock:
    """The lock as seen by one controller (``path=None``: in memory, this process only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.holder = new_holder_id()
        self.held = False
        self._conn = connect(path, check_same_thread=False)
        try:
            with immediate(self._conn):
                ensure_tables(self._conn)
        except BaseException:
            self._conn.close()
            raise

    def current(self, now: float | None = None) -> LockInfo | None:
        """The live lock (None when free, or held by a holder that is gone)."""
        info = _read(self._conn)
        now = time.time() if now is None else now
        return None if info is None or info.dead(now) else info

    def held_elsewhere(self) -> LockInfo | None:
        """The live lock when another holder has it."""
        info = self.current()
        return info if info is not None and info.holder != self.holder else None

    def acquire(self, *, user: str, deployment: str, lifetime: float) -> None:
        """Take the lock for ``lifetime`` seconds; ``RollbackRefused`` when another live holder has it."""
        now = time.time()
        with immediate(self._conn) as conn:
            info = _read(conn)
            if info is not None and info.holder != self.holder and not info.dead(now):
                raise RollbackRefused(info.refusal())
            conn.execute(f"INSERT OR REPLACE INTO rollback_lock (id, {_COLUMNS})"
                         " VALUES (1,?,?,?,?,?,?,?,?,?)",
                         (self.holder, user, os.getpid(), socket.gethostname(), deployment, None, "running",
                          now, now + lifetime))
        self.held = True

    def update(self, *, state: str | None = None, action_id: int | None = None,
               lifetime: float | None = None) -> None:
        """Record the held rollback's id, state, or a new expiry (from now)."""
        if not self.held:
            return
        expires = None if lifetime is None else time.time() + lifetime
        with contextlib.suppress(sqlite3.Error), immediate(self._conn) as conn:
            conn.execute("UPDATE rollback_lock SET state = COALESCE(?, state),"
                         " action_id = COALESCE(?, action_id), expires_at = COALESCE(?, expires_at)"
                         " WHERE id = 1 AND holder = ?",
                         (state, action_id, expires, self.holder))

    def release(self) -> None:
        """Free the lock when it is ours; never raises."""
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(sqlite3.Error), immediate(self._conn) as conn:
            conn.execute("DELETE FROM rollback_lock WHERE id = 1 AND holder = ?", (self.holder,))

    def close(self) -> None:
        self.release()
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
