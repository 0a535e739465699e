"""``wsmon-tui monitor`` and the bare ``--export``: the headless face of the engine.

Prints the session id, then a live status table (rich Live) on a terminal or one plain
line per interval otherwise. SIGINT, SIGTERM and SIGHUP stop it gracefully: the tick
finishes, the session is closed with how it ended, ``--export`` is written, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsmon_tui.errors import UsageError
from wsmon_tui.runtime import RunContext, parse_run_duration, prepare, settle_gc

if TYPE_CHECKING:
    from wsmon_tui.live import LivePrinter, PlainPrinter
    from wsmon_tui.model import Snapshot

_SIGNALS = {signal.SIGINT: "sigint", signal.SIGTERM: "sigterm", signal.SIGHUP: "sighup"}


def run(args: argparse.Namespace) -> int:
    """``wsmon-tui monitor``."""
    duration = parse_run_duration(getattr(args, "duration", None))
    export = check_export(getattr(args, "export", None))
    args.metrics_bind = check_metrics_port(getattr(args, "metrics_port", None))
    return asyncio.run(_run(args, duration, export, live=sys.stdout.isatty()))


def run_export(args: argparse.Namespace) -> int:
    """``wsmon-tui --export FILE [--duration D]``: headless, writes FILE, exits."""
    export = check_export(args.export)
    duration = parse_run_duration(getattr(args, "duration", None))
    return asyncio.run(_run(args, duration, export, live=False, default_duration=True))


def check_metrics_port(value: str | None) -> tuple[str, int] | None:
    """``--metrics-port [HOST:]PORT``: where ``/metrics`` binds (127.0.0.1 for a bare port)."""
    if value is None:
        return None
    from wsmon_tui.metrics_bind import parse_metrics_bind

    try:
        return parse_metrics_bind(value)
    except ValueError as exc:
        raise UsageError(f"--metrics-port {value!r}: {exc}") from None


def check_export(path: str | None) -> Path | None:
    """``--export F``: the path, once its suffix names a report format and its directory exists."""
    if not path:
        return None
    from wsmon_tui.report import format_for_path

    try:
        format_for_path(path)
    except ValueError as exc:
        raise UsageError(f"--export: {exc}") from None
    out = Path(path).expanduser()
    if not out.parent.exists():
        raise UsageError(f"--export: directory {out.parent} does not exist")
    return out


async def _run(args: argparse.Namespace, duration: float | None, export: Path | None, *,
               live: bool, default_duration: bool = False) -> int:
    from wsmon_tui.errors import MetricsPortError
    from wsmon_tui.host import EngineHost

    async with prepare(args) as ctx:
        bind = getattr(args, "metrics_bind", None)
        host, port = bind if bind is not None else ("127.0.0.1", None)

        def build_monitor() -> Any:  # on the engine's thread
            from wsmon_tui.engine.monitor import Monitor

            return Monitor(ctx.config, ctx.store, state_dir=ctx.state_dir, metrics_port=port,
                           metrics_host=host)

        # a second `monitor` on the state dir stands by (the engine lease); the bare --export is a
        # bounded run: it starts at once and, while another engine acts, only watches
        engine = EngineHost(build_monitor, config=ctx.config, state_dir=ctx.state_dir, store=ctx.store,
                            standby=not default_duration, say=_say)
        engine.read_only = bool(getattr(args, "read_only", False))
        if duration is None and default_duration:
            duration = max(3 * engine.interval, 30.0)
        loop = asyncio.get_running_loop()
        for sig, name in _SIGNALS.items():
            loop.add_signal_handler(sig, engine.request_stop, name)
        printer = _printer(ctx, live)
        # snapshots arrive on the engine's thread; the printer draws on this one
        def hand_over(snap: Snapshot) -> None:
            loop.call_soon_threadsafe(printer.update, snap)

        engine.subscribe(hand_over)
        run_task = asyncio.ensure_future(engine.run(duration))
        # the session id exists once the run has started (after a standby, if another engine acts)
        waited = 0
        while not engine.session_id and not run_task.done():
            await asyncio.sleep(0.01 if waited < 100 else 0.25)
            waited += 1
        started = not run_task.done() or bool(engine.session_id)
        if started:
            printer.start(engine, engine.metrics_url)
        settle_gc()
        try:
            ended_by = await run_task
        except MetricsPortError as exc:
            print(f"wsmon-tui: {exc}", file=sys.stderr)
            return 1
        finally:
            if started:
                printer.stop()
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)
        _tell_what_was_not_stored(ctx, engine)
        if export is not None:
            await write_export(engine, export)
        if engine.session_id:
            print(f"session {engine.session_id} ended ({ended_by})", file=sys.stderr)
        else:
            print(f"stopped while standing by ({ended_by}); no session was opened", file=sys.stderr)
        return 0


def _say(line: str) -> None:
    """The standby's lines, on stdout (called on the engine's thread)."""
    print(f"wsmon-tui: {line}", flush=True)


def _tell_what_was_not_stored(ctx: RunContext, engine: object) -> None:
    """The last word on storage trouble: the user must not believe a gap is history."""
    store = ctx.store
    dropped = getattr(store, "dropped_writes", 0) if store is not None else 0
    if dropped:
        print(f"wsmon-tui: {dropped} samples, probe results or heartbeats were not stored "
              f"({getattr(store, 'last_write_error', '')})", file=sys.stderr)
    latest = getattr(engine, "latest", None)
    for note in getattr(latest, "notes", ()) or ():
        if dropped and "samples not stored" in note:
            continue
        if "not stored" in note or "memory only" in note or "not written" in note:
            print(f"wsmon-tui: {note}", file=sys.stderr)


async def write_export(engine: Any, path: Path) -> None:
    """The engine's report (any seam implementation) written atomically to ``path``."""
    from wsmon_tui.report import format_for_path, write_text

    text = await engine.report(format_for_path(str(path)))
    await asyncio.to_thread(write_text, path, text)
    print(f"report written to {path}", file=sys.stderr)


def _printer(ctx: RunContext, live: bool) -> LivePrinter | PlainPrinter:
    from wsmon_tui.live import LivePrinter, PlainPrinter

    return LivePrinter(ctx.config) if live else PlainPrinter(ctx.config)
