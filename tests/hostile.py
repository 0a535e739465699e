"""Hostile (and friendly) servers for probe and hold tests.

Every server listens on 127.0.0.1 with an ephemeral port and is an async context
manager yielding its URL (``tls_echo_server`` yields a ``TlsServer`` with the CA file
too). Leaving the ``async with`` block stops the server and every connection handler,
so a test cannot leak a listener::

    async with hostile.http_status_server(503) as url:
        result = await probe_once(TargetConfig(name="t", url=url, timeout=1))

Raw servers (``asyncio.start_server``) speak just enough HTTP/WebSocket by hand to
misbehave in ways a correct library would refuse to: garbage frames, invalid UTF-8,
ignored pings, a drop in the middle of the handshake.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NamedTuple

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

__all__ = [
    "TlsServer", "close_after_accept_server", "drop_mid_handshake_server", "echo_server",
    "flaky_server", "garbage_frames_server", "http_status_server", "invalid_utf8_server",
    "make_self_signed_cert", "no_pong_server", "refused_url", "silent_tcp_server",
    "slow_handshake_server", "slow_reply_server", "tls_echo_server", "waiting_server",
]

HOST = "127.0.0.1"
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _port(server: asyncio.AbstractServer | object) -> int:
    return server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]


# ---------------------------------------------------------------- websockets-based servers

@asynccontextmanager
async def _ws_server(handler: Callable[[ServerConnection], Awaitable[None]], *,
                     ssl_context: ssl.SSLContext | None = None,
                     process_request: Callable[..., Awaitable[None]] | None = None) -> AsyncIterator[str]:
    tasks: set[asyncio.Task[None]] = set()

    async def guarded(ws: ServerConnection) -> None:
        task = asyncio.current_task()
        tasks.add(task)  # type: ignore[arg-type]
        try:
            with contextlib.suppress(ConnectionClosed):
                await handler(ws)
        finally:
            tasks.discard(task)  # type: ignore[arg-type]

    async with serve(guarded, HOST, 0, ssl=ssl_context, compression=None, close_timeout=0.5,
                     process_request=process_request) as server:
        scheme = "wss" if ssl_context is not None else "ws"
        try:
            yield f"{scheme}://{HOST}:{_port(server)}/"
        finally:
            # Handlers asleep (slow replies) would hold up the server's shutdown.
            for task in list(tasks):
                task.cancel()
            if tasks:
                await asyncio.wait(list(tasks), timeout=2)


@asynccontextmanager
async def echo_server(*, delay: float = 0.0, heartbeat: float | None = None,
                      heartbeat_text: str = '{"type":"heartbeat"}',
                      ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Echoes every message (after ``delay`` s); with ``heartbeat`` also pushes ``heartbeat_text``."""

    async def handler(ws: ServerConnection) -> None:
        beat: asyncio.Task[None] | None = None
        if heartbeat is not None:
            async def beats() -> None:
                while True:
                    await ws.send(heartbeat_text)
                    await asyncio.sleep(heartbeat)
            beat = asyncio.create_task(beats())
        try:
            async for message in ws:
                if delay:
                    await asyncio.sleep(delay)
                await ws.send(message)
        finally:
            if beat is not None:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await beat

    async with _ws_server(handler, ssl_context=ssl_context) as url:
        yield url


def slow_reply_server(delay: float) -> contextlib.AbstractAsyncContextManager[str]:
    """An echo server that answers each message only after ``delay`` seconds."""
    return echo_server(delay=delay)


@asynccontextmanager
async def slow_handshake_server(delay: float) -> AsyncIterator[str]:
    """An echo server that answers the upgrade request (101) only after ``delay`` seconds: a
    handshake of a known length."""

    async def wait(connection: ServerConnection, request: object) -> None:
        await asyncio.sleep(delay)

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with _ws_server(handler, process_request=wait) as url:
        yield url


@asynccontextmanager
async def waiting_server() -> AsyncIterator[str]:
    """Accepts the upgrade, then waits for the client to speak first; never sends anything."""

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with _ws_server(handler) as url:
        yield url


