"""A face's side of the engine socket: ``AttachedEngine``, the second ``EngineLink``.

``AttachedEngine`` talks to the engine running on a state dir instead of starting one:
Snapshots arrive by subscription, commands and history questions are requests answered
on the engine's side, ``run`` stays attached until the face detaches (``request_stop``,
which never stops the engine) or the engine goes away ("the engine on <dir> ended").
The connection lives on the face's loop; callbacks are called there too.

``engine_call`` is the command line's one-shot use: one request to the running engine,
or ``NO_ENGINE`` when none serves the state dir (the command then works as before).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from wsmon_tui.attach.protocol import (
    LINE_LIMIT,
    EngineGone,
    PeerRefused,
    ShortPath,
    error_from,
    socket_path,
)
from wsmon_tui.errors import WsmonError
from wsmon_tui.model import AlertView, Snapshot
from wsmon_tui.seam import Points, RangeRequest, RuleInfo
from wsmon_tui.wire import dumps, from_wire, loads

if TYPE_CHECKING:
    from wsmon_tui.config import Config

T = TypeVar("T")

CONNECT_TIMEOUT = 3.0
NO_ENGINE: Any = object()
"""``engine_call``'s answer when no engine serves the state dir."""


class EngineConnection:
    """One connection to ``engine.sock``: requests by id, and Snapshot events to ``on_snapshot``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.info: dict[str, Any] = {}
        self.on_snapshot: Callable[[Snapshot], None] | None = None
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, state_dir: Path, *, user: str, read_only: bool = False,
                   face: str = "") -> EngineConnection:
        """Connect and say hello; ``OSError`` when nothing listens, ``PeerRefused`` if not ours."""
        short = ShortPath(Path(state_dir))
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(short.path, limit=LINE_LIMIT), CONNECT_TIMEOUT)
        except TimeoutError:
            raise OSError(f"the engine on {state_dir} did not answer") from None
        finally:
            short.close()
        conn = cls(reader, writer, Path(state_dir))
        try:
            conn.info = await asyncio.wait_for(
                conn.request("hello", user=user, read_only=read_only, face=face), CONNECT_TIMEOUT)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _read(self) -> None:
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                message = loads(line)
                if message.get("event") == "snapshot":
                    callback = self.on_snapshot
                    if callback is not None:
                        callback(from_wire(Snapshot, message["snapshot"]))
                    continue
                ident = message.get("id")
                future = self._waiting.pop(ident, None) if isinstance(ident, int) else None
                if future is None:
                    if not message.get("ok", True) and ident is None:  # refused before any request
                        self._fail_all(error_from(message.get("error")))
                    continue
                if future.done():
                    continue
                if message.get("ok"):
                    future.set_result(message.get("result"))
                else:
                    future.set_exception(error_from(message.get("error")))
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            self._fail_all(EngineGone(f"the engine on {self.state_dir} ended"))
            if not self.closed.done():
                self.closed.set_result(None)

    def _fail_all(self, exc: WsmonError) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(exc)

    async def request(self, op: str, **args: Any) -> Any:
        """Send one request and wait for its answer (the engine's error raised here)."""
        if self.closed.done():
            raise EngineGone(f"the engine on {self.state_dir} ended")
        ident = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        try:
            self._writer.write(dumps({"id": ident, "op": op, "args": args}))
            await self._writer.drain()
        except (ConnectionError, RuntimeError):
            self._waiting.pop(ident, None)
            raise EngineGone(f"the engine on {self.state_dir} ended") from None
        return await future

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task


async def find_engine(state_dir: Path, *, user: str, read_only: bool = False,
                      face: str = "") -> EngineConnection | None:
    """A connection to the engine running on ``state_dir``, or None when none runs there.
    A socket served for another user raises ``PeerRefused``."""
    if not socket_path(state_dir).exists():
        return None
    try:
        return await EngineConnection.open(state_dir, user=user, read_only=read_only, face=face)
    except (OSError, EngineGone):
        return None


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(make())`` from synchronous code, also when this thread runs a loop already
    (the command line called from an async program or test): then on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def engine_call(state_dir: Path, op: str, *, user: str = "", read_only: bool = False, **args: Any) -> Any:
    """One request to the engine running on ``state_dir`` (from synchronous code), or ``NO_ENGINE``."""
    if not socket_path(state_dir).exists():
        return NO_ENGINE

    async def call() -> Any:
        conn = await find_engine(state_dir, user=user, read_only=read_only, face="cli")
        if conn is None:
            return NO_ENGINE
        try:
            return await conn.request(op, **args)
        finally:
            await conn.close()

    return run_sync(call)


class AttachedEngine:
    """``EngineLink`` over a connection to the engine that runs on ``state_dir``."""

    def __init__(self, conn: EngineConnection, *, config: Config, read_only: bool = False) -> None:
        self.config = config
        self.state_dir: Path | None = conn.state_dir
        self.conn = conn
        self.latest: Snapshot | None = None
        self._read_only = bool(read_only or conn.info.get("read_only"))
        self._callbacks: list[Callable[[Snapshot], None]] = []
        self._session_id = str(conn.info.get("session_id") or "")
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.ended_by = ""
        """How ``run`` ended: "detached", "duration", or "the engine on <dir> ended"."""
        conn.on_snapshot = self._deliver

    # -- identity --------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return int(self.conn.info.get("pid") or 0)

    @property
    def attached_to(self) -> str:
        """What the header says: "pid N · session S"."""
        return f"pid {self.pid} · session {self.session_id}"

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def acting(self) -> bool:
        """False: the engine acts in its own process; leaving this face stops nothing."""
        return False

    @property
    def session_started(self) -> float:
        return float(self.conn.info.get("started") or 0.0)

    @property
    def interval(self) -> float:
        return float(self.conn.info.get("interval") or self.config.interval)

    @property
    def read_only(self) -> bool:
        return self._read_only

    @read_only.setter
    def read_only(self, value: bool) -> None:
        if value and not self._read_only:
            self._read_only = True
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._tell_read_only)

    def _tell_read_only(self) -> None:
        task = asyncio.ensure_future(self.conn.request("read_only", value=True))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    # -- running -----------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Snapshot], None]) -> None:
        self._callbacks.append(callback)
        if self.latest is not None:
            callback(self.latest)

    def _deliver(self, snapshot: Snapshot) -> None:
        self.latest = snapshot
        self._session_id = snapshot.session_id or self._session_id
        for callback in list(self._callbacks):
            callback(snapshot)

    async def run(self, duration: float | None = None) -> str:
        """Stay attached until ``request_stop`` (detach), ``duration``, or the engine's end."""
        await self.conn.request("subscribe")
        stop: asyncio.Future[Any] = asyncio.ensure_future(self._stop.wait())
        closed: asyncio.Future[Any] = self.conn.closed
        try:
            done, _ = await asyncio.wait({stop, closed}, timeout=duration,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        engine_ended = closed in done and not self._stop.is_set()
        await self.conn.close()
        if engine_ended:
            self.ended_by = f"the engine on {self.state_dir} ended"
        else:
            self.ended_by = "detached" if self._stop.is_set() else "duration"
        return self.ended_by

    def request_stop(self, reason: str = "user") -> None:
        """Detach (the engine keeps running); callable from any thread."""
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._stop.set)

    # -- commands ----------------------------------------------------------------------------

    async def refresh_now(self) -> Snapshot:
        return from_wire(Snapshot, await self.conn.request("refresh_now"))

    async def acknowledge(self, alert_id: str, user: str, comment: str = "") -> AlertView:
        return from_wire(AlertView, await self.conn.request("acknowledge", alert_id=alert_id, user=user,
                                                            comment=comment))

    async def unacknowledge(self, alert_id: str, user: str) -> AlertView:
        return from_wire(AlertView, await self.conn.request("unacknowledge", alert_id=alert_id, user=user))

    async def silence(self, *, rule: str, target: str | None, duration: float, comment: str,
                      user: str) -> Any:
        return await self.conn.request("silence", rule=rule, target=target, duration=duration,
                                       comment=comment, user=user)

    async def rollback(self, *, reason: str, user: str, dry_run: bool = False) -> Any:
        return await self.conn.request("rollback", reason=reason, user=user, dry_run=dry_run)

    # -- history -------------------------------------------------------------------------------

    async def metric_ranges(self, wanted: Sequence[RangeRequest], since: float,
                            until: float) -> dict[RangeRequest, Points]:
        got = await self.conn.request("metric_ranges", wanted=[[w.target, w.metric] for w in wanted],
                                      since=since, until=until)
        return {RangeRequest(t, m): [(float(ts), float(v)) for ts, v in points] for t, m, points in got}

    async def deliveries(self, alert_id: str) -> list[dict[str, Any]]:
        return list(await self.conn.request("deliveries", alert_id=alert_id))

    async def rule_info(self, name: str) -> RuleInfo | None:
        got = await self.conn.request("rule_info", name=name)
        return None if got is None else from_wire(RuleInfo, got)

    async def rules(self) -> list[RuleInfo]:
        return [from_wire(RuleInfo, r) for r in await self.conn.request("rules")]

    async def report(self, fmt: str = "md", since: float | None = None) -> str:
        return str(await self.conn.request("report", fmt=fmt, since=since))


__all__ = ["NO_ENGINE", "AttachedEngine", "EngineConnection", "PeerRefused", "engine_call", "find_engine"]
