"""Everything the store writes: the writer thread with its queue and batches, and the few
synchronous writes (sessions, events).

* ``record_samples``, ``record_probes`` and ``heartbeat`` never block the event loop: they
  queue, and the writer thread (its own connection) writes whatever is waiting in one
  transaction, up to ``BATCH_ROWS`` rows (the monitor hands over a whole tick as one item,
  ``batch``). A batch that cannot be written is counted in ``dropped_writes`` and
  ``last_write_error``; the writer never raises into the caller and keeps going.
* ``begin_session``, ``end_session``, ``mark_crashed_sessions`` and ``record_event`` are
  committed on the caller connection before they return, because people act on them.
* Every ``SETTLE_EVERY`` seconds of sample time the writer moves the samples older than
  ``SETTLE_LAG`` from ``samples`` to ``series_samples`` (``schema.settle``) in a transaction
  of its own: one bulk append per series instead of one page per series on every commit.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import queue
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsmon_tui.errors import StoreError
from wsmon_tui.store.history import process_gone
from wsmon_tui.store.schema import ENDED_BY, settle

if TYPE_CHECKING:  # only attributes are read; keeps the store importable on its own
    from wsmon_tui.model import ProbeResult

BATCH_ROWS = 1000
QUEUE_MAX = 20_000
"""Queued items (one ``record_*`` call each) before new ones are dropped and counted."""
SETTLE_EVERY = 300.0
"""Seconds of sample time between two moves of samples into ``series_samples``."""
SETTLE_LAG = 60.0
"""Samples younger than this (behind the newest) stay in ``samples`` when the writer settles."""


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class Writer:
    """The writing half of ``Store`` (a mixin: ``Store`` owns the connections)."""

    if TYPE_CHECKING:
        path: Path
        _closed: bool

        def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...

    def _start_writer(self, writer_conn: sqlite3.Connection) -> None:
        """Take ``writer_conn`` (closed by the writer thread when it stops) and start the thread."""
        self._wconn = writer_conn
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_MAX)
        self._stats_lock = threading.Lock()
        self._dropped = 0
        self.last_write_error: str = ""
        """The last error the writer met ("" when none); shown to the user with ``dropped_writes``."""
        self._series: dict[tuple[str, str], int] = {}
        self._newest = 0.0
        """The newest sample time written; ``_settled``: where the last settle cut."""
        self._settled = 0.0
        self._batching = threading.local()
        self._writer = threading.Thread(target=self._writer_loop, name="wsmon-store-writer", daemon=True)
        self._writer.start()

    def _stop_writer(self, timeout: float) -> None:
        """Write what is queued, then stop the writer thread (it closes its connection)."""
        self._queue.put(_STOP)
        self._writer.join(timeout=timeout)

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

    # -- events ----------------------------------------------------------------------------

    def record_event(self, session_id: str | None, kind: str, at: float, data: dict) -> int:
        """Append an event (alert, ack, silence, delivery, rollback, ...); committed before returning."""
        with self._tx() as c:
            cur = c.execute("INSERT INTO events (session_id, kind, at, data) VALUES (?,?,?,?)",
                            (session_id, kind, at, json.dumps(data, default=str)))
            return int(cur.lastrowid or 0)

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
        held: list[tuple[tuple[Any, ...], int]] = []
        self._batching.items = held
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
                        self._newest = max(self._newest, ts)
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
            return
        if self._newest - self._settled >= SETTLE_EVERY:
            self._settle(self._newest - SETTLE_LAG)

    def _settle(self, cut: float) -> None:
        """Move samples older than ``cut`` into ``series_samples``; a failure is retried next batch
        (nothing is lost: until then the samples are read where they are)."""
        c = self._wconn
        try:
            c.execute("BEGIN IMMEDIATE")
            try:
                settle(c, cut)
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        except sqlite3.Error:
            return
        self._settled = cut + SETTLE_LAG

    def _series_id(self, c: sqlite3.Connection, target: str, metric: str) -> int:
        key = (target, metric)
        sid = self._series.get(key)
        if sid is None:
            c.execute("INSERT OR IGNORE INTO series (target, metric) VALUES (?, ?)", key)
            sid = c.execute("SELECT id FROM series WHERE target = ? AND metric = ?", key).fetchone()[0]
            self._series[key] = sid
        return sid
