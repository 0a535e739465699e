"""How the app ends: ``q``, SIGTERM, SIGHUP (a dropped SSH session), SIGINT and an exit the
driver asks for (a browser tab closing under ``serve``); the engine closes its session with
how it ended, then the app exits (or, when the terminal hung up, leaves with ``os._exit``).

Leaving is deliberate: ``q`` on a dashboard that runs the acting engine (it probes, pages and
may roll back for the deployment) asks first; an attached or read-only face just leaves.
Signals and a closed browser tab never ask: nobody is there to answer.

Separate from the app (``tui/app.py``), which keeps ``_terminal_gone``: this is the quit
key, the signal handling and the shutdown they start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import termios
from typing import TYPE_CHECKING

from rich.console import RenderableType
from textual import messages
from textual.app import App
from textual.worker import Worker, WorkerState

from wsmon_tui.seam import EngineLink

QUIT_TIMEOUT_S = 15.0
"""Longest the app waits for the engine to close its session when quitting."""


def _terminal_alive() -> bool:
    """False once the terminal hung up (its ioctls fail with EIO)."""
    try:
        termios.tcgetattr(sys.__stdout__.fileno())  # type: ignore[union-attr]
    except (termios.error, OSError, ValueError, AttributeError):
        return False
    return True


STOP_SIGNALS = {signal.SIGTERM: "sigterm", signal.SIGHUP: "sighup", signal.SIGINT: "sigint"}
"""Signals that end the session gracefully, and how the session records its end."""


class SessionEnd(App[int]):
    """Signal handlers and the graceful stop (see the module docstring)."""

    engine: EngineLink
    engine_worker: Worker[str] | None
    engine_failed: bool
    read_only: bool
    _quitting: bool
    _hung_up: bool
    _signal_task: asyncio.Future[None] | None

    if TYPE_CHECKING:
        def _terminal_gone(self) -> None: ...

        def _cancel_repaints(self) -> None: ...

        @property
        def deployment_name(self) -> str: ...

    def _install_signal_handlers(self) -> None:
        """SIGTERM, SIGHUP (a dropped SSH session) and SIGINT stop like ``q``: the engine
        closes its session with how it ended, then the app restores the terminal."""
        loop = asyncio.get_running_loop()
        for sig, reason in STOP_SIGNALS.items():
            # A loop without signal support (NotImplementedError) or not on the main thread
            # (RuntimeError, ValueError: e.g. under a test runner) keeps the default handlers.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, reason)

    def _on_signal(self, reason: str) -> None:
        if reason == "sighup" and not _terminal_alive():
            self._terminal_gone()
        self._signal_task = asyncio.ensure_future(self._stop_and_exit(reason))

    _exit_called = False

    def exit(self, result: int | None = None, return_code: int = 0,
             message: RenderableType | None = None) -> None:
        self._exit_called = True
        super().exit(result, return_code, message)

    def on_exit_app(self, event: messages.ExitApp) -> None:
        """An exit that did not come through ``exit()`` stops like ``q``: textual-serve's driver
        posts ExitApp itself when a browser tab closes, which would end the app with its engine
        session still open (``status`` then says it crashed). ``exit()`` -- our own stop's, or a
        caller's with a result -- passes through untouched."""
        if not (self._quitting or self._exit_called):
            event.prevent_default()
            self._signal_task = asyncio.ensure_future(self._stop_and_exit("user"))

    @property
    def acting(self) -> bool:
        """This dashboard runs the engine that acts for the deployment (probes, pages, rolls
        back): quitting it stops all that. An attached or read-only face only leaves."""
        worker = self.engine_worker
        running = worker is not None and worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
        return running and bool(self.engine.acting) and not self.read_only

    async def action_quit(self) -> None:
        """Stop the engine, wait until it has closed its session, then exit; a dashboard that
        runs the acting engine asks first (an attached face just leaves)."""
        if self._quitting:
            return
        if not self.acting:
            await self._stop_and_exit("user")
            return
        from wsmon_tui.tui.screens.confirm_quit import ConfirmQuitScreen

        if any(isinstance(s, ConfirmQuitScreen) for s in self.screen_stack):
            return  # asked already: y or n answers it

        async def done(quit_: bool | None) -> None:
            if quit_:
                await self._stop_and_exit("user")

        self.clear_notifications()  # nothing sits on the question (see _toasts_wait)
        self.push_screen(ConfirmQuitScreen(self.deployment_name), done)

    async def _stop_and_exit(self, reason: str) -> None:
        if self._quitting:
            return
        self._quitting = True
        self._cancel_repaints()
        self.engine.request_stop(reason)
        worker = self.engine_worker
        if worker is not None and worker.state in (WorkerState.PENDING, WorkerState.RUNNING):
            try:
                await asyncio.wait_for(worker.wait(), QUIT_TIMEOUT_S)
            except Exception:
                pass  # a failed or slow engine must not keep the user in the app
        if self._hung_up:
            os._exit(1 if self.engine_failed else 0)
        self.exit(1 if self.engine_failed else 0)
