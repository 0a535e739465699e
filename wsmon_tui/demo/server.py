"""The demo deployment: one asyncio process, one port, everything a monitor needs to see.

Routes: ``/ws`` (WebSocket echo, ``pong``, heartbeats), ``GET /metrics`` (Prometheus text
from the simulated population), ``GET|PUT|POST /flags`` and ``/flags/{name}``,
``GET|POST /fault`` (for tests and manual play) and ``GET /healthz``.

The fault: ``fault_after`` seconds after ``start()``, while ``websocket_enabled`` is on,
40 % of WebSocket handshakes fail (half HTTP 503, half accepted then closed with 1011),
replies slow down by 300-800 ms, errors climb and the send queues grow. Turning
``websocket_enabled`` off clears it for good (the rollback worked); ``POST /fault``
with ``{"active": true}`` brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from wsmon_tui.demo import httpio
from wsmon_tui.demo.flags import DEFAULT_FLAG, FlagStore
from wsmon_tui.demo.httpio import HttpError
from wsmon_tui.demo.population import (
    FAULT_EXTRA_LATENCY,
    FAULT_HANDSHAKE_FAILURE,
    INSTANCES,
    Population,
    render_prometheus,
)
from wsmon_tui.demo.wsconn import Handshake, WsSession

log = logging.getLogger(__name__)

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class DemoServer:
    """The demo deployment, in-process. ``start()`` binds; ``stop()`` tears everything down.

    ``on_event`` is called with a one-line message when the fault starts or clears.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, fault_after: float | None = 60.0,
                 clients: int = 200, seed: int = 1, heartbeat_interval: float = 5.0,
                 tick: float = 0.5, on_event: Callable[[str], None] | None = None) -> None:
        self.host = host
        self.port = port
        self.fault_after = fault_after
        self.heartbeat_interval = heartbeat_interval
        self.tick = tick
        self.on_event = on_event
        self.flags = FlagStore()
        self.population = Population(clients, seed)
        for _ in range(60):  # 30 s of history, so the first scrape looks like a running service
            self.population.step(0.5, websocket_enabled=True, rollout=100.0, fault=False)
        self._handshake_rng = random.Random(seed + 1)
        self._latency_rng = random.Random(seed + 2)
        self._fault_state = "pending" if fault_after is not None else "off"
        """pending (armed, not yet started) | active | cleared | off"""
        self._fault_at: float | None = None
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._sessions: set[WsSession] = set()
        self._next_instance = 0
        self._stopped = False

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("DemoServer already started")
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  limit=httpio.MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        if self.fault_after is not None:
            self._fault_at = loop.time() + self.fault_after
        self._ticker = asyncio.create_task(self._run_ticks(), name="demo-population")
        self._update_fault(loop.time())

    async def stop(self) -> None:
        if self._stopped or self._server is None:
            self._stopped = True
            return
        self._stopped = True
        self._server.close()
        if self._ticker is not None:
            self._ticker.cancel()
        for session in list(self._sessions):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await session.shutdown()
        # Give clients a moment to finish the closing handshake, then close the transports:
        # that ends every handler's read; cancel only what still lingers.
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=0.5)
        for writer in list(self._handlers.values()):
            writer.transport.abort()
        handlers = list(self._handlers)
        if handlers:
            await asyncio.wait(handlers, timeout=1.0)
        tasks = [t for t in (self._ticker, *self._handlers) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self._server.wait_closed()

    async def __aenter__(self) -> DemoServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url_base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.url_base.replace("http://", "ws://", 1) + "/ws"

    @property
    def fault_active(self) -> bool:
        return self._fault_state == "active" and self.flags.websocket_enabled

    def set_fault(self, active: bool) -> None:
        """Start or clear the fault now (``POST /fault``)."""
        if active and self._fault_state != "active":
            self._fault_state = "active"
            self._emit("fault started: 40% of WebSocket handshakes fail, replies +300-800 ms")
        elif not active and self._fault_state in ("active", "pending"):
            self._fault_state = "cleared"
            self._emit("fault cleared")

    # -- the fault and the population ---------------------------------------------

    def _emit(self, message: str) -> None:
        if self.on_event is not None:
            try:
                self.on_event(message)
            except Exception:  # a broken printer must not take the server down
                log.exception("demo on_event callback failed")

    def _update_fault(self, now: float) -> None:
        if (self._fault_state == "pending" and self._fault_at is not None and now >= self._fault_at
                and self.flags.websocket_enabled):
            self.set_fault(True)

    def _after_flag_change(self) -> None:
        if self._fault_state == "active" and not self.flags.websocket_enabled:
            self._fault_state = "cleared"
            self._emit("fault cleared: websocket_enabled turned off (clients fall back to long-polling)")

    async def _run_ticks(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.tick)
            now = loop.time()
            self._update_fault(now)
            self.population.step(now - last, websocket_enabled=self.flags.websocket_enabled,
                                 rollout=self.flags.websocket_rollout, fault=self.fault_active)
            last = now

    # -- wsconn.Behaviour -------------------------------------------------------------

    def handshake_decision(self) -> Handshake:
        self._update_fault(asyncio.get_running_loop().time())
        if self.fault_active and self._handshake_rng.random() < FAULT_HANDSHAKE_FAILURE:
            return "reject" if self._handshake_rng.random() < 0.5 else "close"
        return "accept"

    def reply_delay(self) -> float:
        if self.fault_active:
            return self._latency_rng.uniform(*FAULT_EXTRA_LATENCY)
        return 0.0

    def connection_opened(self) -> int:
        instance = self._next_instance
        self._next_instance = (instance + 1) % len(INSTANCES)
        self.population.real_connections[instance] += 1
        return instance

    def connection_closed(self, instance: int) -> None:
        self.population.real_connections[instance] -= 1

    def handshake_failed(self) -> None:
        self.population.count_error(self._next_instance)

    def message_handled(self, instance: int, latency: float) -> None:
        self.population.count_message(instance, latency)

    # -- HTTP ----------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or self._stopped:
            writer.close()
            return
        self._handlers[task] = writer
        try:
            await self._serve_one(reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # stop() cancelled a straggler. This is the top-level task asyncio made for the
            # connection and nobody awaits it: ending normally keeps asyncio's callback from
            # logging the cancellation as an error.
            pass
        except Exception:
            log.exception("demo server: unexpected error serving a connection")
        finally:
            self._handlers.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await httpio.read_request(reader)
        except HttpError as exc:
            writer.write(httpio.error_response(exc))
            await _drain(writer)
            return
        if request is None:
            return
        if request.path == "/ws" and request.method == "GET":
            session = WsSession(reader, writer, self)
            self._sessions.add(session)
            try:
                await session.run(request.head)
            finally:
                self._sessions.discard(session)
            return
        try:
            payload = self._route(request)
        except HttpError as exc:
            payload = httpio.error_response(exc)
        writer.write(payload)
        await _drain(writer)

    def _route(self, request: httpio.Request) -> bytes:
        method, path = request.method, request.path.rstrip("/") or "/"
        if path == "/healthz":
            _allow(method, "GET")
            return httpio.response(200, "ok\n")
        if path == "/metrics":
            _allow(method, "GET")
            return httpio.response(200, render_prometheus(self.population), PROMETHEUS_TYPE)
        if path == "/flags":
            _allow(method, "GET", "PUT", "POST")
            if method != "GET":
                self.flags.update_many(request.json())
                self._after_flag_change()
            return httpio.json_response(200, self.flags.snapshot())
        if path.startswith("/flags/"):
            name = path.removeprefix("/flags/")
            _allow(method, "GET", "PUT", "POST")
            if method == "GET":
                state = self.flags.get(name)
                if state is None:
                    raise HttpError(404, "no such flag")
                return httpio.json_response(200, {name: state})
            self.flags.update_one(name, request.json())
            self._after_flag_change()
            return httpio.json_response(200, self.flags.snapshot())
        if path == "/fault":
            _allow(method, "GET", "POST", "PUT")
            if method != "GET":
                body = request.json()
                if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
                    raise HttpError(400, 'expected {"active": true|false}')
                self.set_fault(body["active"])
            return httpio.json_response(200, self._fault_view())
        if path == "/ws":
            raise HttpError(405, "/ws takes a GET WebSocket upgrade")
        raise HttpError(404, "not found")

    def _fault_view(self) -> dict[str, object]:
        starts_in = None
        if self._fault_state == "pending" and self._fault_at is not None:
            starts_in = max(0.0, round(self._fault_at - asyncio.get_running_loop().time(), 1))
        return {"active": self.fault_active, "state": self._fault_state, "starts_in": starts_in,
                DEFAULT_FLAG: self.flags.websocket_enabled}


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise HttpError(405, f"method not allowed (use {', '.join(allowed)})")


async def _drain(writer: asyncio.StreamWriter) -> None:
    async with asyncio.timeout(5.0):
        await writer.drain()
