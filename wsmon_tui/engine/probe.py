"""One WebSocket probe: connect, optionally ping and send/expect, close; classify any failure.

``probe_once`` never raises and never outlives ``target.timeout``. Each failure lands
in exactly one ``ErrorClass``; strings that came from the server (close reasons,
replies) are truncated and stored raw -- escaping them is the faces' job.

Timings (milliseconds, from ``time.perf_counter``):

- ``connect_ms``: TCP connect, plus the TLS handshake for wss (name resolution
  excluded: the probe resolves the host itself first, so a resolver that hangs is
  reported as ``dns``, not ``timeout``).

A host name is resolved once and its address reused for ``RESOLVE_EVERY`` seconds
(the loop's resolver runs in a thread: a lookup per probe cost a thread hand-off and an
extra wake-up, ~20 % of a probe's CPU at 200 targets). A probe that fails before its
handshake completed forgets the address, so the next one looks the name up again: a
deploy that moves the endpoint is followed at once, not a minute later.
- ``handshake_ms``: start of the probe until the 101 Switching Protocols was read.
- ``ping_ms``: protocol ping to pong. ``rtt_ms``: ``send`` to the matching reply.

Probes connect directly (``proxy=None``): a monitor measures the endpoint, not an
HTTP proxy picked up from the environment. Compression is off: probes are tiny and
permessage-deflate would only cost CPU on both sides.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
import ssl
import time
import uuid
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from time import perf_counter
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    ProtocolError,
)
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import USER_AGENT, Request
from websockets.protocol import CONNECTING, OPEN
from websockets.typing import Origin, Subprotocol
from websockets.uri import WebSocketURI, parse_uri

from wsmon_tui.config import TargetConfig
from wsmon_tui.engine.tlsctx import ssl_context_for
from wsmon_tui.model import BENIGN_CLOSE_CODES, ErrorClass, ProbeResult

__all__ = ["is_benign_close", "make_matcher", "probe_once", "ssl_context_for",
           "truncate"]

MAX_DETAIL = 200
"""Untrusted text (replies, close reasons, exception text) is cut to this many characters."""

#: Close codes the *client* sends when the server broke the protocol (1002 protocol
#: error, 1007 invalid payload such as bad UTF-8, 1009 message too big).
_CLIENT_CLOSE_LABELS = {1002: "protocol error", 1007: "invalid UTF-8 or payload data",
                        1009: "message too big"}
_CLIENT_PROTOCOL_CLOSES = frozenset(_CLIENT_CLOSE_LABELS)
_ABNORMAL = 1006
_PROBE_MAX_SIZE = 1 << 20
_YIELD_EVERY = 64
"""Non-matching replies read back to back before the probe lets the loop run."""
_QUEUE_HIGH, _QUEUE_LOW = 64, 16
"""Received messages waiting for the probe: reading pauses above HIGH, resumes at LOW."""
RESOLVE_EVERY = 60.0
"""Seconds a host name's resolved address is reused (sooner after a failed connect)."""
_RESOLVED_MAX = 4096
_resolved: dict[tuple[str, int], tuple[float, str | None]] = {}
"""(host, port) -> (monotonic time it expires, the one address or None when several)."""


def is_benign_close(code: int | None) -> bool:
    """True for close codes that are normal during a rolling deploy (1000, 1001, 1012)."""
    return code in BENIGN_CLOSE_CODES


