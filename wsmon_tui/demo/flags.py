"""The demo's feature flags: ``{"name": {"enabled": bool, "rollout": 0-100}}``.

The same shape as the file flag provider's JSON. Updates are validated as a whole
before anything changes, so a bad request never leaves a flag half-set.
"""

from __future__ import annotations

import re
from typing import Any

from wsmon_tui.demo.httpio import HttpError

DEFAULT_FLAG = "websocket_enabled"
MAX_FLAGS = 64
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class FlagStore:
    def __init__(self) -> None:
        self._flags: dict[str, dict[str, Any]] = {
            DEFAULT_FLAG: {"enabled": True, "rollout": 100},
            "presence_v2": {"enabled": True, "rollout": 100},
            "message_compression": {"enabled": False, "rollout": 0},
        }

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: dict(state) for name, state in self._flags.items()}

    def get(self, name: str) -> dict[str, Any] | None:
        state = self._flags.get(name)
        return dict(state) if state is not None else None

    @property
    def websocket_enabled(self) -> bool:
        return bool(self._flags[DEFAULT_FLAG]["enabled"])

    @property
    def websocket_rollout(self) -> float:
        return float(self._flags[DEFAULT_FLAG]["rollout"])

    def update_one(self, name: str, body: object) -> None:
        """``PUT /flags/{name}`` with ``{"enabled": bool}`` and/or ``{"rollout": n}``."""
        self._apply({name: _changes(name, body)})

    def update_many(self, body: object) -> None:
        """``PUT /flags``: ``{"websocket_enabled": false}``, ``{"rollout": 50}``, ``{"enabled": true}``
        (the last two address ``websocket_enabled``) or ``{"name": {"enabled": ..., "rollout": ...}}``.
        """
        if not isinstance(body, dict) or not body:
            raise HttpError(400, "expected a JSON object of flag changes")
        plan: dict[str, dict[str, Any]] = {}
        own = {k: v for k, v in body.items() if k in ("enabled", "rollout")}
        if own:
            plan[DEFAULT_FLAG] = _changes(DEFAULT_FLAG, own)
        for name, value in body.items():
            if name in ("enabled", "rollout"):
                continue
            if isinstance(value, bool):
                change = {"enabled": value}
            else:
                change = _changes(name, value)
            plan.setdefault(name, {}).update(change)
        self._apply(plan)

    def _apply(self, plan: dict[str, dict[str, Any]]) -> None:
        for name in plan:
            if not isinstance(name, str) or not _NAME.match(name):
                raise HttpError(400, "flag names are 1-64 letters, digits, '_', '.' or '-'")
        new = [name for name in plan if name not in self._flags]
        if len(self._flags) + len(new) > MAX_FLAGS:
            raise HttpError(400, f"at most {MAX_FLAGS} flags")
        for name, change in plan.items():
            state = self._flags.setdefault(name, {"enabled": False, "rollout": 100})
            state.update(change)


def _changes(name: str, body: object) -> dict[str, Any]:
    if not isinstance(body, dict) or not body:
        raise HttpError(400, f"{name}: expected an object with enabled and/or rollout")
    unknown = sorted(set(body) - {"enabled", "rollout"})
    if unknown:
        raise HttpError(400, f"{name}: unknown field(s) {', '.join(map(str, unknown))}")
    change: dict[str, Any] = {}
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise HttpError(400, f"{name}: enabled must be true or false")
        change["enabled"] = body["enabled"]
    if "rollout" in body:
        value = body["rollout"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise HttpError(400, f"{name}: rollout must be a number from 0 to 100")
        change["rollout"] = int(value) if float(value).is_integer() else float(value)
    return change
