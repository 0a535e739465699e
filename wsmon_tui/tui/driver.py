"""The Linux terminal driver: Textual's, except that it stops writing once the terminal hung up.

When an SSH session drops, the pty hangs up under the app. Textual's writer thread dies on
the first failed write, and its bounded queue then blocks the event loop for good, so the
engine could never close its session. Once the app says the terminal is gone
(``WsmonApp.hung_up``), every write is dropped. Only public API: the driver's constructor
and ``write``. tests/test_tmux.py kills the tmux server under a running app to check it.
"""

from __future__ import annotations

from typing import Any

from textual.drivers.linux_driver import LinuxDriver


class WsmonLinuxDriver(LinuxDriver):
    """``LinuxDriver`` that drops writes once its app's ``hung_up`` is true."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.wsmon_app = app

    def write(self, data: str) -> None:
        if getattr(self.wsmon_app, "hung_up", False):
            return  # nothing can reach a hung-up terminal, and queueing it would block
        super().write(data)
