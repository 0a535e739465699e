"""``wsmon-tui serve`` in a real headless Chromium, driven over the DevTools protocol.

The server runs as a subprocess (``wsmon-tui serve --demo``); Chromium loads its page,
which autostarts the app (textual-serve shows a Start button only with ``?delay``). The
page draws xterm.js on a canvas, so the text is read from xterm's own buffer: a script
injected before the page's scripts catches the Terminal object when textual-serve stores
it as ``this.terminal``. The CDP client is our own ``websockets`` connection.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import require_binary
from tests.prom_server import free_port
from wsmon_tui.commands.serve_cmd import app_argv, app_command
from wsmon_tui.serve_guard import is_loopback

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1200,800", "--remote-debugging-port=0",
                  "--remote-debugging-address=127.0.0.1")

CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    if (value && value.buffer && !window.__wsmonTerminal) { window.__wsmonTerminal = value; }
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
  },
});
"""

READ_SCREEN = """
(() => {
  const t = window.__wsmonTerminal;
  if (!t) return null;
  const b = t.buffer.active, rows = [];
  for (let y = 0; y < t.rows; y++) {
    const line = b.getLine(b.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
})()
"""


class Cdp:
    """The smallest Chrome DevTools Protocol client: numbered requests, events ignored."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, timeout: float = 10.0, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        await self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        async with asyncio.timeout(timeout):
            while True:
                reply = json.loads(await self.ws.recv())
                if reply.get("id") == msg_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return dict(reply.get("result", {}))

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
    """Signal the process group, wait, then kill it; returns the exit code of the leader."""
    if proc is None:
        return None
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        return None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group (app processes, renderers)
        except ProcessLookupError:
            pass


async def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Until the server answers (anything: without the token that is a 403)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            assert proc.poll() is None, f"wsmon-tui serve exited early with {proc.returncode}"
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                pass
            assert loop.time() < deadline, f"{url} did not answer in {timeout}s"
            await asyncio.sleep(0.1)


async def _devtools_url(profile: Path, proc: subprocess.Popen[bytes], timeout: float = 20) -> str:
    """Chromium writes its DevTools port and browser path to DevToolsActivePort."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    active = profile / "DevToolsActivePort"
    while True:
        assert proc.poll() is None, f"chromium exited early with {proc.returncode}"
        if active.exists():
            lines = active.read_text().split()
            if len(lines) >= 2:
                port = int(lines[0])
                async with httpx.AsyncClient(timeout=5) as client:
                    targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
        assert loop.time() < deadline, "chromium did not open its DevTools port"
        await asyncio.sleep(0.1)


def test_app_command_quotes_paths(tmp_path):
    import argparse

    weird = tmp_path / "it's a dir; rm -rf x"
    args = argparse.Namespace(config=str(weird / "c.toml"), state_dir=str(weird), demo=True, mode="alerts",
                              refresh="2", theme=None, read_only=True, level="debug")
    argv = app_argv(args, python="/opt/py thon/bin/python")
    assert argv[:4] == ["/opt/py thon/bin/python", "-m", "wsmon_tui", "dashboard"]
    assert argv[4:] == ["--config", str(weird / "c.toml"), "--state-dir", str(weird), "--mode", "alerts",
                        "--refresh", "2", "--level", "debug", "--demo", "--read-only"]
    import shlex

    assert shlex.split(app_command(args, python="/opt/py thon/bin/python")) == ["exec", *argv]
    # Without --allow-actions every browser's app is read-only; with it, only when asked.
    args.read_only = False
    assert app_argv(args)[-1] == "--read-only"
    args.allow_actions = True
    assert "--read-only" not in app_argv(args)


@pytest.mark.parametrize(("host", "loop"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("[::1]", True), ("0.0.0.0", False), ("10.1.2.3", False),
                                            ("example.org", False)])
def test_is_loopback(host, loop):
    assert is_loopback(host) is loop


