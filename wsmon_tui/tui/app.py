"""The Textual app: a face of the engine, reached only through ``wsmon_tui.seam.EngineLink``.

The engine runs on its own thread (``wsmon_tui.host.EngineHost``) and publishes a
Snapshot every tick; the subscribe callback posts a coalescing message (thread-safe),
the app keeps only the latest, and the visible view repaints at the ``--refresh`` rate,
skipping work when nothing changed. Commands (acknowledge, silence, rollback) and
history questions (chart ranges, deliveries, the report) go to the engine in short
workers; their errors become notifications, never crashes.

The app is built from parts named for what they hold: ``tui/palette.py`` (the Ctrl+P
commands), ``tui/actions.py`` (acknowledge, silence, rollback, export),
``tui/lifecycle.py`` (the quit key, signal handlers and the graceful stop) and
``tui/chrome.py`` (the data's age counted between repaints, the rollback banner over
dialogs, the alert toasts of ``tui/toasts.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from textual import work
from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType, Keymap
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.events import Key
from textual.filter import LineFilter, Monochrome, NoColor
from textual.screen import Screen
from textual.theme import BUILTIN_THEMES, Theme
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from wsmon_tui.model import Snapshot
from wsmon_tui.runtime import settle_gc
from wsmon_tui.seam import EngineLink
from wsmon_tui.tui.actions import EngineActions
from wsmon_tui.tui.chrome import ScreenChrome
from wsmon_tui.tui.fmt import safe
from wsmon_tui.tui.incident import IncidentMemo
from wsmon_tui.tui.keys import bound_keys
from wsmon_tui.tui.lifecycle import SessionEnd
from wsmon_tui.tui.messages import SnapshotArrived
from wsmon_tui.tui.palette import WsmonCommands
from wsmon_tui.tui.screens.alerts import AlertsScreen
from wsmon_tui.tui.screens.base import ViewScreen
from wsmon_tui.tui.screens.detailed import DetailedScreen
from wsmon_tui.tui.screens.metrics import MetricsScreen
from wsmon_tui.tui.screens.summary import SummaryScreen
from wsmon_tui.tui.themes import ThemeSet, choose, load_themes, with_solid_muted
from wsmon_tui.tui.thresholds import Thresholds
from wsmon_tui.tui.toasts import AlertToasts
from wsmon_tui.tui.widgets.banner import RollbackBanner
from wsmon_tui.tui.widgets.header import age_text

MODE_ORDER = ("summary", "detailed", "alerts", "metrics")
READ_ONLY_ACTIONS = frozenset({"acknowledge", "silence", "rollback"})
READ_ONLY_IDS = frozenset({"alerts.ack", "alerts.silence", "rollback"})
PACE = 0.75
"""Snapshots at least this many refreshes apart come at the refresh's pace: each is painted
as it arrives (``WsmonApp._at_pace``)."""


def current_user() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:
        return "unknown"


class WsmonApp(EngineActions, SessionEnd, ScreenChrome):
    """``WsmonApp(engine, mode=..., refresh=..., theme=..., read_only=...)``."""

    CSS_PATH = "app.tcss"
    TITLE = "wsmon-tui"
    MODES: ClassVar[dict[str, Any]] = {
        "summary": SummaryScreen, "detailed": DetailedScreen, "alerts": AlertsScreen,
        "metrics": MetricsScreen,
    }
    DEFAULT_MODE = "summary"
    """The app starts in this mode's screen (``--mode`` switches on mount): Textual's empty
    default screen is never built, which saved a screen and a CSS pass of the first frame."""
    COMMANDS = App.COMMANDS | {WsmonCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        # The view keys are said by the tab strip (widgets/tabs.py), not the footer.
        Binding("1", "mode('summary')", "Summary", show=False,
                id="mode.summary", tooltip="Cards, big figures, alerts"),
        Binding("2", "mode('detailed')", "Detailed", show=False,
                id="mode.detailed", tooltip="Every metric per target"),
        Binding("3", "mode('alerts')", "Alerts", show=False,
                id="mode.alerts", tooltip="Alerts: ack, silence, why"),
        Binding("4", "mode('metrics')", "Metrics", show=False,
                id="mode.metrics", tooltip="Charts over time"),
        Binding("R", "rollback", "Rollback", id="rollback", tooltip="Roll the deployment back (asks first)"),
        Binding("p", "pause", "Pause", id="pause", tooltip="Stop repainting; the engine keeps running"),
        Binding("r", "refresh", "Refresh", id="refresh", tooltip="Take a snapshot now"),
        Binding("e", "export", "Export", id="export", tooltip="Write a Markdown report to the state dir"),
        Binding("t", "theme_picker", "Theme", id="theme", tooltip="Choose a colour theme"),
        Binding("question_mark", "help", "Keys", id="help", tooltip="Every binding"),
        Binding("q", "quit", "Quit", id="quit",
                tooltip="Leave (an engine this dashboard runs closes its session first)"),
    ]
    READ_ONLY_NOTICE = "This session is read-only: acknowledge, silence and rollback are off."
    keymap: Keymap = MappingProxyType({})
    """The keymap given to ``set_keymap`` (binding id -> keys); Textual keeps its own copy private."""

    def __init__(self, engine: EngineLink, *, mode: str = "summary", refresh: float = 1.0,
                 theme: str | None = None, read_only: bool = False,
                 clock: Callable[[], float] = time.time, themes: ThemeSet | None = None,
                 duration: float | None = None, user: str | None = None) -> None:
        self.theme_set = themes if themes is not None else load_themes()
        self._solid: dict[str, tuple[Theme, Theme]] = {}
        """Textual's own themes with a solid ``text-muted``, made when first used (``get_theme``)."""
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.engine = engine
        """The engine behind the seam: snapshots, commands and history come only from here."""
        self.start_mode = mode
        self.refresh_interval = max(0.05, float(refresh))
        self.read_only = bool(read_only or engine.read_only)
        if self.read_only:
            engine.read_only = True
        self.clock = clock
        self.duration = duration
        self.user = user or current_user()
        self.latest: Snapshot | None = None
        """The newest snapshot received (views paint from it at the refresh rate)."""
        self.frozen: Snapshot | None = None
        """While paused: the snapshot on screen (``r`` replaces it once)."""
        self.paused = False
        self.snapshots_received = 0
        self.repaints = 0
        """How many times a view body was redrawn (tests check the throttle with it)."""
        self.engine_worker: Worker[str] | None = None
        self._painted_at = float("-inf")
        """Monotonic time of the last repaint (the throttle)."""
        self._paint_later: asyncio.TimerHandle | None = None
        self._age_timer: asyncio.TimerHandle | None = None
        """Counts the header's age and the banner's time in state between repaints."""
        self._modal_banners: dict[Screen[Any], RollbackBanner] = {}
        """The banner mounted over each open dialog (pop-ups never hide a rollback)."""
        self.toasts = AlertToasts()
        self._snapshot_at = 0.0
        self._snapshot_gap = 0.0
        """Seconds between the last two snapshots (the engine's tick, as seen from here)."""
        self._quitting = False
        self._signal_task: asyncio.Future[None] | None = None
        self._hung_up = False
        self._asked_recommended = False
        self._startup_notes: list[str] = []
        self.last_export: Path | None = None
        self.engine_failed = False
        self.thresholds = Thresholds()
        """The rules' thresholds by metric (asked of the engine once it publishes): what figures,
        sparklines and chart lines are coloured by."""
        self.incident = IncidentMemo()
        """The current fault's first alert, remembered across snapshots for the charts' markers."""
        for t in self.theme_set.themes.values():
            self.register_theme(t)
        self._no_color_filter = NoColor()
        self._startup_notes += self.theme_set.problems
        wanted = theme or engine.config.ui.theme
        name, problem = choose(self.theme_set, wanted) if wanted not in BUILTIN_THEMES else (wanted, None)
        if problem:
            self._startup_notes.append(problem)
        self.theme = name

    def get_theme(self, theme_name: str) -> Theme | None:
        """Textual's own themes (chosen from the palette or ``--theme``) with a solid
        ``text-muted`` (``themes.with_solid_muted``), worked out when first used: doing it for
        all 21 of them up front cost ~12 ms of the first frame."""
        theme = super().get_theme(theme_name)
        if theme is None or theme.name in self.theme_set.themes:
            return theme
        seen = self._solid.get(theme.name)
        if seen is None or seen[0] is not theme:
            seen = self._solid[theme.name] = (theme, with_solid_muted(theme))
        return seen[1]

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Under NO_COLOR no colour at all reaches the terminal, not Textual's greys.

        Textual answers NO_COLOR with a monochrome filter that still writes colours, a grey
        for each (weighted without gamma: blue text turns almost black). Text and its
        background can end up two close greys. ``NoColor`` leaves every cell in the
        terminal's own foreground and background; states differ by their words, and the
        cursor row and badges by reverse video (app.tcss, ``:nocolor``).
        """
        filters = super().get_line_filters()
        if not self.no_color:
            return filters
        return [self._no_color_filter if isinstance(f, Monochrome) else f for f in filters]

    def get_driver_class(self) -> type[Driver]:
        """Textual's choice, except ours for a Linux terminal (it survives a hang-up; see driver.py)."""
        chosen = super().get_driver_class()
        if chosen is LinuxDriver:
            from wsmon_tui.tui.driver import WsmonLinuxDriver

            return WsmonLinuxDriver
        return chosen

    # -- lifecycle -----------------------------------------------------------------

    @property
    def attached_to(self) -> str:
        """The engine this face is attached to ("pid N · session S"); empty when it runs its own."""
        return str(getattr(self.engine, "attached_to", "") or "")

    @property
    def deployment_name(self) -> str:
        return str(self.engine.config.deployment.name)

    @property
    def shown(self) -> Snapshot | None:
        """The snapshot the views show: the latest, or while paused the one frozen on screen."""
        if self.paused and self.frozen is not None:
            return self.frozen
        return self.latest

    def theme_names(self) -> list[str]:
        ours = self.theme_set.names()
        return ours + sorted(n for n in self.available_themes if n not in ours)

    def replay_label(self) -> str:
        """What the header says instead of the snapshot's age: empty but in a replay (``tui/replay.py``)."""
        return ""

    def view_extras(self) -> Iterable[Widget]:
        """Widgets every view shows under its tab strip: none but in a replay (its timeline)."""
        return ()

    def startup_note(self, text: str) -> None:
        """A warning shown once the app is up (e.g. the store could not be opened)."""
        self._startup_notes.append(text)

    def on_load(self) -> None:
        """Before the first screen is built: its tab strip names the remapped keys."""
        keymap = self.engine.config.ui.keymap
        if keymap:
            self.set_keymap(dict(keymap))

    def on_mount(self) -> None:
        self.switch_mode(self.start_mode)
        self.screen_change_signal.subscribe(self, self._screen_changed)
        self.engine.subscribe(self._snapshot_callback)
        self._install_signal_handlers()
        # The first frame goes out before the engine starts its session and first probes.
        self.call_after_refresh(self._start_engine)
        for note in self._startup_notes:
            self.notify(note, title="Themes", severity="warning", timeout=10, markup=False)

    def _snapshot_callback(self, snapshot: Snapshot) -> None:
        """Called on the engine's thread: hand over as a coalescing message (thread-safe)."""
        self.post_message(SnapshotArrived(snapshot))

    def _start_engine(self) -> None:
        """After the first frame: start the engine (its modules are imported on its own thread)."""
        if not self._quitting and self.engine_worker is None:
            self.engine_worker = self.run_engine()
            settle_gc()

    @work(exclusive=True, group="monitor", exit_on_error=False, description="wsmon engine")
    async def run_engine(self) -> str:
        return str(await self.engine.run(self.duration))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place background failures become a visible notice."""
        worker = event.worker
        if event.state == WorkerState.ERROR:
            if worker.group == "monitor":
                self.engine_failed = True
            what = "The monitor stopped" if worker.group == "monitor" else "A command failed"
            self.notify(f"{what}: {safe(worker.error, 300)}", title="Error", severity="error",
                        timeout=30, markup=False)
        elif event.state == WorkerState.SUCCESS and worker.group == "monitor" and not self._quitting:
            self.notify(f"The monitor ended ({safe(worker.result, 200)}); press q to quit.",
                        severity="warning", timeout=30, markup=False)

    # -- snapshots and painting -------------------------------------------------------

    def on_snapshot_arrived(self, message: SnapshotArrived) -> None:
        previous = self.latest
        snapshot = message.snapshot
        self.latest = snapshot
        self.snapshots_received += 1
        now = time.monotonic()
        if self._snapshot_at:
            self._snapshot_gap = now - self._snapshot_at
        self._snapshot_at = now
        self._maybe_ask_rollback(previous, snapshot)
        self.incident.see(snapshot, self.thresholds)
        if previous is None:
            self.load_thresholds()
        self.toasts.observe(snapshot)
        self._show_toasts()  # after the rollback question: held while it is open, not cleared by it
        self._schedule_repaint()

    @work(group="thresholds", exclusive=True, exit_on_error=False, description="alert thresholds")
    async def load_thresholds(self) -> None:
        """The engine's rules, once: until they arrive nothing is coloured by a threshold."""
        self.thresholds = Thresholds(await self.engine.rules())
        screen = self.screen
        if isinstance(screen, ViewScreen) and not self.paused:
            screen.paint(force=True)

    # Pacing: a repaint rides on the snapshot that makes it due, so in steady state the
    # screen costs no wake-up of its own (each wake-up of an idle process is what costs
    # most CPU here). Snapshots coming faster than --refresh are held back to one repaint
    # per refresh. Between repaints (a slow --refresh, snapshots that stopped, a pause) the
    # age timer redraws the header and the banner only, as each second passes.
    #
    # Snapshots that come at the pace of --refresh (or slower) are painted as they arrive,
    # judged by the gap between snapshots, not by the time since the last repaint: a repaint
    # once held back (a snapshot a little early) would otherwise set the phase of every
    # later one, each snapshot then waking the process twice (arrival, held-back repaint).

    def _slack(self) -> float:
        """How early a snapshot may repaint: snapshots land a little either side of the tick."""
        gap = self._snapshot_gap or self.refresh_interval
        return min(0.1 * self.refresh_interval, 0.25 * gap)

    def _at_pace(self) -> bool:
        """Snapshots come no faster than about one a refresh (``PACE``): paint each now."""
        return self._snapshot_gap >= PACE * self.refresh_interval

    def _schedule_repaint(self) -> None:
        if self.paused or self._quitting:
            return
        due = self._painted_at + self.refresh_interval
        now = time.monotonic()
        if now >= due - self._slack() or self._at_pace():
            self.repaint()
        elif self._paint_later is None:
            self._paint_later = asyncio.get_running_loop().call_later(due - now, self._timed_repaint)
            self._leave_age_to(self._paint_later)

    def _timed_repaint(self) -> None:
        self._paint_later = None
        # Through the app's message queue, so that a bug in a view is reported by Textual
        # like any other error in a handler (the app exits and prints the traceback).
        self.call_later(self.repaint)

    def _cancel_repaints(self) -> None:
        for handle in (self._paint_later, self._age_timer):
            if handle is not None:
                handle.cancel()
        self._paint_later = self._age_timer = None

    def _maybe_ask_rollback(self, previous: Snapshot | None, snapshot: Snapshot) -> None:
        rb = snapshot.rollback
        recommended = bool(rb and rb.recommended)
        if not recommended:
            self._asked_recommended = False
            return
        if self._asked_recommended or self.read_only:
            return
        if self.engine.config.rollback.auto != "ask":
            return
        self._asked_recommended = True
        from wsmon_tui.tui.screens.confirm_rollback import ConfirmRollbackScreen

        if not any(isinstance(s, ConfirmRollbackScreen) for s in self.screen_stack):
            self._open_rollback("recommended", rb.reason if rb else "")

    def repaint(self) -> None:
        """Redraw the visible screen from the latest snapshot, unless paused (see ``_schedule_repaint``)."""
        if self._paint_later is not None:
            self._paint_later.cancel()
            self._paint_later = None
        if self.paused or self._quitting:
            return
        self._painted_at = time.monotonic()
        self._arm_age_timer()
        try:
            screen = self.screen
        except ScreenStackError:
            return  # shutting down: the timer may fire once more after the screens are gone
        paint = getattr(screen, "paint", None)
        if callable(paint):
            before = getattr(screen, "painted", None)
            try:
                paint()
            except NoMatches:
                return  # the screen is still being composed; the next tick paints it
            if isinstance(screen, ViewScreen) and screen.painted is not before:
                self.repaints += 1

    # -- actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in READ_ONLY_ACTIONS and self.read_only:
            return False
        return not (action == "mode" and bool(parameters) and parameters[0] == self.current_mode)

    def on_key(self, event: Key) -> None:
        """Read-only sessions hide ack, silence and rollback; pressing them says why."""
        if self.read_only and not {event.key, event.character}.isdisjoint(self._read_only_keys()):
            self.notify(self.READ_ONLY_NOTICE, severity="warning")

    def set_keymap(self, keymap: Keymap) -> None:
        """Textual's, keeping a copy for the help screen and the read-only notice."""
        self.keymap = MappingProxyType(dict(keymap))
        super().set_keymap(keymap)

    def update_keymap(self, keymap: Keymap) -> None:
        """Textual's, keeping a copy for the help screen and the read-only notice."""
        self.keymap = MappingProxyType({**self.keymap, **keymap})
        super().update_keymap(keymap)

    def _read_only_keys(self) -> set[str]:
        keys: set[str] = set()
        keymap = self.keymap
        for binding in [*self.BINDINGS, *AlertsScreen.BINDINGS]:
            if not isinstance(binding, Binding) or binding.id not in READ_ONLY_IDS:
                continue
            if binding.id == "rollback" or isinstance(self.screen, AlertsScreen):
                keys.update(bound_keys(keymap, binding))
        return keys

    def action_mode(self, mode: str) -> None:
        self.switch_mode(mode)

    def _cycle(self, step: int) -> None:
        index = MODE_ORDER.index(self.current_mode) if self.current_mode in MODE_ORDER else 0
        self.switch_mode(MODE_ORDER[(index + step) % len(MODE_ORDER)])

    def action_next_mode(self) -> None:
        self._cycle(1)

    def action_previous_mode(self) -> None:
        self._cycle(-1)

    def action_pause(self) -> None:
        screen = self.screen
        if not self.paused:
            painted = screen.painted if isinstance(screen, ViewScreen) else None
            self.frozen = painted or self.latest  # what is on screen now stays there
        self.paused = not self.paused
        if isinstance(screen, ViewScreen):
            screen.paint(force=not self.paused)
        if self.paused:
            if self._paint_later is not None:
                self._paint_later.cancel()
                self._paint_later = None
        else:
            self.frozen = None
            self._painted_at = time.monotonic()
        self._arm_age_timer()
        self.notify("Paused: the screen is frozen, the monitor keeps running." if self.paused
                    else "Resumed.", timeout=3)

    @work(group="commands", exit_on_error=False, description="refresh now")
    async def action_refresh(self) -> None:
        """A snapshot now; while paused it replaces the frozen one, and the screen stays paused."""
        snapshot = await asyncio.wait_for(self.engine.refresh_now(), 30)
        if self.paused:
            self.frozen = snapshot if isinstance(snapshot, Snapshot) else self.latest
        screen = self.screen
        if isinstance(screen, ViewScreen):
            screen.paint(force=True)
        self._arm_age_timer()
        if self.paused:
            shown = self.shown
            when = f" (data {age_text(self.clock() - shown.taken_at)} old)" if shown is not None else ""
            self.notify(f"Refreshed once{when}; still paused (p resumes).", timeout=4, markup=False)

    def action_theme_picker(self) -> None:
        from wsmon_tui.tui.screens.theme_picker import ThemePicker

        def done(name: str | None) -> None:
            if name:
                self.set_theme(name)

        self.push_screen(ThemePicker(self.theme_names(), self.theme), done)

    def set_theme(self, name: str) -> None:
        self.theme = name
        self.notify(f"Theme: {name}", timeout=3, markup=False)

    def help_sections(self) -> list[tuple[str, list[Binding]]]:
        from wsmon_tui.tui.screens.confirm_rollback import ConfirmButton
        from wsmon_tui.tui.widgets.table import SortFilterTable

        keymap = self.keymap

        def remapped(bindings: Iterable[BindingType]) -> list[Binding]:
            out = []
            for b in bindings:
                if isinstance(b, Binding):
                    if self.read_only and b.id in READ_ONLY_IDS:
                        continue
                    key = keymap.get(b.id) if b.id is not None else None
                    out.append(dataclasses.replace(b, key=key) if key else b)
            return out

        return [("Everywhere", remapped(self.BINDINGS + ViewScreen.BINDINGS)),
                ("Detailed", remapped(DetailedScreen.BINDINGS)),
                ("Alerts", remapped(AlertsScreen.BINDINGS)),
                ("Tables (detailed and alerts)", remapped(SortFilterTable.BINDINGS)),
                ("Metrics", remapped(MetricsScreen.BINDINGS)),
                ("Rollback dialog", remapped(ConfirmButton.BINDINGS))]

    def action_help(self) -> None:
        from wsmon_tui.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.help_sections()))

    def _terminal_gone(self) -> None:
        """The SSH session dropped and the pty hung up: nothing can be drawn or restored.

        Textual's writer thread dies on the first failed write and its bounded queue then
        blocks the event loop for good, so the driver drops writes from here on, and the app
        leaves with ``os._exit`` once the engine has closed its session (Textual's own
        shutdown would wait on the dead terminal).
        """
        self._hung_up = True

    @property
    def hung_up(self) -> bool:
        """True once the terminal hung up: the Linux driver drops every write (see driver.py)."""
        return self._hung_up
