"""The local engine behind the seam: a Monitor on a thread and event loop of its own.

Why a thread: a probe's handshake and round-trip times are taken on the loop that runs
it. On the UI's loop, every stall of the UI (a report built, a large table diffed, a
slow terminal) was added to the latency of each probe in flight. On its own loop the
engine's timing is the engine's alone (``tests/test_engine_thread.py`` stalls the UI
for 300 ms every second and checks that p50 handshake and round trip do not move).

Before the Monitor is built, ``run`` waits for the engine lease of the state dir
(``store/lease.py``): while another engine acts for it, this one stands by (says so once,
probes nothing, looks at the lease every ``min(interval / 4, 1 s)``) and takes over when the
holder releases the lease, its lease expires, or its process on this host is gone. An engine
that loses the lease later ends its session (``lease_lost``) and stands by again. SIGTERM
while standing by ends the wait at once.

The Monitor is built on the engine's thread when ``run`` starts, so importing the
engine (websockets, httpx, psutil, the alert and rollback engines) never delays a
face's first frame. Commands are coroutines run on the engine's loop; the caller's
loop only awaits their result. History queries run on a worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from wsmon_tui.errors import WsmonError
from wsmon_tui.model import AlertView, Snapshot
from wsmon_tui.seam import Points, RangeRequest, RuleInfo

if TYPE_CHECKING:
    from wsmon_tui.config import Config
    from wsmon_tui.engine.monitor import Monitor
    from wsmon_tui.store.lease import EngineLease, LeaseInfo

T = TypeVar("T")

MEMORY_SPAN = 600.0
"""Ranges starting at most this long ago are answered from the engine's memory; older ones
from the store."""
MINUTE_POINTS_AFTER = 3600.0
"""Store ranges longer than this are read as one point a minute (a 24 h chart: 1440 points a
series, the stored rollups and the same computed from raw samples)."""


class EngineHost:
    """``EngineHost(factory, config=..., state_dir=..., store=...)``: ``factory()`` builds the Monitor
    (on the engine's thread). Implements ``wsmon_tui.seam.EngineLink``."""

    def __init__(self, factory: Callable[[], Monitor], *, config: Config, state_dir: Path | None = None,
                 store: Any = None, serve_faces: bool = True, standby: bool = True,
                 say: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.standby = standby
        """Wait for the engine lease before starting (False: start at once; a Monitor that finds
        the lease held then only watches)."""
        self._say = say
        """Where the standby's one-line messages go (called on the engine's thread)."""
        self.standing_by: LeaseInfo | None = None
        """The engine this one waits for, while it stands by."""
        self._standby_wake: asyncio.Event | None = None
        self.state_dir = state_dir
        self.store = store
        self._factory = factory
        self._monitor: Monitor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._subscribers: list[Callable[[Snapshot], None]] = []
        self._read_only = False
        self._stop_reason: str | None = None
        self._lock = threading.Lock()
        self.latest: Snapshot | None = None
        """The newest Snapshot (set on the engine's thread; a reference swap, safe to read)."""
        self.serve_faces = serve_faces and state_dir is not None
        """Serve ``engine.sock`` in the state dir so that other faces attach (``wsmon_tui.attach``)."""
        self.faces: Any = None
        """The engine socket (``attach.server.EngineServer``) once it listens."""
        self.faces_note = ""
        """Why faces cannot attach, when they cannot (another engine serves the state dir, ...)."""

    # -- identity --------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether the Monitor exists yet."""
        return self._monitor is not None

    @property
    def monitor(self) -> Monitor:
        """The Monitor itself, for the engine's own side (tests, benchmarks); faces never use it."""
        if self._monitor is None:
            raise WsmonError("the engine has not started")
        return self._monitor

    @property
    def session_id(self) -> str:
        return str(self._monitor.session_id or "") if self._monitor is not None else ""

    @property
    def attached_to(self) -> str:
        """Empty: this engine runs in this process (``AttachedEngine`` says which one it reached)."""
        return ""

    @property
    def session_started(self) -> float:
        return float(self._monitor.session_started) if self._monitor is not None else 0.0

    @property
    def acting(self) -> bool:
        """The Monitor runs, holds the lease (``Monitor.acting``) and may act (not read-only)."""
        monitor = self._monitor
        return monitor is not None and bool(monitor.acting) and not monitor.read_only

    @property
    def read_only(self) -> bool:
        return bool(self._monitor.read_only) if self._monitor is not None else self._read_only

    @read_only.setter
    def read_only(self, value: bool) -> None:
        self._read_only = bool(value)
        if self._monitor is not None:
            self._monitor.read_only = bool(value)

    @property
    def interval(self) -> float:
        return float(self.config.interval)

    @property
    def metrics_port(self) -> int | None:
        """The port wsmon's own ``/metrics`` is served on, once the engine serves it."""
        server = self._monitor.metrics_server if self._monitor is not None else None
        return int(server.port) if server is not None else None

    @property
    def metrics_url(self) -> str | None:
        """Where to read wsmon's own ``/metrics``, once the engine serves it."""
        from wsmon_tui.metrics_bind import metrics_url

        server = self._monitor.metrics_server if self._monitor is not None else None
        return metrics_url(server.host, int(server.port)) if server is not None else None

    # -- running -----------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Snapshot], None]) -> None:
        with self._lock:
            self._subscribers.append(callback)
            if self._monitor is not None and self._loop is not None:
                self._loop.call_soon_threadsafe(self._monitor.subscribe, callback)

    async def run(self, duration: float | None = None) -> str:
        """Start the engine's thread and wait (without blocking this loop) until it ends."""
        if self._thread is not None:
            raise WsmonError("the engine is already running")
        done: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, args=(duration, done), name="wsmon-engine",
                                        daemon=True)
        self._thread.start()
        return await asyncio.wrap_future(done)

    def _main(self, duration: float | None, done: concurrent.futures.Future[str]) -> None:
        # asyncio.Runner, as asyncio.run: what is still pending at the end is cancelled and
        # awaited before the loop closes (never "Task was destroyed but it is pending")
        with asyncio.Runner() as runner:
            # the face that waited may have gone (its wait cancelled, which cancels ``done``):
            # then nobody is told, and the thread must not die with InvalidStateError
            try:
                result = runner.run(self._serve(runner.get_loop(), duration))
            except BaseException as exc:  # the face shows it (the worker's error)
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    done.set_exception(exc)
            else:
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    done.set_result(result)
            finally:
                with self._lock:
                    self._loop = None

    async def _serve(self, loop: asyncio.AbstractEventLoop, duration: float | None) -> str:
        with self._lock:
            self._loop = loop
            self._standby_wake = asyncio.Event()
        while True:
            lease = await self._wait_for_lease()
            if self._stop_reason is not None and lease is None and self.standing_by is not None:
                return self._stop_reason  # stopped while standing by: no session was opened
            self.standing_by = None
            monitor = self._factory()
            monitor.lease = lease
            with self._lock:
                monitor.read_only = monitor.read_only or self._read_only
                monitor.subscribe(self._keep_latest)
                for callback in self._subscribers:
                    monitor.subscribe(callback)
                self._monitor = monitor
                if self._stop_reason is not None:
                    monitor.request_stop(self._stop_reason)
            ended = await self._run_serving_faces(monitor, duration)
            if ended != "lease_lost" or self._stop_reason is not None:
                return ended
            self._tell(f"session {monitor.session_id} ended: another engine took the lease; standing by")
            with self._lock:
                self._monitor = None

    def _tell(self, line: str) -> None:
        if self._say is not None:
            try:
                self._say(line)
            except Exception:  # a closed stdout must not stop the engine
                pass

    async def _wait_for_lease(self) -> EngineLease | None:
        """Stand by until this process holds the engine lease (None: no lease applies here, or a
        stop was asked for while waiting)."""
        path = getattr(self.store, "path", None)
        if not self.standby or path is None or self.read_only:
            return None
        from wsmon_tui.store.lease import EngineLease, lease_ttl, standby_poll

        lease = EngineLease(path, ttl=lease_ttl(self.interval))
        wake = self._standby_wake
        assert wake is not None
        while self._stop_reason is None:
            try:
                holder = await asyncio.to_thread(lease.try_acquire)
            except sqlite3.Error:  # the Monitor takes it (or notes why not) itself
                lease.close()
                return None
            if holder is None:
                if self.standing_by is not None:
                    self._tell(f"the engine of {self.standing_by.describe()} is gone: taking over")
                return lease
            if self.standing_by is None or self.standing_by.holder != holder.holder:
                self._tell(f"standing by: the engine of {holder.describe()} acts for this state dir; "
                           "this one probes nothing and takes over when it stops")
            self.standing_by = holder
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), standby_poll(self.interval))
        lease.close()
        return None

    async def _run_serving_faces(self, monitor: Monitor, duration: float | None) -> str:
        """Run ``monitor``'s session, serving ``engine.sock`` to faces while it runs."""
        run = asyncio.ensure_future(monitor.run(duration))
        try:
            if self.serve_faces:
                await self._serve_faces(monitor, run)
            return str(await run)
        finally:
            if not run.done():
                run.cancel()
            if self.faces is not None:
                await self.faces.close()  # the socket goes with the engine: attached faces see it end
                self.faces = None

    async def _serve_faces(self, monitor: Monitor, run: asyncio.Future[Any]) -> None:
        """Once the session exists, serve ``engine.sock`` on this loop (faces attach to it)."""
        from wsmon_tui.attach.server import EngineServer

        while not monitor.session_id and not run.done():
            await asyncio.sleep(0.01)
        if run.done() or self.state_dir is None:
            return
        server = EngineServer(self, self.state_dir)
        try:
            serving = await server.start()
        except OSError as exc:
            self.faces_note = f"faces cannot attach: {self.state_dir}/engine.sock: {exc.strerror or exc}"
            monitor.add_note(self.faces_note)
            return
        if not serving:
            self.faces_note = f"another engine serves {self.state_dir}; faces attach to it, not to this one"
            monitor.add_note(self.faces_note)
            return
        monitor.subscribe(server.on_snapshot)
        self.faces = server

    def _keep_latest(self, snapshot: Snapshot) -> None:
        self.latest = snapshot

    def request_stop(self, reason: str = "user") -> None:
        with self._lock:
            self._stop_reason = self._stop_reason or reason  # also ends a standby after a lost lease
            if self._monitor is None or self._loop is None:
                loop, wake = self._loop, self._standby_wake
                if loop is not None and wake is not None:  # standing by: stop waiting now
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(wake.set)
                return
            try:
                self._loop.call_soon_threadsafe(self._monitor.request_stop, reason)
            except RuntimeError:  # the loop just closed: the engine has stopped already
                pass

    async def _on_engine(self, make: Callable[[Monitor], Coroutine[Any, Any, T]]) -> T:
        """Run ``make(monitor)`` on the engine's loop; await its result on this one."""
        with self._lock:
            monitor, loop = self._monitor, self._loop
        if monitor is None or loop is None:
            raise WsmonError("the engine is not running")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(make(monitor), loop))

    # -- commands ------------------------------------------------------------------------------

    async def refresh_now(self) -> Snapshot:
        return await self._on_engine(lambda m: m.refresh_now())

    async def acknowledge(self, alert_id: str, user: str, comment: str = "") -> AlertView:
        return await self._on_engine(lambda m: m.acknowledge(alert_id, user, comment))

    async def unacknowledge(self, alert_id: str, user: str) -> AlertView:
        return await self._on_engine(lambda m: m.unacknowledge(alert_id, user))

    async def silence(self, *, rule: str, target: str | None, duration: float, comment: str,
                      user: str) -> Any:
        return await self._on_engine(lambda m: m.silence(rule=rule, target=target, duration=duration,
                                                         comment=comment, user=user))

    async def rollback(self, *, reason: str, user: str, dry_run: bool = False) -> Any:
        return await self._on_engine(lambda m: m.rollback(reason=reason, user=user, dry_run=dry_run))

    # -- history -------------------------------------------------------------------------------

    async def metric_ranges(self, wanted: Sequence[RangeRequest], since: float,
                            until: float) -> dict[RangeRequest, Points]:
        if since >= time.time() - MEMORY_SPAN and self._monitor is not None:
            return await self._on_engine(lambda m: _from_memory(m, wanted, since, until))
        store = self.store
        if store is None:
            return {w: [] for w in wanted}
        return await asyncio.to_thread(_from_store, store, wanted, since, until)

    async def deliveries(self, alert_id: str) -> list[dict[str, Any]]:
        return await self._on_engine(lambda m: m.deliveries(alert_id))

    async def rule_info(self, name: str) -> RuleInfo | None:
        return await self._on_engine(lambda m: m.rule_info(name))

    async def rules(self) -> list[RuleInfo]:
        return await self._on_engine(lambda m: m.rules())

    async def report(self, fmt: str = "md", since: float | None = None) -> str:
        from wsmon_tui.report import render
        from wsmon_tui.report.build import build_report

        latest = self.latest
        session = (self.session_id or None) if since is None else None  # a range may span sessions
        since = self.session_started if since is None else since

        def build() -> str:
            data = build_report(self.store, self.config, since=since, until=time.time(), session_id=session,
                                snapshot=latest)
            return render(data, fmt)

        return await asyncio.to_thread(build)


async def _from_memory(monitor: Monitor, wanted: Sequence[RangeRequest], since: float,
                       until: float) -> dict[RangeRequest, Points]:
    windows = monitor.windows
    return {w: [(ts, v) for ts, v in windows.points_since(w.target, w.metric, since) if ts <= until]
            for w in wanted}


def _from_store(store: Any, wanted: Sequence[RangeRequest], since: float,
                until: float) -> dict[RangeRequest, Points]:
    # a range longer than MINUTE_POINTS_AFTER is read as 1-minute rollups, not raw points
    read = store.minute_points if min(until, time.time()) - since > MINUTE_POINTS_AFTER else store.samples
    out: dict[RangeRequest, Points] = {}
    for w in wanted:
        try:
            out[w] = list(read(w.target, w.metric, since, until))
        except Exception:  # a locked or damaged store: that chart is empty, the screen says why
            out[w] = []
    return out
