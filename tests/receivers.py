"""Real receivers for notification tests and benchmarks, all on 127.0.0.1.

* ``recording_server()``: an HTTP server (``http.server`` in a thread) that records every
  request and answers 200, or fails on demand: ``fail_next(n, status)``, ``fail_for(s)``,
  ``retry_after``; ``down()`` closes the listening socket (connection refused) and
  ``up()`` listens again on the same port.
* ``smtp_server()``: an aiosmtpd ``Controller`` recording every message (no TLS: channels
  under test set ``starttls = false``).
* ``running_alertmanager(tmp)``: the Debian package's Alertmanager, started on a free
  loopback port, polled until ``/-/ready``, always terminated.
* ``running_alertmanager_cluster(tmp, binary, webhook_url)``: two (or ``size``) of them
  clustered over gossip on 127.0.0.1, each notifying ``webhook_url``: Alertmanager's HA.

Each is a context manager; leaving it stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from tests.prom_server import free_port

HOST = "127.0.0.1"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RecordingServer:
    """Requests received (answered 2xx or not) and the switches that make it fail."""

    port: int = 0
    requests: list[Request] = field(default_factory=list)
    failed: list[Request] = field(default_factory=list)
    status: int = 200
    retry_after: int | None = None
    fail_body: bytes = b'{"error": "receiver failing on purpose"}'
    keep: bool = True
    """False: only count successful requests (benchmarks: memory stays flat)."""
    delay: float = 0.0
    """Seconds to wait after reading a request (it is recorded) before answering: a slow receiver."""
    count: int = 0
    _fail_count: int = 0
    _fail_status: int = 500
    _fail_until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _conns: set[socket.socket] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._fail_count, self._fail_status = count, status

    def fail_for(self, seconds: float, status: int = 500) -> None:
        with self._lock:
            self._fail_until, self._fail_status = time.monotonic() + seconds, status

    def _answer(self, request: Request) -> tuple[int, bytes]:
        with self._lock:
            failing = self._fail_count > 0 or time.monotonic() < self._fail_until
            if self._fail_count > 0:
                self._fail_count -= 1
            if failing:
                self.failed.append(request)
                return self._fail_status, self.fail_body
            self.count += 1
            if self.keep:
                self.requests.append(request)
            return self.status, b'{"status": "success"}'

    def up(self) -> None:
        """Listen (again, on the same port once it had one)."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like real receivers
            disable_nagle_algorithm = True  # headers and body are separate writes

            def setup(self) -> None:
                super().setup()
                with outer._lock:
                    outer._conns.add(self.connection)

            def finish(self) -> None:
                with outer._lock:
                    outer._conns.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                req = Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                status, reply = outer._answer(req)
                if outer.delay:
                    time.sleep(outer.delay)
                with contextlib.suppress(OSError):  # a client that timed out has gone
                    self.send_response(status)
                    if status >= 400 and outer.retry_after is not None:
                        self.send_header("Retry-After", str(outer.retry_after))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((HOST, self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop listening: clients now get connection refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:  # kept-alive connections too: clients now see the receiver gone
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Request]:
        """Wait (bounded) until at least ``count`` requests were answered successfully."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} requests, got {len(self.requests)} in {timeout}s")
            await asyncio.sleep(0.02)
        return list(self.requests)


@contextlib.contextmanager
def recording_server() -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.up()
    try:
        yield server
    finally:
        server.down()


class _SmtpHandler:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.delay = 0.0
        """Seconds between receiving a message (recorded) and answering 250: a slow server."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 OK"


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: _SmtpHandler

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def messages(self) -> list[Message]:
        return self.handler.messages


@contextlib.contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    handler = _SmtpHandler()
    controller = Controller(handler, hostname=HOST, port=free_port(), ready_timeout=5)
    controller.start()
    try:
        yield SmtpServer(HOST, controller.port, handler)
    finally:
        controller.stop()


# -- Alertmanager ------------------------------------------------------------------------------

AM_CONFIG = """\
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: blackhole
"""


def alertmanager_binary() -> str | None:
    """Debian installs it as ``prometheus-alertmanager``; upstream calls it ``alertmanager``."""
    return shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")


@dataclass(frozen=True)
class Alertmanager:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def alerts(self) -> list[dict[str, Any]]:
        params = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}
        response = httpx.get(self.url + "/api/v2/alerts", params=params, timeout=5)
        response.raise_for_status()
        return response.json()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def running_alertmanager(tmp: Path, binary: str, ready_timeout: float = 30.0) -> Iterator[Alertmanager]:
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = tmp / "am.yml"
    cfg.write_text(AM_CONFIG)
    last_error = ""
    for _attempt in range(3):  # the free port may be taken between probing and binding
        port = free_port()
        log = tmp / f"alertmanager-{port}.log"
        with log.open("wb") as log_file:
            proc = subprocess.Popen(
                [binary, f"--config.file={cfg}", f"--storage.path={tmp}",
                 f"--web.listen-address={HOST}:{port}", "--cluster.listen-address="],
                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            url = f"http://{HOST}:{port}"
            deadline = time.monotonic() + ready_timeout
            ready = False
            while not ready and time.monotonic() < deadline and proc.poll() is None:
                with contextlib.suppress(httpx.HTTPError):
                    ready = httpx.get(url + "/-/ready", timeout=1.0).status_code == 200
                if not ready:
                    time.sleep(0.1)
            if ready:
                yield Alertmanager(url, proc, log)
                return
            last_error = log.read_text(errors="replace")[-2000:]
        finally:
            _stop(proc)
    raise RuntimeError(f"alertmanager did not become ready:\n{last_error}")


CLUSTER_AM_CONFIG = """\
route:
  receiver: pager
  group_by: [alertname, deployment, site, target]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: pager
    webhook_configs:
      - url: {url}
        send_resolved: true
"""

PEER_TIMEOUT = 2.0
"""``--cluster.peer-timeout``: how long the second peer waits for the first one's notification
log before it notifies itself (Alertmanager's default is 15 s)."""


def _cluster_ready(url: str, size: int) -> bool:
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
        if httpx.get(url + "/-/ready", timeout=1.0).status_code != 200:
            return False
        cluster = httpx.get(url + "/api/v2/status", timeout=1.0).json()["cluster"]
        return cluster["status"] == "ready" and len(cluster["peers"]) == size
    return False


@contextlib.contextmanager
def running_alertmanager_cluster(tmp: Path, binary: str, webhook_url: str, size: int = 2,
                                 ready_timeout: float = 30.0) -> Iterator[list[Alertmanager]]:
    """``size`` Alertmanagers gossiping on 127.0.0.1, each with its own storage and web port,
    each routing every alert to ``webhook_url`` (group_wait 1 s, group_interval 2 s). Yields
    once every peer is ready and sees all of them; terminates them all whatever happens."""
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = tmp / "am.yml"
    cfg.write_text(CLUSTER_AM_CONFIG.format(url=webhook_url))
    web = [free_port() for _ in range(size)]
    gossip = [free_port() for _ in range(size)]
    procs: list[subprocess.Popen[bytes]] = []
    peers: list[Alertmanager] = []
    try:
        for i in range(size):
            store = tmp / f"peer-{i}"
            store.mkdir(exist_ok=True)
            log = tmp / f"alertmanager-{i}.log"
            argv = [binary, f"--config.file={cfg}", f"--storage.path={store}",
                    f"--web.listen-address={HOST}:{web[i]}",
                    f"--cluster.listen-address={HOST}:{gossip[i]}",
                    f"--cluster.advertise-address={HOST}:{gossip[i]}",
                    "--cluster.gossip-interval=50ms", "--cluster.pushpull-interval=1s",
                    "--cluster.probe-interval=200ms", "--cluster.reconnect-interval=1s",
                    "--cluster.settle-timeout=5s", f"--cluster.peer-timeout={PEER_TIMEOUT:g}s"]
            argv += [f"--cluster.peer={HOST}:{gossip[j]}" for j in range(size) if j != i]
            with log.open("wb") as log_file:
                proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
            procs.append(proc)
            peers.append(Alertmanager(f"http://{HOST}:{web[i]}", proc, log))
        deadline = time.monotonic() + ready_timeout
        waiting = list(peers)
        while waiting and time.monotonic() < deadline and all(p.process.poll() is None for p in peers):
            waiting = [p for p in waiting if not _cluster_ready(p.url, size)]
            if waiting:
                time.sleep(0.1)
        if waiting:
            logs = "\n".join(p.log.read_text(errors="replace")[-1500:] for p in waiting)
            raise RuntimeError(f"the Alertmanager cluster did not form:\n{logs}")
        yield peers
    finally:
        for proc in procs:
            _stop(proc)


# -- notifications to send ---------------------------------------------------------------------


class FakeClock:
    """A controllable clock for outbox tests (``clock.advance(61)``)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_notification(fingerprint: str = "fp-1", seq: int = 1, kind: str = "firing", *,
                      rule: str = "TargetDown", target: str = "chat-ws", severity: str = "critical",
                      summary: str = "chat-ws refuses connections", created_at: float = 1_800_000_000.0,
                      deployment: str = "chat", channels: tuple[str, ...] = (), escalation: bool = False,
                      acknowledged_by: str | None = None, labels: dict[str, str] | None = None) -> Any:
    from types import MappingProxyType

    from wsmon_tui.alerts.notification import Notification
    from wsmon_tui.model import AlertView

    resolved = kind == "resolved"
    alert = AlertView(id=fingerprint, rule=rule, target=target, severity=severity,
                      state="resolved" if resolved else "firing", value=1.0, threshold=0.5, summary=summary,
                      description=f"{rule} on {target}", runbook="https://runbooks.example/target-down",
                      started_at=created_at - 30, firing_at=created_at - 10,
                      resolved_at=created_at if resolved else None, acknowledged_by=acknowledged_by,
                      labels=MappingProxyType(dict(labels or {"team": "realtime"})))
    return Notification(fingerprint=fingerprint, seq=seq, kind=kind, alert=alert,  # type: ignore[arg-type]
                        created_at=created_at, deployment=deployment, channels=channels,
                        escalation=escalation)
