"""What both ends of the engine socket agree on: its name, its limits, and how errors travel.

Requests are ``{"id": N, "op": NAME, "args": {...}}``; answers ``{"id": N, "ok": true,
"result": ...}`` or ``{"id": N, "ok": false, "error": {"type", "message", "exit_code"}}``;
after ``subscribe`` the engine also sends ``{"event": "snapshot", "snapshot": {...}}``
(the latest at once, then each new one; a slow face skips to the newest). One JSON
document per line (``wsmon_tui.wire.dumps``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from wsmon_tui.errors import ReadOnlyError, UsageError, WsmonError

SOCKET_NAME = "engine.sock"
PROTOCOL = 1
LINE_LIMIT = 16 * 1024 * 1024
"""Longest line either end reads (a large report)."""
SUN_PATH_MAX = 100
"""A Unix socket's path must fit ``sun_path`` (108 bytes); longer ones go through /proc/self/fd."""

WRITE_OPS = frozenset({"acknowledge", "unacknowledge", "silence", "rollback", "flags_set"})
"""Ops that change something: refused on a read-only connection, whatever its client does."""


def socket_path(state_dir: Path) -> Path:
    return Path(state_dir) / SOCKET_NAME


class ShortPath:
    """A path to ``engine.sock`` short enough for ``bind``/``connect``: the real one, or
    ``/proc/self/fd/N/engine.sock`` through a descriptor of the state dir (closed by ``close``)."""

    def __init__(self, state_dir: Path) -> None:
        self.real = socket_path(state_dir)
        self._fd: int | None = None
        if len(os.fsencode(self.real)) <= SUN_PATH_MAX:
            self.path = str(self.real)
        else:
            self._fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
            self.path = f"/proc/self/fd/{self._fd}/{SOCKET_NAME}"

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class EngineGone(WsmonError):
    """The engine closed the socket (it ended, or was killed)."""

    exit_code = 1


class PeerRefused(WsmonError):
    """The engine refused this peer (another user)."""

    exit_code = 1


_ERRORS: dict[str, type[WsmonError]] = {
    "ReadOnlyError": ReadOnlyError, "UsageError": UsageError, "EngineGone": EngineGone,
    "PeerRefused": PeerRefused,
}


def error_dict(exc: BaseException) -> dict[str, Any]:
    code = exc.exit_code if isinstance(exc, WsmonError) else 1
    kind = type(exc).__name__ if isinstance(exc, WsmonError) else "WsmonError"
    message = str(exc) if isinstance(exc, WsmonError) else f"{type(exc).__name__}: {exc}"
    return {"type": kind, "message": message, "exit_code": code}


def error_from(data: Any) -> WsmonError:
    """The engine's error, raised on the face's side as the same kind where it is known."""
    data = data if isinstance(data, dict) else {"message": str(data)}
    cls = _ERRORS.get(str(data.get("type")), WsmonError)
    exc = cls(str(data.get("message") or "the engine refused"))
    code = data.get("exit_code")
    if isinstance(code, int) and code != exc.exit_code:
        exc.exit_code = code
    return exc
