"""A screen update that runs when it is due, instead of on Textual's 60 fps interval timer.

Textual paints a screen from an interval timer (1/60 s) that is paused between frames.
When a widget changes, the screen resumes it: the frame is painted at once, and then
the timer's task sleeps to its next 1/60 s mark only to find itself paused again. On a
dashboard that paints once a second, that is one extra wake-up of the process per frame,
and on a small VM waking an idle process costs more than most of what a frame does.

``PromptUpdate`` stands in for that timer on the views (``ViewScreen._update_timer``):
``resume`` schedules the screen's update for now, or for when 1/60 s has passed since the
last one (so bursts of changes still coalesce at 60 fps at most), and nothing runs between
frames. It relies on two private names of Textual 8's ``Screen``: the ``_update_timer``
property it replaces (called with ``resume`` and ``pause`` only) and ``_on_timer_update``.
``tests/test_tui_app.py`` fails if either changes.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import constants

if TYPE_CHECKING:
    from textual.screen import Screen

PERIOD = 1 / constants.MAX_FPS
"""The shortest time between two updates (Textual's own frame period)."""


class PromptUpdate:
    """``resume`` (something changed): update now or at the next allowed instant; ``pause``: cancel."""

    __slots__ = ("_handle", "_last", "_screen")

    def __init__(self, screen: Screen) -> None:
        self._screen = screen
        self._handle: asyncio.Handle | None = None
        self._last = float("-inf")

    def resume(self) -> None:
        if self._handle is not None:
            return  # already due
        loop = asyncio.get_running_loop()
        delay = self._last + PERIOD - loop.time()
        self._handle = loop.call_later(delay, self._fire) if delay > 0 else loop.call_soon(self._fire)

    def pause(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._last = asyncio.get_running_loop().time()
        try:
            self._screen._on_timer_update()
        except Exception as exc:  # as Textual's Timer does: the app reports it and exits
            self._screen.app._handle_exception(exc)
