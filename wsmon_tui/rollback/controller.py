"""The rollback controller: policy, execution, verification, throttling and rollout tracking.

It runs as a Monitor hook (``on_snapshot``, once per tick) and takes manual commands
(``rollback``). What it decides, per tick:

* **Verification.** After a rollback's steps, each evaluation counts healthy overall
  snapshots in a row; ``verify_successes`` of them inside ``verify_window`` make it
  *verified*, else it is *failed_verification* and a critical ``RollbackFailed`` alert
  is raised. A rollback is never reported done on the strength of its steps alone.
* **Policy.** The trigger is the first rule of ``[rollback] on`` that is firing, or the
  overall health below ``health_below`` for ``for`` seconds. ``auto = true`` starts a
  rollback (at most ``max_auto`` per session, ``cooldown`` apart); ``"ask"`` raises a
  critical ``RollbackRecommended`` alert and sets ``RollbackView.recommended``; ``false``
  does nothing. ``read_only`` forbids every rollback and throttle.
* **Throttle.** The first rule of ``[throttle] on`` that is firing runs the throttle
  steps (``cooldown`` apart), audited like a rollback; no confirmation.
* **Rollout.** Every ``interval`` (not every tick) the rollout flag is read from the
  flag provider into ``DeploymentView.rollout_percent`` and the rollout timeline.

Steps run in background tasks so that snapshots keep flowing while a rollback runs;
notifications made outside ``on_snapshot`` are handed back on the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx

from wsmon_tui.config import Config, StepConfig
from wsmon_tui.errors import StoreError, WsmonError
from wsmon_tui.model import AlertView, RollbackView, Snapshot, Status
from wsmon_tui.rollback.audit import AuditDB
from wsmon_tui.rollback.flags import FlagError, FlagProvider, effective_rollout
from wsmon_tui.rollback.steps import StepResult, planned, run_steps

log = logging.getLogger(__name__)

AUTO_USER = "wsmon-tui (automatic)"
ALERT_FAILED = "RollbackFailed"
ALERT_RECOMMENDED = "RollbackRecommended"
ALERT_IN_PROGRESS = "RollbackInProgress"
ALERT_THROTTLED = "Throttled"
HEALTH_TRIGGER = "health_below"
ROLLOUT_KEEPALIVE = 60.0
"""Seconds after which an unchanged rollout point is written to the timeline again."""


class RollbackRefused(WsmonError):
    """A rollback that cannot start now (one is already running or verifying)."""

    exit_code = 1


def _read_only_error(what: str) -> WsmonError:
    from wsmon_tui.errors import ReadOnlyError

    return ReadOnlyError(f"this session is read-only: {what} is not allowed")


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

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state, "outcome": self.state,
                "trigger": self.trigger, "trigger_value": self.trigger_value, "reason": self.reason,
                "user": self.user, "automatic": self.automatic, "dry_run": self.dry_run,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "verify_deadline": self.verify_deadline, "detail": self.detail,
                "steps": [dict(s) for s in self.steps]}


@dataclass(frozen=True, slots=True)
class RollbackOutcome:
    """What the rollback policy adds to one tick's Snapshot."""

    view: RollbackView
    rollout_percent: float | None
    notes: tuple[str, ...]
    notifications: list[Any]
    alerts_changed: bool
    """The policy raised or resolved an alert this tick (the alert views must be re-read)."""

    def apply(self, snapshot: Snapshot, alerts: tuple[AlertView, ...] | None = None,
              notes: tuple[str, ...] = ()) -> Snapshot:
        """``snapshot`` with this outcome (and ``alerts``, when given), built once."""
        deployment = snapshot.deployment
        if self.rollout_percent is not None:
            deployment = dataclasses.replace(deployment, rollout_percent=self.rollout_percent)
        extra = [n for n in (*self.notes, *notes) if n and n not in snapshot.notes]
        return dataclasses.replace(
            snapshot, rollback=self.view, deployment=deployment,
            alerts=snapshot.alerts if alerts is None else alerts,
            notes=(*snapshot.notes, *dict.fromkeys(extra)))


