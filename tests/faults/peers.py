"""More hostile peers for the fault suite, on top of ``tests/hostile.py``.

Every server listens on loopback with an ephemeral port and is an async context manager
yielding its URL; leaving the block stops the listener and every connection handler.
Large bodies are *streamed* in small chunks as the client reads them: no server here
ever holds a big payload in memory, so memory measured around a probe is the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests import hostile
from tests.hostile import HOST, _accept_upgrade, _discard, _raw_server, _ws_server

CHUNK = 64 * 1024
_ZEROS = b"\0" * CHUNK


def frame_header(opcode: int, length: int) -> bytes:
    """An unmasked, final server frame header for a payload of ``length`` bytes."""
    if length < 126:
        return bytes([0x80 | opcode, length])
    if length < 1 << 16:
        return bytes([0x80 | opcode, 126]) + struct.pack("!H", length)
    return bytes([0x80 | opcode, 127]) + struct.pack("!Q", length)


async def _stream(writer: asyncio.StreamWriter, total: int, chunk: bytes = _ZEROS) -> None:
    """Write ``total`` bytes lazily, waiting for the peer to read (drain) between chunks."""
    sent = 0
    while sent < total:
        piece = chunk[: min(len(chunk), total - sent)]
        writer.write(piece)
        await writer.drain()
        sent += len(piece)


@asynccontextmanager
async def huge_message_server(size: int = 100 * 1024 * 1024) -> AsyncIterator[str]:
    """A valid 101, then one binary message of ``size`` bytes, streamed as the client reads."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept_upgrade(reader, writer)
        writer.write(frame_header(0x2, size))
        await _stream(writer, size)
        await _discard(reader)

    async with _raw_server(handler) as port:
        yield f"ws://{HOST}:{port}/"


@asynccontextmanager
async def drop_mid_message_server() -> AsyncIterator[str]:
    """A valid 101, then a frame announcing 100 bytes of which 10 arrive, then a TCP drop."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept_upgrade(reader, writer)
        writer.write(frame_header(0x1, 100) + b"0123456789")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()

    async with _raw_server(handler) as port:
        yield f"ws://{HOST}:{port}/"


@asynccontextmanager
async def flood_server(message: bytes = b'{"type":"tick"}') -> AsyncIterator[str]:
    """A valid 101, then text frames as fast as the client takes them, forever."""
    frame = hostile._frame(0x1, message)
    burst = frame * 256

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept_upgrade(reader, writer)
        drain = asyncio.ensure_future(_discard(reader))
        try:
            while not drain.done():
                writer.write(burst)
                await writer.drain()
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await drain

    async with _raw_server(handler) as port:
        yield f"ws://{HOST}:{port}/"


@asynccontextmanager
async def ping_storm_server(pings: int = 2000) -> AsyncIterator[str]:
    """Echoes every message while hammering the client with ``pings`` pings (no waiting for pongs)."""

    async def handler(ws: ServerConnection) -> None:
        async def storm() -> None:
            for i in range(pings):
                await ws.ping(str(i))
                if i % 50 == 0:
                    await asyncio.sleep(0)

        task = asyncio.create_task(storm())
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async with _ws_server(handler) as url:
        yield url


@asynccontextmanager
async def slow_loris_tls_server(interval: float = 0.1) -> AsyncIterator[str]:
    """Looks like TLS: a handshake record header announcing 16 KB, then one byte per ``interval``."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        drain = asyncio.ensure_future(_discard(reader))
        try:
            writer.write(b"\x16\x03\x03\x40\x00")
            await writer.drain()
            for _ in range(16 * 1024):
                if drain.done():
                    return
                await asyncio.sleep(interval)
                writer.write(b"\x02")
                await writer.drain()
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await drain

    async with _raw_server(handler) as port:
        yield f"wss://{HOST}:{port}/"


@asynccontextmanager
async def ipv6_echo_server() -> AsyncIterator[str]:
    """An echo server on [::1]."""
    from websockets.asyncio.server import serve

    async def echo(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                await ws.send(message)

    async with serve(echo, "::1", 0, compression=None, close_timeout=0.5) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://[::1]:{port}/"


# ---------------------------------------------------------------- TLS material

def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30, cwd=cwd)


