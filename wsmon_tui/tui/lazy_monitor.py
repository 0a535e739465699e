"""A stand-in for the Monitor until the first frame is on screen.

Importing the engine (websockets, httpx, psutil, the alert and rollback engines) takes
about as long as importing Textual. The app needs only the config to paint its first
frame, so ``wsmon-tui`` can hand it a ``LazyMonitor``: the config is there at once, and
the real Monitor is built (and its modules imported) the first time anything else is
asked of it -- which the app does right after its first refresh. No textual import here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class LazyMonitor:
    """``LazyMonitor(factory, config=..., state_dir=..., store=...)``; ``factory()`` builds the Monitor."""

    def __init__(self, factory: Callable[[], Any], *, config: Any, state_dir: Any = None,
                 store: Any = None) -> None:
        self._factory = factory
        self._real: Any = None
        self._read_only = False
        self._stop_reason: str | None = None
        self.config = config
        self.state_dir = state_dir
        self.store = store

    @property
    def started(self) -> bool:
        """Whether the real Monitor exists yet."""
        return self._real is not None

    @property
    def real(self) -> Any:
        if self._real is None:
            self._real = self._factory()
            if self._read_only:
                self._real.read_only = True
            if self._stop_reason is not None:
                self._real.request_stop(self._stop_reason)
        return self._real

    @property
    def read_only(self) -> bool:
        return bool(self._real.read_only) if self._real is not None else self._read_only

    @read_only.setter
    def read_only(self, value: bool) -> None:
        self._read_only = bool(value)
        if self._real is not None:
            self._real.read_only = bool(value)

    @property
    def session_id(self) -> str:
        """Empty until the Monitor exists (quitting before it started opens no session)."""
        return str(self._real.session_id or "") if self._real is not None else ""

    def request_stop(self, reason: str = "user") -> None:
        if self._real is None:
            self._stop_reason = self._stop_reason or reason
            return
        self._real.request_stop(reason)

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found above: everything else is the real Monitor's.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.real, name)
