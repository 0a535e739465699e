"""The command line: parse, then call the engine or the app.

Every command and flag (README.md, "What users type") is registered here. Handlers live in
``wsmon_tui.commands``; this module only parses and dispatches, and turns
``WsmonError`` into one message and its exit code (never a traceback).

A reader that closes the pipe early (``wsmon-tui config check F | head -1``) ends the
command quietly with exit status 141 (128 + SIGPIPE, what a shell reports for ``yes | head
-1`` under ``set -o pipefail``): whatever was cut off is not pretended to be success, and
no ``BrokenPipeError`` traceback is printed, then or when Python flushes stdout at exit.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from wsmon_tui import __version__
from wsmon_tui.errors import UsageError, WsmonError

MODES = ("summary", "detailed", "alerts", "metrics")
EXIT_BROKEN_PIPE = 141
"""Exit status when stdout's reader went away: 128 + SIGPIPE, as a shell reports it."""
LEVEL_NAMES = ("basic", "standard", "comprehensive", "debug")


def _common(*, suppress: bool) -> argparse.ArgumentParser:
    """Options every command accepts, before or after the command's name.

    On subcommands the defaults are suppressed so that a value given before the
    command name is not overwritten by the subparser's default.
    """
    parent = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS if suppress else None
    parent.add_argument("--config", metavar="F", default=default,
                        help="config file (default: $WSMON_CONFIG, ./wsmon.toml, "
                        "$XDG_CONFIG_HOME/wsmon-tui/config.toml)")
    parent.add_argument("--state-dir", metavar="D", default=default,
                        help="history and logs (default: $XDG_STATE_HOME/wsmon-tui)")
    return parent


