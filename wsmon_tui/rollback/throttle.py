"""The throttle: the first rule of ``[throttle] on`` that is firing runs the throttle steps
(``cooldown`` apart), audited like a rollback, with no confirmation; a ``Throttled``
warning alert is raised while it applies.

Separate from the rollback policy: it has its own trigger, cooldown and steps.
"""

from __future__ import annotations

import asyncio

from wsmon_tui.model import AlertView
from wsmon_tui.rollback.controller_state import ALERT_THROTTLED, AUTO_USER, _Action, _cause
from wsmon_tui.rollback.execution import Execution
from wsmon_tui.rollback.steps import step_label


class Throttling(Execution):
    """Starts the throttle steps when a throttle rule fires (see the module docstring)."""

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
        cause = _cause(alerts, rule)
        value = cause.value
        action = _Action(kind="throttle", trigger=rule, trigger_value=value, reason=f"{rule} firing",
                         user=AUTO_USER, automatic=True, dry_run=self.cfg.dry_run, started_at=now,
                         cause=cause, planned=tuple(step_label(s) for s in tc.steps))
        self._begin(action)
        self._throttle = action
        self._last_throttle_at = now
        if not action.dry_run:
            self._throttled_alert = True
            self._alert_raise(ALERT_THROTTLED, "warning", f"{self.deployment} throttled: {rule} firing",
                              f"throttle #{action.id}: {len(tc.steps)} step(s)", value)
        self._throttle_task = asyncio.ensure_future(self._execute(action, tc.steps))
