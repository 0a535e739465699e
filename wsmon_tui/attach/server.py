"""The engine's socket: ``engine.sock`` in the state dir, served on the engine's own loop.

Started by ``EngineHost`` once its Monitor has a session. Faces (dashboards, browser
sessions of ``serve``, the CLI) connect, say ``hello``, ``subscribe`` to Snapshots and send
the seam's commands and history questions; the protocol is in ``protocol.py``.

Who may connect: the socket is created owner-only (0600, in the state dir's 0700) and a
peer of another uid (``SO_PEERCRED``) is refused before it can send anything. A stale
socket left by a killed engine is replaced; a live one (another engine serving this state
dir) is left alone. The socket goes when the engine ends.

What a face costs the engine: one encoding of each Snapshot, shared by every subscriber,
and a write. A slow face is never waited for: its sender skips to the newest Snapshot
while the previous one is still in the socket's buffer, so memory per face is bounded by
the transport's high-water mark plus one Snapshot, and the engine's tick never blocks.
A face going away ends its connection only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from wsmon_tui.attach.protocol import (
    LINE_LIMIT,
    PROTOCOL,
    WRITE_OPS,
    PeerRefused,
    ShortPath,
    error_dict,
)
from wsmon_tui.errors import ReadOnlyError, UsageError
from wsmon_tui.model import Snapshot
from wsmon_tui.seam import RangeRequest
from wsmon_tui.wire import dumps, loads, to_wire

IN_FLIGHT = 8
"""Requests one face may have open at once; reading its socket pauses beyond that."""


class Engine(Protocol):
    """What the socket needs of the engine's host (``wsmon_tui.host.EngineHost``)."""

    config: Any
    state_dir: Path | None
    latest: Snapshot | None

    @property
    def session_id(self) -> str: ...

    @property
    def session_started(self) -> float: ...

    @property
    def read_only(self) -> bool: ...

    @property
    def monitor(self) -> Any: ...

    async def metric_ranges(self, wanted: list[RangeRequest], since: float,
                            until: float) -> dict[RangeRequest, list[tuple[float, float]]]: ...

    async def report(self, fmt: str = "md", since: float | None = None) -> str: ...


class _Face:
    """One connected face."""

    def __init__(self, writer: asyncio.StreamWriter, pid: int) -> None:
        self.writer = writer
        self.pid = pid
        self.user = ""
        self.read_only = False
        self.wake = asyncio.Event()
        self.sender: asyncio.Task[None] | None = None
        self.slots = asyncio.Semaphore(IN_FLIGHT)
        self.last_sent: bytes | None = None

    async def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(data)
        await self.writer.drain()


