"""Just enough HTTP/1.1 for the demo: read one bounded request, write one response.

The demo serves plain HTTP routes (including PUT and POST) and WebSocket upgrades on one
port. ``websockets``' own server only parses GET, so the demo reads the request head
itself and hands ``/ws`` upgrades to the sans-I/O ``ServerProtocol`` (see ``wsconn``).
Every response closes the connection; there is no keep-alive to get wrong.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
READ_TIMEOUT = 5.0


class HttpError(Exception):
    """A request the demo answers with an error status and a JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Request:
    method: str
    target: str
    path: str
    query: str
    headers: dict[str, str] = field(default_factory=dict)
    """Lower-case names; repeated headers joined with ", "."""
    head: bytes = b""
    """The raw request head, handed to the WebSocket protocol on an upgrade."""
    body: bytes = b""

    def json(self) -> object:
        if not self.body.strip():
            raise HttpError(400, "expected a JSON body")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, f"invalid JSON: {exc}") from None


async def read_request(reader: asyncio.StreamReader, timeout: float | None = None) -> Request | None:
    """Read one request; None when the peer closed or stalled (``READ_TIMEOUT``) mid-request.

    The reader must have been created with ``limit=MAX_HEAD`` so an oversized head
    raises instead of buffering without bound.
    """
    timeout = READ_TIMEOUT if timeout is None else timeout
    try:
        async with asyncio.timeout(timeout):
            head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    request = parse_head(head)
    if request.method in ("GET", "HEAD"):
        return request
    if "transfer-encoding" in request.headers:
        raise HttpError(411, "send a Content-Length, not a chunked body")
    raw_length = request.headers.get("content-length", "0").strip()
    if not raw_length.isdigit():
        raise HttpError(400, "invalid Content-Length")
    length = int(raw_length)
    if length > MAX_BODY:
        raise HttpError(413, f"body larger than {MAX_BODY} bytes")
    if length:
        try:
            async with asyncio.timeout(timeout):
                request.body = await reader.readexactly(length)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            return None
    return request


def parse_head(head: bytes) -> Request:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise HttpError(400, "undecodable request") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "malformed request line")
    method, target, _version = parts
    if not method.isalpha() or not method.isupper():
        raise HttpError(400, "malformed method")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, "malformed header line")
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    split = urlsplit(target)
    return Request(method=method, target=target, path=split.path or "/", query=split.query,
                   headers=headers, head=head)


def response(status: int, body: bytes | str, content_type: str = "text/plain; charset=utf-8",
             headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A complete response with ``Connection: close``."""
    data = body.encode() if isinstance(body, str) else body
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}",
             f"Content-Length: {len(data)}", "Connection: close", "Cache-Control: no-store"]
    lines.extend(f"{k}: {v}" for k, v in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


def json_response(status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    return response(status, json.dumps(payload, sort_keys=True) + "\n", "application/json", headers)


def error_response(exc: HttpError) -> bytes:
    return json_response(exc.status, {"error": exc.message})