@asynccontextmanager
async def close_after_accept_server(code: int, reason: str = "", *, after_message: bool = False,
                                    delay: float = 0.0) -> AsyncIterator[str]:
    """Closes with ``code``/``reason`` right after the upgrade (or after the first message)."""

    async def handler(ws: ServerConnection) -> None:
        if after_message:
            await ws.recv()
        if delay:
            await asyncio.sleep(delay)
        await ws.close(code, reason)

    async with _ws_server(handler) as url:
        yield url


@asynccontextmanager
async def flaky_server(*, failures: int = 1, code: int | None = 1012, reason: str = "service restart",
                       interval: float = 0.05) -> AsyncIterator[str]:
    """Pushes a message every ``interval`` s; the first ``failures`` connections end after one
    message: closed with ``code`` (a clean close frame), or with ``code=None`` a TCP drop
    without any close frame. Later connections stream until the client leaves."""
    seen = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal seen
        seen += 1
        await ws.send("hello")
        if seen <= failures:
            await asyncio.sleep(interval)
            if code is None:
                ws.transport.abort()
            else:
                await ws.close(code, reason)
            return
        while True:
            await asyncio.sleep(interval)
            await ws.send("tick")

    async with _ws_server(handler) as url:
        yield url


# ---------------------------------------------------------------- raw TCP servers

@asynccontextmanager
async def _raw_server(handler: RawHandler) -> AsyncIterator[int]:
    """A TCP server whose connection handlers are all cancelled and closed on exit."""
    tasks: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)  # type: ignore[arg-type]
        writers.add(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a leaf task: swallowing its cancellation keeps asyncio's callback quiet
        finally:
            writers.discard(writer)
            tasks.discard(task)  # type: ignore[arg-type]
            writer.close()

    server = await asyncio.start_server(on_connection, HOST, 0)
    try:
        yield _port(server)
    finally:
        server.close()
        for writer in list(writers):
            writer.transport.abort()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(list(tasks), timeout=2)
        await asyncio.wait_for(server.wait_closed(), 2)


async def _read_request(reader: asyncio.StreamReader) -> dict[str, str]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return headers


async def _accept_upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the client's upgrade request and answers a correct 101."""
    headers = await _read_request(reader)
    key = headers.get("sec-websocket-key", "")
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
    await writer.drain()


async def _discard(reader: asyncio.StreamReader) -> None:
    """Reads and ignores everything until the peer goes away."""
    while await reader.read(65536):
        pass


@asynccontextmanager
async def refused_url() -> AsyncIterator[str]:
    """A ws:// URL on a port that was just bound and closed: connecting is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    sock.close()
    yield f"ws://{HOST}:{port}/"


@asynccontextmanager
async def silent_tcp_server() -> AsyncIterator[str]:
    """Accepts TCP connections and never answers (the handshake times out)."""
    async with _raw_server(lambda reader, _writer: _discard(reader)) as port:
        yield f"ws://{HOST}:{port}/"


@asynccontextmanager
async def http_status_server(status: int = 503, reason: str = "Service Unavailable",
                             body: bytes = b"upstream unavailable\n", *,
                             headers: str = "") -> AsyncIterator[str]:
    """Rejects the upgrade with a plain HTTP response (``headers``: extra CRLF-ended lines)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n{headers}"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        await writer.drain()

    async with _raw_server(handler) as port:
        yield f"ws://{HOST}:{port}/"


@asynccontextmanager
async def drop_mid_handshake_server(*, partial: bool = True) -> AsyncIterator[str]:
    """Reads the upgrade request, writes half a response line (``partial``), then drops TCP."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        if partial:
            writer.write(b"HTTP/1.1 101 Switch")
            await writer.drain()
        writer.transport.abort()

    async with _raw_server(handler) as port:
        yield f"ws://{HOST}:{port}/"


def _frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked, final server frame (payloads < 126 bytes)."""
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload


@asynccontextmanager
async def garbage_frames_server(junk: bytes = b"GARBAGE\r\n\x00\xff\xfe" * 4) -> AsyncIterator[str]:
    """A valid 101, then bytes that are no WebSocket frame (reserved bits set)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept_upgrade(reader, writer)
        writer.write(junk)
        await writer.drain()
        await _discard(reader)

    async with _raw_server(handler) as port:
        yield f"ws://{HOST}:{port}/"


@asynccontextmanager
async def invalid_utf8_server(*, after_message: bool = True) -> AsyncIterator[str]:
    """A valid 101, then a text frame whose payload is not UTF-8 (after the client's first
    message when ``after_message``, else at once)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept_upgrade(reader, writer)
        if after_message:
            await reader.read(2)  # the client's first frame header is enough
        writer.write(_frame(0x1, b"ok \xff\xfe\xc3\x28"))
        await writer.drain()
        await _discard(reader)

    async with _raw_server(handler) as port:
        yield f"ws://{HOST}:{port}/"


@asynccontextmanager
async def no_pong_server(*, greeting: str | None = None) -> AsyncIterator[str]:
    """A valid 101 (then one text frame ``greeting`` if given), then deaf: pings, messages
    and close frames are all ignored."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept_upgrade(reader, writer)
        if greeting is not None:
            writer.write(_frame(0x1, greeting.encode()))
            await writer.drain()
        await _discard(reader)

    async with _raw_server(handler) as port:
        yield f"ws://{HOST}:{port}/"


# ---------------------------------------------------------------- TLS

class CertPair(NamedTuple):
    cert: Path
    key: Path


class TlsServer(NamedTuple):
    url: str
    ca_file: str
    """The self-signed certificate, usable as the trust anchor (``ca_file``)."""


def make_self_signed_cert(directory: Path, *, cn: str = "localhost") -> CertPair:
    """A self-signed EC certificate for localhost / 127.0.0.1 / ::1 (openssl, no shell)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={cn}",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,digitalSignature,keyCertSign"],
        check=True, capture_output=True, timeout=30)
    return CertPair(cert, key)


