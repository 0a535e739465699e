"""One real WebSocket connection on ``/ws``, driven through websockets' sans-I/O protocol.

The HTTP front end has already read the request head; it is fed to
``websockets.server.ServerProtocol``, which validates the upgrade and frames messages,
answers protocol pings and runs the closing handshake. This module moves bytes between
that protocol and the asyncio stream, and decides what the demo does: echo, ``pong``,
heartbeats, and (while the fault is on) rejected handshakes, 1011 closes and slow replies.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Literal, Protocol

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

MAX_MESSAGE = 64 * 1024
WRITE_TIMEOUT = 5.0
CLOSE_TIMEOUT = 2.0

Handshake = Literal["accept", "reject", "close"]


class Behaviour(Protocol):
    """What the server decides per connection; implemented by ``DemoServer``."""

    heartbeat_interval: float

    def handshake_decision(self) -> Handshake: ...

    def reply_delay(self) -> float: ...

    def connection_opened(self) -> int: ...

    def connection_closed(self, instance: int) -> None: ...

    def handshake_failed(self) -> None: ...

    def message_handled(self, instance: int, latency: float) -> None: ...


def reply_for(message: str) -> str:
    """Echo; a message containing "ping" gets "pong " followed by the message itself."""
    return f"pong {message}" if "ping" in message else message


class WsSession:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 behaviour: Behaviour) -> None:
        self.reader = reader
        self.writer = writer
        self.behaviour = behaviour
        self.protocol = ServerProtocol(max_size=MAX_MESSAGE)
        self.instance = 0
        self._fragments: list[bytes] = []
        self._fragment_opcode: Opcode | None = None
        self._heartbeat_seq = 0

    async def run(self, head: bytes) -> None:
        proto = self.protocol
        proto.receive_data(head)
        events = proto.events_received()
        if not events or not isinstance(events[0], Request):
            await self._flush()
            return
        decision = self.behaviour.handshake_decision()
        if decision == "reject":
            reply = proto.reject(503, "Service Unavailable: the demo fault is active\n")
        else:
            reply = proto.accept(events[0])
        proto.send_response(reply)
        await self._flush()
        if reply.status_code != 101:
            self.behaviour.handshake_failed()
            return
        if decision == "close":
            self.behaviour.handshake_failed()
            proto.send_close(1011, "internal error (demo fault)")
            await self._flush()
            await self._finish_closing()
            return
        self.instance = self.behaviour.connection_opened()
        heartbeat = asyncio.create_task(self._heartbeats(), name="demo-ws-heartbeat")
        try:
            await self._serve()
        finally:
            heartbeat.cancel()
            try:
                await heartbeat
            except asyncio.CancelledError:
                pass
            self.behaviour.connection_closed(self.instance)

    async def shutdown(self) -> None:
        """Server stopping: say "going away" (1001) if the connection is open."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(1001, "demo server stopping")
            try:
                await self._flush()
            except (ConnectionError, TimeoutError):
                pass

    async def _serve(self) -> None:
        proto = self.protocol
        while proto.state is not State.CLOSED:
            if proto.close_expected():
                await self._finish_closing()
                return
            try:
                data = await self.reader.read(65536)
            except ConnectionError:
                return
            if not data:
                proto.receive_eof()
                await self._flush()
                return
            proto.receive_data(data)
            for event in proto.events_received():
                if isinstance(event, Frame):
                    await self._frame(event)
            await self._flush()

    async def _frame(self, frame: Frame) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._fragment_opcode = frame.opcode
            self._fragments = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT and self._fragment_opcode is not None:
            self._fragments.append(bytes(frame.data))
        else:
            return  # ping, pong and close are answered by the protocol itself
        if not frame.fin:
            return
        opcode, data = self._fragment_opcode, b"".join(self._fragments)
        self._fragment_opcode, self._fragments = None, []
        started = time.monotonic()
        delay = self.behaviour.reply_delay()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.protocol.state is not State.OPEN:
            return
        if opcode is Opcode.TEXT:
            text = data.decode("utf-8", errors="replace")
            self.protocol.send_text(reply_for(text).encode())
        else:
            self.protocol.send_binary(data)
        await self._flush()
        self.behaviour.message_handled(self.instance, time.monotonic() - started)

    async def _heartbeats(self) -> None:
        interval = self.behaviour.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            if self.protocol.state is not State.OPEN:
                return
            self._heartbeat_seq += 1
            beat = {"type": "heartbeat", "seq": self._heartbeat_seq, "ts": round(time.time(), 3),
                    "instance": f"demo-{self.instance + 1}"}
            self.protocol.send_text(json.dumps(beat).encode())
            try:
                await self._flush()
            except (ConnectionError, TimeoutError):
                return

    async def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.writer.write(chunk)
            elif self.writer.can_write_eof() and not self.writer.is_closing():
                self.writer.write_eof()
        async with asyncio.timeout(WRITE_TIMEOUT):
            await self.writer.drain()

    async def _finish_closing(self) -> None:
        """After our close frame: wait (bounded) for the peer's close and its TCP close."""
        proto = self.protocol
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                while proto.state is not State.CLOSED:
                    data = await self.reader.read(65536)
                    if not data:
                        proto.receive_eof()
                        break
                    proto.receive_data(data)
                    proto.events_received()
                    await self._flush()
        except (TimeoutError, ConnectionError):
            pass
        try:
            await self._flush()
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
