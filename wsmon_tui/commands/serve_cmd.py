"""``wsmon-tui serve``: the same Textual app in a browser, through textual-serve.

textual-serve starts one app process per browser session by running a *shell command
string*, so the command is this same interpreter's ``-m wsmon_tui dashboard`` with the
pass-through flags joined by ``shlex.join`` (paths with spaces or quotes stay one word).
The page has no authentication: binding anything but loopback says so.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys
from typing import Any

from wsmon_tui.errors import UsageError

PASS_THROUGH: tuple[tuple[str, str], ...] = (
    ("config", "--config"),
    ("state_dir", "--state-dir"),
    ("mode", "--mode"),
    ("refresh", "--refresh"),
    ("theme", "--theme"),
    ("level", "--level"),
    ("duration", "--duration"),
)
"""(attribute, flag) pairs with a value that the browser's app process gets as given."""

SWITCHES: tuple[tuple[str, str], ...] = (
    ("demo", "--demo"),
    ("read_only", "--read-only"),
    ("disable_auto_rollback", "--disable-auto-rollback"),
)

SESSION_STOP_TIMEOUT_S = 20.0
"""How long a browser session's app gets to close its monitoring session at shutdown."""

NO_AUTH_WARNING = (
    "wsmon-tui: warning: serving on {host}, not loopback: the browser UI has no authentication; "
    "anyone who can reach this port can acknowledge alerts and roll back. Put it behind an "
    "authenticating proxy or use --read-only."
)


def app_argv(args: argparse.Namespace, python: str | None = None) -> list[str]:
    """The argv of the app process each browser session runs."""
    argv = [python or sys.executable, "-m", "wsmon_tui", "dashboard"]
    for attr, flag in PASS_THROUGH:
        value = getattr(args, attr, None)
        if value not in (None, ""):
            argv += [flag, str(value)]
    for attr, flag in SWITCHES:
        if getattr(args, attr, False):
            argv.append(flag)
    return argv


def app_command(args: argparse.Namespace, python: str | None = None) -> str:
    """The command string textual-serve runs (it goes through a shell: quoted by shlex.join)."""
    return shlex.join(app_argv(args, python))


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from wsmon_tui.commands.dashboard_cmd import check_theme, parse_refresh

    # Bad flags fail here, once, with exit 2 -- not in every browser session's subprocess.
    parse_refresh(getattr(args, "refresh", None))
    check_theme(getattr(args, "theme", None))
    host = str(getattr(args, "host", "127.0.0.1") or "127.0.0.1")
    port = int(getattr(args, "port", 8000))
    if not 0 < port < 65536:
        raise UsageError(f"--port: expected 1-65535, got {port}")
    if not is_loopback(host):
        print(NO_AUTH_WARNING.format(host=host), file=sys.stderr)

    url_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    server = _server_class()(app_command(args), host=host.strip("[]"), port=port, title="wsmon-tui",
                             public_url=f"http://{url_host}:{port}")
    # Server.serve installs SIGINT/SIGTERM handlers that stop aiohttp gracefully; our
    # on_shutdown then asks every session's app process to quit and kills stragglers.
    server.serve()
    return 0


def _server_class() -> type:
    """textual-serve's Server, plus: app processes are stopped when the server stops.

    Upstream leaves each session's process to its websocket handler, which aiohttp may
    cancel at shutdown before the process has been told to quit.
    """
    import asyncio

    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    class WsmonServer(Server):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sessions: set[AppService] = set()

        async def _process_messages(self, websocket: Any, app_service: AppService) -> None:
            self.sessions.add(app_service)
            try:
                await super()._process_messages(websocket, app_service)
            finally:
                self.sessions.discard(app_service)

        async def on_shutdown(self, app: Any) -> None:
            for service in list(self.sessions):
                try:
                    await asyncio.wait_for(service.stop(), SESSION_STOP_TIMEOUT_S)
                except (Exception, asyncio.CancelledError):
                    pass
                process = getattr(service, "_process", None)
                if process is not None and process.returncode is None:
                    process.kill()
                    try:
                        await asyncio.wait_for(process.wait(), 5)
                    except (Exception, asyncio.CancelledError):
                        pass

    return WsmonServer
