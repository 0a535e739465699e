"""The rollback banner: a rollback or throttle in progress, on every view and over every pop-up.

While one runs (or verifies) it says its state, what set it off (the rule, the target and
the value), the step in flight and the last step's result, and how long it has been in its
state (counting, between snapshots too). When it ends, the outcome (verified, failed) stays
for ``OUTCOME_SHOWN_S``; otherwise the banner takes no room at all.

It reads only the snapshot's ``RollbackView`` (the seam's record; an attached face gets the
same over the wire). Every server or config string goes in as plain text.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.content import Content
from textual.widgets import Static

from wsmon_tui.model import RollbackView
from wsmon_tui.tui.fmt import duration, ms, num, safe

OUTCOME_SHOWN_S = 60.0
"""How long the banner shows how a rollback or throttle ended."""

ACTIVE_STATES = frozenset({"running", "verifying"})
OUTCOME = {"verified": ("verified", "-ok"), "done": ("done", "-ok"),
           "dry_run": ("dry run: nothing was run", "-ok"), "failed": ("FAILED", "-failed"),
           "failed_verification": ("FAILED: health did not recover", "-failed")}
"""How each end state is said, and the banner's level for it."""

Part = str | tuple[str, str] | Content


def shown_actions(rb: RollbackView | None, now: float) -> list[RollbackView]:
    """The actions the banner shows: the rollback, then the throttle, each while it runs or
    verifies, or for ``OUTCOME_SHOWN_S`` after it ended."""
    if rb is None:
        return []
    out = []
    for action in (rb, rb.throttle):
        if action is None or action.state == "idle":
            continue
        ended = action.finished_at
        if action.state in ACTIVE_STATES or (ended is not None and now - ended < OUTCOME_SHOWN_S):
            out.append(action)
    return out


def _figure(value: float | None) -> str:
    """A rule's value or threshold as given: "5000", "0.05" (no unit is known here)."""
    if value is not None and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return num(value, 2)


def trigger_text(rb: RollbackView) -> str:
    """What set it off: "TargetDown notify-ws-eu: every probe is failing", "health_below chat:
    health 42 below 70 for 60s", "manual (alice): reason"."""
    if rb.trigger in ("", "manual"):
        who = f" ({safe(rb.user, 40)})" if rb.user else ""
        return f"manual{who}" + (f": {safe(rb.reason, 120)}" if rb.reason else "")
    rule = safe(rb.trigger, 40)
    target = safe(rb.trigger_target, 40)
    summary = safe(rb.trigger_summary, 160)
    if summary:
        if target and summary.startswith(target):
            return f"{rule} {summary}"
        return f"{rule} {target}: {summary}" if target else f"{rule}: {summary}"
    figure = f"value {_figure(rb.trigger_value)}" if rb.trigger_value is not None else "firing"
    if rb.trigger_threshold is not None:
        figure += f" (threshold {_figure(rb.trigger_threshold)})"
    return f"{rule} {target}: {figure}" if target else f"{rule}: {figure}"


def step_result(step: Mapping[str, object]) -> str:
    """One step's outcome: "undo ok (120 ms)", "deploy FAILED: HTTP 500 (2.1 s)"."""
    name = safe(step.get("name") or step.get("type") or "step", 40)
    ok = step.get("ok")
    took = step.get("duration_ms")
    timing = ""
    if isinstance(took, int | float) and ok is not None:
        timing = f" ({ms(float(took))})" if took < 1000 else f" ({duration(float(took) / 1000)})"
    detail = safe(step.get("detail") or "", 80)
    if ok is True:
        return f"{name} ok{timing}"
    if ok is False:
        return f"{name} FAILED{timing}" + (f": {detail}" if detail else "")
    return f"{name} not run" + (f": {detail}" if detail else "")