class RollbackController:
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
        self.auto_count = 0
        self._current: _Action | None = None
        self._throttle: _Action | None = None
        self._task: asyncio.Task[None] | None = None
        self._throttle_task: asyncio.Task[None] | None = None
        self._rollout_task: asyncio.Task[None] | None = None
        self._last_rollback_at: float | None = None
        self._last_throttle_at: float | None = None
        self._below_since: float | None = None
        self._recommended = False
        self._throttled_alert = False
        self._exhausted_logged = False
        self._pending: list[Any] = []
        self._rollout_percent: float | None = None
        self._last_rollout_read: float | None = None
        self._last_rollout_point: tuple[float, float | None, float | None] | None = None
        self._rollout_error = ""
        self._raised = 0
        """Alerts raised or resolved so far (a tick that changed it re-reads the alert views)."""

    # -- the hook ------------------------------------------------------------------------

    async def judge(self, snapshot: Snapshot, alerts: tuple[AlertView, ...]) -> RollbackOutcome:
        """The tick's policy: verify a rollback in progress, roll back / recommend / throttle
        on what fires in ``alerts`` (this tick's), track the rollout. ``snapshot`` is the
        tick's record; the caller builds the published Snapshot from it and the outcome."""
        now = self.clock()
        firing = {a.rule for a in alerts if a.state == "firing"}
        raised_before = self._raised
        self._verify(snapshot, now)
        trigger = self._rollback_trigger(snapshot, alerts, firing, now)
        if trigger is not None and not self.read_only:
            if self.cfg.auto is True:
                self._maybe_auto(trigger, now)
            elif self.cfg.auto == "ask":
                self._maybe_recommend(trigger, now)
        elif trigger is None and self._recommended:
            self._recommended = False
            self._alert_resolve(ALERT_RECOMMENDED)
        self._maybe_throttle(alerts, firing, now)
        self._track_rollout(snapshot, now)
        out, self._pending = self._pending, []
        notes = [n for n in self.notes if n not in snapshot.notes]
        if self._rollout_error:
            notes.append(f"rollout not tracked: {self._rollout_error}")
        return RollbackOutcome(view=self.view(), rollout_percent=self._rollout_percent, notes=tuple(notes),
                               notifications=out, alerts_changed=self._raised != raised_before)

    async def on_snapshot(self, snapshot: Snapshot, firing_rules: set[str]) -> tuple[Snapshot, list[Any]]:
        """``judge`` for a caller that has a Snapshot with its alerts (the CLI's rollback watch)."""
        del firing_rules  # judged from snapshot.alerts
        outcome = await self.judge(snapshot, snapshot.alerts)
        return outcome.apply(snapshot), outcome.notifications

    def view(self) -> RollbackView:
        a = self._current
        if a is None:
            return RollbackView(id=None, state="idle", auto_count=self.auto_count,
                                recommended=self._recommended)
        return RollbackView(
            id=a.id, state=a.state, trigger=a.trigger, reason=a.reason, started_at=a.started_at,
            finished_at=a.finished_at, steps=tuple(MappingProxyType(dict(s)) for s in a.steps),
            auto_count=self.auto_count, recommended=self._recommended,
        )

    @property
    def current(self) -> dict[str, Any] | None:
        """The latest rollback (as a dict), or None."""
        return self._current.as_dict() if self._current else None

    @property
    def last_throttle(self) -> dict[str, Any] | None:
        return self._throttle.as_dict() if self._throttle else None

    def busy(self) -> bool:
        """A rollback is running its steps or waiting for verification."""
        return self._current is not None and self._current.state in ("running", "verifying")

    # -- manual ----------------------------------------------------------------------------

    async def rollback(self, *, reason: str, user: str, trigger: str = "manual", automatic: bool = False,
                       dry_run: bool | None = None, trigger_value: float | None = None) -> dict:
        """Run the rollback steps now and return the action (state ``verifying`` when they succeeded;
        verification goes on in ``on_snapshot``). Raises ``ReadOnlyError`` or ``RollbackRefused``."""
        action = self._start(reason=reason, user=user, trigger=trigger, automatic=automatic,
                             dry_run=self.cfg.dry_run if dry_run is None else dry_run,
                             trigger_value=trigger_value)
        task = asyncio.ensure_future(self._execute(action, self.cfg.steps))
        self._task = task
        await asyncio.shield(task)
        return action.as_dict()

    async def wait_steps(self, timeout: float | None = None) -> None:
        """Wait until the running rollback's and throttle's steps are done (tests, the CLI)."""
        tasks = [t for t in (self._task, self._throttle_task) if t is not None and not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def _start(self, *, reason: str, user: str, trigger: str, automatic: bool, dry_run: bool,
               trigger_value: float | None) -> _Action:
        if self.read_only:
            raise _read_only_error("rollback")
        cur = self._current
        if cur is not None and cur.state in ("running", "verifying"):
            raise RollbackRefused(f"rollback #{cur.id} is still {cur.state}; wait for its outcome")
        now = self.clock()
        action = _Action(kind="rollback", trigger=trigger, trigger_value=trigger_value, reason=reason,
                         user=user, automatic=automatic, dry_run=dry_run, started_at=now)
        self._begin(action)
        self._current = action
        self._last_rollback_at = now
        if automatic:
            self.auto_count += 1
        if self._recommended:
            self._recommended = False
            self._alert_resolve(ALERT_RECOMMENDED)
        return action

    # -- execution -----------------------------------------------------------------------

    def _begin(self, action: _Action) -> None:
        dep = self.config.deployment
        try:
            action.id = self.audit.begin(
                kind=action.kind, deployment=dep.name, version=dep.version, session_id=self.session_id,
                automatic=action.automatic, user=action.user, trigger=action.trigger,
                trigger_value=action.trigger_value, reason=action.reason, dry_run=action.dry_run,
                started_at=action.started_at)
        except Exception as exc:
            self._audit_failed(exc)
        self._log(f"{action.kind}_started", id=action.id, automatic=action.automatic, user=action.user,
                  trigger=action.trigger, value=action.trigger_value, reason=action.reason,
                  dry_run=action.dry_run)

    def _audit_failed(self, exc: BaseException) -> None:
        note = f"rollback audit not written: {exc}"
        if note not in self.notes:
            self.notes.append(note)
        log.warning("%s", note)

    async def _record_step(self, action: _Action, index: int, result: StepResult) -> None:
        brief = result.brief()
        action.steps.append(brief)
        if action.id is not None:
            try:
                self.audit.add_step(action.id, index + 1, result.as_dict())
            except Exception as exc:
                self._audit_failed(exc)
        self._log(f"{action.kind}_step", id=action.id, seq=index + 1, **result.as_dict())

    async def _execute(self, action: _Action, steps: list[StepConfig]) -> None:
        try:
            if action.dry_run:
                for i, result in enumerate(planned(steps, "not run (dry run)", self.clock)):
                    await self._record_step(action, i, result)
                self._finish(action, "dry_run", "dry run: nothing was run")
                return
            if not steps:
                self._finish(action, "failed", f"no [[{action.kind}.steps]] are configured")
                return
            if action.kind == "rollback":
                self._alert_raise(ALERT_IN_PROGRESS, "warning",
                                  f"{'Automatic' if action.automatic else 'Manual'} rollback #{action.id} of "
                                  f"{self.deployment} started",
                                  f"by {action.user}; trigger {action.trigger}; reason: {action.reason}",
                                  action.trigger_value)
            results = await run_steps(steps, client=self.client, flags=self.flags,
                                      secrets=self.config.secrets, clock=self.clock,
                                      on_result=lambda i, r: self._record_step(action, i, r))
            stopped = any(r.ok is False and not s.continue_on_error
                          for r, s in zip(results, steps, strict=True))
            failed = [r.name for r in results if r.ok is False]
            if stopped:
                self._finish(action, "failed", f"step failed: {', '.join(failed)}")
            elif action.kind == "throttle":
                self._finish(action, "done",
                             f"steps failed (continued): {', '.join(failed)}" if failed else "")
            else:
                action.state = "verifying"
                action.verify_deadline = self.clock() + self.cfg.verify_window
                action.streak = 0
                action.detail = f"steps failed (continued): {', '.join(failed)}" if failed else ""
                self._set_outcome(action, "verifying")
                if self.on_steps_done is not None:
                    try:
                        self.on_steps_done(self.clock())
                    except Exception:
                        log.exception("on_steps_done failed")
                self._log("rollback_verifying", id=action.id, window=self.cfg.verify_window,
                          successes=self.cfg.verify_successes)
        except asyncio.CancelledError:
            self._finish(action, "failed", "interrupted: the session ended while the steps ran")
            raise
        except Exception as exc:  # bookkeeping must end the action whatever happened
            log.exception("rollback execution failed")
            self._finish(action, "failed", f"{type(exc).__name__}: {exc}")

    def _set_outcome(self, action: _Action, outcome: str, finished_at: float | None = None,
                     detail: str | None = None) -> None:
        if action.id is None:
            return
        try:
            self.audit.set_outcome(action.id, outcome, finished_at=finished_at, detail=detail)
        except Exception as exc:
            self._audit_failed(exc)

    def _finish(self, action: _Action, outcome: str, detail: str = "", *, quiet: bool = False) -> None:
        if action.finished_at is not None:
            return
        action.state = outcome
        action.finished_at = self.clock()
        if detail:
            action.detail = detail
        self._set_outcome(action, outcome, action.finished_at, action.detail)
        self._log(f"{action.kind}_finished", id=action.id, outcome=outcome, detail=action.detail)
        if action.kind != "rollback" or outcome == "dry_run" or quiet:
            return
        self._alert_resolve(ALERT_IN_PROGRESS)
        if outcome == "verified":
            self._alert_resolve(ALERT_FAILED)
        elif outcome in ("failed", "failed_verification"):
            what = "its steps failed" if outcome == "failed" else "health did not recover"
            self._alert_raise(ALERT_FAILED, "critical",
                              f"Rollback #{action.id} of {self.deployment} failed: {what}",
                              f"trigger {action.trigger}; reason: {action.reason}; {action.detail}",
                              action.trigger_value)

    # -- verification ------------------------------------------------------------------

    def _verify(self, snapshot: Snapshot, now: float) -> None:
        a = self._current
        if a is None or a.state != "verifying" or a.verify_deadline is None:
            return
        a.streak = a.streak + 1 if snapshot.status == Status.HEALTHY else 0
        need = self.cfg.verify_successes
        if a.streak >= need:
            self._finish(a, "verified", f"healthy for {need} consecutive evaluations"
                         + (f"; {a.detail}" if a.detail else ""))
        elif now >= a.verify_deadline:
            self._finish(a, "failed_verification",
                         f"not healthy for {need} consecutive evaluations within {self.cfg.verify_window:g}s "
                         f"(last status {snapshot.status}, health {snapshot.health_score})")

    def conclude(self, snapshot: Snapshot | None = None) -> None:
        """The caller stops watching (window over, session ending): a rollback still verifying is
        ``failed_verification`` now, with its alert. ``snapshot`` (already evaluated by
        ``on_snapshot``; not counted again) only adds its status to the record."""
        a = self._current
        if a is None or a.state != "verifying":
            return
        last = f"; last status {snapshot.status}" if snapshot is not None else ""
        self._finish(a, "failed_verification",
                     f"not verified: {a.streak} of {self.cfg.verify_successes} consecutive healthy "
                     f"evaluations when watching stopped{last}")

    def take_notifications(self) -> list[Any]:
        """Notifications made since the last ``on_snapshot`` (e.g. by ``conclude``), for the outbox."""
        out, self._pending = self._pending, []
        return out

    # -- policy ----------------------------------------------------------------------------

    def _rollback_trigger(self, snapshot: Snapshot, alerts: tuple[AlertView, ...], firing: set[str],
                          now: float) -> tuple[str, float | None] | None:
        score = snapshot.health_score
        below = self.cfg.health_below
        if below is not None and score is not None and score < below:
            if self._below_since is None:
                self._below_since = now
        else:
            self._below_since = None
        for rule in self.cfg.on:
            if rule in firing:
                return rule, _alert_value(alerts, rule)
        if self._below_since is not None and now - self._below_since >= self.cfg.for_:
            return HEALTH_TRIGGER, score
        return None

    def _maybe_auto(self, trigger: tuple[str, float | None], now: float) -> None:
        if self.busy():
            return
        if self.auto_count >= self.cfg.max_auto:
            if not self._exhausted_logged:
                self._exhausted_logged = True
                self._log("rollback_suppressed", trigger=trigger[0], value=trigger[1],
                          why=f"max_auto ({self.cfg.max_auto}) automatic rollbacks reached this session")
            return
        if self._last_rollback_at is not None and now - self._last_rollback_at < self.cfg.cooldown:
            return
        rule, value = trigger
        reason = f"{rule} firing" if rule != HEALTH_TRIGGER else (
            f"health {value} below {self.cfg.health_below:g} for {self.cfg.for_:g}s")
        action = self._start(reason=reason, user=AUTO_USER, trigger=rule, automatic=True,
                             dry_run=self.cfg.dry_run, trigger_value=value)
        self._task = asyncio.ensure_future(self._execute(action, self.cfg.steps))

    def _maybe_recommend(self, trigger: tuple[str, float | None], now: float) -> None:
        if self._recommended or self.busy():
            return
        if self._last_rollback_at is not None and now - self._last_rollback_at < self.cfg.cooldown:
            return
        self._recommended = True
        rule, value = trigger
        self._log("rollback_recommended", trigger=rule, value=value)
        self._alert_raise(ALERT_RECOMMENDED, "critical", f"Rollback of {self.deployment} recommended: {rule}",
                          "auto = \"ask\": confirm in the TUI or run `wsmon-tui rollback`", value)

    # -- throttle --------------------------------------------------------------------------

    def _maybe_throttle(self, alerts: tuple[AlertView, ...], firing: set[str], now: float) -> None:
        tc = self.throttle_cfg
        if not tc.on:
            return
        rule = next((r for r in tc.on if r in firing), None)
        if rule is None:
            if self._throttled_alert:
                self._throttled_alert = False
                self._alert_resolve(ALERT_THROTTLED)
            return
        if self.read_only or not tc.steps:
            return
        if self._throttle_task is not None and not self._throttle_task.done():
            return
        if self._current is not None and self._current.state == "running":
            return
        if self._last_throttle_at is not None and now - self._last_throttle_at < tc.cooldown:
            return
        value = _alert_value(alerts, rule)
        action = _Action(kind="throttle", trigger=rule, trigger_value=value, reason=f"{rule} firing",
                         user=AUTO_USER, automatic=True, dry_run=self.cfg.dry_run, started_at=now)
        self._begin(action)
        self._throttle = action
        self._last_throttle_at = now
        if not action.dry_run:
            self._throttled_alert = True
            self._alert_raise(ALERT_THROTTLED, "warning", f"{self.deployment} throttled: {rule} firing",
                              f"throttle #{action.id}: {len(tc.steps)} step(s)", value)
        self._throttle_task = asyncio.ensure_future(self._execute(action, tc.steps))

    # -- rollout -----------------------------------------------------------------------------

    def _track_rollout(self, snapshot: Snapshot, now: float) -> None:
        if self.flags is None or not self.rollout_flag:
            return
        if self._rollout_task is not None and not self._rollout_task.done():
            return
        if self._last_rollout_read is not None and now - self._last_rollout_read < self.rollout_interval:
            return
        self._last_rollout_read = now
        adoption = snapshot.overall.get("adoption") if snapshot.overall else None
        self._rollout_task = asyncio.ensure_future(self._read_rollout(now, adoption))

    async def _read_rollout(self, now: float, adoption: float | None) -> None:
        assert self.flags is not None and self.rollout_flag
        try:
            flags = await asyncio.wait_for(self.flags.list(), max(self.rollout_interval, 5.0))
        except Exception as exc:  # a background read: every failure becomes a note, never a lost task error
            message = str(exc) if isinstance(exc, FlagError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, TimeoutError):
                message = "timed out reading the flags"
            if message != self._rollout_error:
                self._log("rollout_read_failed", error=message[:300])
            self._rollout_error = message[:200]
            return
        self._rollout_error = ""
        percent = effective_rollout(flags.get(self.rollout_flag))
        self._rollout_percent = percent
        last = self._last_rollout_point
        changed = (last is None or last[1] != percent
                   or (adoption is None) != (last[2] is None)
                   or (adoption is not None and last[2] is not None and abs(adoption - last[2]) >= 0.005)
                   or now - last[0] >= ROLLOUT_KEEPALIVE)
        if not changed or self.read_only:
            return
        self._last_rollout_point = (now, percent, adoption)
        dep = self.config.deployment
        try:
            self.audit.record_rollout(deployment=dep.name, version=dep.version, session_id=self.session_id,
                                      at=now, rollout_percent=percent, adoption=adoption)
        except Exception as exc:
            self._audit_failed(exc)

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

    # -- shutdown --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop background work and settle the audit: an unverified rollback is recorded as
        ``failed_verification`` (the session ended before health was seen to recover)."""
        for task in (self._task, self._throttle_task, self._rollout_task):
            if task is not None and not task.done():
                task.cancel()
        a = self._current
        if a is not None and a.state == "verifying":
            self._finish(a, "failed_verification", f"the session ended after {a.streak} of "
                         f"{self.cfg.verify_successes} healthy evaluations", quiet=True)
        for action in (self._current, self._throttle):
            if action is not None and action.state == "running":
                self._finish(action, "failed", "interrupted: the session ended while the steps ran",
                             quiet=True)
        self.audit.close()

    async def aclose(self) -> None:
        """``close`` for callers on the loop: also waits (briefly) for cancelled steps to end."""
        tasks = [t for t in (self._task, self._throttle_task, self._rollout_task)
                 if t is not None and not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, timeout=5)
        self.close()


def _alert_value(alerts: tuple[AlertView, ...], rule: str) -> float | None:
    for alert in alerts:
        if alert.rule == rule and alert.state == "firing" and alert.value is not None:
            return alert.value
    return None


def firing_rules(snapshot: Snapshot) -> set[str]:
    """The rule names firing in a snapshot (run the alert hook before the rollback hook)."""
    return {a.rule for a in snapshot.alerts if a.state == "firing"}
