"""``wsmon-tui serve``: the same Textual app in a browser, through textual-serve.

textual-serve starts one app process per browser session by running a *shell command
string*, so the command is ``exec`` plus this same interpreter's ``-m wsmon_tui dashboard``
with the pass-through flags joined by ``shlex.join`` (paths with spaces or quotes stay one
word; ``exec`` makes the shell become the app, so a signal reaches the app itself).

Every request passes ``serve_guard``: a token (printed once as a URL, or from
``--token-file`` / ``$WSMON_SERVE_TOKEN``), the Host header, and the WebSocket's Origin.
Each browser's app is ``--read-only`` unless the server was started with ``--allow-actions``.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import threading
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
    ("disable_auto_rollback", "--disable-auto-rollback"),
)

STARTUP_TIMEOUT_S = 20.0
"""How long ``serve`` waits for its engine to serve faces before it starts serving browsers."""
SESSION_STOP_TIMEOUT_S = 20.0
"""How long ``serve``'s own engine gets to close its session when ``serve`` stops."""

PLAIN_HTTP_WARNING = (
    "wsmon-tui: warning: serving on {host} over plain HTTP: the token and the screen cross the "
    "network unencrypted. Prefer an SSH tunnel to a loopback-bound serve."
)


def app_argv(args: argparse.Namespace, python: str | None = None) -> list[str]:
    """The argv of the app process each browser session runs (read-only unless --allow-actions)."""
    argv = [python or sys.executable, "-m", "wsmon_tui", "dashboard"]
    for attr, flag in PASS_THROUGH:
        value = getattr(args, attr, None)
        if value not in (None, ""):
            argv += [flag, str(value)]
    for attr, flag in SWITCHES:
        if getattr(args, attr, False):
            argv.append(flag)
    if getattr(args, "read_only", False) or not getattr(args, "allow_actions", False):
        argv.append("--read-only")
    return argv


def app_command(args: argparse.Namespace, python: str | None = None) -> str:
    """The command string textual-serve runs (it goes through a shell: quoted by shlex.join)."""
    return "exec " + shlex.join(app_argv(args, python))


def run(args: argparse.Namespace) -> int:
    from wsmon_tui.commands.dashboard_cmd import check_theme, parse_refresh

    # Bad flags fail here, once, with exit 2 -- not in every browser session's subprocess.
    parse_refresh(getattr(args, "refresh", None))
    check_theme(getattr(args, "theme", None))
    host = str(getattr(args, "host", "127.0.0.1") or "127.0.0.1")
    port = int(getattr(args, "port", 8000))
    if not 0 < port < 65536:
        raise UsageError(f"--port: expected 1-65535, got {port}")

    from wsmon_tui.serve_guard import GuardedServer, Served, is_loopback, resolve_token

    token = resolve_token(getattr(args, "token_file", None))
    served = Served.for_bind(host, port, getattr(args, "allow_host", None) or ())
    actions = bool(getattr(args, "allow_actions", False)) and not getattr(args, "read_only", False)
    if not is_loopback(host):
        print(PLAIN_HTTP_WARNING.format(host=host), file=sys.stderr)

    def banner() -> None:
        first, *others = served.urls
        if token.source == "generated":  # the one line that ever shows the token
            print(f"wsmon-tui serve: open {first}/?token={token.value}", flush=True)
        else:
            print(f"wsmon-tui serve: open {first}/?token=<the token from {token.source}>", flush=True)
        if others:
            print("  also at " + ", ".join(f"{u}/" for u in others) + " (same token)", flush=True)
        print("  " + ("actions allowed: acknowledge, silence, rollback, throttle and flag changes"
                      if actions else "read-only (start with --allow-actions to acknowledge, silence or "
                      "roll back from the browser)"), flush=True)

    server = GuardedServer(app_command(args), served=served, token=token, title="wsmon-tui",
                           banner=banner)
    engine = ServedEngine(args)
    engine.start()
    try:
        # Server.serve installs SIGINT/SIGTERM handlers that stop aiohttp gracefully; on_shutdown
        # then asks every face's app to quit, and stops those that do not.
        server.serve()
    finally:
        engine.stop()
    return 0


class ServedEngine:
    """The one engine every browser attaches to: the one already running on the state dir, or
    one ``serve`` runs itself (on threads of its own) for as long as it serves.

    Without it the first browser's dashboard would start an engine that ends with its tab,
    and every tab opened meanwhile would attach to that one; with it, tabs come and go and
    the engine, its session and its pages stay.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.host: Any = None
        self.note = ""
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="wsmon-serve-engine",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            print(f"wsmon-tui serve: the engine did not start within {timeout:g} s; each browser "
                  "starts its own", file=sys.stderr)
        elif self.note:
            print(f"wsmon-tui serve: {self.note}", flush=True)

    async def _main(self) -> None:
        from wsmon_tui.attach.client import find_engine
        from wsmon_tui.host import EngineHost
        from wsmon_tui.runtime import load_config_for, parse_run_duration, prepare, resolve_state_dir
        from wsmon_tui.tui.app import current_user

        try:
            demo = bool(getattr(self.args, "demo", False))
            state_dir = resolve_state_dir(self.args, load_config_for(self.args, demo=demo), demo=demo)
            running = await find_engine(state_dir, user=current_user(), read_only=True, face="serve")
            if running is not None:
                self.note = (f"browsers attach to the engine already running on {state_dir} "
                             f"(pid {running.info.get('pid')}, session {running.info.get('session_id')})")
                await running.close()
                return
            async with prepare(self.args) as ctx:
                def build_monitor() -> Any:
                    from wsmon_tui.engine.monitor import Monitor

                    return Monitor(ctx.config, ctx.store, state_dir=ctx.state_dir)

                host = EngineHost(build_monitor, config=ctx.config, state_dir=ctx.state_dir, store=ctx.store,
                                  say=lambda line: print(f"wsmon-tui serve: {line}", flush=True))
                host.read_only = bool(getattr(self.args, "read_only", False))
                self.host = host
                duration = parse_run_duration(getattr(self.args, "duration", None))
                run = asyncio.ensure_future(host.run(duration))
                while host.faces is None and host.standing_by is None and not run.done():
                    await asyncio.sleep(0.05)
                if host.faces is not None:
                    self.note = (f"session {host.session_id} started on {ctx.state_dir}: every browser "
                                 "attaches to this engine")
                self._ready.set()
                ended = await run
                print(f"wsmon-tui serve: session {host.session_id} ended ({ended})", flush=True)
        except Exception as exc:  # serving goes on: each browser then runs an engine of its own
            self.note = f"no shared engine ({exc}); each browser starts its own"
        finally:
            self._ready.set()

    def stop(self, timeout: float = SESSION_STOP_TIMEOUT_S) -> None:
        if self.host is not None:
            self.host.request_stop("user")
        if self._thread is not None:
            self._thread.join(timeout)