def make_expired_cert(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, leaf.pem, leaf.key): a CA valid now and a localhost leaf it signed that
    expired in 2020 (``openssl ca -startdate/-enddate``: OpenSSL 3.0 has no ``-not_after``)."""
    d = directory
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
             "-subj", "/CN=wsmon fault-suite CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", "-new", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "index.txt").write_text("")
    (d / "serial").write_text("01\n")
    (d / "ca.cnf").write_text(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
        "default_md = sha256\npolicy = p\nx509_extensions = ext\n[p]\ncommonName = supplied\n"
        "[ext]\nsubjectAltName = DNS:localhost,IP:127.0.0.1\nbasicConstraints = CA:FALSE\n")
    _openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "leaf.csr",
             "-out", "leaf.pem", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-notext",
             cwd=d)
    return d / "ca.pem", d / "leaf.pem", d / "leaf.key"


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


# ---------------------------------------------------------------- hostile metrics endpoints

HttpHandler = Callable[[str, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_path(reader: asyncio.StreamReader) -> str:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    return parts[1] if len(parts) > 1 else "/"


def _respond(writer: asyncio.StreamWriter, status: str, body: bytes, *, extra: str = "",
             ctype: str = "text/plain; version=0.0.4") -> None:
    writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                 f"{extra}Connection: close\r\n\r\n".encode() + body)


GOOD_PAGE = (b"# TYPE ws_connections gauge\nws_connections{instance=\"a\"} 7\n"
             b"# TYPE ws_messages_total counter\nws_messages_total 100\n")


async def _metrics_handler(path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One hostile behaviour per path (see ``METRICS_PATHS``)."""
    if path == "/good":
        _respond(writer, "200 OK", GOOD_PAGE)
    elif path == "/malformed":
        _respond(writer, "200 OK", b'ws_connections{instance="a} 7\nws_messages_total one hundred\n')
    elif path == "/badvalue":
        _respond(writer, "200 OK", b"ws_connections 7 8 9 10\n")
    elif path == "/utf8":
        _respond(writer, "200 OK", b'ws_connections{instance="\xff\xfe"} 7\n')
    elif path == "/binary":
        _respond(writer, "200 OK", os.urandom(4096))
    elif path == "/500":
        _respond(writer, "500 Internal Server Error", b"boom\n")
    elif path.startswith("/loop"):
        n = int(path[5:] or "0")
        _respond(writer, "302 Found", b"", extra=f"Location: /loop{n + 1}\r\n")
    elif path == "/selfloop":
        _respond(writer, "301 Moved Permanently", b"", extra="Location: /selfloop\r\n")
    elif path == "/elsewhere":
        _respond(writer, "302 Found", b"", extra="Location: ftp://127.0.0.1/x\r\n")
    elif path == "/gigabyte-chunked":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n")
        chunk = f"{CHUNK:x}\r\n".encode() + b"#" * CHUNK + b"\r\n"
        for _ in range((1 << 30) // CHUNK):
            writer.write(chunk)
            await writer.drain()
        writer.write(b"0\r\n\r\n")
    elif path == "/gigabyte-length":
        size = 1 << 30
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n"
                     "Connection: close\r\n\r\n".encode())
        await _stream(writer, size, b"#" * CHUNK)
    elif path == "/gigabyte-unframed":
        # No length, no chunking: the body runs until the server closes (HTTP/1.0 style).
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        await _stream(writer, 1 << 30, b"#" * CHUNK)
    elif path == "/slow":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(100000):
            writer.write(b"#")
            await writer.drain()
            await asyncio.sleep(0.05)
    elif path == "/silent":
        await _discard(reader)
    elif path == "/half-headers":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Ty")
        await writer.drain()
        writer.transport.abort()
        return
    else:
        _respond(writer, "404 Not Found", b"")
    await writer.drain()


METRICS_PATHS = ("/good", "/malformed", "/badvalue", "/utf8", "/binary", "/500", "/loop0", "/selfloop",
                 "/elsewhere", "/gigabyte-chunked", "/gigabyte-length", "/gigabyte-unframed", "/slow",
                 "/silent", "/half-headers")


@asynccontextmanager
async def metrics_server() -> AsyncIterator[str]:
    """A hostile HTTP metrics server; yields its base URL (``http://127.0.0.1:P``)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        path = await _read_path(reader)
        await _metrics_handler(path, reader, writer)

    async with _raw_server(handler) as port:
        yield f"http://{HOST}:{port}"
