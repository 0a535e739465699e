"""The local engine behind the seam: a Monitor on a thread and event loop of its own.

Why a thread: a probe's handshake and round-trip times are taken on the loop that runs
it. On the UI's loop, every stall of the UI (a report built, a large table diffed, a
slow terminal) was added to the latency of each probe in flight. On its own loop the
engine's timing is the engine's alone (``tests/test_engine_thread.py`` stalls the UI
for 300 ms every second and checks that p50 handshake and round trip do not move).

The Monitor is built on the engine's thread when ``run`` starts, so importing the
engine (websockets, httpx, psutil, the alert and rollback engines) never delays a
face's first frame. Commands are coroutines run on the engine's loop; the caller's
loop only awaits their result. History queries run on a worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
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

T = TypeVar("T")

MEMORY_SPAN = 600.0
"""Ranges starting at most this long ago are answered from the engine's memory; older ones
from the store."""


class EngineHost:
    """``EngineHost(factory, config=..., state_dir=..., store=...)``: ``factory()`` builds the Monitor
    (on the engine's thread). Implements ``wsmon_tui.seam.EngineLink``."""

    def __init__(self, factory: Callable[[], Monitor], *, config: Config, state_dir: Path | None = None,
                 store: Any = None, serve_faces: bool = True) -> None:
        self.config = config
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
            try:
                result = runner.run(self._serve(runner.get_loop(), duration))
            except BaseException as exc:  # the face shows it (the worker's error)
                done.set_exception(exc)
            else:
                done.set_result(result)
            finally:
                with self._lock:
                    self._loop = None

    async def _serve(self, loop: asyncio.AbstractEventLoop, duration: float | None) -> str:
        monitor = self._factory()
        with self._lock:
            monitor.read_only = monitor.read_only or self._read_only
            monitor.subscribe(self._keep_latest)
            for callback in self._subscribers:
                monitor.subscribe(callback)
            self._monitor = monitor
            self._loop = loop
            if self._stop_reason is not None:
                monitor.request_stop(self._stop_reason)
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
            return
        if not serving:
            self.faces_note = f"another engine serves {self.state_dir}; faces attach to it, not to this one"
            return
        monitor.subscribe(server.on_snapshot)
        self.faces = server

    def _keep_latest(self, snapshot: Snapshot) -> None:
        self.latest = snapshot

    def request_stop(self, reason: str = "user") -> None:
        with self._lock:
            if self._monitor is None or self._loop is None:
                self._stop_reason = self._stop_reason or reason
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
    out: dict[RangeRequest, Points] = {}
    for w in wanted:
        try:
            out[w] = list(store.samples(w.target, w.metric, since, until))
        except Exception:  # a locked or damaged store: that chart is empty, the screen says why
            out[w] = []
    return out
