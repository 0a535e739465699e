"""Retention: raw samples rolled up into 1-minute rows, old rollups and probe results deleted.

``cleanup`` rolls raw samples (``series_samples`` and the not yet settled ``samples``)
older than ``retention_raw`` into one row per series per minute (min, max, avg, count;
keyed by series, so long-range reads are range reads) and deletes rollups and probe
results older than ``retention``. The file uses ``auto_vacuum=INCREMENTAL``
(``schema.prepare``) so the space a cleanup frees goes back to the file system.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import threading
from typing import TYPE_CHECKING


class Retention:
    """The cleanup of ``Store`` (a mixin: ``Store`` owns the connections)."""

    if TYPE_CHECKING:
        _conn: sqlite3.Connection
        _lock: threading.Lock

        def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...

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
            # raw samples are in ``series_samples`` (read per series: ``series_id IN`` makes it
            # a range read of each) and, not yet settled, in ``samples``
            c.execute(
                "INSERT INTO rollups (series_id, minute, min, max, avg, count)"
                " SELECT series_id, CAST(ts / 60 AS INTEGER) * 60.0 AS m, min(value), max(value), avg(value),"
                " count(*) FROM (SELECT series_id, ts, value FROM series_samples"
                " WHERE series_id IN (SELECT id FROM series) AND ts < ?1"
                " UNION ALL SELECT series_id, ts, value FROM samples WHERE ts < ?1)"
                " GROUP BY series_id, m"
                " ON CONFLICT (series_id, minute) DO UPDATE SET min = min(min, excluded.min),"
                " max = max(max, excluded.max),"
                " avg = (avg * count + excluded.avg * excluded.count) / (count + excluded.count),"
                " count = count + excluded.count", (raw_cut,))
            c.execute("DELETE FROM samples WHERE ts < ?", (raw_cut,))
            c.execute("DELETE FROM series_samples WHERE series_id IN (SELECT id FROM series) AND ts < ?",
                      (raw_cut,))
            c.execute("DELETE FROM rollups WHERE series_id IN (SELECT id FROM series) AND minute < ?",
                      (roll_cut,))
            c.execute("DELETE FROM probes WHERE ts < ?", (roll_cut,))
        with self._lock:
            try:
                # executescript steps the pragma to the end; execute() would free a single page.
                self._conn.executescript("PRAGMA incremental_vacuum;")
            except sqlite3.Error:
                pass  # only space reclaim; busy now, the next cleanup frees it