def truncate(text: str, limit: int = MAX_DETAIL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Wire(asyncio.Protocol):
    """asyncio glue around websockets' sans-I/O ``ClientProtocol``: what one probe needs.

    websockets' asyncio client (``connect``) wraps the same protocol in a general-purpose
    connection: a message assembler, flow control on writes, keepalive, a redirect loop
    and a future or task for each of them. A probe opens, exchanges one message and
    closes, and without that machinery a probe costs 15-20 % less CPU (``bench_probe``).
    The semantics are the client's: the same request, the same handshake checks and
    exceptions (``InvalidStatus``, ``InvalidMessage``, ``ConnectionClosed`` from
    ``close_exc``), the server is left to close TCP after the closing handshake and the
    connection is aborted when it has not within ``close_timeout``. Redirects are not
    followed: a 3xx answer to the upgrade is reported as what it is.

    Reading pauses while more than ``_QUEUE_HIGH`` messages wait, so a flooding server
    cannot grow the probe; an invalid UTF-8 text message fails the connection with 1007.
    """

    def __init__(self, proto: ClientProtocol, request: Request, close_timeout: float) -> None:
        self.proto = proto
        self.request = request
        self.close_timeout = close_timeout
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.connected_at = 0.0
        """perf_counter when TCP (and TLS, for wss) was up."""
        self.answered: asyncio.Future[None] = self.loop.create_future()
        """Done when the handshake response was read (accepted or not) or the connection lost."""
        self.lost = False
        self.messages: deque[str | bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._fragments: list[bytes] = []
        self._fragment_text = False
        self._ping: bytes | None = None
        self.pong_seen = False
        self._paused = False
        self._failed = False
        self._close_timer: asyncio.TimerHandle | None = None

    # -- asyncio callbacks ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connected_at = perf_counter()
        self.transport = transport  # type: ignore[assignment]
        self.proto.send_request(self.request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.proto.receive_data(data)
        self._events()

    def eof_received(self) -> bool:
        self.proto.receive_eof()
        self._events(eof=False)
        return False  # the transport closes; a WebSocket never writes after the peer's EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self.proto.receive_eof()  # idempotent: the protocol is CLOSED from here on
        self.proto.events_received()
        self.lost = True
        if self._close_timer is not None:
            self._close_timer.cancel()
        if not self.answered.done():
            self.answered.set_result(None)
        self._wake()

    # -- what the probe awaits --------------------------------------------------------------------

    async def opened(self) -> None:
        """Wait for the handshake; raise what websockets' client would when it failed."""
        await self.answered
        if self.proto.handshake_exc is not None:  # also set when lost before an answer
            raise self.proto.handshake_exc

    async def send_text(self, text: str) -> None:
        await self._require_open()
        self.proto.send_text(text.encode())
        self._flush()

    async def ping(self) -> None:
        """Send a ping and wait for its pong."""
        await self._require_open()
        self._ping = os.urandom(4)
        self.pong_seen = False
        self.proto.send_ping(self._ping)
        self._flush()
        while not self.pong_seen:
            if self.lost:
                raise self.proto.close_exc
            await self._wait()

    async def recv(self) -> str | bytes:
        """The next message; ``ConnectionClosed`` once none is left and the connection is gone."""
        while not self.messages:
            if self.lost:
                raise self.proto.close_exc
            await self._wait()
        message = self.messages.popleft()
        if self._paused and len(self.messages) <= _QUEUE_LOW and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return message

    async def close(self) -> None:
        """The closing handshake; returns once TCP is closed (at most ``close_timeout`` on)."""
        if self.proto.state is OPEN:
            self.proto.send_close(1000)
            self._flush()
            self._expect_close()
        await self._until_lost()

    def abort(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    # -- internals --------------------------------------------------------------------------------

    async def _require_open(self) -> None:
        if self.proto.state is not OPEN:
            await self._until_lost()
            raise self.proto.close_exc

    async def _until_lost(self) -> None:
        """Wait for TCP to close (the close timer bounds this once a close is under way)."""
        while not self.lost:
            await self._wait()

    async def _wait(self) -> None:
        self._waiter = self.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _events(self, *, eof: bool = True) -> None:
        proto = self.proto
        for event in proto.events_received():
            if isinstance(event, Frame):
                self._frame(event)
        self._flush(eof=eof)
        if not self.answered.done() and (proto.state is not CONNECTING or proto.handshake_exc is not None):
            self.answered.set_result(None)
        self._expect_close()
        if len(self.messages) > _QUEUE_HIGH and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def _expect_close(self) -> None:
        if self._close_timer is None and not self.lost and self.proto.close_expected():
            # The server closes TCP after the closing handshake; a client waits only so long.
            self._close_timer = self.loop.call_later(self.close_timeout, self.abort)

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        # websockets types Frame.data as bytes-like (frames built to send); a parsed frame carries bytes
        data = cast(bytes, frame.data)
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._message(data, opcode is Opcode.TEXT)
            else:
                self._fragments = [data]
                self._fragment_text = opcode is Opcode.TEXT
        elif opcode is Opcode.CONT:
            self._fragments.append(data)
            if frame.fin:
                data, self._fragments = b"".join(self._fragments), []
                self._message(data, self._fragment_text)
        elif opcode is Opcode.PONG and self._ping is not None and frame.data == self._ping:
            self.pong_seen = True
            self._wake()

    def _message(self, data: bytes, text: bool) -> None:
        if self._failed:
            return
        if text:
            try:
                self.messages.append(data.decode())
            except UnicodeDecodeError as exc:
                self._failed = True  # nothing after the bad message is delivered
                if self.proto.state is OPEN:
                    self.proto.fail(1007, f"{exc.reason} at position {exc.start}")
                return
        else:
            self.messages.append(data)
        self._wake()

    def _flush(self, *, eof: bool = True) -> None:
        """Write what the protocol has to send. ``eof=False`` after the peer's EOF: the
        transport is about to close, and a half-close then is one useless system call."""
        transport = self.transport
        for data in self.proto.data_to_send():
            if transport is None or transport.is_closing():
                continue
            if data:
                transport.write(data)
            elif eof and transport.can_write_eof():  # TLS cannot half-close; the close frame said it
                transport.write_eof()


def make_matcher(expect: str | None, nonce: str) -> Callable[[str], bool]:
    """A predicate for replies: substring, or ``re:<regex>`` (searched); ``{nonce}`` is filled."""
    if expect is None:
        return lambda _text: True
    if expect.startswith("re:"):
        pattern = re.compile(expect[3:].replace("{nonce}", re.escape(nonce)))
        return lambda text: pattern.search(text) is not None
    needle = expect.replace("{nonce}", nonce)
    return lambda text: needle in text


def _as_text(message: str | bytes) -> str:
    if isinstance(message, str):
        return message
    return message.decode("utf-8", "replace")


class _Probe:
    """The mutable bookkeeping of one probe; turned into a frozen ProbeResult at the end."""

    __slots__ = ("close_code", "close_reason", "connect_ms", "handshake_ms", "last_reply", "name",
                 "pending", "phase", "ping_ms", "rtt_ms", "t0", "t_resolved")

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.phase = "dns"
        self.t_resolved = t0
        self.connect_ms: float | None = None
        self.handshake_ms: float | None = None
        self.ping_ms: float | None = None
        self.rtt_ms: float | None = None
        self.last_reply: str | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.pending: tuple[str, str] | None = None
        self.name: tuple[str, int] | None = None
        """(host, port) when the host is a name (its address is cached in ``_resolved``)."""


async def probe_once(target: TargetConfig, *, ssl_context: ssl.SSLContext | None = None,
                     nonce: str | None = None, on_open: Callable[[], None] | None = None) -> ProbeResult:
    """Probe ``target`` once. Never raises (except CancelledError); bounded by ``target.timeout``.

    ``on_open`` is called when the handshake has completed (the Monitor starts the next
    probe of the same endpoint then, so handshakes to one server never overlap).
    """
    started_at = time.time()
    t0 = perf_counter()
    state = _Probe(t0)
    timeout = max(float(target.timeout), 0.001)
    deadline = asyncio.get_running_loop().time() + timeout

    def result(ok: bool, error_class: str | None = None, detail: str = "", *,
               http_status: int | None = None) -> ProbeResult:
        if not ok and state.name is not None and state.handshake_ms is None:
            _resolved.pop(state.name, None)  # look the name up again: the endpoint may have moved
        return ProbeResult(
            target=target.name, started_at=started_at, ok=ok, error_class=error_class,
            detail=truncate(detail), connect_ms=state.connect_ms, handshake_ms=state.handshake_ms,
            rtt_ms=state.rtt_ms, ping_ms=state.ping_ms, duration_ms=(perf_counter() - t0) * 1000.0,
            close_code=state.close_code, close_reason=truncate(state.close_reason),
            http_status=http_status)

    ws: _Wire | None = None
    try:
        async with asyncio.timeout_at(deadline):
            ws = await _connect(target, ssl_context, timeout, state)
            await ws.opened()
            state.handshake_ms = (perf_counter() - t0) * 1000.0
            if ws.connected_at:
                state.connect_ms = (ws.connected_at - state.t_resolved) * 1000.0
            if on_open is not None:
                on_open()
            failure = await _exercise(ws, target, state, nonce, deadline, timeout)
            if failure is not None:
                return result(False, *failure)
            state.phase = "close"
            await ws.close()
            failure = _judge_close(ws, state)
            if failure is not None:
                return result(False, *failure)
            return result(True)
    except TimeoutError:
        if state.pending is not None:
            return result(False, *state.pending)
        if state.phase == "reply" and state.last_reply is not None:
            # Both deadlines expired in one loop turn: the inner handler never ran.
            return result(False, ErrorClass.UNEXPECTED_REPLY, f"no matching reply; last: {state.last_reply}")
        if state.phase == "dns":
            return result(False, ErrorClass.DNS, f"name resolution did not finish within {timeout:g}s")
        return result(False, ErrorClass.TIMEOUT, _timeout_detail(state.phase, timeout))
    except InvalidStatus as exc:
        status = exc.response.status_code
        location = exc.response.headers.get("Location") if 300 <= status < 400 else None
        where = f" (redirect to {location}; probes do not follow redirects)" if location else ""
        return result(False, ErrorClass.HTTP_STATUS, f"upgrade rejected: HTTP {status}{where}",
                      http_status=status)
    except ConnectionClosed as exc:
        return result(False, *_classify_closed(exc, ws, state))
    except ssl.SSLError as exc:  # includes SSLCertVerificationError
        return result(False, ErrorClass.TLS, f"{type(exc).__name__}: {exc}")
    except socket.gaierror as exc:
        return result(False, ErrorClass.DNS, f"cannot resolve host: {exc}")
    except ConnectionRefusedError as exc:
        return result(False, ErrorClass.REFUSED, str(exc) or "connection refused")
    except InvalidMessage as exc:
        cause = exc.__cause__
        why = f" ({type(cause).__name__}: {cause})" if cause else ""
        return result(False, ErrorClass.PROTOCOL, f"{exc}{why}")
    except (InvalidHandshake, ProtocolError, InvalidURI) as exc:
        return result(False, ErrorClass.PROTOCOL, f"{type(exc).__name__}: {exc}")
    except OSError as exc:
        return result(False, *_classify_oserror(exc, state))
    except Exception as exc:  # no exception may escape a probe
        return result(False, ErrorClass.PROTOCOL, f"{type(exc).__name__}: {exc}")
    finally:
        if ws is not None:
            # Only does anything after a failure: the clean close happens inside the deadline.
            ws.abort()


@lru_cache(maxsize=1024)
def _endpoint(url: str) -> tuple[WebSocketURI, bool]:
    """The parsed ws:// or wss:// URL and whether its host needs resolving; raises InvalidURI."""
    uri = parse_uri(url)
    try:
        ipaddress.ip_address(uri.host)
        literal = True
    except ValueError:
        literal = False
    return uri, not literal


async def _resolve(host: str, port: int) -> str | None:
    """The one address ``host`` resolves to; None when it has several (asyncio then tries
    them all, as any client would). Raises socket.gaierror.

    Answers are reused for ``RESOLVE_EVERY`` seconds (``probe_once`` forgets one when a
    probe fails before its handshake); a failed lookup is not remembered.
    """
    key = (host, port)
    now = time.monotonic()
    cached = _resolved.get(key)
    if cached is not None and now < cached[0]:
        return cached[1]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = {str(info[4][0]) for info in infos}
    address = addresses.pop() if len(addresses) == 1 else None
    if len(_resolved) >= _RESOLVED_MAX:
        _resolved.clear()
    _resolved[key] = (now + RESOLVE_EVERY, address)
    return address


async def _connect(target: TargetConfig, ssl_context: ssl.SSLContext | None, timeout: float,
                   state: _Probe) -> _Wire:
    """Resolve, connect (TCP, and TLS for wss) and send the upgrade request."""
    uri, by_name = _endpoint(target.url)
    host = uri.host
    if by_name:
        state.name = (uri.host, uri.port)
        address = await _resolve(uri.host, uri.port)
        if address is not None:
            host = address  # SNI and Host: still the name
    state.t_resolved = perf_counter()
    state.phase = "connect"
    proto = ClientProtocol(uri, origin=Origin(target.origin) if target.origin else None,
                           subprotocols=[Subprotocol(p) for p in target.subprotocols] or None,
                           max_size=_PROBE_MAX_SIZE)
    request = proto.connect()
    if target.headers:
        request.headers.update(target.headers)
    request.headers.setdefault("User-Agent", USER_AGENT)
    kwargs: dict[str, Any] = {}
    if uri.secure:
        kwargs["ssl"] = ssl_context if ssl_context is not None else ssl_context_for(target)
        kwargs["server_hostname"] = uri.host
    close_timeout = min(1.0, timeout / 4)
    loop = asyncio.get_running_loop()
    _transport, wire = await loop.create_connection(lambda: _Wire(proto, request, close_timeout),
                                                    host, uri.port, **kwargs)
    return wire


async def _exercise(ws: _Wire, target: TargetConfig, state: _Probe, nonce: str | None,
                    deadline: float, timeout: float) -> tuple[str, str] | None:
    """Ping and send/expect. Returns (class, detail) for an unexpected reply, else None."""
    if target.ping:
        state.phase = "ping"
        t_ping = perf_counter()
        await ws.ping()
        state.ping_ms = (perf_counter() - t_ping) * 1000.0
    if target.send is None:
        return None
    if nonce is None:
        nonce = uuid.uuid4().hex[:12]
    matches = make_matcher(target.expect, nonce)
    state.phase = "reply"
    t_send = perf_counter()
    await ws.send_text(target.send.replace("{nonce}", nonce))
    # Leave a sliver of the budget for a clean close when the reply never matches.
    reserve = min(0.25, timeout * 0.1)
    until = deadline - reserve
    loop = asyncio.get_running_loop()
    seen = 0
    try:
        async with asyncio.timeout_at(until):
            while True:
                text = _as_text(await ws.recv())
                if matches(text):
                    state.rtt_ms = (perf_counter() - t_send) * 1000.0
                    return None
                state.last_reply = text
                # Under a message flood recv() returns without ever suspending, so neither
                # this timeout nor other probes would get a turn: check the clock, and yield.
                if loop.time() >= until:
                    raise TimeoutError
                seen += 1
                if seen % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
    except TimeoutError:
        if state.last_reply is None:
            raise
    failure = (ErrorClass.UNEXPECTED_REPLY, f"no matching reply; last: {state.last_reply}")
    state.phase = "close"
    state.pending = failure  # stands even if the close overruns the deadline
    await ws.close()
    return failure


def _judge_close(ws: _Wire, state: _Probe) -> tuple[str, str] | None:
    """After our close: did the server close on its own, abnormally, or break the protocol?"""
    proto = ws.proto
    rcvd, sent = proto.close_rcvd, proto.close_sent
    if sent is not None and sent.code in _CLIENT_PROTOCOL_CLOSES and not proto.close_rcvd_then_sent:
        return ErrorClass.PROTOCOL, _protocol_detail(sent, ws)
    if rcvd is None:
        state.close_code, state.close_reason = _ABNORMAL, ""
        return ErrorClass.CLOSED, "connection dropped without a close frame"
    if proto.close_rcvd_then_sent or rcvd.code != 1000:
        # The server closed first (or answered our close with another code).
        state.close_code, state.close_reason = rcvd.code, rcvd.reason
        reason = f": {rcvd.reason}" if rcvd.reason else ""
        return ErrorClass.CLOSED, f"server closed with {rcvd.code}{reason}"
    state.close_code = rcvd.code
    return None


def _classify_closed(exc: ConnectionClosed, ws: _Wire | None, state: _Probe) -> tuple[str, str]:
    sent, rcvd = exc.sent, exc.rcvd
    if (isinstance(exc, ConnectionClosedError) and sent is not None
            and sent.code in _CLIENT_PROTOCOL_CLOSES and not exc.rcvd_then_sent):
        return ErrorClass.PROTOCOL, _protocol_detail(sent, ws)
    if rcvd is None:
        state.close_code, state.close_reason = _ABNORMAL, ""
        return ErrorClass.CLOSED, f"connection dropped without a close frame during {state.phase}"
    state.close_code, state.close_reason = rcvd.code, rcvd.reason
    reason = f": {rcvd.reason}" if rcvd.reason else ""
    return ErrorClass.CLOSED, f"server closed with {rcvd.code}{reason} during {state.phase}"


def _protocol_detail(sent: Close, ws: _Wire | None) -> str:
    """What the server got wrong: the frame parser's error, else our close frame's reason."""
    cause = ws.proto.parser_exc if ws is not None else None
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    what = _CLIENT_CLOSE_LABELS.get(sent.code, "protocol error")
    return f"{what}: {sent.reason}" if sent.reason else what


def _classify_oserror(exc: OSError, state: _Probe) -> tuple[str, str]:
    text = f"{type(exc).__name__}: {exc}"
    if "Connect call failed" in str(exc) or "refused" in str(exc).lower():
        # asyncio folds several per-address refusals into one plain OSError.
        return ErrorClass.REFUSED, text
    if state.phase in ("dns", "connect"):
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, EOFError)):
            return ErrorClass.PROTOCOL, f"connection lost during handshake: {text}"
        return ErrorClass.REFUSED, text
    state.close_code = _ABNORMAL
    return ErrorClass.CLOSED, text


def _timeout_detail(phase: str, timeout: float) -> str:
    what = {"connect": "no handshake response", "ping": "no pong", "reply": "no reply",
            "close": "no close handshake"}.get(phase, "no answer")
    return f"{what} within {timeout:g}s"
