"""``wsmon-tui`` / ``wsmon-tui dashboard``: the Textual app around the engine.

Flags are checked before anything starts (an unknown theme or a bad --refresh exits 2
without opening the store or starting the demo); then ``runtime.prepare`` loads the
config, opens the store and starts the demo when asked, and the app runs the engine
(``EngineHost``: a Monitor on its own thread) until the user quits.

When an engine already runs on the state dir (``wsmon-tui monitor``, or another
dashboard), the app attaches to it instead (``attach.client.AttachedEngine``): no second
prober, no demo deployment, no store opened here; ``q`` detaches and the engine goes on.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from wsmon_tui.errors import UsageError
from wsmon_tui.runtime import parse_run_duration, prepare


def parse_refresh(value: Any) -> float | None:
    """``--refresh``: seconds (``0.5``) or a duration (``2s``); None keeps the config's."""
    if value in (None, ""):
        return None
    from wsmon_tui.durations import parse_duration

    try:
        seconds = float(value)
    except (TypeError, ValueError):
        try:
            seconds = parse_duration(str(value))
        except ValueError as exc:
            raise UsageError(f"--refresh: {exc}") from None
    if not 0.05 <= seconds <= 3600:
        raise UsageError(f"--refresh: expected between 0.05 and 3600 seconds, got {value!r}")
    return seconds


def check_theme(name: str | None) -> None:
    """An unknown --theme is a usage error that lists the names (exit 2)."""
    if not name:
        return
    from textual.theme import BUILTIN_THEMES

    from wsmon_tui.tui.themes import load_themes

    themes = load_themes()
    names = sorted(set(themes.names()) | set(BUILTIN_THEMES))
    if name not in names:
        raise UsageError(f"--theme: unknown theme {name!r}; available: {', '.join(names)}")


def run(args: argparse.Namespace) -> int:
    refresh = parse_refresh(getattr(args, "refresh", None))
    check_theme(getattr(args, "theme", None))
    duration = parse_run_duration(getattr(args, "duration", None))
    if getattr(args, "fleet", False):
        return asyncio.run(_run_fleet(args, refresh, duration))
    return asyncio.run(_run(args, refresh, duration))


def fleet_engine(args: argparse.Namespace, refresh: float | None) -> Any:
    """The ``FleetEngine`` of ``--fleet``; a usage error (exit 2) when the config has no
    ``[fleet] prometheus`` to read the sites from."""
    from wsmon_tui.fleet import FleetEngine
    from wsmon_tui.runtime import load_config_for

    config = load_config_for(args, demo=False)
    if not config.fleet.prometheus:
        where = config.source or "no config file found"
        raise UsageError(f"--fleet: {where}: fleet.prometheus: required (the Prometheus that scrapes "
                         "every site's monitor), got nothing")
    return FleetEngine(config, refresh=refresh)


async def _run_fleet(args: argparse.Namespace, refresh: float | None, duration: float | None) -> int:
    """The four views over every site (``fleet.FleetEngine``): nothing probed or stored here."""
    from wsmon_tui.tui.app import WsmonApp

    engine = fleet_engine(args, refresh)
    config = engine.config
    app = WsmonApp(engine, mode=getattr(args, "mode", None) or "summary",
                   refresh=refresh if refresh is not None else config.ui.refresh,
                   theme=getattr(args, "theme", None) or config.ui.theme,
                   read_only=bool(getattr(args, "read_only", False)), duration=duration)
    result = await app.run_async()
    return int(result or 0)


async def attach(args: argparse.Namespace, *, user: str) -> Any:
    """An ``AttachedEngine`` to the engine running on the state dir these args name, or None."""
    from pathlib import Path

    from wsmon_tui.attach.client import AttachedEngine, find_engine
    from wsmon_tui.runtime import load_config_for, resolve_state_dir

    demo = bool(getattr(args, "demo", False))
    config = load_config_for(args, demo=demo)
    read_only = bool(getattr(args, "read_only", False))
    conn = await find_engine(resolve_state_dir(args, config, demo=demo), user=user, read_only=read_only,
                             face="dashboard")
    if conn is None:
        return None
    engine_config = conn.info.get("config_path")
    if engine_config and engine_config != config.source and Path(engine_config).is_file():
        # the engine's own config (its rollback steps, its deployment); ours for the UI if it fails
        from wsmon_tui.config import find_and_load

        try:
            config = find_and_load(engine_config)
        except Exception:  # the face still works on its own config
            pass
    return AttachedEngine(conn, config=config, read_only=read_only)


async def _run(args: argparse.Namespace, refresh: float | None, duration: float | None) -> int:
    from wsmon_tui.host import EngineHost
    from wsmon_tui.tui.app import WsmonApp, current_user

    def app_for(engine: Any) -> WsmonApp:
        config = engine.config
        return WsmonApp(engine, mode=getattr(args, "mode", None) or "summary",
                        refresh=refresh if refresh is not None else config.ui.refresh,
                        theme=getattr(args, "theme", None) or config.ui.theme,
                        read_only=bool(getattr(args, "read_only", False)), duration=duration)

    attached = await attach(args, user=current_user())
    if attached is not None:
        app = app_for(attached)
        result = await app.run_async()
        if attached.ended_by.startswith("the engine"):
            print(attached.ended_by)
        else:
            print(f"detached from session {attached.session_id}; "
                  f"the engine (pid {attached.pid}) keeps running")
        return int(result or 0)
    async with prepare(args) as ctx:
        def build_monitor() -> Any:  # imported on the engine's thread, after the first frame
            from wsmon_tui.engine.monitor import Monitor

            return Monitor(ctx.config, ctx.store, state_dir=ctx.state_dir)

        engine = EngineHost(build_monitor, config=ctx.config, state_dir=ctx.state_dir, store=ctx.store)
        app = app_for(engine)
        if ctx.store_error:
            app.startup_note(f"history is kept in memory only: {ctx.store_error}")
        result = await app.run_async()
        if engine.session_id:
            print(f"session {engine.session_id} ended")
        return int(result or 0)