def peer_uid_pid(sock: socket.socket) -> tuple[int, int]:
    """(uid, pid) of the process at the other end of a Unix socket (SO_PEERCRED)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", raw)
    return uid, pid


class EngineServer:
    """``EngineServer(engine, state_dir)``; ``await start()`` (False: another engine serves it)."""

    def __init__(self, engine: Engine, state_dir: Path) -> None:
        self.engine = engine
        self.state_dir = Path(state_dir)
        self.path = ShortPath(self.state_dir)
        self.faces: set[_Face] = set()
        self.refused = 0
        """Peers refused for their uid (tests read it)."""
        self._server: asyncio.Server | None = None
        self._inode: int | None = None
        self._latest: Snapshot | None = None
        self._encoded: bytes | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> bool:
        """Listen on ``engine.sock``; False when a live engine already serves this state dir."""
        real = self.path.real
        if real.exists() or real.is_symlink():
            if await _answers(self.path.path):
                self.path.close()
                return False
            with contextlib.suppress(FileNotFoundError):
                real.unlink()  # a killed engine's socket
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(self.path.path)
            os.chmod(real, 0o600)  # the state dir is 0700 already: nobody else could reach it meanwhile
            sock.listen(16)
            sock.setblocking(False)
            self._inode = real.stat().st_ino
            self._server = await asyncio.start_unix_server(self._handle, sock=sock, limit=LINE_LIMIT)
        except BaseException:
            sock.close()
            self.path.close()
            raise
        self._latest = self.engine.latest
        return True

    async def close(self) -> None:
        """Stop listening, drop every face, remove the socket (only ours)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for face in list(self.faces):
            face.writer.close()
        with contextlib.suppress(OSError):
            if self.path.real.stat().st_ino == self._inode:
                self.path.real.unlink()
        self.path.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2.0)

    # -- snapshots --------------------------------------------------------------------------

    def on_snapshot(self, snapshot: Snapshot) -> None:
        """The Monitor's subscriber (on the engine's loop): wake each subscribed face."""
        self._latest = snapshot
        self._encoded = None
        for face in self.faces:
            if face.sender is not None:
                face.wake.set()

    def _encoded_latest(self) -> bytes | None:
        if self._encoded is None and self._latest is not None:
            self._encoded = dumps({"event": "snapshot", "snapshot": to_wire(self._latest)})
        return self._encoded

    async def _send_snapshots(self, face: _Face) -> None:
        """The newest Snapshot whenever the face has taken the last one (never a queue)."""
        while True:
            await face.wake.wait()
            face.wake.clear()
            data = self._encoded_latest()
            if data is None or data is face.last_sent:
                continue
            face.last_sent = data
            await face.send(data)

    # -- one face -----------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        uid, pid = peer_uid_pid(sock)
        if uid != os.getuid():
            self.refused += 1
            writer.write(dumps({"id": None, "ok": False, "error": error_dict(
                PeerRefused(f"the engine on {self.state_dir} serves only uid {os.getuid()}, not {uid}"))}))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.drain(), 1.0)
            writer.close()
            return
        face = _Face(writer, pid)
        self.faces.add(face)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                await face.slots.acquire()
                self._spawn(self._answer(face, line))
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass  # the face went away, or sent a line over the limit: only its connection ends
        finally:
            self.faces.discard(face)
            if face.sender is not None:
                face.sender.cancel()
            writer.close()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, face: _Face, line: bytes) -> None:
        ident: Any = None
        try:
            try:
                message = loads(line)
                ident = message.get("id")
                op = str(message["op"])
                args = message.get("args") or {}
                if not isinstance(args, dict):
                    raise TypeError("args must be an object")
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise UsageError(f"bad request: {exc}") from None
            result = await self._dispatch(face, op, args)
            reply = {"id": ident, "ok": True, "result": result}
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every error goes back to the face that asked
            reply = {"id": ident, "ok": False, "error": error_dict(exc)}
        finally:
            face.slots.release()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await face.send(dumps(reply))

    async def _dispatch(self, face: _Face, op: str, args: dict[str, Any]) -> Any:
        handler = self._ops().get(op)
        if handler is None:
            raise UsageError(f"unknown op {op!r}")
        if op in WRITE_OPS and (face.read_only or self.engine.read_only):
            raise ReadOnlyError("this face is read-only: acknowledge, silence, rollback and flag "
                                "changes are not allowed")
        return await handler(face, args)

    def _ops(self) -> dict[str, Callable[[_Face, dict[str, Any]], Awaitable[Any]]]:
        from wsmon_tui.attach import ops

        return {
            "hello": self._hello, "read_only": self._read_only, "subscribe": self._subscribe,
            **ops.bind(self.engine, self.state_dir),
        }

    async def _hello(self, face: _Face, args: dict[str, Any]) -> dict[str, Any]:
        face.user = str(args.get("user") or "")
        face.read_only = face.read_only or bool(args.get("read_only"))
        engine = self.engine
        return {
            "protocol": PROTOCOL, "pid": os.getpid(), "host": socket.gethostname(),
            "session_id": engine.session_id, "started": engine.session_started,
            "deployment": str(engine.config.deployment.name),
            "version": str(engine.config.deployment.version),
            "state_dir": str(self.state_dir), "read_only": bool(engine.read_only or face.read_only),
            "engine_read_only": bool(engine.read_only), "config_path": engine.config.source,
            "interval": float(engine.config.interval), "now": time.time(),
        }

    async def _read_only(self, face: _Face, args: dict[str, Any]) -> bool:
        """A face may make itself read-only, never the other way."""
        face.read_only = face.read_only or bool(args.get("value", True))
        return face.read_only

    async def _subscribe(self, face: _Face, args: dict[str, Any]) -> bool:
        if face.sender is None:
            face.sender = asyncio.ensure_future(self._send_snapshots(face))
            if self._latest is not None:
                face.wake.set()
        return True


async def _answers(path: str) -> bool:
    """Whether something listens on the socket at ``path``."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), 2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True
