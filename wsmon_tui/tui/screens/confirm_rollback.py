"""Rollback: a confirmation (ModalScreen[bool], focus on Cancel, saying how the last rollback
ended) and a live progress view of the attempt it started."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.events import DescendantFocus
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from wsmon_tui.model import RollbackView
from wsmon_tui.redact import redact_argv, redact_text, redact_url
from wsmon_tui.tui.fmt import duration, safe
from wsmon_tui.tui.screens.popup import close_hint

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


def focus_hint(focused: str, deployment: str) -> Content:
    """What Enter, Tab and y do from the widget with focus (``rollback-name``, ``cancel``, ``confirm``)."""
    name = safe(deployment, 60)
    if focused == "rollback-name":
        text = f"Type {name} and press Enter to roll back. Tab moves to Cancel. Escape cancels."
    elif focused == "confirm":
        text = ("Focus is on “Roll back”: y or Enter rolls back now. Shift+Tab moves to Cancel. "
                "Escape cancels.")
    else:
        text = (f"Focus is on Cancel: Enter closes without rolling back. To roll back, Shift+Tab to the "
                f"name box and type {name}, or Tab to “Roll back” and press y. Escape cancels.")
    return Content(text)


ENDINGS = {"verified": ("verified: health recovered", "$text-success"),
           "failed_verification": ("failed verification: health did not recover", "bold $text-error"),
           "failed": ("failed: a step failed", "bold $text-error"),
           "dry_run": ("dry run: nothing was changed", "$text-muted"),
           "running": ("still running its steps", "bold $text-warning"),
           "verifying": ("still verifying", "bold $text-warning")}


def last_rollback_parts(rb: RollbackView | None, now: float | None) -> Parts:
    """When the latest rollback ran and how it ended (or that it is still going): this engine's,
    else the one the state dir's audit holds from an earlier run (``RollbackView.stored``)."""
    parts: Parts = [("Last rollback: ", "bold")]
    if rb is not None and attempt_key(rb) is None and rb.stored is not None:
        rb = rb.stored
    if rb is None or attempt_key(rb) is None:
        return [*parts, ("none recorded", "$text-muted")]
    if rb.id is not None:
        parts.append(f"#{rb.id} ")
    parts.append(ENDINGS.get(rb.state, (safe(rb.state, 30), "")))
    if rb.started_at is not None and now is not None:
        parts.append(f", started {duration(now - rb.started_at)} ago")
        if rb.finished_at is not None:
            parts.append(f", took {duration(rb.finished_at - rb.started_at)}")
    if rb.trigger:
        parts.append(f" ({safe(rb.trigger, 40)})")
    if rb.state in ("running", "verifying"):
        parts.append(("\nA new rollback is refused until it ends.", "$text-warning"))
    return parts


def attempt_key(rb: RollbackView | None) -> tuple[int | None, float | None] | None:
    """Which rollback attempt ``rb`` is: (audit id, start time); None when none has run."""
    if rb is None or rb.state == "idle" or (rb.id is None and rb.started_at is None):
        return None
    return rb.id, rb.started_at


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
                 trigger: str, reason: str = "", dry_run: bool = False, secrets: Iterable[str] = (),
                 last: RollbackView | None = None, now: float | None = None) -> None:
        super().__init__(classes="dialog-screen", id="confirm-rollback")
        self.last = last
        """The latest rollback the engine knows of (the snapshot's), said in the dialog."""
        self.now = now
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
        parts.append("\n\n")
        parts += last_rollback_parts(self.last, self.now)
        with Vertical(classes="dialog -danger") as box:
            box.border_title = "Confirm rollback"
            box.border_subtitle = close_hint(self, "cancel")
            yield Static(Content.assemble(*parts), id="rollback-summary")
            yield Static(focus_hint("cancel", self.deployment), id="rollback-hint", classes="hint")
            yield Static("Deployment name, to confirm by typing it:", classes="hint")
            # No placeholder: a name greyed out in the box reads as already typed.
            yield Input(id="rollback-name")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield ConfirmButton("Roll back", id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        """The hint says what the keys do where focus is now."""
        self.query_one("#rollback-hint", Static).update(focus_hint(event.widget.id or "", self.deployment))

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


def progress_content(rb: RollbackView | None, now: float, refused: str = "") -> Content:
    """``rb``'s progress (the attempt this panel follows), or what is awaited or went wrong."""
    if refused:
        return Content.assemble(("The rollback did not start: ", "bold $text-error"), safe(refused, 300))
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
    """Shows one rollback attempt live from each snapshot's RollbackView; Escape only hides it.

    Only the attempt asked for is shown: until the engine answers with its id, any attempt
    but ``previous`` (the one the snapshot held when the rollback was confirmed); then that
    id only. The snapshot still holds the previous attempt until the engine's next tick, and
    showing it read as the new rollback already "verified".
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Hide", id="rollback.hide",
                tooltip="Hide this panel (the rollback goes on)"),
    ]

    def __init__(self, previous: tuple[int | None, float | None] | None = None) -> None:
        super().__init__(classes="dialog-screen", id="rollback-progress")
        self._last: Content | None = None
        self.previous = previous
        self.attempt: tuple[int | None, float | None] | None = None
        """The attempt the engine said it started (its ``id`` and ``started_at``)."""
        self.refused = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog") as box:
            box.border_title = "Rollback progress"
            box.border_subtitle = close_hint(self, "hide (the rollback goes on)")
            yield Static("", id="rollback-progress-text")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.paint()
        self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)

    def started(self, result: Any) -> None:
        """The engine's answer to the rollback command: follow that attempt from now on."""
        if isinstance(result, Mapping):
            key = (result.get("id"), result.get("started_at"))
            if key != (None, None):
                self.attempt = key
        if self.is_mounted:
            self.paint()

    def failed(self, message: str) -> None:
        """The engine refused the rollback (another is running, read-only, ...)."""
        self.refused = message
        if self.is_mounted:
            self.paint()

    def shown(self, rb: RollbackView | None) -> RollbackView | None:
        """``rb`` when it is the attempt this panel follows, else None (still waiting)."""
        key = attempt_key(rb)
        if key is None:
            return None
        if self.attempt is not None:
            return rb if key == self.attempt else None
        return rb if key != self.previous else None

    def paint(self) -> None:
        app = cast("WsmonApp", self.app)
        snap = app.latest
        rb = self.shown(snap.rollback if snap else None)
        content = progress_content(rb, snap.taken_at if snap else app.clock(), self.refused)
        if content != self._last:
            self._last = content
            self.query_one("#rollback-progress-text", Static).update(content)
