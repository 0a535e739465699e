"""The Textual app: a face of the engine, reached only through ``wsmon_tui.seam.EngineLink``.

The engine runs on its own thread (``wsmon_tui.host.EngineHost``) and publishes a
Snapshot every tick; the subscribe callback posts a coalescing message (thread-safe),
the app keeps only the latest, and the visible view repaints at the ``--refresh`` rate,
skipping work when nothing changed. Commands (acknowledge, silence, rollback) and
history questions (chart ranges, deliveries, the report) go to the engine in short
workers; their errors become notifications, never crashes.

The app is built from parts named for what they hold: ``tui/palette.py`` (the Ctrl+P
commands), ``tui/actions.py`` (acknowledge, silence, rollback, export) and
``tui/lifecycle.py`` (signal handlers and the graceful stop).
"""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import os
import time
from collections.abc import Callable, Iterable
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
from textual.theme import BUILTIN_THEMES
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from wsmon_tui.model import Snapshot
from wsmon_tui.runtime import settle_gc
from wsmon_tui.seam import EngineLink
from wsmon_tui.tui.actions import EngineActions
from wsmon_tui.tui.fmt import safe
from wsmon_tui.tui.lifecycle import SessionEnd
from wsmon_tui.tui.messages import SnapshotArrived
from wsmon_tui.tui.palette import WsmonCommands
from wsmon_tui.tui.screens.alerts import AlertsScreen
from wsmon_tui.tui.screens.base import ViewScreen
from wsmon_tui.tui.screens.detailed import DetailedScreen
from wsmon_tui.tui.screens.metrics import MetricsScreen
from wsmon_tui.tui.screens.summary import SummaryScreen
from wsmon_tui.tui.themes import ThemeSet, choose, load_themes

MODE_ORDER = ("summary", "detailed", "alerts", "metrics")
READ_ONLY_ACTIONS = frozenset({"acknowledge", "silence", "rollback"})
READ_ONLY_IDS = frozenset({"alerts.ack", "alerts.silence", "rollback"})


def current_user() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:
        return "unknown"


class WsmonApp(EngineActions, SessionEnd):
    """``WsmonApp(engine, mode=..., refresh=..., theme=..., read_only=...)``."""

    CSS_PATH = "app.tcss"
    TITLE = "wsmon-tui"
    MODES: ClassVar[dict[str, Any]] = {
        "summary": SummaryScreen, "detailed": DetailedScreen, "alerts": AlertsScreen,
        "metrics": MetricsScreen,
    }
    COMMANDS = App.COMMANDS | {WsmonCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "mode('summary')", "Summary", id="mode.summary", tooltip="Cards, big figures, alerts"),
        Binding("2", "mode('detailed')", "Detailed", id="mode.detailed", tooltip="Every metric per target"),
        Binding("3", "mode('alerts')", "Alerts", id="mode.alerts", tooltip="Alerts: ack, silence, why"),
        Binding("4", "mode('metrics')", "Metrics", id="mode.metrics", tooltip="Charts over time"),
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
        self.paused = False
        self.snapshots_received = 0
        self.repaints = 0
        """How many times a view body was redrawn (tests check the throttle with it)."""
        self.engine_worker: Worker[str] | None = None
        self._painted_at = float("-inf")
        """Monotonic time of the last repaint (the throttle)."""
        self._paint_later: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.TimerHandle | None = None
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
        self.theme_set = themes if themes is not None else load_themes()
        for t in self.theme_set.themes.values():
            self.register_theme(t)
        self._startup_notes += self.theme_set.problems
        wanted = theme or engine.config.ui.theme
        name, problem = choose(self.theme_set, wanted) if wanted not in BUILTIN_THEMES else (wanted, None)
        if problem:
            self._startup_notes.append(problem)
        self.theme = name

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

    def on_mount(self) -> None:
        keymap = self.engine.config.ui.keymap
        if keymap:
            self.set_keymap(dict(keymap))
        self.switch_mode(self.start_mode)
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
        self._announce_critical(previous, snapshot)
        self._maybe_ask_rollback(previous, snapshot)
        self._schedule_repaint()

    # Pacing: a repaint rides on the snapshot that makes it due, so in steady state the
    # screen costs no wake-up of its own (each wake-up of an idle process is what costs
    # most CPU here). Snapshots coming faster than --refresh are held back to one repaint
    # per refresh; when they stop coming, a watchdog still repaints so that the header's
    # "updated N ago" keeps counting.

    def _slack(self) -> float:
        """How early a snapshot may repaint: snapshots land a little either side of the tick."""
        gap = self._snapshot_gap or self.refresh_interval
        return min(0.1 * self.refresh_interval, 0.25 * gap)

    def _schedule_repaint(self) -> None:
        if self.paused or self._quitting:
            return
        due = self._painted_at + self.refresh_interval
        now = time.monotonic()
        if now >= due - self._slack():
            self.repaint()
        elif self._paint_later is None:
            self._paint_later = asyncio.get_running_loop().call_later(due - now, self._timed_repaint)

    def _timed_repaint(self) -> None:
        self._paint_later = None
        # Through the app's message queue, so that a bug in a view is reported by Textual
        # like any other error in a handler (the app exits and prints the traceback).
        self.call_later(self.repaint)

    def _arm_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        gap = self._snapshot_gap or self.refresh_interval
        delay = self.refresh_interval + min(gap, self.refresh_interval)
        self._watchdog = asyncio.get_running_loop().call_later(delay, self._timed_repaint)

    def _cancel_repaints(self) -> None:
        for handle in (self._paint_later, self._watchdog):
            if handle is not None:
                handle.cancel()
        self._paint_later = self._watchdog = None

    def _announce_critical(self, previous: Snapshot | None, snapshot: Snapshot) -> None:
        if self.screen.id == "confirm-rollback":
            return  # the alerts view keeps them; the dialog stays unobstructed
        before = {a.id for a in previous.alerts if a.severity == "critical" and a.state == "firing"
                  and not (a.silenced or a.inhibited_by)} if previous else set()
        for alert in snapshot.alerts:
            if alert.silenced or alert.inhibited_by:
                continue  # muted: not notified, so not announced either (the alerts view shows it)
            if alert.severity == "critical" and alert.state == "firing" and alert.id not in before:
                text = f"{safe(alert.rule, 60)} on {safe(alert.target or 'overall', 60)}"
                if alert.summary:
                    text += f": {safe(alert.summary, 200)}"
                self.notify(text, title="CRITICAL alert", severity="error", timeout=15, markup=False)

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
        self._cancel_repaints()
        if self.paused or self._quitting:
            return
        self._painted_at = time.monotonic()
        self._arm_watchdog()
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
                keys.update(k.strip() for k in keymap.get(binding.id, binding.key).split(","))
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
        self.paused = not self.paused
        screen = self.screen
        if isinstance(screen, ViewScreen):
            screen.paint(force=not self.paused)
        if self.paused:
            self._cancel_repaints()
        else:
            self._painted_at = time.monotonic()
            self._arm_watchdog()
        self.notify("Paused: the screen is frozen, the monitor keeps running." if self.paused
                    else "Resumed.", timeout=3)

    @work(group="commands", exit_on_error=False, description="refresh now")
    async def action_refresh(self) -> None:
        await asyncio.wait_for(self.engine.refresh_now(), 30)
        screen = self.screen
        if isinstance(screen, ViewScreen) and not self.paused:
            screen.paint(force=True)

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

    async def action_quit(self) -> None:
        """Stop the engine, wait until it has closed its session, then exit."""
        await self._stop_and_exit("user")
