"""The one way to open the state database, ``<state_dir>/wsmon.db``.

Every owner of tables in the file (the store, the alert tables, the outbox, the rollback
audit) and every reader (``status``, ``alerts``, ``report``) opens it here, so the file
name, the read-only URI and the pragmas are spelled once.

A read-only connection goes through an SQLite URI. The path in it is percent-encoded
(``Path.as_uri``): written by hand as ``f"file:{path}?mode=ro"``, a state dir named
``we#ird`` opened (and created) ``we``, since ``#`` starts the URI's fragment, and ``?``
or ``%`` in a path are misread the same way.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

DB_NAME = "wsmon.db"
"""The state database's file name inside the state dir."""


def state_db_path(state_dir: Path | str) -> Path:
    """``state_dir/wsmon.db``."""
    return Path(state_dir) / DB_NAME


def read_only_uri(path: Path | str) -> str:
    """An SQLite URI that opens ``path`` read-only (the path made absolute and percent-encoded)."""
    return Path(path).resolve().as_uri() + "?mode=ro"


def connect(path: Path | str | None, *, read_only: bool = False, timeout: float = 5.0,
            check_same_thread: bool = True, wal: bool = True,
            synchronous: str | None = "NORMAL") -> sqlite3.Connection:
    """A connection to ``path`` (``None``: a private in-memory database) in autocommit mode.

    Every connection waits ``timeout`` seconds on a lock (``busy_timeout``); callers open
    their transactions themselves (``sqlite_util.immediate``). A writable connection to a
    file also switches the file to WAL (unless ``wal`` is false: the store switches it
    itself, after choosing ``auto_vacuum``) and sets ``synchronous`` (``None`` keeps
    SQLite's default). A read-only connection never creates the file or changes it:
    ``sqlite3.OperationalError`` when it does not exist.
    """
    if path is None:
        target, uri = ":memory:", False
    elif read_only:
        target, uri = read_only_uri(path), True
    else:
        target, uri = str(path), False
    conn = sqlite3.connect(target, timeout=timeout, isolation_level=None,
                           check_same_thread=check_same_thread, uri=uri)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if path is not None and not read_only:
            if wal:
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if synchronous is not None:
                conn.execute(f"PRAGMA synchronous = {synchronous}")
    except BaseException:
        conn.close()
        raise
    return conn
