"""``wsmon-tui serve`` lets no one else in: the token, the Host and Origin checks, read-only
browsers, URLs that work from another machine, and a tab that closes only its face.

Real processes throughout: the server is ``wsmon-tui serve --demo`` in its own session, the
browser a headless Chromium driven over the DevTools protocol (the helpers of
``tests/test_serve_browser.py``), the attacker a page served by another HTTP server on
another 127.0.0.1 port. "Nothing reached the app" is checked three ways: the server logged no
face, no ``wsmon_tui dashboard`` process lives in the server's session, and the state dir the
app would have written its session to is still empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import require_binary
from tests.prom_server import free_port
from tests.test_serve_browser import (
    CATCH_TERMINAL,
    CHROMIUM_FLAGS,
    READ_SCREEN,
    Cdp,
    _devtools_url,
    _session_members,
    _stop,
)
from wsmon_tui.errors import UsageError
from wsmon_tui.serve_guard import Served, Token, resolve_token, split_host

TOKEN = "s3cret-" + "k" * 24
BANNER = re.compile(r"wsmon-tui serve: open (http://\S+?)/\?token=(\S+)")


class Serve:
    """``wsmon-tui serve`` as a subprocess, its output in a file, its URL from the banner."""

    def __init__(self, tmp_path: Path, *flags: str, token: str | None = TOKEN, host: str = "127.0.0.1"):
        self.port = free_port()
        self.state = tmp_path / "state"
        self.log = tmp_path / f"serve-{self.port}.log"
        env = {**os.environ, "WSMON_DEMO_FAULT_AFTER": "600"}
        env.pop("WSMON_SERVE_TOKEN", None)
        if token is not None:
            env["WSMON_SERVE_TOKEN"] = token
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wsmon_tui", "serve", "--demo", "--host", host,
                 "--port", str(self.port), "--state-dir", str(self.state), *flags],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self.base = f"http://127.0.0.1:{self.port}"
        self.printed_base, self.printed_token = "", ""

    async def ready(self, timeout: float = 20) -> Serve:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (match := BANNER.search(self.text())):
            assert self.proc.poll() is None, f"serve exited with {self.proc.returncode}:\n{self.text()}"
            assert loop.time() < deadline, f"no banner in {timeout}s:\n{self.text()}"
            await asyncio.sleep(0.1)
        self.printed_base, self.printed_token = match.group(1), match.group(2)
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def faces(self) -> list[str]:
        return [m for m in _session_members(self.proc.pid) if "wsmon_tui dashboard" in m]

    def assert_nothing_reached_an_app(self) -> None:
        """No face was opened, and the engine ``serve`` runs recorded no command from anyone."""
        assert "face opened" not in self.text(), self.text()
        assert not self.faces()
        commands = ("acknowledged", "unacknowledged", "silenced", "rollback_started", "flag_set")
        for log in (self.state / "sessions").glob("*.jsonl"):
            events = [json.loads(line)["event"] for line in log.read_text().splitlines() if line.strip()]
            assert not [e for e in events if e in commands], (log, events)
        db = self.state / "wsmon.db"
        if db.exists():
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                for table in ("alert_acks", "rollback_actions"):
                    with contextlib.suppress(sqlite3.OperationalError):  # not created yet
                        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table

    def stop(self) -> int | None:
        return _stop(self.proc, signal.SIGTERM, timeout=30)


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, *flags: str, **kw: str | None) -> AsyncIterator[Serve]:
    serve = Serve(tmp_path, *flags, **kw)  # type: ignore[arg-type]
    try:
        yield await serve.ready()
    finally:
        _stop(serve.proc, signal.SIGKILL, timeout=10)


@contextlib.asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[Cdp]:
    binary = require_binary("chromium")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    browser = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        async with connect(await _devtools_url(profile, browser), max_size=64 * 2**20, open_timeout=10) as ws:
            cdp = Cdp(ws)
            await cdp.call("Page.enable")
            await cdp.call("Page.addScriptToEvaluateOnNewDocument", source=CATCH_TERMINAL)
            yield cdp
    finally:
        _stop(browser, timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


async def _screen_until(cdp: Cdp, words: tuple[str, ...], serve: Serve, timeout: float = 30) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    screen = ""
    while not all(w in screen for w in words):
        assert loop.time() < deadline, f"{words} not on screen:\n{screen}\nserve:\n{serve.text()[-3000:]}"
        await asyncio.sleep(0.25)
        screen = await cdp.evaluate(READ_SCREEN) or ""
    return screen


async def _press(cdp: Cdp, text: str) -> None:
    await cdp.evaluate("window.__wsmonTerminal.focus()")
    await cdp.call("Input.dispatchKeyEvent", type="keyDown", key=text, text=text, unmodifiedText=text)
    await cdp.call("Input.dispatchKeyEvent", type="keyUp", key=text)


async def _open_dashboard(cdp: Cdp, serve: Serve, url: str) -> str:
    await cdp.call("Page.navigate", url=url)
    return await _screen_until(cdp, ("demo-chat", "Summary", "HEALTHY"), serve)


# -- (a) + (e, read-only) + closing a tab --------------------------------------------------------

async def test_printed_url_opens_a_read_only_dashboard_and_closing_the_tab_ends_only_the_face(tmp_path):
    async with serving(tmp_path, token=None) as serve, chromium(tmp_path) as cdp:
        assert serve.printed_base == serve.base
        assert len(serve.printed_token) >= 40  # token_urlsafe(32)
        await _open_dashboard(cdp, serve, f"{serve.printed_base}/?token={serve.printed_token}")
        # The token left the address bar (a redirect), and the cookie it set is not readable by scripts.
        assert await cdp.evaluate("location.href") == f"{serve.base}/"
        assert await cdp.evaluate("document.cookie") == ""
        assert serve.text().count(serve.printed_token) == 1, "the token is printed once, never logged"
        [face] = serve.faces()
        assert "--read-only" in shlex.split(face)
        await _press(cdp, "R")
        screen = await _screen_until(cdp, ("session is read-only",), serve, timeout=10)  # the notice
        assert "Escape cancels" not in screen  # no rollback dialog

        # The tab is a face of the one engine serve runs, not a prober of its own.
        assert f"attached to pid {serve.proc.pid}" in screen, screen
        session = re.search(r"session (\d{8}-\d{6}-\w+) started", serve.text())
        assert session, serve.text()

        # Closing the tab ends the face only: the engine keeps its session, serve keeps serving.
        await cdp.call("Page.navigate", url="about:blank")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 25
        while serve.faces():
            assert loop.time() < deadline, f"the face outlived its tab:\n{serve.text()[-2000:]}"
            await asyncio.sleep(0.2)
        status = subprocess.run(
            [sys.executable, "-m", "wsmon_tui", "status", "--state-dir", str(serve.state)],
            capture_output=True, text=True, timeout=30)
        assert f"session {session.group(1)}" in status.stdout and "running" in status.stdout, status
        assert "crashed" not in status.stdout
        assert serve.proc.poll() is None, "the server keeps serving"
        assert serve.stop() == 0
        # serve stopping ends its engine's session, with how it ended
        status = subprocess.run(
            [sys.executable, "-m", "wsmon_tui", "status", "--state-dir", str(serve.state)],
            capture_output=True, text=True, timeout=30)
        assert "ended user" in status.stdout, status


# -- (e, allowed) ---------------------------------------------------------------------------------

async def test_allow_actions_lets_the_rollback_dialog_open(tmp_path):
    async with serving(tmp_path, "--allow-actions") as serve, chromium(tmp_path) as cdp:
        await _open_dashboard(cdp, serve, f"{serve.base}/?token={TOKEN}")
        [face] = serve.faces()
        assert "--read-only" not in shlex.split(face)
        await _press(cdp, "R")
        await _screen_until(cdp, ("Roll back", "Escape cancels"), serve, timeout=10)
        await cdp.call("Input.dispatchKeyEvent", type="keyDown", key="Escape", code="Escape",
                       windowsVirtualKeyCode=27)
        await cdp.call("Input.dispatchKeyEvent", type="keyUp", key="Escape", code="Escape",
                       windowsVirtualKeyCode=27)
        assert TOKEN not in serve.text()


# -- (c) a page on another origin ------------------------------------------------------------------

ATTACK = """<!doctype html><html><body><script>
window.__result = {open: false, closed: false, error: false};
const ws = new WebSocket("ws://127.0.0.1:%(port)d/ws?width=80&height=24");
ws.onopen = () => {
  window.__result.open = true;
  for (const key of ["R", "\\t", "y", "y"]) ws.send(JSON.stringify(["stdin", key]));
};
ws.onerror = () => { window.__result.error = true; };
ws.onclose = (e) => { window.__result.closed = true; window.__result.code = e.code; };
</script></body></html>"""


@contextlib.contextmanager
def attacker_site(serve_port: int) -> Iterator[str]:
    page = (ATTACK % {"port": serve_port}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_a_page_on_another_origin_cannot_open_the_socket(tmp_path):
    async with serving(tmp_path, "--allow-actions") as serve, chromium(tmp_path) as cdp:
        # The worst case: the browser holds the session cookie (another port of the same host is
        # *same-site*, so SameSite=Strict sends it along); only the Origin check stands.
        await cdp.call("Network.enable")
        ok = await cdp.call("Network.setCookie", name=f"wsmon_serve_{serve.port}",
                            value=Token(TOKEN, "test").cookie_value, domain="127.0.0.1", path="/",
                            httpOnly=True, sameSite="Strict")
        assert ok.get("success") is not False
        with attacker_site(serve.port) as evil:
            await cdp.call("Page.navigate", url=evil)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            result: dict[str, object] = {}
            while not (result.get("closed") or result.get("open")):
                assert loop.time() < deadline, f"the attacker's socket neither opened nor closed: {result}"
                await asyncio.sleep(0.1)
                result = await cdp.evaluate("window.__result") or {}
        assert result["open"] is False, result
        await asyncio.sleep(1)
        log = " ".join(serve.text().split())
        assert "refused GET /ws" in log and "Origin" in log, log
        serve.assert_nothing_reached_an_app()


# -- (b) + (d) without a browser ---------------------------------------------------------------------

def _raw_get(port: int, host_header: str, path: str = f"/?token={TOKEN}") -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.decode(errors="replace")


async def test_no_token_wrong_token_wrong_host_and_wrong_origin_are_refused(tmp_path):
    async with serving(tmp_path) as serve:
        base, port = serve.base, serve.port
        async with httpx.AsyncClient(timeout=5, follow_redirects=False) as client:
            for url in (f"{base}/", f"{base}/?token=wrong", f"{base}/?token={TOKEN[:-1]}",
                        f"{base}/static/js/textual.js", f"{base}/ws"):
                r = await client.get(url)
                assert r.status_code == 403, url
                assert r.headers["content-type"].startswith("text/plain") and len(r.text) < 300
        async with httpx.AsyncClient(timeout=5, cookies={f"wsmon_serve_{port}": "forged"}) as forged:
            assert (await forged.get(f"{base}/")).status_code == 403

        # The WebSocket upgrade: no token; the token from another origin; the token with no Origin.
        good_origin = f"http://127.0.0.1:{port}"
        attempts = [(f"ws://127.0.0.1:{port}/ws", good_origin),
                    (f"ws://127.0.0.1:{port}/ws?token={TOKEN}", "http://127.0.0.1:1"),
                    (f"ws://127.0.0.1:{port}/ws?token={TOKEN}", "http://evil.example"),
                    (f"ws://127.0.0.1:{port}/ws?token={TOKEN}", None)]
        for url, origin in attempts:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, origin=origin, open_timeout=5):  # type: ignore[arg-type]
                    pass
            assert refused.value.response.status_code == 403, (url, origin)

        # A wrong Host (DNS rebinding: the attacker's name resolving to 127.0.0.1), the right token.
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", f"10.9.8.7:{port}", ""):
            reply = await asyncio.to_thread(_raw_get, port, host)
            assert reply.startswith("HTTP/1.1 403") or reply.startswith("HTTP/1.1 400"), (host, reply[:200])
        serve.assert_nothing_reached_an_app()

        # The right token: a redirect without it, an HttpOnly SameSite=Strict cookie; then the page,
        # whose WebSocket URL is built from the Host this client used.
        async with httpx.AsyncClient(timeout=5, follow_redirects=False) as client:
            r = await client.get(f"http://localhost:{port}/?token={TOKEN}&fontsize=14")
            assert r.status_code == 303 and r.headers["location"] == "/?fontsize=14"
            cookie = r.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
            page = await client.get(f"http://localhost:{port}/")
            assert page.status_code == 200
            assert f'"ws://localhost:{port}/ws"' in page.text
            assert (await client.get(f"http://localhost:{port}/static/js/textual.js")).status_code == 200
        assert TOKEN not in serve.text()
        assert serve.stop() == 0


# -- bound to every interface ---------------------------------------------------------------------

async def test_bound_to_every_interface_prints_urls_that_work_from_elsewhere(tmp_path):
    async with serving(tmp_path, host="0.0.0.0") as serve:
        assert "0.0.0.0" not in serve.text().split("plain HTTP")[-1]
        name = serve.printed_base.removeprefix("http://").rsplit(":", 1)[0]
        assert name in {socket.getfqdn().lower(), socket.gethostname().lower()}
        # The page a remote browser gets points its WebSocket at the name that browser used.
        async with httpx.AsyncClient(timeout=5, headers={"Host": f"{name}:{serve.port}"}) as client:
            r = await client.get(f"{serve.base}/?token={TOKEN}", follow_redirects=False)
            assert r.status_code == 303
            page = await client.get(f"{serve.base}/")  # the client keeps the cookie
        assert page.status_code == 200 and f'"ws://{name}:{serve.port}/ws"' in page.text
        assert serve.stop() == 0


# -- the parts, without a server ---------------------------------------------------------------------

def test_served_names_and_urls():
    loop = Served.for_bind("127.0.0.1", 8000)
    assert loop.urls == ("http://127.0.0.1:8000",)
    assert loop.host_ok("127.0.0.1:8000") and loop.host_ok("localhost:8000") and loop.host_ok("[::1]:8000")
    assert not loop.host_ok("127.0.0.1:8001") and not loop.host_ok("attacker.example:8000")
    assert not loop.host_ok("127.0.0.1") and not loop.host_ok(None) and not loop.host_ok("")
    assert Served.for_bind("127.0.0.1", 8000, ["proxy.internal"]).host_ok("PROXY.internal:8000")

    anywhere = Served.for_bind("0.0.0.0", 8000)
    assert anywhere.urls and not any("0.0.0.0" in u for u in anywhere.urls)
    assert anywhere.host_ok(f"{socket.gethostname()}:8000")
    assert anywhere.host_ok("localhost:8000") and not anywhere.host_ok("evil.example:8000")
    assert not any("[::]" in u or "//:" in u for u in Served.for_bind("::", 8000).urls)

    assert loop.origin_ok("http://127.0.0.1:8000", "127.0.0.1:8000")
    assert not loop.origin_ok("http://127.0.0.1:8001", "127.0.0.1:8000")
    assert not loop.origin_ok("http://localhost:8000", "127.0.0.1:8000")
    assert not loop.origin_ok("https://127.0.0.1:8000", "127.0.0.1:8000")
    assert not loop.origin_ok("null", "127.0.0.1:8000") and not loop.origin_ok(None, "127.0.0.1:8000")
    assert split_host("[::1]:80") == ("::1", 80) and split_host("Host.") == ("host", None)
    assert split_host("a:b") == ("", None)


def test_token_sources(tmp_path):
    generated = resolve_token(None, {})
    assert generated.source == "generated" and len(generated.value) >= 40
    assert generated.value not in repr(generated)
    assert resolve_token(None, {"WSMON_SERVE_TOKEN": TOKEN}).value == TOKEN
    with pytest.raises(UsageError, match="at least 16"):
        resolve_token(None, {"WSMON_SERVE_TOKEN": "short"})
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    f.chmod(0o600)
    assert resolve_token(str(f), {"WSMON_SERVE_TOKEN": "ignored-because-the-file-wins"}).value == TOKEN
    f.chmod(0o640)
    with pytest.raises(UsageError, match=r"token.*0640"):
        resolve_token(str(f), {})


def test_a_readable_token_file_is_a_usage_error(tmp_path):
    f = tmp_path / "token"
    f.write_text(TOKEN)
    f.chmod(0o644)
    run = subprocess.run([sys.executable, "-m", "wsmon_tui", "serve", "--token-file", str(f),
                          "--port", str(free_port())], capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    assert str(f) in run.stderr and "0644" in run.stderr and TOKEN not in run.stderr + run.stdout
