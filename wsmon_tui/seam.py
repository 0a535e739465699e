"""The one seam between the engine and its faces.

A face (the TUI, ``serve``, the headless monitor, the CLI) depends on ``EngineLink``
and on nothing of the engine's: it receives Snapshots, sends commands, and asks
history questions. ``wsmon_tui.host.EngineHost`` implements it over a Monitor running
on a thread and event loop of its own, so nothing a face does (a slow repaint, a
report) can delay a probe in flight; ``wsmon_tui.attach.client.AttachedEngine``
implements it over the socket of an engine already running on the state dir (the
face's commands go to that engine, which records them); ``wsmon_tui.replay.engine.ReplayEngine``
implements it over a session recorded in the state database (``ReplayLink``, below), read-only.

Every method that does work is a coroutine run on the engine's side: the caller's
loop only waits for the answer. Snapshot callbacks are called on the engine's thread:
a face hands them to its own loop (Textual's ``post_message`` is thread-safe).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from wsmon_tui.model import AlertView, Snapshot

if TYPE_CHECKING:
    from wsmon_tui.config import Config

Points = list[tuple[float, float]]
"""(POSIX time, value) pairs, oldest first."""


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a face shows about the rule behind an alert."""

    name: str
    metric: str
    op: str
    threshold: float | None = None
    for_: float = 0.0
    window: float | None = None
    aggregate: str = "last"
    runbook: str = ""
    tiers: tuple[tuple[float, str], ...] = ()
    """(threshold, severity) of each tier, most severe first; ``threshold`` is the least severe's."""
    targets: tuple[str, ...] = ()
    """Only these targets (empty: every target)."""
    relative: bool = False
    """The thresholds are shares of the metric's session baseline, not values of the metric."""


@dataclass(frozen=True, slots=True)
class RangeRequest:
    """One metric's values over a time range: ``target`` ``""`` for fleet-wide series."""

    target: str
    metric: str


class EngineLink(Protocol):
    """What a face may ask of an engine."""

    config: Config
    """The effective config (deployment, rollback steps, the UI's keymap and theme)."""
    state_dir: Path | None

    @property
    def session_id(self) -> str:
        """The session being recorded; empty until the engine has started one."""
        ...

    @property
    def attached_to(self) -> str:
        """What a face attached to an engine in another process says it is attached to
        ("pid N · session S"); empty when the engine runs in this process."""
        ...

    @property
    def acting(self) -> bool:
        """True while the engine runs in this process and acts for the deployment (it holds the
        state dir's lease: it probes, alerts, pages and may roll back), so stopping it stops
        all that; False while it stands by or only watches, and for a face attached to an
        engine in another process."""
        ...

    @property
    def read_only(self) -> bool: ...

    @read_only.setter
    def read_only(self, value: bool) -> None: ...

    def subscribe(self, callback: Callable[[Snapshot], None]) -> None:
        """Call ``callback`` with every Snapshot (on the engine's thread)."""
        ...

    async def run(self, duration: float | None = None) -> str:
        """Run (or stay attached) until stopped or ``duration`` passes; return how it ended."""
        ...

    def request_stop(self, reason: str = "user") -> None:
        """Stop after the current tick; callable from any thread."""
        ...

    # -- commands: each is recorded by the engine with who and when ---------------------

    async def refresh_now(self) -> Snapshot: ...

    async def acknowledge(self, alert_id: str, user: str, comment: str = "") -> AlertView: ...

    async def unacknowledge(self, alert_id: str, user: str) -> AlertView: ...

    async def silence(self, *, rule: str, target: str | None, duration: float, comment: str,
                      user: str) -> Any: ...

    async def rollback(self, *, reason: str, user: str, dry_run: bool = False) -> Any: ...

    # -- history: answered off the caller's loop ----------------------------------------

    async def metric_ranges(self, wanted: Sequence[RangeRequest], since: float,
                            until: float) -> dict[RangeRequest, Points]:
        """Each wanted metric between ``since`` and ``until``: from memory when the engine
        still holds the range, else from the store's history (minute rollups included)."""
        ...

    async def deliveries(self, alert_id: str) -> list[dict[str, Any]]:
        """The delivery status of every notification of one alert."""
        ...

    async def rule_info(self, name: str) -> RuleInfo | None:
        """The rule an alert of this name comes from (the config's or a default rule)."""
        ...

    async def rules(self) -> list[RuleInfo]:
        """Every rule the engine judges (the level's defaults and the config's), with its tiers:
        what a face colours figures by and draws as threshold lines."""
        ...

    async def report(self, fmt: str = "md", since: float | None = None) -> str:
        """The report from ``since`` (default: this session's start) until now, rendered
        (``md``, ``json`` or ``html``)."""
        ...


# -- replays: the same seam over a recorded session ------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayEvent:
    """One thing that happened in a recorded session, at the recorded time ``at``. ``kind`` is
    one of ``REPLAY_EVENT_KINDS``; ``label`` is for people (raw text: it may come from servers)."""

    at: float
    kind: str
    label: str


REPLAY_EVENT_KINDS = ("alert_fired", "alert_resolved", "ack", "unack", "rollback_started", "rollback_step",
                      "rollback_verifying", "rollback_finished")


@dataclass(frozen=True, slots=True)
class ReplayPosition:
    """Where a replay stands: frame ``index`` of ``frames``, recorded at ``at``."""

    session_id: str
    index: int
    frames: int
    at: float
    start: float
    end: float
    speed: float
    paused: bool
    events: tuple[ReplayEvent, ...] = ()

    @property
    def at_end(self) -> bool:
        return self.index >= self.frames - 1


class ReplayLink(EngineLink, Protocol):
    """An ``EngineLink`` over a recorded session (``wsmon_tui.replay.engine.ReplayEngine``):
    read-only, with a position the face can move. Every command refuses ("replay is read-only");
    the controls below are called on the loop that runs ``run``."""

    def position(self) -> ReplayPosition: ...

    def toggle_pause(self) -> bool:
        """Pause or play on; returns whether it is paused now."""
        ...

    def step(self, frames: int) -> None:
        """Show the frame ``frames`` away (one interval each) and pause there."""
        ...

    def jump(self, direction: int) -> ReplayEvent | None:
        """Show the frame of the next (``direction`` > 0) or previous event; None when there is none."""
        ...
