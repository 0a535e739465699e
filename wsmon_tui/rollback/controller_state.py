"""The state a RollbackController keeps, the record of one action, and the helpers every
part uses: one place for every attribute the controller's parts share.

``RollbackController`` (``rollback/controller.py``: the hook, manual rollbacks,
verification, policy, shutdown) is built on ``Throttling`` (``rollback/throttle.py``),
on ``Execution`` (``rollback/execution.py``: running an action's steps, settling its audit
and alerts) and on ``RolloutTracking`` (``rollback/rollout.py``), which are all built on
this: the configuration, the current actions and tasks, and how alerts are raised and
resolved and the session log written.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx

from wsmon_tui.config import Config
from wsmon_tui.errors import StoreError
from wsmon_tui.model import AlertView, RollbackView
from wsmon_tui.rollback.audit import AuditDB
from wsmon_tui.rollback.flags import FlagProvider
from wsmon_tui.rollback.lock import MARGIN, RollbackLock

log = logging.getLogger("wsmon_tui.rollback.controller")

AUTO_USER = "wsmon-tui (automatic)"
ALERT_FAILED = "RollbackFailed"
ALERT_RECOMMENDED = "RollbackRecommended"
ALERT_IN_PROGRESS = "RollbackInProgress"
ALERT_THROTTLED = "Throttled"
HEALTH_TRIGGER = "health_below"


@dataclass(frozen=True, slots=True)
class Cause:
    """What set an action off: a firing rule's alert, or the overall health."""

    rule: str
    value: float | None
    target: str = ""
    threshold: float | None = None
    summary: str = ""


@dataclass
class _Action:
    kind: str
    """rollback | throttle"""
    trigger: str
    trigger_value: float | None
    reason: str
    user: str
    automatic: bool
    dry_run: bool
    started_at: float
    id: int | None = None
    state: str = "running"
    finished_at: float | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    verify_deadline: float | None = None
    streak: int = 0
    detail: str = ""
    cause: Cause | None = None
    """The alert (or health) that set it off, for the faces; None for a manual one."""
    planned: tuple[str, ...] = ()
    """The configured steps' names, in order."""
    state_since: float | None = None
    """When it entered its current state."""

    def view(self, *, verify_needed: int = 0, auto_count: int = 0, recommended: bool = False,
             throttle: RollbackView | None = None) -> RollbackView:
        """What a face shows of this action."""
        cause = self.cause
        return RollbackView(
            id=self.id, state=self.state, trigger=self.trigger, reason=self.reason,
            started_at=self.started_at, finished_at=self.finished_at,
            steps=tuple(MappingProxyType(dict(s)) for s in self.steps), auto_count=auto_count,
            recommended=recommended, kind=self.kind, automatic=self.automatic, user=self.user,
            trigger_target=cause.target if cause else "", trigger_value=self.trigger_value,
            trigger_threshold=cause.threshold if cause else None,
            trigger_summary=cause.summary if cause else "", planned=self.planned,
            state_since=self.state_since if self.state_since is not None else self.started_at,
            verify_deadline=self.verify_deadline, verify_streak=self.streak,
            verify_needed=verify_needed if self.kind == "rollback" else 0, detail=self.detail,
            throttle=throttle)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state, "outcome": self.state,
                "trigger": self.trigger, "trigger_value": self.trigger_value, "reason": self.reason,
                "user": self.user, "automatic": self.automatic, "dry_run": self.dry_run,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "verify_deadline": self.verify_deadline, "detail": self.detail,
                "steps": [dict(s) for s in self.steps]}


def stored_view(row: dict[str, Any]) -> RollbackView:
    """A face's view of an audit row (``AuditDB.actions``): how that rollback ended."""
    finished = row.get("finished_at")
    return RollbackView(
        id=row.get("id"), state=str(row.get("outcome") or ""), trigger=str(row.get("trigger") or ""),
        reason=str(row.get("reason") or ""), started_at=row.get("started_at"), finished_at=finished,
        steps=tuple(MappingProxyType(dict(s)) for s in row.get("steps") or ()),
        automatic=bool(row.get("automatic")), user=str(row.get("user") or ""),
        trigger_value=row.get("trigger_value"), detail=str(row.get("detail") or ""),
        state_since=finished if finished is not None else row.get("started_at"))


