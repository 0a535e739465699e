"""Rollback: a confirmation (ModalScreen[bool], focus on Cancel) and a live progress view."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from wsmon_tui.model import RollbackView
from wsmon_tui.redact import redact_argv, redact_text, redact_url
from wsmon_tui.tui.fmt import duration, safe

if TYPE_CHECKING:
    from wsmon_tui.tui.app import WsmonApp

Parts = list[str | tuple[str, str]]
DONE_STATES = frozenset({"verified", "failed_verification", "failed", "dry_run", "idle"})


def describe_step(step: Any, secrets: Iterable[str] = ()) -> str:
    """One line per configured step (secrets stay out: no headers or bodies; a command's
    arguments redacted, since a remote viewer reads this screen too)."""
    kind = getattr(step, "type", "?")
    label = f"{step.name}: " if getattr(step, "name", "") and kind != "flag" else ""
    if kind == "http":
        return f"{label}HTTP {step.method} {redact_text(redact_url(step.url or ''), secrets)}"
    if kind == "command":
        return f"{label}run {' '.join(redact_argv(step.argv, secrets))}"
    if kind == "flag":
        what = []
        if step.enabled is not None:
            what.append("enabled" if step.enabled else "disabled")
        if step.rollout is not None:
            what.append(f"rollout {step.rollout:g}%")
        return f"flag {step.name}: {', '.join(what) or 'set'}"
    return str(kind)


class ConfirmButton(Button):
    """The confirm button; ``y`` presses it while it has focus."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "press", "Confirm", id="rollback.confirm_y", tooltip="Roll back now"),
    ]


class ConfirmRollbackScreen(ModalScreen[bool]):
    """True only on an explicit confirmation; Escape (or Cancel) is always False."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="modal.cancel", tooltip="Do not roll back"),
    ]

    def __init__(self, *, deployment: str, version: str, previous: str, steps: list[Any],
                 trigger: str, reason: str = "", dry_run: bool = False, secrets: Iterable[str] = ()) -> None:
        super().__init__(classes="dialog-screen", id="confirm-rollback")
        self.deployment = deployment
        self.version = version
        self.previous = previous
        self.steps = steps
        self.trigger = trigger
        self.reason = reason
        self.dry_run = dry_run
        self.secrets = tuple(secrets)

    def compose(self) -> ComposeResult:
        parts: Parts = [("Roll back ", "bold"), (safe(self.deployment, 60), "bold")]
        if self.version:
            parts.append(f" from {safe(self.version, 30)}")
        if self.previous:
            parts.append(f" to {safe(self.previous, 30)}")
        parts.append(f"\ntrigger: {safe(self.trigger, 80)}")
        if self.reason:
            parts.append(f"\nreason: {safe(self.reason, 200)}")
        if self.dry_run:
            parts.append(("\nDRY RUN: the steps are logged, nothing is run", "bold $text-warning"))
        parts.append(("\n\nSteps that will run, in order:", "bold"))
        if not self.steps:
            parts.append(("\n  no steps configured", "$text-warning"))
        for i, step in enumerate(self.steps, 1):
            parts.append(f"\n  {i}. {safe(describe_step(step, self.secrets), 100)}")
        with Vertical(classes="dialog -danger") as box:
            box.border_title = "Confirm rollback"
            yield Static(Content.assemble(*parts), id="rollback-summary")
            yield Static(Content(f"Type the deployment name ({safe(self.deployment, 60)}) and press "
                                 "Enter, or Tab to “Roll back” and press y. Escape cancels."),
                         classes="hint")
            yield Input(placeholder=safe(self.deployment, 60), id="rollback-name")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield ConfirmButton("Roll back", id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Input.Submitted, "#rollback-name")
    def _typed(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.deployment:
            self.dismiss(True)
        else:
            self.notify("That is not the deployment name; nothing was done.", severity="warning")

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


def progress_content(rb: RollbackView | None, now: float) -> Content:
    if rb is None:
        return Content("waiting for the rollback to start…")
    parts: Parts = [("Rollback ", "bold")]
    if rb.id is not None:
        parts.append(f"#{rb.id} ")
    style = {"verified": "bold $text-success", "failed": "bold $text-error",
             "failed_verification": "bold $text-error"}.get(rb.state, "bold $text-warning")
    parts.append((rb.state, style))
    if rb.trigger:
        parts.append(f"  trigger {safe(rb.trigger, 60)}")
    if rb.started_at is not None:
        end = rb.finished_at if rb.finished_at is not None else now
        parts.append(f"  {duration(end - rb.started_at)}")
    if rb.reason:
        parts.append("\n" + safe(rb.reason, 200))
    parts.append(("\n\nSteps", "bold"))
    if not rb.steps:
        parts.append(("\n  none reported yet", "$text-muted"))
    for i, step in enumerate(rb.steps, 1):
        ok = step.get("ok")
        status = "ok" if ok is True else "failed" if ok is False else safe(
            step.get("status", step.get("state", "running")), 20)
        sstyle = ("$text-success" if status in ("ok", "done", "succeeded") else
                  "$text-error" if status in ("failed", "error") else "$text-warning")
        name = safe(step.get("name") or step.get("type") or f"step {i}", 60)
        parts.append(f"\n  {i}. {name}  ")
        parts.append((status, sstyle))
        detail = step.get("detail") or step.get("error") or ""
        if step.get("duration_ms") is not None:
            parts.append(f"  {safe(step['duration_ms'], 12)} ms")
        if detail:
            parts.append("  " + safe(detail, 120))
    parts.append(("\n\nVerification: ", "bold"))
    outcome = {"verifying": ("waiting for health to recover…", "$text-warning"),
               "verified": ("health recovered", "bold $text-success"),
               "failed_verification": ("health did not recover in the verify window", "bold $text-error"),
               "failed": ("a step failed; see above", "bold $text-error"),
               "dry_run": ("dry run: nothing was changed", "$text-muted")}.get(
        rb.state, ("after the steps", "$text-muted"))
    parts.append(outcome)
    return Content.assemble(*parts)


class RollbackProgressScreen(ModalScreen[None]):
    """Shows the rollback live from each snapshot's RollbackView; Escape only hides it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Hide", id="rollback.hide",
                tooltip="Hide this panel (the rollback goes on)"),
    ]

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen", id="rollback-progress")
        self._last: Content | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog") as box:
            box.border_title = "Rollback progress"
            yield Static("", id="rollback-progress-text")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.paint()
        self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)

    def paint(self) -> None:
        app = cast("WsmonApp", self.app)
        snap = app.latest
        rb = snap.rollback if snap else None
        content = progress_content(rb, snap.taken_at if snap else app.clock())
        if content != self._last:
            self._last = content
            self.query_one("#rollback-progress-text", Static).update(content)
