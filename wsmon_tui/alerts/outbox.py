"""The durable delivery outbox: every notification is stored before it is sent, at least once.

``enqueue`` writes one ``outbox_notifications`` row per notification and one
``outbox_deliveries`` row per channel that accepts it, and commits before returning. The
worker (``run``) sends what is due; a failure is retried with exponential backoff and
jitter (1 s doubling to 5 min, honouring ``Retry-After``) across restarts, until the
channel's ``max_age``, when the delivery is ``dropped`` with the reason.

Statuses: ``pending`` (not tried yet), ``sent``, ``failed`` (tried, will retry; see
``last_error``), ``dropped`` (gave up at ``max_age``; see ``last_error``),
``failed_permanent`` (the receiver refused it: a 4xx other than 408/429, SMTP 5xx; never
retried) and ``uncertain`` (timed out after sending as often as the channel allows, see
``sender.MAYBE_SENT_LIMIT``; it may have arrived, it is not sent again). ``uncertain`` on
any delivery counts the attempts that timed out after sending. A delivery a rate limit held
back is ``held`` and goes out later in one summary message; it is then ``sent`` with
``via = "summary"``.

Ordering: within one (channel, alert) deliveries go out in order; a failing ``firing``
holds back the ``resolved`` that follows it, so a receiver never sees them swapped.
Channels send concurrently and independently: one dead receiver delays no other.

Claims: a delivery is claimed (``claim_owner`` = this outbox's owner, the engine lease's
holder id; ``claim_until``) in one ``BEGIN IMMEDIATE`` transaction before it is sent, and
only deliveries unclaimed, with an expired claim, or claimed by this owner are taken, and
none while another live engine holds the lease (``store/lease.py``). So two processes on
one state dir never send the same delivery, and after a takeover the new holder sends
what the old one had not recorded as sent once its claims expire (the claim outlives the
sends of one pass: the channel's timeout per round of ``PARALLEL`` alerts, plus 5 s). What
can still repeat (at least once): a receiver that accepted a message when its sender died
before recording ``sent``; the next holder sends it again, under the same idempotency key.

Tables live in the state database (``<state_dir>/wsmon.db``) next to the store's and the
alert tables, prefixed ``outbox_``; own connection, WAL, busy_timeout 5000 ms. Secrets
never reach the database: errors are redacted before they are stored.

Here: the worker (what is due, rate limits, summaries, retries) and the engine's side
(``enqueue``, the Alertmanager refresh). The tables, the stored form of a notification, the
connection and the report queries are in ``alerts/outbox_db.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from wsmon_tui.alerts.channels import accepts, alertmanager_alert, channel_name
from wsmon_tui.alerts.notification import Notification
from wsmon_tui.alerts.outbox_db import (
    CLAIMABLE,
    OPEN,
    OutboxDB,
    Row,
    _decode,
    _encode,
    delivery_counts,
    report_deliveries,
)
from wsmon_tui.alerts.ratelimit import SlidingWindow, parse_rate_limit
from wsmon_tui.alerts.sender import (
    UNCERTAIN_DELAY,
    DeliveryError,
    Outcome,
    Sender,
    deduplicates,
    maybe_sent_limit,
)
from wsmon_tui.backoff import backoff_delay
from wsmon_tui.config import ChannelConfig
from wsmon_tui.model import AlertView
from wsmon_tui.store.lease import new_holder_id, others_act

__all__ = ["PARALLEL", "Outbox", "delivery_counts", "report_deliveries"]

log = logging.getLogger(__name__)

BATCH = 256
"""Deliveries one channel handles per pass (memory stays flat whatever the backlog)."""
PARALLEL = 8
"""Alerts one channel sends to at the same time (each alert's deliveries stay in order)."""


class Outbox(OutboxDB):
    """Stores notifications, then delivers them at least once (see the module doc)."""

    def __init__(self, db_path: Path | None, channels: list[ChannelConfig], *, deployment: str,
                 clock: Callable[[], float] = time.time, secrets: Iterable[str] = (),
                 client: httpx.AsyncClient | None = None, backoff_base: float = 1.0,
                 backoff_max: float = 300.0, refresh_interval: float = 60.0, owner: str = "",
                 uncertain_delay: float = UNCERTAIN_DELAY) -> None:
        super().__init__(db_path)
        self.owner = owner or new_holder_id()
        """Who claims deliveries: the engine lease's holder id (else one of this process run)."""
        self.halted = False
        """Set when the engine lost its lease: nothing more is claimed or sent from here."""
        self.channels = {channel_name(ch): ch for ch in channels}
        self.deployment = deployment
        self._clock = clock
        self._sender = Sender(client, secrets=secrets, am_ttl=max(3 * refresh_interval, 180.0))
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.refresh_interval = refresh_interval
        self.uncertain_delay = uncertain_delay
        """Wait before the one retry of a channel that does not deduplicate (Slack, email) after a
        timeout after sending."""
        self._random = random.Random()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limits: dict[str, SlidingWindow] = {}
        self._orphans_dropped = False
        now = clock()
        for name, ch in self.channels.items():
            limit = parse_rate_limit(ch.rate_limit)
            if limit:
                sent = [r[0] for r in self._conn.execute(
                    "SELECT at FROM outbox_messages WHERE channel = ? AND at > ?", (name, now - limit[1]))]
                self._limits[name] = SlidingWindow(limit[0], limit[1], sent)
        # Alertmanager: which alerts each channel was told are firing, and when last posted.
        self._am_active: dict[str, set[str]] = {
            n: set() for n, c in self.channels.items() if c.type == "alertmanager"}
        self._am_posted: dict[tuple[str, str], float] = {}
        self._am_due: dict[str, dict[str, AlertView]] = {name: {} for name in self._am_active}
        for name in self._am_active:
            rows = self._conn.execute(
                "SELECT n.fingerprint, n.kind FROM outbox_deliveries d JOIN outbox_notifications n"
                " ON n.id = d.notification_id WHERE d.id IN (SELECT MAX(id) FROM outbox_deliveries"
                " WHERE channel = ? GROUP BY fingerprint)", (name,))
            self._am_active[name] = {fp for fp, kind in rows if kind != "resolved"}

    async def aclose(self) -> None:
        """Close the HTTP clients the outbox made, then the database."""
        await self._sender.aclose()
        self.close()

    # -- the engine's side ------------------------------------------------------------------

    def enqueue(self, notifications: Iterable[Notification]) -> list[int]:
        """Store each notification and a delivery per accepting channel; committed on return.

        Returns the new delivery ids. A notification already stored (same fingerprint, seq,
        kind and time: the same one handed over twice) is not stored twice; a *different* one
        that collides on (fingerprint, seq) (a process that numbered from a stale seq) is
        stored under the next free seq, never dropped.
        """
        now = self._clock()
        notifications = list(notifications)

        def body(c: sqlite3.Connection) -> list[int]:
            ids: list[int] = []
            for given in notifications:
                wanted = [name for name, ch in self.channels.items() if accepts(ch, given)]
                if not wanted:
                    continue
                n = _unique_seq(c, given)
                if n is None:
                    continue
                cur = c.execute(
                    "INSERT INTO outbox_notifications"
                    " (fingerprint, seq, kind, created_at, deployment, body) VALUES (?,?,?,?,?,?)",
                    (n.fingerprint, n.seq, n.kind, n.created_at, n.deployment or self.deployment, _encode(n)))
                nid = cur.lastrowid
                for name in wanted:
                    cur = c.execute(
                        "INSERT INTO outbox_deliveries"
                        " (notification_id, fingerprint, channel, created_at, next_at) VALUES (?,?,?,?,?)",
                        (nid, n.fingerprint, name, n.created_at, now))
                    ids.append(int(cur.lastrowid or 0))
                    if name in self._am_active:
                        self._am_posted[(name, n.fingerprint)] = now  # its delivery posts it
                        if n.kind == "resolved":
                            self._am_active[name].discard(n.fingerprint)
                        else:
                            self._am_active[name].add(n.fingerprint)
            return ids

        ids = self._write(body)
        if ids:
            self._poke()
        return ids

    def refresh_firing(self, alerts: Iterable[AlertView], now: float) -> None:
        """Re-post firing alerts to Alertmanager channels, each at most every ``refresh_interval``.

        Only alerts the channel was notified of (so rule channel filters and silences hold);
        called by the engine each tick, cheap when nothing is due.
        """
        if not self._am_active:
            return
        queued = False
        for alert in alerts:
            if alert.state != "firing" or alert.silenced or alert.inhibited_by:
                continue
            for name, active in self._am_active.items():
                last = self._am_posted.get((name, alert.id))
                if alert.id in active and (last is None or now - last >= self.refresh_interval):
                    self._am_due[name][alert.id] = alert
                    queued = True
        if queued:
            self._poke()

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    # -- the worker -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set: sends what is due, then sleeps until the next is due."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self._pass()
                except Exception as exc:  # keep delivering whatever one pass hit
                    log.warning("outbox pass failed: %s", self._sender.safe(ChannelConfig(), repr(exc)))
                delay = self._next_wait()
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
                try:
                    await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()
        finally:
            self._wake = None

    async def drain(self, timeout: float) -> None:
        """Send everything due now (and what becomes due within ``timeout`` through held summaries)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                for _ in range(1_000_000):
                    if not await self._pass():
                        break

    def _next_wait(self) -> float:
        """Seconds until the next delivery is due (0.05 .. 5 s; the clock may not be wall time)."""
        with self._lock:
            row = self._conn.execute(f"SELECT MIN(next_at) FROM outbox_deliveries WHERE {OPEN}").fetchone()
        if any(self._am_due.values()):
            return 0.05
        if row is None or row[0] is None:
            return 5.0
        return min(5.0, max(0.05, row[0] - self._clock()))

    async def _pass(self) -> int:
        """One pass over every channel; returns how many messages were attempted."""
        if not self._orphans_dropped:  # channels change only with a restart
            self._drop_orphans()
            self._orphans_dropped = True
        results = await asyncio.gather(*(self._channel_pass(name, ch) for name, ch in self.channels.items()))
        return sum(results)

    def _drop_orphans(self) -> None:
        """Deliveries for channels no longer configured can never be sent: drop them with the reason."""
        names = list(self.channels)
        marks = ", ".join("?" * len(names))
        if not names:
            names, marks = [""], "?"
        self._write(lambda c: c.execute(
            f"UPDATE outbox_deliveries SET status = 'dropped', last_error = 'channel no longer"
            f" configured' WHERE {OPEN} AND channel NOT IN ({marks})", names))

    def _expire(self, name: str, ch: ChannelConfig, now: float) -> None:
        self._write(lambda c: c.execute(
            "UPDATE outbox_deliveries SET status = 'dropped', held = 0, last_error = ? || CASE"
            " WHEN last_error = '' THEN '' ELSE '; last error: ' || last_error END"
            f" WHERE channel = ? AND {OPEN} AND created_at < ?",
            (f"not delivered within max_age {ch.max_age:g}s", name, now - ch.max_age)))

    def halt(self) -> None:
        """Claim and send nothing more (the engine lost its lease)."""
        self.halted = True

    def _claim(self, sql: str, params: tuple[Any, ...], ch: ChannelConfig, now: float) -> list[Row]:
        """Select deliveries with ``sql`` (its last two parameters: ``CLAIMABLE``'s) and claim
        them for this owner, in one transaction; none while another live engine holds the lease."""
        if self.halted:
            return []

        def body(c: sqlite3.Connection) -> list[tuple[Any, ...]]:
            if others_act(c, self.owner, time.time()):
                return []
            rows = c.execute(sql, (*params, now, self.owner)).fetchall()
            if rows:
                rounds = -(-len({r[3] for r in rows}) // PARALLEL)
                until = now + (ch.timeout or 10.0) * rounds + 5.0
                c.executemany("UPDATE outbox_deliveries SET claim_owner = ?, claim_until = ? WHERE id = ?",
                              [(self.owner, until, r[0]) for r in rows])
            return rows

        rows = self._write(body)
        return [(i, a, h, _decode(text)) for i, a, h, text in rows]

    def _due(self, name: str, ch: ChannelConfig, now: float) -> list[Row]:
        """Due deliveries (id, attempts, held, notification), oldest first, none behind an open
        earlier delivery of the same alert (held ones do not block: they go in the summary),
        claimed for this owner."""
        return self._claim(
            "SELECT d.id, d.attempts, d.held, n.body FROM outbox_deliveries d"
            " JOIN outbox_notifications n ON n.id = d.notification_id"
            f" WHERE d.channel = ? AND d.{OPEN} AND d.next_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM outbox_deliveries e WHERE e.channel = d.channel"
            f" AND e.fingerprint = d.fingerprint AND e.id < d.id AND e.{OPEN} AND e.held = 0)"
            f" AND {CLAIMABLE} ORDER BY d.id LIMIT {BATCH}", (name, now), ch, now)

    async def _channel_pass(self, name: str, ch: ChannelConfig) -> int:
        now = self._clock()
        self._expire(name, ch, now)
        attempted = await self._refresh_pass(name, ch, now)
        rows = self._due(name, ch, now)
        limit = self._limits.get(name)
        if limit is not None and ch.type == "pagerduty":
            # Resolves and acks page nobody: never held back, never summarised.
            free = [r for r in rows if r[3].kind in ("resolved", "acknowledged") and not r[2]]
            rows = [r for r in rows if r not in free]
            attempted += await self._send_each(name, ch, free, None)
        if not rows:
            return attempted
        if limit is None:
            return attempted + await self._send_each(name, ch, rows, None)
        with self._lock:
            open_held, held_next = self._conn.execute(
                "SELECT COUNT(*), MAX(next_at) FROM outbox_deliveries"
                f" WHERE channel = ? AND {OPEN} AND held = 1", (name,)).fetchone()
        if open_held:
            if any(r[2] for r in rows) and limit.available(now) > 0:
                return attempted + await self._send_summary(name, ch, rows, limit)
            # Join the held ones: same summary, same backoff if the summary is failing.
            self._hold(name, [r[0] for r in rows if not r[2]], max(limit.next_slot(now), held_next or now))
            return attempted
        slots = limit.available(now)
        sent_now, held = rows[:slots], rows[slots:]
        attempted += await self._send_each(name, ch, sent_now, limit)
        if held:
            self._hold(name, [r[0] for r in held], limit.next_slot(self._clock()))
        return attempted

    def _hold(self, name: str, ids: list[int], until: float) -> None:
        if not ids:
            return
        self._write(lambda c: c.executemany(
            "UPDATE outbox_deliveries SET held = 1, next_at = MAX(next_at, ?), claim_owner = NULL"
            " WHERE id = ?",
            [(until, i) for i in ids]))

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        return backoff_delay(attempts, self.backoff_base, self.backoff_max, retry_after=retry_after,
                             rng=self._random)

    async def _send_each(self, name: str, ch: ChannelConfig, rows: list[Row],
                         limit: SlidingWindow | None) -> int:
        """Send rows one message each: alerts in parallel, each alert's rows in order."""
        if not rows:
            return 0
        groups: dict[str, list[Row]] = {}
        for row in rows:
            groups.setdefault(row[3].fingerprint, []).append(row)
        updates: list[tuple[str, Any]] = []
        gate = asyncio.Semaphore(PARALLEL)

        async def one_alert(group: list[Row]) -> None:
            async with gate:
                for did, attempts, _held, n in group:
                    if self.halted:
                        return  # the lease went elsewhere: its holder sends the rest
                    error = await self._attempt(ch, [n], key=n.idempotency_key)
                    when = self._clock()
                    if error is None:
                        updates.append(("sent", (when, "direct", did)))
                        if limit is not None:
                            limit.record(when)
                        if ch.type == "alertmanager":
                            self._am_posted[(name, n.fingerprint)] = when
                    else:
                        updates.append(self._failure(ch, error, attempts + 1, when, did))
                        return  # the rest of this alert waits behind the failure

        await asyncio.gather(*(one_alert(g) for g in groups.values()))
        self._record(name, updates)
        return len(updates)

    def _failure(self, ch: ChannelConfig, error: tuple[str, float | None, Outcome], attempt: int,
                 when: float, did: int) -> tuple[str, Any]:
        """The update for a failed attempt: (kind, parameters of ``_FAILED_SQL[kind]``)."""
        message, retry_after, outcome = error
        retry_at = when + self._backoff(attempt, retry_after)
        if outcome == "permanent":
            return "permanent", (message, did)
        if outcome == "maybe_sent":
            if not deduplicates(ch.type):
                retry_at = max(retry_at, when + self.uncertain_delay)
            limit = maybe_sent_limit(ch.type)
            final = (f"{message}; not sent again: {limit} attempts may have arrived"
                     + ("" if deduplicates(ch.type) else f" and {ch.type} does not deduplicate"))
            return "maybe_sent", (limit, final[:500], message, retry_at, did)
        return "failed", (message, retry_at, did)

    def _record(self, name: str, updates: list[tuple[str, Any]]) -> None:
        sent = [u[1] for u in updates if u[0] == "sent"]

        def body(c: sqlite3.Connection) -> None:
            c.executemany("UPDATE outbox_deliveries SET status = 'sent', attempts = attempts + 1,"
                          " sent_at = ?, via = ?, held = 0, last_error = '', claim_owner = NULL"
                          " WHERE id = ?", sent)
            for kind, sql in _FAILED_SQL.items():
                c.executemany(sql, [u[1] for u in updates if u[0] == kind])
            c.executemany("INSERT INTO outbox_messages (channel, at) VALUES (?, ?)",
                          [(name, s[0]) for s in sent])

        self._write(body)

    async def _send_summary(self, name: str, ch: ChannelConfig, rows: list[Row],
                            limit: SlidingWindow) -> int:
        """One message for everything held (and due) on a rate-limited channel."""
        held = self._claim(
            "SELECT d.id, d.attempts, d.held, n.body FROM outbox_deliveries d JOIN outbox_notifications n"
            f" ON n.id = d.notification_id WHERE d.channel = ? AND d.{OPEN} AND d.held = 1"
            f" AND {CLAIMABLE} ORDER BY d.id", (name,), ch, self._clock())
        chosen = {r[0]: r for r in held}
        for r in rows:
            chosen.setdefault(r[0], r)
        items = [chosen[k] for k in sorted(chosen)]
        if not items:
            return 0
        ids = [r[0] for r in items]
        notes = [r[3] for r in items]
        key = f"summary:{ids[0]}-{ids[-1]}:{len(ids)}"
        error = await self._attempt(ch, notes, key=key, summary=True)
        when = self._clock()
        if error is None:
            limit.record(when)

        def body(c: sqlite3.Connection) -> None:
            if error is None:
                cur = c.execute("INSERT INTO outbox_messages (channel, at, deliveries) VALUES (?,?,?)",
                                (name, when, len(ids)))
                c.executemany("UPDATE outbox_deliveries SET status = 'sent', attempts = attempts + 1,"
                              " sent_at = ?, via = 'summary', summary_id = ?, held = 0, last_error = '',"
                              " claim_owner = NULL WHERE id = ?", [(when, cur.lastrowid, i) for i in ids])
            else:
                worst = max(r[1] for r in items) + 1
                kind, params = self._failure(ch, error, worst, when, 0)
                c.execute("UPDATE outbox_deliveries SET held = 1 WHERE id IN"
                          f" ({', '.join('?' * len(ids))})", ids)
                c.executemany(_FAILED_SQL[kind], [(*params[:-1], i) for i in ids])

        self._write(body)
        if error is None and ch.type == "alertmanager":
            for n in notes:
                self._am_posted[(name, n.fingerprint)] = when
        return 1

    async def _attempt(self, ch: ChannelConfig, notes: list[Notification], *, key: str,
                       summary: bool = False) -> tuple[str, float | None, Outcome] | None:
        """None when delivered, else (redacted error, retry-after, what the failure means)."""
        try:
            await self._sender.send(ch, notes, deployment=self.deployment, key=key, now=self._clock(),
                                    summary=summary)
        except DeliveryError as exc:
            return self._sender.safe(ch, str(exc))[:500], exc.retry_after, exc.outcome
        except Exception as exc:  # a bug or an odd receiver must not stop the worker
            return self._sender.safe(ch, f"{type(exc).__name__}: {exc}")[:500], None, "retry"
        return None

    async def _refresh_pass(self, name: str, ch: ChannelConfig, now: float) -> int:
        due = self._am_due.get(name)
        if not due:
            return 0
        alerts = list(due.values())
        due.clear()
        body = [alertmanager_alert(a, "firing", self.deployment, now, self._sender.am_ttl) for a in alerts]
        try:
            await self._sender.post_alertmanager(ch, body)
        except DeliveryError as exc:
            log.info("alertmanager refresh to %s failed: %s", name, self._sender.safe(ch, str(exc)))
            return 1
        for a in alerts:
            self._am_posted[(name, a.id)] = now
        return 1

    def prune(self, before: float) -> int:
        """Forget finished deliveries (sent or dropped) created before ``before``, and the
        notifications and rate-limit marks nothing refers to any more: retention for the
        outbox, called with the store's cleanup. Open deliveries are never pruned."""

        def body(c: sqlite3.Connection) -> int:
            gone = c.execute(f"DELETE FROM outbox_deliveries WHERE NOT ({OPEN}) AND created_at < ?",
                             (before,)).rowcount
            c.execute("DELETE FROM outbox_notifications WHERE created_at < ? AND id NOT IN"
                      " (SELECT notification_id FROM outbox_deliveries)", (before,))
            c.execute("DELETE FROM outbox_messages WHERE at < ?", (before,))
            return gone

        return self._write(body)


_FAILED_SQL = {
    "failed": "UPDATE outbox_deliveries SET status = 'failed', attempts = attempts + 1,"
              " last_error = ?, next_at = ?, claim_owner = NULL WHERE id = ?",
    "permanent": "UPDATE outbox_deliveries SET status = 'failed_permanent', attempts = attempts + 1,"
                 " held = 0, last_error = ?, claim_owner = NULL WHERE id = ?",
    # uncertain + 1 reaching the channel's limit closes it (SQLite reads the old values on the right).
    "maybe_sent": "UPDATE outbox_deliveries SET uncertain = uncertain + 1, attempts = attempts + 1,"
                  " status = CASE WHEN uncertain + 1 >= ?1 THEN 'uncertain' ELSE 'failed' END,"
                  " held = CASE WHEN uncertain + 1 >= ?1 THEN 0 ELSE held END,"
                  " last_error = CASE WHEN uncertain + 1 >= ?1 THEN ?2 ELSE ?3 END,"
                  " next_at = ?4, claim_owner = NULL WHERE id = ?5",
}
"""How each kind of failed attempt is recorded (see ``Outbox._failure`` for the parameters)."""


def _unique_seq(c: sqlite3.Connection, n: Notification) -> Notification | None:
    """``n`` with a seq free for its fingerprint (inside the enqueue's transaction); None when
    this very notification is already stored."""
    row = c.execute("SELECT kind, created_at FROM outbox_notifications WHERE fingerprint = ? AND seq = ?",
                    (n.fingerprint, n.seq)).fetchone()
    if row is None:
        return n
    if row[0] == n.kind and float(row[1]) == float(n.created_at):
        return None
    top = c.execute("SELECT MAX(seq) FROM outbox_notifications WHERE fingerprint = ?",
                    (n.fingerprint,)).fetchone()
    seq = int(top[0] or 0) + 1
    log.warning("notification %s:%s (%s) collided with a stored %s; stored as seq %d",
                n.fingerprint, n.seq, n.kind, row[0], seq)
    return dataclasses.replace(n, seq=seq)
