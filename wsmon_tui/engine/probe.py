"""One WebSocket probe: connect, optionally ping and send/expect, close; classify any failure.

``probe_once`` never raises and never outlives ``target.timeout``. Each failure lands
in exactly one ``ErrorClass``; strings that came from the server (close reasons,
replies) are truncated and stored raw -- escaping them is the faces' job.

Timings (milliseconds, from ``time.perf_counter``):

- ``connect_ms``: TCP connect, plus the TLS handshake for wss (name resolution
  excluded: the probe resolves the host itself first, so a resolver that hangs is
  reported as ``dns``, not ``timeout``).
- ``handshake_ms``: start of the probe until the 101 Switching Protocols was read.
- ``ping_ms``: protocol ping to pong. ``rtt_ms``: ``send`` to the matching reply.

Probes connect directly (``proxy=None``): a monitor measures the endpoint, not an
HTTP proxy picked up from the environment. Compression is off: probes are tiny and
permessage-deflate would only cost CPU on both sides.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from functools import lru_cache
from time import perf_counter
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    ProtocolError,
)
from websockets.frames import Close
from websockets.uri import parse_uri

from wsmon_tui.config import TargetConfig
from wsmon_tui.engine.tlsctx import ssl_context_for
from wsmon_tui.model import BENIGN_CLOSE_CODES, ErrorClass, ProbeResult

__all__ = ["TimedConnection", "is_benign_close", "make_matcher", "probe_once", "ssl_context_for",
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


def is_benign_close(code: int | None) -> bool:
    """True for close codes that are normal during a rolling deploy (1000, 1001, 1012)."""
    return code in BENIGN_CLOSE_CODES


def truncate(text: str, limit: int = MAX_DETAIL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TimedConnection(ClientConnection):
    """A ClientConnection that notes when its transport came up (after TLS for wss)."""

    connected_at: float = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connected_at = perf_counter()
        super().connection_made(transport)  # type: ignore[arg-type]


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

    __slots__ = ("close_code", "close_reason", "connect_ms", "handshake_ms", "last_reply", "pending",
                 "phase", "ping_ms", "rtt_ms", "t0", "t_resolved")

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
        return ProbeResult(
            target=target.name, started_at=started_at, ok=ok, error_class=error_class,
            detail=truncate(detail), connect_ms=state.connect_ms, handshake_ms=state.handshake_ms,
            rtt_ms=state.rtt_ms, ping_ms=state.ping_ms, duration_ms=(perf_counter() - t0) * 1000.0,
            close_code=state.close_code, close_reason=truncate(state.close_reason),
            http_status=http_status)

    ws: TimedConnection | None = None
    try:
        async with asyncio.timeout_at(deadline):
            ws = await _open(target, ssl_context, timeout, state)
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
        return result(False, ErrorClass.HTTP_STATUS, f"upgrade rejected: HTTP {status}", http_status=status)
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
        if ws is not None and ws.transport is not None and not ws.transport.is_closing():
            # Only reached after a failure: the clean close happens inside the deadline.
            ws.transport.abort()


@lru_cache(maxsize=1024)
def _endpoint(url: str) -> tuple[str, int, bool]:
    """(host, port, needs resolving) of a ws:// or wss:// URL; raises InvalidURI."""
    uri = parse_uri(url)
    try:
        ipaddress.ip_address(uri.host)
        literal = True
    except ValueError:
        literal = False
    return uri.host, uri.port, not literal


async def _resolve(host: str, port: int) -> str | None:
    """The one address ``host`` resolves to; None when it has several (asyncio then tries
    them all, as any client would). Raises socket.gaierror."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = {info[4][0] for info in infos}
    return addresses.pop() if len(addresses) == 1 else None


async def _open(target: TargetConfig, ssl_context: ssl.SSLContext | None, timeout: float,
                state: _Probe) -> TimedConnection:
    kwargs: dict[str, Any] = {}
    host, port, by_name = _endpoint(target.url)
    if by_name:
        address = await _resolve(host, port)
        if address is not None:
            kwargs["host"], kwargs["port"] = address, port  # SNI and Host: still the name
    state.t_resolved = perf_counter()
    state.phase = "connect"
    if target.url[:4].lower() == "wss:":
        kwargs["ssl"] = ssl_context if ssl_context is not None else ssl_context_for(target)
    ws = await connect(
        target.url,
        additional_headers=target.headers or None,
        subprotocols=list(target.subprotocols) or None,  # type: ignore[arg-type]
        origin=target.origin or None,  # type: ignore[arg-type]
        compression=None,
        proxy=None,
        open_timeout=None,  # the probe's own deadline bounds everything
        ping_interval=None,
        close_timeout=min(1.0, timeout / 4),
        max_size=_PROBE_MAX_SIZE,
        create_connection=TimedConnection,
        **kwargs,
    )
    return ws  # type: ignore[return-value]


async def _exercise(ws: TimedConnection, target: TargetConfig, state: _Probe, nonce: str | None,
                    deadline: float, timeout: float) -> tuple[str, str] | None:
    """Ping and send/expect. Returns (class, detail) for an unexpected reply, else None."""
    if target.ping:
        state.phase = "ping"
        t_ping = perf_counter()
        pong = await ws.ping()
        await pong
        state.ping_ms = (perf_counter() - t_ping) * 1000.0
    if target.send is None:
        return None
    if nonce is None:
        nonce = uuid.uuid4().hex[:12]
    matches = make_matcher(target.expect, nonce)
    state.phase = "reply"
    t_send = perf_counter()
    await ws.send(target.send.replace("{nonce}", nonce))
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


def _judge_close(ws: ClientConnection, state: _Probe) -> tuple[str, str] | None:
    """After our close: did the server close on its own, abnormally, or break the protocol?"""
    proto = ws.protocol
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


def _classify_closed(exc: ConnectionClosed, ws: ClientConnection | None, state: _Probe) -> tuple[str, str]:
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


def _protocol_detail(sent: Close, ws: ClientConnection | None) -> str:
    """What the server got wrong: the frame parser's error, else our close frame's reason."""
    cause = ws.protocol.parser_exc if ws is not None else None
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