def _run_flags(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Flags of the monitoring commands (bare command, dashboard, monitor)."""
    d = argparse.SUPPRESS if suppress else None
    p.add_argument("--level", choices=LEVEL_NAMES, default=d,
                   help="monitoring level: interval and default thresholds")
    p.add_argument("--demo", action="store_true", default=argparse.SUPPRESS if suppress else False,
                   help="start the built-in demo deployment on 127.0.0.1 and monitor it")
    p.add_argument("--disable-auto-rollback", action="store_true",
                   default=argparse.SUPPRESS if suppress else False,
                   help="never roll back automatically this session")
    p.add_argument("--export", metavar="FILE", default=d,
                   help="write a report (.md, .json or .html) when the run ends")
    p.add_argument("--duration", metavar="D", default=d,
                   help="how long to run: 30s, 5m, 4h, 2d; a bare number is hours")


def _ui_flags(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    d = argparse.SUPPRESS if suppress else None
    p.add_argument("--mode", choices=MODES, default=d, help="the view shown first")
    p.add_argument("--refresh", metavar="SECONDS", default=d,
                   help="seconds between repaints (the probe interval stays the config's)")
    p.add_argument("--theme", metavar="NAME", default=d, help="colour theme")
    p.add_argument("--read-only", action="store_true",
                   default=argparse.SUPPRESS if suppress else False,
                   help="no acknowledge, silence, rollback or flag change")


def _fleet_flag(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    p.add_argument("--fleet", action="store_true", default=argparse.SUPPRESS if suppress else False,
                   help="every site at once, from [fleet] prometheus and alertmanager (docs/fleet.md)")


def build_parser() -> argparse.ArgumentParser:
    common_top = _common(suppress=False)
    common = _common(suppress=True)
    parser = argparse.ArgumentParser(
        prog="wsmon-tui",
        parents=[common_top],
        description="Watch a WebSocket deployment roll out: probe it, read its metrics, "
        "alert on trouble and roll it back.",
        epilog="Without a command, opens the dashboard (or, with --export, runs headless).",
    )
    parser.add_argument("--version", action="version", version=f"wsmon-tui {__version__}")
    _ui_flags(parser, suppress=False)
    _run_flags(parser, suppress=False)
    _fleet_flag(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    mon = sub.add_parser("monitor", parents=[common], help="run headless, printing status")
    _run_flags(mon, suppress=True)
    mon.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                     help="watch only (a second person during a rollout): no rollback, throttle, "
                     "flag change or notification")
    mon.add_argument("--metrics-port", metavar="[HOST:]PORT",
                     help="serve wsmon's own view as Prometheus text on 127.0.0.1:PORT, or on "
                     "HOST:PORT (0.0.0.0:9464 for a Prometheus on another machine)")

    dash = sub.add_parser("dashboard", parents=[common], help="the terminal UI (same as no command)")
    _ui_flags(dash, suppress=True)
    _run_flags(dash, suppress=True)
    _fleet_flag(dash, suppress=True)

    rep = sub.add_parser("report", parents=[common], help="a report from stored history")
    rep.add_argument("--hours", type=float, default=24.0, metavar="H", help="hours of history")
    rep.add_argument("--format", choices=("md", "json", "html"), default="md")
    rep.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")

    st = sub.add_parser("status", parents=[common],
                        help="Nagios-style status: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
    st.add_argument("--format", choices=("text", "json"), default="text")

    rp = sub.add_parser("replay", parents=[common],
                        help="play a recorded session through the dashboard, read-only")
    rp.add_argument("session", nargs="?", metavar="SESSION",
                    help="the session's id or a unique prefix (default: the latest ended session of the "
                    "configured deployment)")
    rp.add_argument("--speed", default="1", metavar="N", help="play N times as fast as recorded (4, 0.5)")
    rp.add_argument("--list", action="store_true", help="list the recorded sessions and exit")
    rp.add_argument("--export", metavar="F",
                    help="write the session's report to F (.md, .json, .html) and exit, without the views")
    rp.add_argument("--paused", action="store_true", help="start paused on the first frame")
    rp.add_argument("--demo", action="store_true", help="the demo's state dir and deployment")
    rp.add_argument("--mode", choices=MODES, help="the view shown first")
    rp.add_argument("--refresh", metavar="SECONDS", help="seconds between repaints")
    rp.add_argument("--theme", metavar="NAME", help="colour theme")

    cfg = sub.add_parser("config", parents=[common], help="check, write or show the config")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    chk = cfg_sub.add_parser("check", parents=[common], help="validate and run a readiness checklist")
    chk.add_argument("file", nargs="?", metavar="F")
    ini = cfg_sub.add_parser("init", parents=[common], help="write a commented example config")
    ini.add_argument("-o", "--output", metavar="F", help="file to write (default stdout)")
    cfg_sub.add_parser("show", parents=[common], help="the effective config, secrets redacted")

    al = sub.add_parser("alerts", parents=[common], help="list, acknowledge and silence alerts")
    al_sub = al.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    lst = al_sub.add_parser("list", parents=[common], help="alerts (default: pending, firing, acked)")
    lst.add_argument("--state", default="active",
                     choices=("active", "pending", "firing", "acknowledged", "resolved", "silenced",
                              "inhibited", "stale", "all"))
    lst.add_argument("--format", choices=("text", "json"), default="text")
    al_sub.add_parser("stats", parents=[common], help="counts, MTTA, MTTR, deliveries")
    ack = al_sub.add_parser("ack", parents=[common], help="acknowledge an alert")
    ack.add_argument("alert_id", metavar="ALERT_ID")
    ack.add_argument("--user", help="who (default $USER)")
    ack.add_argument("--comment", default="")
    ack_long = al_sub.add_parser("acknowledge", parents=[common], help="acknowledge (long form)")
    ack_long.add_argument("--alert-id", required=True, dest="alert_id")
    ack_long.add_argument("--user", help="who (default $USER)")
    ack_long.add_argument("--comment", default="")
    unack = al_sub.add_parser("unack", parents=[common], help="take an acknowledgement back")
    unack.add_argument("alert_id", metavar="ALERT_ID")
    unack.add_argument("--user", help="who (default $USER)")
    sil = al_sub.add_parser("silence", parents=[common], help="silence matching alerts for a while")
    sil.add_argument("--rule", required=True)
    sil.add_argument("--target")
    sil.add_argument("--severity", choices=("info", "warning", "critical"))
    sil.add_argument("--duration", required=True, metavar="D", help="30m, 4h, 2d")
    sil.add_argument("--comment", required=True)
    sil.add_argument("--user", help="who (default $USER)")
    al_sub.add_parser("silences", parents=[common], help="active silences")

    rb = sub.add_parser("rollback", parents=[common], help="roll the deployment back and verify")
    rb.add_argument("--reason", default="manual rollback")
    rb.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rb.add_argument("--dry-run", action="store_true", help="print the steps, run nothing")
    rb.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)

    fl = sub.add_parser("flags", parents=[common], help="feature flags")
    fl_sub = fl.add_subparsers(dest="flags_command", metavar="ACTION", required=True)
    fl_sub.add_parser("list", parents=[common], help="list flags")
    fset = fl_sub.add_parser("set", parents=[common], help="enable or disable a flag")
    fset.add_argument("name")
    fset.add_argument("value", metavar="VALUE", help="true or false")
    fro = fl_sub.add_parser("rollout", parents=[common], help="set a flag's rollout percent")
    fro.add_argument("name")
    fro.add_argument("percent", metavar="PERCENT", help="0-100")

    ds = sub.add_parser("demo-server", parents=[common], help="run the demo deployment standalone")
    ds.add_argument("--port", type=int, default=8765, metavar="P")
    ds.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    ds.add_argument("--fault-after", metavar="S", default=None,
                    help="seconds until the fault starts (default $WSMON_DEMO_FAULT_AFTER or 60)")

    sv = sub.add_parser("serve", parents=[common],
                        help="the same app in a browser (textual-serve), behind a token")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--allow-actions", action="store_true",
                    help="let browsers acknowledge, silence, roll back (default: every browser is read-only)")
    sv.add_argument("--allow-host", action="append", metavar="NAME",
                    help="also answer to this Host name (a DNS alias); repeatable")
    sv.add_argument("--token-file", metavar="F",
                    help="read the token from F (owner-only); default $WSMON_SERVE_TOKEN, else a random "
                    "one printed once in the URL")
    _ui_flags(sv, suppress=True)
    _run_flags(sv, suppress=True)
    return parser


def _handler(args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    from wsmon_tui import commands

    name = args.command or "dashboard"
    if getattr(args, "fleet", False):
        from wsmon_tui.errors import UsageError

        for flag in ("export", "demo"):
            if getattr(args, flag, None):
                raise UsageError(f"--fleet and --{flag}: the fleet view probes and exports nothing; "
                                 "each site's monitor does")
    if name == "dashboard" and getattr(args, "export", None):
        name = "export"
    return commands.HANDLERS[name]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        return _broken_pipe()


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit:  # --help, --version, a usage error: flush while a closed pipe can be handled
        sys.stdout.flush()
        raise
    try:
        code = _handler(args)(args)
        sys.stdout.flush()  # a closed pipe shows here, not as "Exception ignored" at exit
        return code
    except WsmonError as exc:
        prefix = "wsmon-tui: "
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(prefix + line, file=sys.stderr)
        if isinstance(exc, UsageError):
            print("Try 'wsmon-tui --help'.", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _broken_pipe() -> int:
    """stdout's reader is gone: point stdout at /dev/null so the interpreter's final flush does
    not fail again (as Python's documentation of SIGPIPE recommends), and say nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (a test's capture)
        pass
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
