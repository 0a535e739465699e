"""Running one action (a rollback or a throttle): its audit record, its steps in a
background task, and how it ends (done, verifying, failed, dry run) with the alerts that go
with that.

Separate from the controller's policy, which only decides when an action starts.
"""

from __future__ import annotations

import asyncio
import logging

from wsmon_tui.config import StepConfig
from wsmon_tui.rollback.controller_state import ALERT_FAILED, ALERT_IN_PROGRESS, ControllerState, _Action
from wsmon_tui.rollback.lock import MARGIN
from wsmon_tui.rollback.steps import StepResult, planned, run_steps

log = logging.getLogger("wsmon_tui.rollback.controller")


class Execution(ControllerState):
    """Runs actions' steps and settles their audit records (see the module docstring)."""

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
                action.state_since = self.clock()
                action.verify_deadline = action.state_since + self.cfg.verify_window
                action.streak = 0
                action.detail = f"steps failed (continued): {', '.join(failed)}" if failed else ""
                self._set_outcome(action, "verifying")
                self.lock.update(state="verifying", lifetime=self.cfg.verify_window + MARGIN)
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
        action.finished_at = action.state_since = self.clock()
        if detail:
            action.detail = detail
        self._set_outcome(action, outcome, action.finished_at, action.detail)
        self._log(f"{action.kind}_finished", id=action.id, outcome=outcome, detail=action.detail)
        if action.kind == "rollback":
            self.lock.release()
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
