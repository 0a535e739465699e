"""``wsmon-tui demo-server``: run the demo deployment in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import sys

from wsmon_tui.durations import parse_duration
from wsmon_tui.errors import UsageError, WsmonError

DEFAULT_FAULT_AFTER = 60.0
_NEVER = ("never", "off", "none")


def fault_after_from(value: str | None) -> float | None:
    """``--fault-after`` (else $WSMON_DEMO_FAULT_AFTER, else 60 s); "never" disables the fault."""
    source = "--fault-after"
    if value is None:
        value = os.environ.get("WSMON_DEMO_FAULT_AFTER") or None
        source = "WSMON_DEMO_FAULT_AFTER"
    if value is None:
        return DEFAULT_FAULT_AFTER
    if value.strip().lower() in _NEVER:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{source}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    fault_after = fault_after_from(getattr(args, "fault_after", None))
    host = getattr(args, "host", None) or "127.0.0.1"
    port = getattr(args, "port", None)
    port = 8765 if port is None else port
    if not 0 <= port <= 65535:
        raise UsageError(f"--port: expected 0-65535, got {port}")
    return asyncio.run(_serve(host, port, fault_after))


def _say(message: str) -> None:
    print(f"demo-server: {message}", flush=True)


async def _serve(host: str, port: int, fault_after: float | None) -> int:
    from wsmon_tui.demo.server import DemoServer

    server = DemoServer(host, port, fault_after=fault_after, on_event=_say)
    try:
        await server.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise WsmonError(f"port {port} on {host} is already in use; pick another with --port") from None
        raise WsmonError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        when = "never" if fault_after is None else f"in {fault_after:g}s"
        _say(f"ws {server.ws_url}  metrics {server.url_base}/metrics  flags {server.url_base}/flags"
             f"  (fault {when}; Ctrl-C stops)")
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.stop()
    _say("stopped")
    sys.stdout.flush()
    return 0
