"""The held connection of a ``hold = true`` target.

One long-lived WebSocket per target shows what short probes cannot: how often real
clients get disconnected (by close code), how long reconnection takes, and whether
the server's push stream stalls (the longest gap between server messages). It
reconnects with exponential backoff and jitter, so a fleet-wide restart does not
turn the monitor into a thundering herd. websockets' keepalive pings detect dead
peers that never send a close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import Counter, deque
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wsmon_tui.backoff import backoff_delay
from wsmon_tui.config import TargetConfig
from wsmon_tui.engine.probe import truncate
from wsmon_tui.engine.tlsctx import ssl_context_for
from wsmon_tui.model import HOLD_DROPS_KEPT, HoldView

__all__ = ["TCP_DROP", "HoldConnection"]

log = logging.getLogger(__name__)

TCP_DROP = "1006"
"""The disconnect key used when the connection ended without a close frame."""
HOLD_MAX_SIZE = 16 * 1024 * 1024
"""Largest server message a held connection accepts. Bigger ones close it with 1009: a server
(or a man in the middle) announcing a huge or endless frame must not grow the monitor."""
_OUR_PROTOCOL_CLOSES = {1002: "protocol error", 1007: "invalid UTF-8 or payload data",
                        1009: "message too big"}


class _HeldConnection(ClientConnection):
    """Enforces ``close_timeout`` after a close the peer never completes.

    websockets computes the close deadline when a close starts in ``data_received`` (we
    failed the connection on a protocol error, or answered the server's close) but only
    enforces it when the application sends or closes. A held connection only receives, so
    a server that broke the protocol and then kept TCP open would stay "connected".
    """

    _abort_at: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._abort_at is None and self.close_deadline is not None and self.transport is not None:
            self._abort_at = self.loop.call_at(self.close_deadline, self.transport.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._abort_at is not None:
            self._abort_at.cancel()
        super().connection_lost(exc)


class HoldConnection:
    """Keeps one connection to ``target`` open; ``view()`` reports what happened to it."""

    def __init__(self, target: TargetConfig, *, ssl_context: ssl.SSLContext | None = None,
                 backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 ping_interval: float | None = 20.0, ping_timeout: float | None = 20.0) -> None:
        self.target = target
        self._ssl = ssl_context if ssl_context is not None else ssl_context_for(target)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._connected_since: float | None = None
        self._ever_connected = False
        self._disconnects: Counter[str] = Counter()
        self._drops: deque[tuple[float, str]] = deque(maxlen=HOLD_DROPS_KEPT)
        self._reconnects = 0
        self._max_gap: float | None = None
        self._last_message: float | None = None
        """Monotonic time of the last server message on the current connection."""
        self._last_error = ""
        self._stopping = False

    # ------------------------------------------------------------------ public API

    def start(self) -> None:
        """Spawn the connection task on the running loop (no-op when already running)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"hold:{self.target.name}")

    async def stop(self) -> None:
        """Close the connection cleanly (1000) and end the task; idempotent."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        self._ws = None
        self._connected_since = None

    def view(self) -> HoldView:
        gap = self._max_gap
        if self._connected_since is not None and self._last_message is not None:
            current = time.monotonic() - self._last_message
            gap = current if gap is None else max(gap, current)
        return HoldView(
            connected=self._connected_since is not None,
            connected_since=self._connected_since,
            disconnects=dict(self._disconnects),
            reconnects=self._reconnects,
            max_gap_s=gap,
            last_error=self._last_error,
            drops=tuple(self._drops),
        )

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        attempt = 1  # retries since the last connection that opened
        while True:
            try:
                ws = await self._open()
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                self._last_error = f"upgrade rejected: HTTP {exc.response.status_code}"
            except Exception as exc:  # any connect failure: note it and retry
                self._last_error = truncate(f"{type(exc).__name__}: {exc}")
            else:
                attempt = 1
                await self._hold(ws)
            # Equal jitter: between half the current ceiling and all of it.
            delay = backoff_delay(attempt, self.backoff_initial, self.backoff_max)
            attempt += 1
            await asyncio.sleep(delay)

    async def _open(self) -> ClientConnection:
        kwargs: dict[str, Any] = {}
        if self.target.url[:4].lower() == "wss:":
            kwargs["ssl"] = self._ssl
        return await connect(
            self.target.url,
            additional_headers=self.target.headers or None,
            subprotocols=list(self.target.subprotocols) or None,  # type: ignore[arg-type]
            origin=self.target.origin or None,  # type: ignore[arg-type]
            proxy=None,
            open_timeout=self.target.timeout,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            close_timeout=min(2.0, self.target.timeout),
            max_size=HOLD_MAX_SIZE,
            create_connection=_HeldConnection,
            **kwargs,
        )

    async def _hold(self, ws: ClientConnection) -> None:
        self._ws = ws
        if self._ever_connected:
            self._reconnects += 1
        self._ever_connected = True
        self._connected_since = time.time()
        self._last_message = None
        try:
            async for _message in ws:
                now = time.monotonic()
                if self._last_message is not None:
                    gap = now - self._last_message
                    if self._max_gap is None or gap > self._max_gap:
                        self._max_gap = gap
                self._last_message = now
            self._disconnected(ws, None)  # clean close (1000/1001) by the server
        except ConnectionClosed as exc:
            self._disconnected(ws, exc)
        finally:
            self._fold_current_gap()
            self._connected_since = None
            self._ws = None

    def _fold_current_gap(self) -> None:
        if self._last_message is not None:
            gap = time.monotonic() - self._last_message
            if self._max_gap is None or gap > self._max_gap:
                self._max_gap = gap
        self._last_message = None

    def _disconnected(self, ws: ClientConnection, exc: ConnectionClosed | None) -> None:
        if self._stopping:
            return  # our own close on stop() is no disconnect
        rcvd = exc.rcvd if exc is not None else ws.protocol.close_rcvd
        sent = exc.sent if exc is not None else ws.protocol.close_sent
        if rcvd is None and sent is not None and sent.code in _OUR_PROTOCOL_CLOSES:
            # We closed because the server broke the protocol: count it by our code, not as a drop.
            key = str(sent.code)
            self._last_error = truncate(f"{_OUR_PROTOCOL_CLOSES[sent.code]}: {sent.reason}".rstrip(": "))
        elif rcvd is None:
            key = TCP_DROP
            if sent is not None and sent.code == 1011:
                self._last_error = "keepalive ping timeout: no pong from the server"
            else:
                self._last_error = "connection dropped without a close frame"
        else:
            key = str(rcvd.code)
            reason = f": {rcvd.reason}" if rcvd.reason else ""
            self._last_error = truncate(f"server closed with {rcvd.code}{reason}")
        self._disconnects[key] += 1
        self._drops.append((time.time(), key))
        log.debug("hold %s disconnected: %s", self.target.name, self._last_error)
