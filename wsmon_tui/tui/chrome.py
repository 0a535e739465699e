"""What the app draws around the views, on its own schedule: the age of the data and the
rollback banner's time in state (counted every second between repaints), the banner over
every dialog, and the alert toasts (one per snapshot, held while a dialog or a filter is in use).

Separate from the app (``tui/app.py``: lifecycle, snapshots, painting the views, keys): this
is what tells the truth about time and about a rollback whatever the view and its refresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import App, ScreenStackError
from textual.screen import ModalScreen, Screen
from textual.widgets import Input

from wsmon_tui.model import Snapshot
from wsmon_tui.tui.screens.base import ViewScreen
from wsmon_tui.tui.toasts import AlertToasts, toast_text
from wsmon_tui.tui.widgets.banner import RollbackBanner

AGE_SLACK = 0.2
"""How late (s) the age may turn to the next second: a snapshot due within it repaints the
header anyway, so at a steady tick the age timer never wakes the process by itself."""
AGE_DEFER = 0.5
"""A held-back repaint due at most this long (s) after an age tick redraws the header itself:
the tick is left to it (at a steady tick the repaint's phase may trail the snapshots')."""


class ScreenChrome(App[int]):
    """The age timer, the banner over dialogs and the toasts (see the module docstring)."""

    latest: Snapshot | None
    clock: Callable[[], float]
    toasts: AlertToasts
    _quitting: bool
    _age_timer: asyncio.TimerHandle | None
    _paint_later: asyncio.TimerHandle | None
    _modal_banners: dict[Screen[Any], RollbackBanner]
    """The banner mounted over each open dialog (pop-ups never hide a rollback)."""

    if TYPE_CHECKING:
        @property
        def shown(self) -> Snapshot | None: ...

    def _arm_age_timer(self) -> None:
        """Wake when the age on screen turns to its next whole second (plus ``AGE_SLACK``)."""
        if self._age_timer is not None:
            self._age_timer.cancel()
            self._age_timer = None
        shown = self._data_on_screen()
        if shown is None or self._quitting:
            return
        age = self.clock() - shown.taken_at
        delay = 1.0 - age % 1.0 if age >= 0 else 1.0
        self._age_timer = asyncio.get_running_loop().call_later(delay + AGE_SLACK, self._timed_clock)
        if self._paint_later is not None:
            self._leave_age_to(self._paint_later)

    def _leave_age_to(self, repaint: asyncio.TimerHandle) -> None:
        """``repaint`` (a held-back repaint) redraws the header: an age tick due less than
        ``AGE_DEFER`` before it is left to it, so the process wakes once, not twice."""
        timer = self._age_timer
        if timer is not None and repaint.when() - timer.when() <= AGE_DEFER:
            timer.cancel()
            self._age_timer = None

    def _data_on_screen(self) -> Snapshot | None:
        """The snapshot the view on screen shows (behind any dialog)."""
        try:
            stack = self.screen_stack
        except ScreenStackError:
            return None
        for screen in reversed(stack):
            if isinstance(screen, ViewScreen) and screen.painted is not None:
                return screen.painted
        return self.shown

    def _timed_clock(self) -> None:
        self._age_timer = None
        self.call_later(self.paint_clock)  # through the queue, as _timed_repaint

    def paint_clock(self) -> None:
        """Redraw what counts with the clock (header age, banner time in state) on every screen
        that shows: the view and any dialog over it. No layout, no body."""
        if self._quitting:
            return
        try:
            stack = self.screen_stack
        except ScreenStackError:
            return
        latest = self.latest
        now = self.clock()
        for screen in stack:
            if isinstance(screen, ViewScreen):
                screen.paint_clock()
            banner = self._modal_banners.get(screen)
            if banner is not None:
                banner.show(latest.rollback if latest is not None else None, now)
        self._arm_age_timer()

    def _screen_changed(self, screen: Screen[Any]) -> None:
        """A dialog opened: it gets the banner too; one closed: held toasts may show now."""
        self._modal_banners = {s: b for s, b in self._modal_banners.items() if s in self.screen_stack}
        if isinstance(screen, ModalScreen) and screen not in self._modal_banners:
            mounted = list(screen.query(RollbackBanner)) if screen.is_attached else []
            if mounted:  # back to a mode whose dialog has one already
                self._modal_banners[screen] = mounted[0]
            else:
                banner = self._modal_banners[screen] = RollbackBanner(over_dialog=True)
                screen.call_after_refresh(self._mount_modal_banner, screen, banner)
        self._show_toasts()

    async def _mount_modal_banner(self, screen: Screen[Any], banner: RollbackBanner) -> None:
        if screen.is_attached and not banner.is_attached:
            await screen.mount(banner)
            latest = self.latest
            banner.show(latest.rollback if latest is not None else None, self.clock())

    def _toasts_wait(self) -> bool:
        """A dialog is open or the user types in a filter: toasts would cover or interrupt it."""
        return isinstance(self.screen, ModalScreen) or isinstance(self.focused, Input)

    def _show_toasts(self) -> None:
        """One toast for the alerts that started firing since the last one (``tui/toasts.py``)."""
        if not self.toasts.held or self._toasts_wait():
            return
        alerts = self.toasts.take()
        title, text = toast_text(alerts)
        self.notify(text, title=title, severity="error", timeout=15, markup=False)
