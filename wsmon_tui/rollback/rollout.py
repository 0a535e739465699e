"""Rollout tracking: every ``interval`` (not every tick) the rollout flag is read from the
flag provider, in the background, into ``DeploymentView.rollout_percent`` and the rollout
timeline of the audit.

Separate from rollback and throttle: it only reads, and never changes the deployment.
"""

from __future__ import annotations

import asyncio

from wsmon_tui.model import Snapshot
from wsmon_tui.rollback.controller_state import ControllerState
from wsmon_tui.rollback.flags import FlagError, effective_rollout

ROLLOUT_KEEPALIVE = 60.0
"""Seconds after which an unchanged rollout point is written to the timeline again."""


class RolloutTracking(ControllerState):
    """Reads the rollout flag in the background (see the module docstring)."""

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
