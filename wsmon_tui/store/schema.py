"""The store's tables: DDL, the schema version, migrations and opening-time checks.

The store's tables carry ``PRAGMA user_version`` (``SCHEMA_VERSION``); the alert, outbox and
rollback tables in the same file are created by their owners (``CREATE TABLE IF NOT
EXISTS``) and never touch it.

Schema 2 adds the coordination rows every process on one state dir agrees through:
``engine_lease`` (the one acting engine, ``store/lease.py``) and ``rollback_lock`` (the one
rollback at a time, ``rollback/lock.py``). Their owners also create them (``COORDINATION``,
``IF NOT EXISTS``) so that a process that never opened the store (``wsmon-tui rollback
--dry-run``) finds them.
"""

from __future__ import annotations

import shlex
import sqlite3
import time
from pathlib import Path

from wsmon_tui.errors import StoreError

SCHEMA_VERSION = 3
ENDED_BY = frozenset({"duration", "sigint", "sigterm", "sighup", "user", "error", "crash", "lease_lost"})

COORDINATION = """
CREATE TABLE IF NOT EXISTS engine_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    session_id TEXT NOT NULL DEFAULT '',
    since REAL NOT NULL,
    renewed_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rollback_lock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    user TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    deployment TEXT NOT NULL DEFAULT '',
    action_id INTEGER,
    state TEXT NOT NULL,
    since REAL NOT NULL,
    expires_at REAL NOT NULL
);
"""
"""One row each (``id = 1``): who acts for the state dir, and who is rolling back."""

SERIES_SAMPLES = """
CREATE TABLE series_samples (
    series_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;
"""
"""Raw samples by series (schema 3): a range read per series."""

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
""" + SERIES_SAMPLES + COORDINATION

_SERIES_SAMPLES = SERIES_SAMPLES + """
INSERT OR REPLACE INTO series_samples (series_id, ts, value)
    SELECT series_id, ts, value FROM samples ORDER BY series_id, ts;
DELETE FROM samples;
"""

#: Migrations from version N to N+1, applied in order by ``Store.open`` (one transaction).
_MIGRATIONS: dict[int, str] = {1: COORDINATION, 2: _SERIES_SAMPLES}

SETTLE_SQL = ("INSERT OR REPLACE INTO series_samples (series_id, ts, value)"
              " SELECT series_id, ts, value FROM samples WHERE ts < ? ORDER BY series_id, ts",
              "DELETE FROM samples WHERE ts < ?")
"""``settle``: samples older than the cut move from ``samples`` (time order) to ``series_samples``."""


def settle(conn: sqlite3.Connection, cut: float) -> None:
    """Move the samples older than ``cut`` into ``series_samples`` (inside the caller's transaction).

    A second sample of one series at the same instant replaces the first.
    """
    for sql in SETTLE_SQL:
        conn.execute(sql, (cut,))


SESSION_COLS = ("id", "deployment", "version", "level", "config_digest", "interval", "targets", "host",
                 "user", "pid", "started_at", "ended_at", "ended_by", "last_seen", "status",
                 "health_score", "summary")


def corrupt_message(db: Path, exc: BaseException) -> str:
    """Why ``db`` cannot be used, with the command that moves it aside."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = shlex.quote(f"{db}.corrupt-{stamp}")
    return (f"{db} is not a usable wsmon database ({exc}). Move it aside and run again: "
            f"mv {shlex.quote(str(db))} {aside}")


def prepare(conn: sqlite3.Connection, db: Path) -> None:
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