@asynccontextmanager
async def tls_echo_server(directory: Path) -> AsyncIterator[TlsServer]:
    """A wss:// echo server with a freshly made self-signed certificate in ``directory``."""
    pair = make_self_signed_cert(directory)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pair.cert, pair.key)
    async with echo_server(ssl_context=ctx) as url:
        yield TlsServer(url, str(pair.cert))


class Counter:
    """Connections a server has accepted (a prober's traffic, counted at the target)."""

    def __init__(self) -> None:
        self.connections = 0
        self.times: list[float] = []

    def since(self, t0: float) -> int:
        return sum(1 for t in self.times if t >= t0)


@asynccontextmanager
async def counting_echo_server() -> AsyncIterator[tuple[str, Counter]]:
    """An echo server that counts every WebSocket connection it accepts."""
    import time

    counter = Counter()

    async def handler(ws: ServerConnection) -> None:
        counter.connections += 1
        counter.times.append(time.monotonic())
        async for message in ws:
            await ws.send(message)

    async with _ws_server(handler) as url:
        yield url, counter


@asynccontextmanager
async def drop_held_server(*, after: float = 1.0, drops: int = 1) -> AsyncIterator[str]:
    """An echo server that drops the first ``drops`` connections still open after ``after``
    seconds with no close frame (the TCP connection aborted): what an ``nginx -s reload`` does
    to a held WebSocket. Short probes finish long before; later connections are kept."""
    left = [drops]

    async def handler(ws: ServerConnection) -> None:
        async def echo() -> None:
            async for message in ws:
                await ws.send(message)

        task = asyncio.create_task(echo())
        try:
            done, _ = await asyncio.wait({task}, timeout=after)
            if not done and left[0] > 0:
                left[0] -= 1
                ws.transport.abort()
            await task
        finally:
            task.cancel()

    async with _ws_server(handler) as url:
        yield url
