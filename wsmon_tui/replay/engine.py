"""``ReplayEngine``: the seam (``seam.ReplayLink``) over a recorded session.

The faces cannot tell a replay from a live engine but by ``read_only`` and the controls:
Snapshots arrive by subscription, one per stored interval, at the recorded pace divided by
``speed``; history questions are answered from the store, never past the frame on screen;
every command refuses ("replay is read-only"), since acknowledging, silencing, paging or
rolling back a session that is over would act on the present.

Frames are built on a worker thread (``frames.FrameBuilder``: a few indexed reads each) and
published on the loop that runs ``run``; the controls (``toggle_pause``, ``step``, ``jump``)
are called on that loop too and take effect at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsmon_tui.errors import ReadOnlyError, UsageError
from wsmon_tui.model import AlertView, Snapshot
from wsmon_tui.replay.frames import FrameBuilder
from wsmon_tui.replay.source import Recording, StoreReader, find_session, load_recording
from wsmon_tui.seam import Points, RangeRequest, ReplayEvent, ReplayPosition, RuleInfo

if TYPE_CHECKING:
    from wsmon_tui.config import Config

MAX_WAIT_S = 10.0
"""The longest real wait between two frames whatever the speed (a session that slept for an
hour does not freeze its replay for an hour)."""
MINUTE_POINTS_AFTER = 3600.0
"""Ranges longer than this are read as one point a minute, as the live engine reads them."""
CACHED_FRAMES = 64
READ_ONLY = "replay is read-only: {what} in a recorded session is not possible"


def parse_speed(value: str | float) -> float:
    """``--speed``: a factor above 0 (``4``, ``0.5``, ``4x``); UsageError otherwise."""
    text = str(value).strip().lower().removesuffix("x").removeprefix("×")
    try:
        speed = float(text)
    except ValueError:
        raise UsageError(f"--speed: expected a factor such as 4 or 0.5, got {value!r}") from None
    if not 0 < speed <= 10_000:
        raise UsageError(f"--speed: expected a factor above 0 and at most 10000, got {value!r}")
    return speed


class ReplayEngine:
    """``ReplayEngine(state_dir, config=..., session=None, speed=1.0)``: implements
    ``seam.ReplayLink``. Raises ``UnknownSession`` (exit 2) for a session that is not there."""

    def __init__(self, state_dir: Path, *, config: Config, session: str | None = None, speed: float = 1.0,
                 paused: bool = False, deployment: str | None = None) -> None:
        self.config = config
        self.state_dir: Path | None = Path(state_dir)
        self._reader = StoreReader(Path(state_dir))
        try:
            found = find_session(self._reader, session, deployment=deployment)
            self.recording: Recording = load_recording(self._reader, found)
        except BaseException:
            self._reader.close()
            raise
        self._frames = FrameBuilder(self._reader, self.recording)
        self.speed = float(speed)
        self._paused = bool(paused)
        self._index = 0
        self._wanted: int | None = None
        """A frame asked for by a control, shown next by ``run``."""
        self._subscribers: list[Callable[[Snapshot], None]] = []
        self._stop_reason: str | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cache: OrderedDict[int, Snapshot] = OrderedDict()
        self.latest: Snapshot | None = None
        self.shown: list[int] = []
        """Every frame index published, in order (what a test or a benchmark checks)."""

    # -- identity ---------------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        return self.recording.id

    @property
    def attached_to(self) -> str:
        return ""

    @property
    def acting(self) -> bool:
        """A replay never acts: it pages, acknowledges and rolls back nothing (``q`` just leaves)."""
        return False

    @property
    def read_only(self) -> bool:
        return True

    @read_only.setter
    def read_only(self, value: bool) -> None:
        """A replay stays read-only whatever a face asks."""

    @property
    def events(self) -> tuple[ReplayEvent, ...]:
        return self.recording.events

    def position(self) -> ReplayPosition:
        rec = self.recording
        return ReplayPosition(session_id=rec.id, index=self._index, frames=len(rec.times),
                              at=rec.times[self._index], start=rec.start, end=rec.end, speed=self.speed,
                              paused=self._paused, events=rec.events)

    # -- frames -----------------------------------------------------------------------------

    def frame(self, index: int) -> Snapshot:
        """Frame ``index`` (blocking reads; cached)."""
        snap = self._cache.get(index)
        if snap is None:
            snap = self._frames.build(index)
            self._cache[index] = snap
            while len(self._cache) > CACHED_FRAMES:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(index)
        return snap

    def event_frame(self, event: ReplayEvent) -> int:
        return self.recording.frame_of(event.at)

    async def _show(self, index: int) -> Snapshot:
        index = max(0, min(index, len(self.recording.times) - 1))
        snap = await asyncio.to_thread(self.frame, index)
        self._index = index
        self.latest = snap
        self.shown.append(index)
        for callback in list(self._subscribers):
            callback(snap)
        return snap

    def subscribe(self, callback: Callable[[Snapshot], None]) -> None:
        self._subscribers.append(callback)
        if self.latest is not None:
            callback(self.latest)

    # -- playing ----------------------------------------------------------------------------

    async def run(self, duration: float | None = None) -> str:
        """Play from the first frame until stopped (or ``duration`` seconds of real time); at the
        last frame it waits there. Returns how it ended."""
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        ends_at = None if duration is None else time.monotonic() + duration
        times = self.recording.times
        try:
            await self._show(self._wanted if self._wanted is not None else self._index)
            self._wanted = None
            while self._stop_reason is None:
                if self._wanted is not None:
                    wanted, self._wanted = self._wanted, None
                    await self._show(wanted)
                    continue
                at_end = self._index >= len(times) - 1
                wait = None if self._paused or at_end else \
                    min((times[self._index + 1] - times[self._index]) / self.speed, MAX_WAIT_S)
                if ends_at is not None:
                    left = ends_at - time.monotonic()
                    if left <= 0:
                        self._stop_reason = "duration"
                        break
                    wait = left if wait is None else min(wait, left)
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    if not (self._paused or at_end) and (ends_at is None or time.monotonic() < ends_at):
                        await self._show(self._index + 1)
        finally:
            self.close()
        return self._stop_reason or "user"

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def request_stop(self, reason: str = "user") -> None:
        """Stop playing; callable from any thread (a signal's handler, another face)."""
        self._stop_reason = self._stop_reason or reason
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: run has returned
                loop.call_soon_threadsafe(wake.set)

    def close(self) -> None:
        self._reader.close()

    def toggle_pause(self) -> bool:
        self._paused = not self._paused
        if not self._paused and self._index >= len(self.recording.times) - 1:
            self._wanted = 0  # playing on from the end starts again
        self._poke()
        return self._paused

    def step(self, frames: int) -> None:
        self._paused = True
        base = self._wanted if self._wanted is not None else self._index
        self._wanted = max(0, min(base + frames, len(self.recording.times) - 1))
        self._poke()

    def seek(self, index: int) -> None:
        self._wanted = max(0, min(index, len(self.recording.times) - 1))
        self._poke()

    def jump(self, direction: int) -> ReplayEvent | None:
        here = self._wanted if self._wanted is not None else self._index
        frame_of = self.recording.frame_of
        if direction > 0:
            found = next((e for e in self.recording.events if frame_of(e.at) > here), None)
        else:
            found = next((e for e in reversed(self.recording.events) if frame_of(e.at) < here), None)
        if found is not None:
            self.seek(frame_of(found.at))
        return found

    # -- commands: none in a replay -------------------------------------------------------------

    async def refresh_now(self) -> Snapshot:
        """The frame on screen again (nothing is probed in a replay)."""
        return await self._show(self._index)

    async def acknowledge(self, alert_id: str, user: str, comment: str = "") -> AlertView:
        raise ReadOnlyError(READ_ONLY.format(what="acknowledging an alert"))

    async def unacknowledge(self, alert_id: str, user: str) -> AlertView:
        raise ReadOnlyError(READ_ONLY.format(what="taking back an acknowledgement"))

    async def silence(self, *, rule: str, target: str | None, duration: float, comment: str,
                      user: str) -> Any:
        raise ReadOnlyError(READ_ONLY.format(what="silencing alerts"))

    async def rollback(self, *, reason: str, user: str, dry_run: bool = False) -> Any:
        raise ReadOnlyError(READ_ONLY.format(what="rolling back"))

    # -- history: the store, never past the frame on screen ---------------------------------------

    def _now(self) -> float:
        return self.recording.times[self._index]

    async def metric_ranges(self, wanted: Sequence[RangeRequest], since: float,
                            until: float) -> dict[RangeRequest, Points]:
        until = min(until, self._now())
        reader = self._reader
        read = reader.minute_points if until - since > MINUTE_POINTS_AFTER else reader.samples

        def answer() -> dict[RangeRequest, Points]:
            return {w: list(read(w.target, w.metric, since, until)) for w in wanted}

        return await asyncio.to_thread(answer)

    async def deliveries(self, alert_id: str) -> list[dict[str, Any]]:
        """The alert's notifications created by the frame on screen (with the status each ended in)."""
        from wsmon_tui.alerts.outbox_db import report_deliveries

        path, since, until = self._reader.path, self.recording.start, self._now()
        rows = await asyncio.to_thread(report_deliveries, path, since, until)
        return [d for d in rows if d.get("alert_id") == alert_id]

    async def rule_info(self, name: str) -> RuleInfo | None:
        from wsmon_tui.alerts.engine_state import build_rules

        for rule in self.config.alerts.rules:
            if rule.name == name:
                return RuleInfo(name=rule.name, metric=rule.metric, op=rule.op, threshold=rule.threshold,
                                for_=rule.for_, window=rule.window, aggregate=rule.aggregate,
                                runbook=rule.runbook)
        for compiled in build_rules(self.config):
            if compiled.name == name:
                return RuleInfo(name=compiled.name, metric=compiled.metric, op=compiled.op,
                                threshold=compiled.tiers[-1].threshold if compiled.tiers else None,
                                for_=compiled.for_, window=compiled.window, aggregate=compiled.aggregate,
                                runbook=compiled.runbook)
        return None

    async def rules(self) -> list[RuleInfo]:
        """The rules the config names (the level's defaults and its own), for threshold colours
        and lines: what the recorded session judged, as far as today's config says."""
        from wsmon_tui.alerts.engine_state import build_rules
        from wsmon_tui.engine.monitor import describe_rules

        return describe_rules(build_rules(self.config))

    async def report(self, fmt: str = "md", since: float | None = None) -> str:
        """The recorded session's report (the whole session: a report is not a frame)."""
        from wsmon_tui.report import render
        from wsmon_tui.report.build import build_report

        rec = self.recording
        # the recorded deployment's report, whatever deployment the config names now
        config = dataclasses.replace(self.config, deployment=dataclasses.replace(
            self.config.deployment, name=str(rec.session["deployment"]),
            version=str(rec.session["version"] or "")))

        def build() -> str:
            data = build_report(self._reader, config, since=rec.start if since is None else since,
                                until=rec.end, session_id=rec.id if since is None else None)
            return render(data, fmt)

        return await asyncio.to_thread(build)
