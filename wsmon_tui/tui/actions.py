"""What the user asks of the engine from the app: acknowledge, silence, roll back, export a
report; each runs in a short worker, and its errors become notifications, never crashes.

Separate from the app (``tui/app.py``: lifecycle, snapshots, painting, keys): these are the
only actions that change something on the engine's side or on disk.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.notifications import SeverityLevel

from wsmon_tui.errors import WsmonError
from wsmon_tui.model import AlertView, Snapshot
from wsmon_tui.seam import EngineLink
from wsmon_tui.tui.fmt import safe
from wsmon_tui.tui.screens.alerts import AlertsScreen

if TYPE_CHECKING:
    from wsmon_tui.tui.screens.confirm_rollback import RollbackProgressScreen


def rollback_notice(result: Any) -> tuple[str, SeverityLevel]:
    """The notice for the engine's answer to a rollback (its action: ``id``, ``state``)."""
    if not isinstance(result, Mapping):
        return "Rollback started; its progress is in the panel.", "information"
    ident = f" #{result['id']}" if result.get("id") is not None else ""
    state = str(result.get("state") or "")
    said: dict[str, tuple[str, SeverityLevel]] = {
        "verifying": ("steps done; verifying that health recovers", "information"),
        "failed": ("a step failed; see the progress panel", "error"),
        "dry_run": ("dry run: the steps were logged, nothing was changed", "information"),
        "verified": ("verified: health recovered", "information"),
        "failed_verification": ("health did not recover", "error"),
    }
    text, severity = said.get(state, (safe(state, 40) or "started", "information"))
    return f"Rollback{ident}: {text}.", severity


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (0600), creating its folder (0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


class EngineActions(App[int]):
    """The app's actions that send a command to the engine (see the module docstring)."""

    engine: EngineLink
    read_only: bool
    user: str
    last_export: Path | None
    latest: Snapshot | None

    def _selected_alert(self) -> AlertView | None:
        screen = self.screen
        if not isinstance(screen, AlertsScreen):
            self.switch_mode("alerts")
            self.notify("Select an alert in the alerts view first.", severity="warning")
            return None
        alert = screen.selected_alert()
        if alert is None:
            self.notify("No alert selected.", severity="warning")
        return alert

    def action_acknowledge(self) -> None:
        if self.read_only:
            return
        alert = self._selected_alert()
        if alert is None:
            return
        if alert.state not in ("pending", "firing"):
            # An ack names the fingerprint and reaches its active episode: from a resolved row
            # it would acknowledge another episode than the one selected.
            self.notify(f"That episode of {safe(alert.rule, 60)} is {alert.state}: there is nothing to "
                        "acknowledge.", severity="warning", markup=False)
            return
        from wsmon_tui.tui.screens.ack import AckScreen

        def done(comment: str | None) -> None:
            if comment is not None:
                self.run_command(f"Acknowledged {safe(alert.rule, 60)}",
                                 self.engine.acknowledge(alert.id, self.user, comment))

        self.push_screen(AckScreen(alert, self.user), done)

    def action_silence(self) -> None:
        if self.read_only:
            return
        alert = self._selected_alert()
        if alert is None:
            return
        from wsmon_tui.tui.screens.silence import SilenceRequest, SilenceScreen

        def done(req: SilenceRequest | None) -> None:
            if req is not None:
                self.run_command(
                    f"Silenced {safe(req.rule, 60)}",
                    self.engine.silence(rule=req.rule, target=req.target, duration=req.duration,
                                         comment=req.comment, user=self.user))

        self.push_screen(SilenceScreen(alert, self.user), done)

    def action_rollback(self) -> None:
        if self.read_only:
            return
        self._open_rollback("manual", "")

    def _open_rollback(self, trigger: str, reason: str) -> None:
        from wsmon_tui.tui.screens.confirm_rollback import (
            ConfirmRollbackScreen,
            RollbackProgressScreen,
            attempt_key,
        )

        config = self.engine.config
        dep = config.deployment
        latest = self.latest

        def done(confirmed: bool | None) -> None:
            if not confirmed:
                self.notify("Rollback cancelled; nothing was done.", timeout=4)
                return
            why = reason or ("recommended by wsmon" if trigger == "recommended"
                             else "manual rollback from the TUI")
            # The panel follows this attempt only: the snapshot holds the previous one until
            # the engine's next tick.
            now = self.latest
            progress = RollbackProgressScreen(previous=attempt_key(now.rollback if now else None))
            self.push_screen(progress)
            self.run_rollback(why, progress)

        # Nothing may sit on top of a destructive confirmation: toasts are cleared, and
        # no new ones are raised while it is open (see _announce_critical).
        self.clear_notifications()
        self.push_screen(ConfirmRollbackScreen(
            deployment=dep.name, version=dep.version, previous=dep.previous_version,
            steps=list(config.rollback.steps), trigger=trigger, reason=reason,
            dry_run=bool(config.rollback.dry_run), secrets=config.secrets,
            last=latest.rollback if latest else None, now=latest.taken_at if latest else None), done)

    @work(group="commands", exit_on_error=False, description="rollback")
    async def run_rollback(self, reason: str, progress: RollbackProgressScreen) -> None:
        """Ask the engine to roll back; the progress panel follows the attempt it answers with.

        The answer comes once the steps ran, not when the rollback is done: it is verified
        (or not) ticks later, so the notice says what the answer says, never "done"."""
        try:
            result = await asyncio.wait_for(self.engine.rollback(reason=reason, user=self.user), 120)
        except WsmonError as exc:
            progress.failed(str(exc))
            self.notify(f"Rollback: {safe(exc, 300)}", title="Not done", severity="error", timeout=10,
                        markup=False)
            return
        progress.started(result)
        text, severity = rollback_notice(result)
        self.notify(text, severity=severity, timeout=8, markup=False)

    @work(group="commands", exit_on_error=False, description="wsmon command")
    async def run_command(self, what: str, command: Awaitable[Any]) -> None:
        """Run one command against the monitor; a WsmonError is a notice, not a crash."""
        try:
            await asyncio.wait_for(command, 120)
        except WsmonError as exc:
            self.notify(f"{what}: {safe(exc, 300)}", title="Not done", severity="error", timeout=10,
                        markup=False)
            return
        self.notify(f"{what}: done.", timeout=5, markup=False)

    @work(group="export", exclusive=True, exit_on_error=False, description="export a report")
    async def action_export(self) -> None:
        """Build the session's report on the engine's side and write it from a thread: a long
        session's report never stalls the screen."""
        engine = self.engine
        now = time.time()
        session = engine.session_id or "session"
        base = Path(engine.state_dir) if engine.state_dir else Path.cwd()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        path = base / "reports" / f"report-{session}-{stamp}.md"
        self.notify("Writing the report…", title="Export", timeout=3)
        try:
            text = await engine.report("md")
            await asyncio.to_thread(_write_private, path, text)
        except (OSError, WsmonError, ValueError) as exc:
            self.notify(f"Export failed: {safe(exc, 300)}", severity="error", timeout=10, markup=False)
            return
        self.last_export = path
        self.notify(f"Report written to {path}", title="Export", timeout=10, markup=False)
