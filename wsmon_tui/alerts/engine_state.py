"""The state an AlertEngine keeps, and how it is stored: one place for every attribute the
engine's parts share.

``AlertEngine`` (``alerts/engine.py``: the tick and the commands) is built on
``NotifyPass`` (``alerts/notify_pass.py``: acks, mutes, notifications), which is built on
this: the rules, the active and recently resolved alerts, the pending history rows, and
``_flush``, the one transaction per evaluation that writes them.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from wsmon_tui.alerts.alert import VALUE_SAVE_S, _Alert
from wsmon_tui.alerts.db import AlertDB
from wsmon_tui.alerts.defaults import default_rules
from wsmon_tui.alerts.maintenance import MaintenanceWindow
from wsmon_tui.alerts.notification import Notification
from wsmon_tui.alerts.rules import CompiledRule, compile_rule
from wsmon_tui.config import Config
from wsmon_tui.errors import StoreError
from wsmon_tui.model import SEVERITY_ORDER, AlertView

log = logging.getLogger("wsmon_tui.alerts.engine")

RECENT_RESOLVED_S = 900.0
"""Resolved alerts stay in the snapshot this long (screens show what just cleared)."""
RECENT_RESOLVED_MAX = 100
EXTERNAL_COOLDOWN = 300.0
HISTORY_BACKLOG = 10_000
"""History rows kept for a retry while the database cannot be written."""


def build_rules(config: Config) -> list[CompiledRule]:
    """The level's default rules (unless turned off), replaced by configured rules of the same name."""
    configured = [compile_rule(r) for r in config.alerts.rules]
    names = {r.name for r in configured}
    rules = []
    if config.alerts.default_rules:
        rules = [r for r in default_rules(config.monitor.level) if r.name not in names]
    return rules + configured


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: AlertEngineState, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class AlertEngineState:
    """The alert engine's state and its storage (see the module docstring)."""

    def __init__(self, config: Config, db_path: Path | None, *, clock: Callable[[], float] = time.time,
                 read_only: bool = False) -> None:
        self.config = config
        self.clock = clock
        self.read_only = read_only
        self.deployment = config.deployment.name
        self.site = config.monitor.site
        """This monitor's vantage point ("" when unset): in every alert's labels and fingerprint, so
        the monitors of one site raise identical alerts and different sites different ones."""
        self.rules = build_rules(config)
        self._rules = {r.name: r for r in self.rules}
        self._external_rules: dict[str, CompiledRule] = {}
        self._maintenance = [MaintenanceWindow(m) for m in config.alerts.maintenance]
        self.last_error = ""
        """The last database error ("" when none): alerts go on in memory, the face shows it."""
        self._lock = threading.RLock()
        """evaluate() runs in the engine's loop; a face may call ack/silence from another thread."""
        try:
            self._db = AlertDB(db_path, readonly=read_only) if db_path is not None else AlertDB(None)
        except StoreError as exc:
            if not read_only:
                raise
            self.last_error = str(exc) if db_path is not None and db_path.exists() else ""
            self._db = AlertDB(None)
        self._active: dict[tuple[str, str], _Alert] = {}
        self._resolved: deque[_Alert] = deque(maxlen=RECENT_RESOLVED_MAX)
        self._history: list[tuple[_Alert, str, float, str | None, str]] = []
        self._deleted: list[int] = []
        self._ack_clears: list[tuple[int, float]] = []
        self._queued: list[Notification] = []
        self._silences: list[dict[str, Any]] = []
        self._baselines: dict[tuple[str, str, float], float] = {}
        self._seqs = self._db.max_seqs()
        self.session_id = ""
        """The monitor session this engine evaluates for (``begin_session``)."""
        self._ended: list[_Alert] = []
        """Occurrences ended ``stale`` (their session stopped), written by the next ``_flush``."""
        self._carry: dict[str, _Alert] = {}
        """The latest stale occurrence of each fingerprint: a new occurrence soon after continues
        its notifications (a restart does not page again, as Alertmanager's repeat interval)."""
        for row in self._db.recent_stale(self.deployment):
            self._carry[row["fingerprint"]] = _Alert.from_row(row)
        for row in self._db.active_rows():
            if row["deployment"] != self.deployment:
                continue
            alert = _Alert.from_row(row)
            alert.seq = max(alert.seq, self._seqs.get(alert.fingerprint, 0))
            self._active[(alert.rule, alert.target)] = alert

    def _labels(self, labels: Mapping[str, str] | None = None) -> dict[str, str]:
        """An alert's labels: ``labels`` (a rule's), then ``site`` when this monitor has one."""
        out = dict(labels or {})
        if self.site:
            out["site"] = self.site
        return out

    def _event(self, alert: _Alert, event: str, at: float, *, user: str | None = None,
               detail: str = "") -> None:
        self._history.append((alert, event, at, user, detail))

    # -- storage --------------------------------------------------------------------------

    def _flush(self, *, force: bool = False) -> None:
        if self.read_only:
            self._history.clear()
            self._deleted.clear()
            self._ack_clears.clear()
            return
        now = self.clock()
        dirty = [a for a in self._active.values()
                 if a.dirty or (a.stale_value and (force or now - a.saved_at >= VALUE_SAVE_S))]
        dirty += [a for a in self._resolved if a.dirty or (force and a.stale_value)]
        dirty += self._ended
        if not (dirty or self._history or self._deleted or self._ack_clears):
            return
        db = self._db
        try:
            with db.transaction() as conn:
                ids: dict[int, int] = {}
                for alert in dirty:
                    if alert.row_id is None:
                        ids[id(alert)] = db.save_alert(conn, None, alert.values())
                    else:
                        ids[id(alert)] = alert.row_id
                db.update_alerts(conn, [(a.row_id, a.values()) for a in dirty if a.row_id is not None])
                for row_id in self._deleted:
                    conn.execute("DELETE FROM alert_alerts WHERE id = ?", (row_id,))
                for row_id, at in self._ack_clears:
                    conn.execute("UPDATE alert_acks SET cleared_at = ?, cleared_by = 'resolved' "
                                 "WHERE alert_id = ? AND cleared_at IS NULL", (at, row_id))
                conn.executemany(
                    "INSERT INTO alert_history (alert_id, fingerprint, at, event, severity, value, user, "
                    "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(ids.get(id(alert), alert.row_id), alert.fingerprint, at, event, alert.severity,
                      alert.value, user, detail)
                     for alert, event, at, user, detail in self._history if not alert.dropped])
        except sqlite3.Error as exc:
            self.last_error = f"alerts not stored: {exc}"
            log.warning("alert database write failed: %s", exc)
            del self._history[:-HISTORY_BACKLOG]  # retried next tick; bounded while the disk is full
            return
        for alert in dirty:
            alert.row_id = ids[id(alert)]
            alert.dirty = alert.stale_value = False
            alert.saved_at = now
        self._history.clear()
        self._deleted.clear()
        self._ack_clears.clear()
        self._ended.clear()
        self.last_error = ""

    def _views(self, now: float) -> tuple[AlertView, ...]:
        active = sorted(self._active.values(),
                        key=lambda a: (a.state != "firing", -SEVERITY_ORDER.get(a.severity, 0), a.started_at))
        recent = [a for a in reversed(self._resolved)
                  if a.resolved_at is not None and now - a.resolved_at <= RECENT_RESOLVED_S]
        return tuple(a.view() for a in (*active, *recent))