def progress_text(rb: RollbackView, now: float) -> str:
    """Where it is: the step in flight and the last result, verification, or the outcome."""
    steps, planned = rb.steps, rb.planned
    last = f"last: step {len(steps)} {step_result(steps[-1])}" if steps else ""
    if rb.state == "running":
        total = max(len(planned), len(steps) + 1)
        current = safe(planned[len(steps)], 40) if len(steps) < len(planned) else "…"
        doing = f"step {len(steps) + 1}/{total} {current}: running"
        return f"{doing} · {last}" if last else doing
    if rb.state == "verifying":
        ok = sum(1 for s in steps if s.get("ok") is True)
        parts = [f"steps done ({ok}/{len(steps)} ok)"]
        if rb.verify_needed:
            parts.append(f"healthy {rb.verify_streak} of {rb.verify_needed} evaluations in a row")
        if rb.verify_deadline is not None:
            parts.append(f"{duration(max(0.0, rb.verify_deadline - now))} left")
        return " · ".join(parts)
    parts = []
    if rb.detail:
        parts.append(safe(rb.detail, 160))
    failed = next((s for s in steps if s.get("ok") is False), None)
    if failed is not None:
        parts.append(f"step {steps.index(failed) + 1} {step_result(failed)}")
    elif last:
        parts.append(last)
    if rb.started_at is not None and rb.finished_at is not None:
        parts.append(f"took {duration(rb.finished_at - rb.started_at)}")
    return " · ".join(parts)


def action_lines(rb: RollbackView, now: float) -> tuple[str, list[Part]]:
    """The banner's two lines for one action, and its level (-active, -ok, -failed)."""
    kind = "THROTTLE" if rb.kind == "throttle" else "ROLLBACK"
    since = rb.state_since if rb.state_since is not None else rb.started_at
    # whole seconds, as the header's age: it is redrawn once a second, so tenths would jump
    in_state = duration(int(max(0.0, now - since))) if since is not None else "?"
    if rb.state in ACTIVE_STATES:
        level, head, when = "-active", f" {kind} {rb.state.upper()} ", f"for {in_state}"
    else:
        said, level = OUTCOME.get(rb.state, (rb.state, "-failed"))
        head, when = f" {kind} {said.upper() if level == '-ok' else said} ", f"ended {in_state} ago"
    ident = f"#{rb.id} " if rb.id is not None else ""
    who = "automatic" if rb.automatic else "manual"
    return level, [(head, "bold reverse"), f" {when} · trigger: ", (trigger_text(rb), "bold"),
                   f" · {ident}{who}", "\n  ", progress_text(rb, now)]


def banner_content(rb: RollbackView | None, now: float) -> tuple[str, Content] | None:
    """The banner's text and level for the snapshot's rollback state, or None: nothing to show."""
    actions = shown_actions(rb, now)
    if not actions:
        return None
    parts: list[Part] = []
    levels = []
    for i, action in enumerate(actions):
        level, lines = action_lines(action, now)
        levels.append(level)
        if i:
            parts.append("\n")
        parts.extend(lines)
    level = "-active" if "-active" in levels else "-failed" if "-failed" in levels else "-ok"
    return level, Content.assemble(*parts)


class RollbackBanner(Static):
    """Hidden unless a rollback or throttle runs or just ended; updated only when its text changes."""

    DEFAULT_CSS = """
    RollbackBanner {
        height: auto; display: none; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis;
        background: $warning-muted; color: $text-warning;
    }
    RollbackBanner.-failed { background: $error-muted; color: $text-error; }
    RollbackBanner.-ok { background: $success-muted; color: $text-success; }
    RollbackBanner.-over-dialog { dock: top; margin-top: 1; }
    """

    def __init__(self, *, over_dialog: bool = False) -> None:
        """``over_dialog``: docked over a pop-up, at the place it has on the view under it."""
        super().__init__("", classes="rollback-banner -over-dialog" if over_dialog else "rollback-banner")
        self._last: Content | None = None
        self._level = ""

    @property
    def showing(self) -> bool:
        return self._last is not None

    def show(self, rb: RollbackView | None, now: float) -> None:
        found = banner_content(rb, now)
        if found is None:
            if self._last is not None:
                self._last = None
                self.display = False
            return
        level, content = found
        if level != self._level:
            self.set_class(level == "-failed", "-failed")
            self.set_class(level == "-ok", "-ok")
            self._level = level
        if content == self._last and self.display:
            return
        lines_before = self._last.plain.count("\n") if self._last is not None else -1
        self._last = content
        self.update(content, layout=lines_before != content.plain.count("\n"))
        self.display = True
