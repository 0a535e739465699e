"""What runs on every snapshot after it is built: alerting, delivery and rollback.

The Monitor builds a snapshot of the probes and metrics; ``Stages.refine`` then asks
the alert engine which alerts are active, lets the rollback controller judge its policy
(and verify a rollback in progress), hands every new notification to the durable
outbox, and returns the refined snapshot that the faces see. Each stage keeps its own
tables in the store's database file, so acks, silences, deliveries and rollbacks
survive restarts; with no store they live in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsmon_tui.alerts.engine import AlertEngine
from wsmon_tui.alerts.outbox import Outbox
from wsmon_tui.engine.scrape import make_client
from wsmon_tui.errors import StoreError
from wsmon_tui.model import Snapshot, Windows
from wsmon_tui.rollback.controller import RollbackController
from wsmon_tui.rollback.flags import make_provider

if TYPE_CHECKING:
    from wsmon_tui.engine.monitor import Monitor

log = logging.getLogger(__name__)


class Stages:
    """Alert engine, outbox and rollback controller for one Monitor session."""

    def __init__(self, monitor: Monitor, db_path: Path | None) -> None:
        self.monitor = monitor
        self.db_path = db_path
        self.alerts: AlertEngine | None = None
        self.outbox: Outbox | None = None
        self.rollback: RollbackController | None = None
        self._client: Any = None
        self._stop = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._notes: list[str] = []
        """What the stages could not store (shown in every snapshot's notes)."""
        self.halted = False
        """The engine lost its lease: nothing more is evaluated, written, sent or run from here."""

    async def start(self) -> None:
        m = self.monitor
        config = m.config
        try:
            self.alerts = AlertEngine(config, self.db_path, clock=m.clock, read_only=m.read_only)
        except (StoreError, sqlite3.Error) as exc:  # locked, full or unreadable: alerting goes on
            self._notes.append(f"alerts kept in memory only: {exc}")
            self.alerts = AlertEngine(config, None, clock=m.clock, read_only=m.read_only)
        # Alerts of sessions that no longer run stop firing (stale), before this one judges
        self.alerts.begin_session(m.session_id)
        # A read-only session watches: the session that acts is the one that notifies
        # (a second viewer would page everyone twice).
        outbox_db = None if m.read_only else self.db_path
        owner = m.lease.holder if m.lease is not None else ""
        channels = [] if m.read_only else config.alerts.channels
        if m.read_only and config.alerts.channels:
            self._notes.append("read-only session: no notifications are sent from here")
        try:
            self.outbox = Outbox(outbox_db, channels, deployment=config.deployment.name,
                                 clock=m.clock, secrets=config.secrets, owner=owner)
        except sqlite3.Error as exc:
            self._notes.append(f"notifications kept in memory only (sent, not recorded): {exc}")
            self.outbox = Outbox(None, channels, deployment=config.deployment.name,
                                 clock=m.clock, secrets=config.secrets)
        self._client = make_client(verify=config.flags.verify_tls)
        flags = make_provider(config.flags, self._client)
        self.rollback = RollbackController(
            config, self.db_path, flags=flags, client=self._client, alert_engine=self.alerts,
            clock=m.clock, read_only=m.read_only, session_id=m.session_id, log=m.log_event,
        )
        self._worker = asyncio.ensure_future(self.outbox.run(self._stop))
        self._worker.set_name("outbox")

    async def refine(self, record: Snapshot, windows: Windows, *, judge: bool = True) -> Snapshot:
        """Alerts, then the rollback policy, within the tick; the Snapshot is built once, so
        it already holds every alert this tick raised (a rollback's included). ``judge=False``
        (just after a sleep, ``engine/wake.py``): no rule is judged, the alerts stay as they were."""
        assert self.alerts is not None and self.outbox is not None and self.rollback is not None
        if judge:
            views, notifications = self.alerts.evaluate(record, windows)
        else:
            views, notifications = self.alerts.views(), []
        outcome = await self.rollback.judge(record, views)
        if outcome.alerts_changed:
            views = self.alerts.views()
        notifications = [*notifications, *outcome.notifications]
        if notifications:
            self.outbox.enqueue(notifications)
            for n in notifications:
                self.monitor.log_event("notification", alert_id=n.fingerprint, kind=n.kind,
                                       rule=n.alert.rule, target=n.alert.target, severity=n.alert.severity)
        self.outbox.refresh_firing(views, record.taken_at)
        return outcome.apply(record, views, (*self._notes, self.alerts.last_error, self.outbox.degraded))

    def deliveries(self, alert_id: str) -> list[dict]:
        """Delivery status of every notification of one alert (the TUI's why-it-fired)."""
        return self.outbox.deliveries(fingerprint=alert_id) if self.outbox is not None else []

    def halt(self) -> None:
        """Stop acting at once (the lease went to another engine): no alert row is written, no
        delivery claimed, no step started from here; the new holder carries on from the database."""
        self.halted = True
        self._stop.set()
        if self.outbox is not None:
            self.outbox.halt()
        if self.alerts is not None:
            self.alerts.read_only = True
        if self.rollback is not None:
            self.rollback.halt()

    async def close(self) -> None:
        """Finish a rollback's audit, send what can be sent in a few seconds, close everything."""
        self._stop.set()
        if self.rollback is not None and self.halted:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.rollback.aclose(), 3)
        elif self.rollback is not None and self.outbox is not None:
            with contextlib.suppress(Exception):
                self.rollback.conclude(self.monitor.latest)
                self.outbox.enqueue(self.rollback.take_notifications())
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.rollback.aclose(), 3)
        if self._worker is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._worker, 2)
        if self.outbox is not None and not self.halted:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.outbox.drain(2), 3)
            with contextlib.suppress(Exception):
                await self.outbox.aclose()
        if self.alerts is not None:
            with contextlib.suppress(Exception):
                self.alerts.end_session()  # read-only (or halted): a no-op; the next holder ends them
            self.alerts.close()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
