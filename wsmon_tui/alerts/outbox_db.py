"""The outbox's database: the ``outbox_`` tables, how a notification is stored, the
connection that moves to memory when the file cannot be written, and the read-only queries
for reports and ``alerts stats``.

Separate from ``alerts/outbox.py``, the worker that sends what is due: this is what a
delivery record is and where it lives (see that module's docstring for the statuses).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from wsmon_tui.alerts.notification import Notification
from wsmon_tui.model import AlertView
from wsmon_tui.sqlite_util import immediate
from wsmon_tui.store.connect import connect

log = logging.getLogger("wsmon_tui.alerts.outbox")

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL,
    deployment TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    UNIQUE (fingerprint, seq)
);
CREATE TABLE IF NOT EXISTS outbox_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id INTEGER NOT NULL REFERENCES outbox_notifications(id),
    fingerprint TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_at REAL NOT NULL,
    sent_at REAL,
    last_error TEXT NOT NULL DEFAULT '',
    held INTEGER NOT NULL DEFAULT 0,
    via TEXT NOT NULL DEFAULT '',
    summary_id INTEGER,
    claim_owner TEXT,
    claim_until REAL,
    uncertain INTEGER NOT NULL DEFAULT 0,
    UNIQUE (notification_id, channel)
);
CREATE INDEX IF NOT EXISTS outbox_deliveries_open ON outbox_deliveries(channel, next_at)
    WHERE status IN ('pending', 'failed');
CREATE INDEX IF NOT EXISTS outbox_deliveries_order ON outbox_deliveries(channel, fingerprint, id)
    WHERE status IN ('pending', 'failed');
CREATE INDEX IF NOT EXISTS outbox_deliveries_created ON outbox_deliveries(created_at);
CREATE INDEX IF NOT EXISTS outbox_deliveries_fp ON outbox_deliveries(fingerprint);
CREATE TABLE IF NOT EXISTS outbox_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    at REAL NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS outbox_messages_channel ON outbox_messages(channel, at);
"""

Row = tuple[int, int, int, Notification]
"""A due delivery: (id, attempts, held, notification)."""

OPEN = "status IN ('pending', 'failed')"


def _encode(n: Notification) -> str:
    alert = {f.name: getattr(n.alert, f.name) for f in fields(n.alert)}
    alert["labels"] = dict(n.alert.labels)
    return json.dumps({"fingerprint": n.fingerprint, "seq": n.seq, "kind": n.kind, "alert": alert,
                       "created_at": n.created_at, "deployment": n.deployment, "channels": list(n.channels),
                       "escalation": n.escalation, "extra": dict(n.extra)})


def _decode(text: str) -> Notification:
    raw = json.loads(text)
    alert = dict(raw["alert"])
    alert["labels"] = MappingProxyType(dict(alert.get("labels") or {}))
    return Notification(fingerprint=raw["fingerprint"], seq=raw["seq"], kind=raw["kind"],
                        alert=AlertView(**alert), created_at=raw["created_at"], deployment=raw["deployment"],
                        channels=tuple(raw["channels"]), escalation=raw["escalation"], extra=raw["extra"])


_T = TypeVar("_T")


def _in_tx(conn: sqlite3.Connection, body: Callable[[sqlite3.Connection], _T]) -> _T:
    with immediate(conn):
        return body(conn)


CLAIM_COLUMNS = (("claim_owner", "TEXT"), ("claim_until", "REAL"),
                 ("uncertain", "INTEGER NOT NULL DEFAULT 0"))
"""Added after the first release: who is sending a delivery, and until when the claim holds;
how many attempts timed out after sending (they may have arrived)."""

CLAIMABLE = "(d.claim_owner IS NULL OR d.claim_until < ? OR d.claim_owner = ?)"
"""A delivery no other process is sending: unclaimed, its claim expired, or ours."""


def _connect(db_path: Path | None) -> sqlite3.Connection:
    if db_path is not None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(db_path, check_same_thread=False)  # WAL, synchronous=NORMAL, busy_timeout 5 s
    conn.executescript(SCHEMA)
    have = {r[1] for r in conn.execute("PRAGMA table_info(outbox_deliveries)")}
    missing = [(name, kind) for name, kind in CLAIM_COLUMNS if name not in have]
    if missing:
        with immediate(conn):
            have = {r[1] for r in conn.execute("PRAGMA table_info(outbox_deliveries)")}  # another process?
            for name, kind in missing:
                if name not in have:
                    conn.execute(f"ALTER TABLE outbox_deliveries ADD COLUMN {name} {kind}")
    return conn


