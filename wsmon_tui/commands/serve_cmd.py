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
import shlex
import sys

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
    # Server.serve installs SIGINT/SIGTERM handlers that stop aiohttp gracefully; on_shutdown
    # then asks every face's app to quit, and stops those that do not.
    server.serve()
    return 0
