"""The rollback controller: policy, execution, verification, throttling and rollout tracking.

It runs as a Monitor hook (``on_snapshot``, once per tick) and takes manual commands
(``rollback``). What it decides, per tick:

* **Verification.** After a rollback's steps, each evaluation counts healthy overall
  snapshots in a row; ``verify_successes`` of them inside ``verify_window`` make it
  *verified*, else it is *failed_verification* and a critical ``RollbackFailed`` alert
  is raised. A rollback is never reported done on the strength of its steps alone.
* **Policy.** The trigger is the first rule of ``[rollback] on`` that is firing, or the
  overall health below ``health_below`` for ``for`` seconds. ``auto = true`` starts a
  rollback (at most ``max_auto`` per deployment version, ``cooldown`` apart, both counted
  from the audit, so across processes and restarts); ``"ask"`` raises a
  critical ``RollbackRecommended`` alert and sets ``RollbackView.recommended``; ``false``
  does nothing. ``read_only`` forbids every rollback and throttle.
* **Throttle.** The first rule of ``[throttle] on`` that is firing runs the throttle
  steps (``cooldown`` apart), audited like a rollback; no confirmation.
* **Rollout.** Every ``interval`` (not every tick) the rollout flag is read from the
  flag provider into ``DeploymentView.rollout_percent`` and the rollout timeline.

Steps run in background tasks so that snapshots keep flowing while a rollback runs;
notifications made outside ``on_snapshot`` are handed back on the next call.

Here: the hook, manual rollbacks, verification, the rollback policy and shutdown. The parts
it is built on: ``rollback/controller_state.py`` (the shared state, the action record, alerts
and the log), ``rollback/execution.py`` (running an action's steps), ``rollback/throttle.py``
and ``rollback/rollout.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any

from wsmon_tui.errors import WsmonError
from wsmon_tui.model import AlertView, RollbackView, Snapshot, Status
from wsmon_tui.rollback.controller_state import (
    ALERT_RECOMMENDED,
    AUTO_USER,
    HEALTH_TRIGGER,
    Cause,
    _Action,
    _cause,
)
from wsmon_tui.rollback.lock import RollbackRefused
from wsmon_tui.rollback.rollout import RolloutTracking
from wsmon_tui.rollback.steps import step_label
from wsmon_tui.rollback.throttle import Throttling


def _read_only_error(what: str) -> WsmonError:
    from wsmon_tui.errors import ReadOnlyError

    return ReadOnlyError(f"this session is read-only: {what} is not allowed")


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


class RollbackController(Throttling, RolloutTracking):
    """Rollback policy, verification, throttle and rollout tracking (see the module docstring)."""

    # -- the hook ------------------------------------------------------------------------

    async def judge(self, snapshot: Snapshot, alerts: tuple[AlertView, ...]) -> RollbackOutcome:
        """The tick's policy: verify a rollback in progress, roll back / recommend / throttle
        on what fires in ``alerts`` (this tick's), track the rollout. ``snapshot`` is the
        tick's record; the caller builds the published Snapshot from it and the outcome."""
        now = self.clock()
        self._auto_count = None  # read again from the audit: another process may have rolled back
        self._stored = False
        firing = {a.rule for a in alerts if a.state == "firing"}
        raised_before = self._raised
        self._verify(snapshot, now)
        trigger = self._rollback_trigger(snapshot, alerts, firing, now)
        if any(a.rule == "MonitorOffline" and a.state in ("pending", "firing") for a in alerts):
            trigger = None  # every target failing because this machine is offline: not the release
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
        """The latest rollback, with the latest throttle in ``throttle``."""
        throttle = self._throttle.view() if self._throttle is not None else None
        a = self._current
        if a is None:
            return RollbackView(id=None, state="idle", auto_count=self.auto_count,
                                recommended=self._recommended, throttle=throttle,
                                stored=self.stored_rollback())
        return a.view(verify_needed=self.cfg.verify_successes, auto_count=self.auto_count,
                      recommended=self._recommended, throttle=throttle)

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
               trigger_value: float | None, cause: Cause | None = None) -> _Action:
        if self.read_only:
            raise _read_only_error("rollback")
        cur = self._current
        if cur is not None and cur.state in ("running", "verifying"):
            held = self.lock.current()  # one message wherever the attempt comes from: who, since, state
            raise RollbackRefused(held.refusal() if held is not None else
                                  f"rollback #{cur.id} is still {cur.state}; wait for its outcome")
        # the cross-process lock, before anything is recorded or run (rollback/lock.py)
        self.lock.acquire(user=user, deployment=self.deployment, lifetime=self._lock_lifetime())
        now = self.clock()
        action = _Action(kind="rollback", trigger=trigger, trigger_value=trigger_value, reason=reason,
                         user=user, automatic=automatic, dry_run=dry_run, started_at=now, cause=cause,
                         planned=tuple(step_label(s) for s in self.cfg.steps))
        self._begin(action)
        self.lock.update(action_id=action.id)
        self._current = action
        self._auto_count = None
        if self._recommended:
            self._recommended = False
            self._alert_resolve(ALERT_RECOMMENDED)
        return action

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
                          now: float) -> Cause | None:
        score = snapshot.health_score
        below = self.cfg.health_below
        if below is not None and score is not None and score < below:
            if self._below_since is None:
                self._below_since = now
        else:
            self._below_since = None
        for rule in self.cfg.on:
            if rule in firing:
                return _cause(alerts, rule)
        if self._below_since is not None and now - self._below_since >= self.cfg.for_:
            return Cause(HEALTH_TRIGGER, score, self.deployment, below,
                         f"health {score:.0f} below {below:g} for {self.cfg.for_:g}s"
                         if score is not None and below is not None else "")
        return None

    def _maybe_auto(self, trigger: Cause, now: float) -> None:
        if self.busy():
            return
        if self.auto_count >= self.cfg.max_auto:
            if not self._exhausted_logged:
                self._exhausted_logged = True
                self._log("rollback_suppressed", trigger=trigger.rule, value=trigger.value,
                          why=f"max_auto ({self.cfg.max_auto}) automatic rollbacks of this deployment "
                              "version reached")
            return
        last = self._last_rollback_at()
        if last is not None and now - last < self.cfg.cooldown:
            return
        rule, value = trigger.rule, trigger.value
        reason = f"{rule} firing" if rule != HEALTH_TRIGGER else (
            f"health {value} below {self.cfg.health_below:g} for {self.cfg.for_:g}s")
        try:
            action = self._start(reason=reason, user=AUTO_USER, trigger=rule, automatic=True,
                                 dry_run=self.cfg.dry_run, trigger_value=value, cause=trigger)
        except RollbackRefused as exc:  # another process is rolling back: its outcome decides
            if str(exc) != self._refused_logged:
                self._refused_logged = str(exc)
                self._log("rollback_suppressed", trigger=rule, value=value, why=str(exc))
            return
        self._task = asyncio.ensure_future(self._execute(action, self.cfg.steps))

    def _maybe_recommend(self, trigger: Cause, now: float) -> None:
        if self._recommended or self.busy() or self.lock.held_elsewhere() is not None:
            return
        last = self._last_rollback_at()
        if last is not None and now - last < self.cfg.cooldown:
            return
        self._recommended = True
        rule, value = trigger.rule, trigger.value
        self._log("rollback_recommended", trigger=rule, value=value)
        self._alert_raise(ALERT_RECOMMENDED, "critical", f"Rollback of {self.deployment} recommended: {rule}",
                          "auto = \"ask\": confirm in the TUI or run `wsmon-tui rollback`", value)

    # -- shutdown --------------------------------------------------------------------------

    def halt(self) -> None:
        """Start nothing more and stop the steps in flight (the engine lost its lease)."""
        self.read_only = True
        for task in (self._task, self._throttle_task, self._rollout_task):
            if task is not None and not task.done():
                task.cancel()

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
        self.lock.close()
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


def firing_rules(snapshot: Snapshot) -> set[str]:
    """The rule names firing in a snapshot (run the alert hook before the rollback hook)."""
    return {a.rule for a in snapshot.alerts if a.state == "firing"}
