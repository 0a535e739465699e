"""Helpers for the rollback tests: a real recording HTTP server and snapshot builders."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from wsmon_tui.model import AlertView, DeploymentView, Snapshot


@dataclass
class Recorder:
    url: str
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    """path -> status to answer (default 200)."""
    bodies: dict[str, object] = field(default_factory=dict)
    """path -> JSON body to answer (default {"ok": true})."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self, method: str | None = None) -> list[str]:
        with self.lock:
            return [p for m, p, _ in self.requests if method is None or m == method]


@contextmanager
def recording_server() -> Iterator[Recorder]:
    """A threaded HTTP server on 127.0.0.1:0 that records every request; stopped on exit."""
    holder: dict[str, Recorder] = {}

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            rec = holder["rec"]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with rec.lock:
                rec.requests.append((self.command, self.path, body))
                status = rec.statuses.get(self.path, 200)
                payload = rec.bodies.get(self.path, {"ok": True})
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder["rec"] = Recorder(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield holder["rec"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def snap(at: float, *, status: str = "healthy", health: float | None = 95.0, tick: int = 1,
         alerts: tuple[AlertView, ...] = (), overall: dict | None = None) -> Snapshot:
    return Snapshot(taken_at=at, tick=tick, session_id="s1", deployment=DeploymentView("chat", "2.0", "1.9"),
                    level="debug", interval=1.0, status=status, health_score=health, alerts=alerts,
                    overall=overall or {})


def firing(rule: str, value: float) -> AlertView:
    return AlertView(id=rule, rule=rule, target="overall", severity="critical", state="firing", value=value)


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