def test_public_bind_warns_and_bad_flags_exit_2(tmp_path):
    env = {**os.environ, "WSMON_DEMO_FAULT_AFTER": "never"}
    bad = subprocess.run([sys.executable, "-m", "wsmon_tui", "serve", "--theme", "nope"],
                         capture_output=True, text=True, timeout=30, env=env)
    assert bad.returncode == 2 and "unknown theme" in bad.stderr
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "wsmon_tui", "serve", "--host", "0.0.0.0",
                             "--port", str(port), "--demo", "--state-dir", str(tmp_path / "state")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env)
    try:
        asyncio.run(_wait_http(f"http://127.0.0.1:{port}/", proc))
        code = _stop(proc, signal.SIGINT)
        err = proc.stderr.read().decode() if proc.stderr else ""
        assert code == 0, err
        assert "plain HTTP" in err
    finally:
        _stop(proc, signal.SIGKILL, timeout=5)


async def test_browser_shows_summary(tmp_path):
    chromium = require_binary("chromium")
    port = free_port()
    state = tmp_path / "state"
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    env = {**os.environ, "WSMON_DEMO_FAULT_AFTER": "600", "WSMON_SERVE_TOKEN": "t" * 24}
    server: subprocess.Popen[bytes] | None = None
    browser: subprocess.Popen[bytes] | None = None
    logs = tmp_path / "serve.log"
    try:
        with logs.open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "wsmon_tui", "serve", "--demo", "--port", str(port),
                 "--state-dir", str(state)], stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env=env)
        url = f"http://127.0.0.1:{port}/"
        await _wait_http(url, server)
        browser = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        ws_url = await _devtools_url(profile, browser)
        async with connect(ws_url, max_size=64 * 2**20, open_timeout=10) as ws:
            cdp = Cdp(ws)
            await cdp.call("Page.enable")
            await cdp.call("Page.addScriptToEvaluateOnNewDocument", source=CATCH_TERMINAL)
            await cdp.call("Page.navigate", url=url + "?token=" + "t" * 24)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 45
            screen = ""
            while not all(word in screen for word in ("demo-chat", "Summary", "chat-ws", "HEALTHY")):
                assert loop.time() < deadline, (
                    f"the summary did not appear in the browser; screen:\n{screen}\n"
                    f"serve log:\n{logs.read_text(errors='replace')[-3000:]}")
                await asyncio.sleep(0.25)
                screen = await cdp.evaluate(READ_SCREEN) or ""
            assert await cdp.evaluate("document.body.classList.contains('-first-byte')") is True
            shot = await cdp.call("Page.captureScreenshot", format="png", timeout=20)
        png = base64.b64decode(shot["data"])
        path = tmp_path / "summary.png"
        path.write_bytes(png)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(png) > 20_000, f"screenshot suspiciously small ({len(png)} bytes)"
        assert _distinct_colours(path) >= 4
        _stop(browser, timeout=10)
        browser = None
        # SIGTERM alone must stop the server and the session's app process (its own group).
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
        leftovers = _session_members(server.pid)
        assert code == 0, logs.read_text(errors="replace")[-3000:]
        assert not leftovers, f"still running after serve stopped: {leftovers}"
    finally:
        _stop(browser, timeout=10)
        _stop(server, signal.SIGKILL, timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


def _session_members(sid: int) -> list[str]:
    """Command lines of live processes in session ``sid`` (the server was its leader)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != sid:
                continue
            stat = (entry / "stat").read_text()
            if stat[stat.rindex(")") + 2] == "Z":
                continue  # a zombie already exited
            members.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ValueError):
            continue
    return members


def _distinct_colours(path: Path) -> int:
    """Distinct byte triples in a sample of the PNG's (filtered) scanlines -- no Pillow here.

    Not exact colours (PNG filters change the bytes), but a blank or one-colour page gives
    one or two values and a painted terminal dozens.
    """
    import struct
    import zlib

    data = path.read_bytes()
    pos, width, height, idat = 8, 0, 0, b""
    colour_type = 2
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, _depth, colour_type = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    channels = {2: 3, 6: 4}[colour_type]
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    colours: set[bytes] = set()
    for y in range(0, height, max(1, height // 40)):
        row = raw[y * stride + 1:(y + 1) * stride]  # filter bytes make this approximate; fine for a count
        for x in range(0, width * channels, channels * max(1, width // 60)):
            colours.add(row[x:x + 3])
    return len(colours)