class OutboxDB:
    """The outbox's connection: written in one transaction at a time, moved to memory when the
    file cannot be written (see ``_write``)."""

    def __init__(self, db_path: Path | None) -> None:
        self._conn = _connect(db_path)
        self._db_path = db_path
        self.degraded = ""
        """Why the outbox runs in memory ("" while it writes its database)."""
        self._lock = threading.RLock()

    def _write(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``body`` in one write transaction. When the database cannot be written (disk
        full, locked past the busy timeout, I/O error) the outbox moves to memory for the rest
        of the session (``degraded`` says why) and ``body`` runs again there: notifications are
        still sent, and what the file already holds is resumed by the next run."""
        with self._lock:
            try:
                return _in_tx(self._conn, body)
            except sqlite3.Error as exc:
                if self._db_path is None:
                    raise
                self._to_memory(exc)
                return _in_tx(self._conn, body)

    def _to_memory(self, exc: sqlite3.Error) -> None:
        """Carry the open deliveries (and their notifications) into an in-memory copy."""
        mem = _connect(None)
        old = self._conn
        with contextlib.suppress(sqlite3.Error):
            if old.in_transaction:
                old.execute("ROLLBACK")
            notes = old.execute("SELECT * FROM outbox_notifications WHERE id IN (SELECT notification_id"
                                f" FROM outbox_deliveries WHERE {OPEN})").fetchall()
            dels = old.execute(f"SELECT * FROM outbox_deliveries WHERE {OPEN}").fetchall()
            if notes:
                mem.executemany(f"INSERT INTO outbox_notifications VALUES ({', '.join('?' * len(notes[0]))})",
                                notes)
            if dels:
                mem.executemany(f"INSERT INTO outbox_deliveries VALUES ({', '.join('?' * len(dels[0]))})",
                                dels)
        with contextlib.suppress(sqlite3.Error):
            old.close()
        self._conn = mem
        self._db_path = None
        self.degraded = (f"notifications kept in memory only: the database cannot be written ({exc}); "
                         "they are still sent, but not recorded")
        log.warning("%s", self.degraded)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def deliveries(self, *, fingerprint: str | None = None) -> list[dict]:
        """Every delivery (oldest first), optionally of one alert."""
        where, params = ("WHERE d.fingerprint = ?", (fingerprint,)) if fingerprint else ("", ())
        with self._lock:
            return _rows(self._conn, where, params)


_COLUMNS = ("id", "alert_id", "seq", "kind", "channel", "status", "attempts", "last_error", "next_at",
            "sent_at", "created_at", "via", "summary_id", "uncertain")


def _rows(conn: sqlite3.Connection, where: str, params: Iterable[Any]) -> list[dict]:
    have = {r[1] for r in conn.execute("PRAGMA table_info(outbox_deliveries)")}
    uncertain = "d.uncertain" if "uncertain" in have else "0"  # a database no engine has opened since
    rows = conn.execute(
        "SELECT d.id, d.fingerprint, n.seq, n.kind, d.channel, d.status, d.attempts, d.last_error, d.next_at,"
        f" d.sent_at, d.created_at, d.via, d.summary_id, {uncertain} FROM outbox_deliveries d"
        f" JOIN outbox_notifications n ON n.id = d.notification_id {where} ORDER BY d.id", tuple(params))
    return [dict(zip(_COLUMNS, row, strict=True)) for row in rows]


def report_deliveries(db_path: Path, since: float, until: float) -> list[dict]:
    """Deliveries created in [since, until] for reports: ``{alert_id, channel, kind, status, attempts,
    last_error, sent_at (epoch), created_at}`` (plus id, seq, via, uncertain: attempts that timed out
    after sending). Empty when there are none."""
    if not Path(db_path).exists():
        return []
    conn = connect(db_path, read_only=True)
    try:
        try:
            return _rows(conn, "WHERE d.created_at >= ? AND d.created_at <= ?", (since, until))
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
    finally:
        conn.close()


def delivery_counts(db_path: Path, since: float | None = None) -> dict[str, int]:
    """Deliveries by status (pending, sent, failed, dropped, failed_permanent, uncertain), e.g. for
    ``alerts stats``."""
    counts = {"pending": 0, "sent": 0, "failed": 0, "dropped": 0, "failed_permanent": 0, "uncertain": 0}
    if not Path(db_path).exists():
        return counts
    conn = connect(db_path, read_only=True)
    try:
        try:
            floor = since if since is not None else float("-inf")
            rows = conn.execute("SELECT status, COUNT(*) FROM outbox_deliveries WHERE created_at >= ?"
                                " GROUP BY status", (floor,)).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return counts
            raise
    finally:
        conn.close()
    counts.update({status: n for status, n in rows})
    return counts
