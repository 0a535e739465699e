"""The one transaction shape every table owner in ``wsmon.db`` uses."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` on any error.

    IMMEDIATE takes the write lock up front, so two processes on one state dir wait on
    the busy timeout instead of failing half-way. A failed COMMIT (disk full) may have
    rolled back already: only roll back while a transaction is still open, so the real
    error is the one raised.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
