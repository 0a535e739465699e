"""Command handlers: each takes the parsed arguments and returns an exit code.

Handlers import what they need lazily, so that ``wsmon-tui status`` never pays for
Textual and ``wsmon-tui`` paints its first frame without the report writers loaded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]


def not_available(what: str, issue: str) -> Handler:
    """A command a later piece of work fills: says so plainly and exits 1, no fake output."""

    def handler(args: argparse.Namespace) -> int:
        print(f"wsmon-tui: {what} is not available yet ({issue}).", file=sys.stderr)
        return 1

    return handler


def _lazy(module: str, func: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(module), func)(args)

    return handler


HANDLERS: dict[str, Handler] = {
    "dashboard": _lazy("wsmon_tui.commands.dashboard_cmd", "run"),
    "serve": _lazy("wsmon_tui.commands.serve_cmd", "run"),
    "export": _lazy("wsmon_tui.commands.monitor_cmd", "run_export"),
    "monitor": _lazy("wsmon_tui.commands.monitor_cmd", "run"),
    "report": _lazy("wsmon_tui.commands.history", "report"),
    "status": _lazy("wsmon_tui.commands.history", "status"),
    "replay": _lazy("wsmon_tui.commands.replay_cmd", "run"),
    "config": _lazy("wsmon_tui.commands.config_cmd", "run"),
    "alerts": _lazy("wsmon_tui.commands.alerts_cmd", "run"),
    "rollback": _lazy("wsmon_tui.commands.rollback_cmd", "run"),
    "flags": _lazy("wsmon_tui.commands.flags_cmd", "run"),
    "demo-server": _lazy("wsmon_tui.commands.demo_cmd", "run"),
}