class ControllerState:
    """The rollback controller's state and shared helpers (see the module docstring)."""

    def __init__(self, config: Config, db_path: Path | None, *, flags: FlagProvider | None,
                 client: httpx.AsyncClient, alert_engine: Any | None = None,
                 clock: Callable[[], float] = time.time, read_only: bool = False, session_id: str = "",
                 log: Callable[..., None] | None = None,
                 on_steps_done: Callable[[float], None] | None = None) -> None:
        self.config = config
        self.cfg = config.rollback
        self.throttle_cfg = config.throttle
        self.flags = flags
        self.client = client
        self.alert_engine = alert_engine
        self.clock = clock
        self.read_only = read_only
        self.session_id = session_id
        self._log_fn = log
        self.on_steps_done = on_steps_done
        """Called with the time a rollback's steps finished (it starts verifying): the Monitor can
        judge health from then on, so that probes failed before the rollback do not hold it back."""
        self.deployment = config.deployment.name
        self.rollout_flag = config.flags.rollout_flag
        self.rollout_interval = config.interval
        self.notes: list[str] = []
        """Problems the user must know about (e.g. the audit could not be opened)."""
        if read_only:
            self.audit = AuditDB(None)
        else:
            try:
                self.audit = AuditDB(db_path)
            except StoreError as exc:
                self.notes.append(f"rollback audit kept in memory only: {exc}")
                self.audit = AuditDB(None)
            try:
                settled = self.audit.settle_interrupted()
            except StoreError as exc:
                self.notes.append(str(exc))
            else:
                if settled:
                    self._log("rollback_settled", ids=settled,
                                    why="left in progress by a session that ended without finishing it")
        self.lock = self._open_lock(None if read_only else db_path)
        """One rollback at a time across every process on the state dir (``rollback/lock.py``)."""
        self._auto_count: int | None = None
        self._current: _Action | None = None
        self._stored: RollbackView | bool | None = False
        """The latest rollback in the audit (``stored_rollback``); False: not read this tick."""
        self._throttle: _Action | None = None
        self._task: asyncio.Task[None] | None = None
        self._throttle_task: asyncio.Task[None] | None = None
        self._rollout_task: asyncio.Task[None] | None = None
        self._last_throttle_at: float | None = None
        self._below_since: float | None = None
        self._recommended = False
        self._throttled_alert = False
        self._exhausted_logged = False
        self._refused_logged = ""
        self._pending: list[Any] = []
        self._rollout_percent: float | None = None
        self._last_rollout_read: float | None = None
        self._last_rollout_point: tuple[float, float | None, float | None] | None = None
        self._rollout_error = ""
        self._raised = 0
        """Alerts raised or resolved so far (a tick that changed it re-reads the alert views)."""

    def _open_lock(self, db_path: Path | None) -> RollbackLock:
        try:
            return RollbackLock(db_path)
        except sqlite3.Error as exc:
            self.notes.append(f"rollback lock kept in this process only: {exc}")
            return RollbackLock(None)

    @property
    def auto_count(self) -> int:
        """Automatic rollbacks of this deployment and version, in every process and session (the
        audit's count, so ``max_auto`` holds across restarts and processes)."""
        if self._auto_count is None:
            try:
                self._auto_count = self.audit.auto_count(self.deployment, self.config.deployment.version)
            except sqlite3.Error as exc:
                self._audit_failed(exc)
                self._auto_count = 0
        return self._auto_count

    def stored_rollback(self) -> RollbackView | None:
        """The latest rollback of this deployment in the audit, by an earlier run or another
        process: read once a tick (``judge`` forgets it), so a restarted engine knows it."""
        if self._stored is False:
            try:
                row = self.audit.last_rollback(self.deployment)
            except sqlite3.Error as exc:
                self._audit_failed(exc)
                row = None
            self._stored = None if row is None else stored_view(row)
        return self._stored if isinstance(self._stored, RollbackView) else None

    def _last_rollback_at(self) -> float | None:
        """When the latest rollback of this deployment started, in any process (for ``cooldown``)."""
        try:
            return self.audit.last_rollback_at(self.deployment)
        except sqlite3.Error as exc:
            self._audit_failed(exc)
            return None

    def _lock_lifetime(self) -> float:
        """How long a held lock lasts if its holder dies: the steps' timeouts, the verify window
        and a margin."""
        return sum(s.timeout for s in self.cfg.steps) + self.cfg.verify_window + MARGIN

    def _audit_failed(self, exc: BaseException) -> None:
        note = f"rollback audit not written: {exc}"
        if note not in self.notes:
            self.notes.append(note)
        log.warning("%s", note)

    # -- alerts and the log --------------------------------------------------------------

    def _alert_raise(self, rule: str, severity: str, summary: str, description: str,
                     value: float | None) -> None:
        if self.alert_engine is None:
            return
        self._raised += 1
        try:
            self._pending.extend(self.alert_engine.raise_alert(
                rule=rule, target=self.deployment, severity=severity, summary=summary,
                description=description, value=value))
        except Exception as exc:
            log.warning("could not raise %s: %s", rule, exc)
            self._log("alert_failed", rule=rule, error=str(exc)[:300])

    def _alert_resolve(self, rule: str) -> None:
        if self.alert_engine is None:
            return
        self._raised += 1
        try:
            self._pending.extend(self.alert_engine.resolve_alert(rule, self.deployment))
        except Exception as exc:
            log.warning("could not resolve %s: %s", rule, exc)

    def _log(self, event: str, **data: Any) -> None:
        if self._log_fn is None:
            return
        try:
            self._log_fn(event, **data)
        except Exception:  # the session log is best effort
            log.exception("session log failed")


def _cause(alerts: tuple[AlertView, ...], rule: str) -> Cause:
    """``rule`` as the cause of an action: the target, value, threshold and summary of its first
    firing alert that has a value (else of its first firing alert)."""
    firing = [a for a in alerts if a.rule == rule and a.state == "firing"]
    found = next((a for a in firing if a.value is not None), firing[0] if firing else None)
    if found is None:
        return Cause(rule, None)
    return Cause(rule, found.value, found.target, found.threshold, found.summary)
