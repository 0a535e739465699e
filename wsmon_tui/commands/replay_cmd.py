"""``wsmon-tui replay [SESSION] [--speed N] [--list] [--export F]``: a recorded session played through the
dashboard's four views, read-only (``replay.ReplayEngine`` behind the seam, ``tui.replay.ReplayApp``).

Without SESSION it plays the latest ended session of the configured deployment (any
deployment's when no config file names one). A session id that is not there is a usage
error (exit 2) naming where it looked; ``--list`` shows what there is; ``--export F`` writes
the session's report (the same as the live session's export) and exits without the views.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from wsmon_tui.fmt import MISSING


def _when(ts: float | None) -> str:
    return MISSING if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def list_sessions(state_dir: Path) -> int:
    from wsmon_tui.replay import StoreReader, list_sessions
    from wsmon_tui.report.sanitize import strip_control

    reader = StoreReader(state_dir)
    try:
        sessions = list_sessions(reader)
    finally:
        reader.close()
    if not sessions:
        print(f"no session recorded in {state_dir}")
        return 0
    rows = [("SESSION", "DEPLOYMENT", "STARTED (UTC)", "ENDED (UTC)", "ENDED BY", "ALERTS", "ROLLBACKS")]
    rows += [(s.id, strip_control(s.deployment)[:30], _when(s.started_at), _when(s.ended_at),
              s.ended_by or "running", str(s.alerts), str(s.rollbacks)) for s in sessions]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.rjust(w) if i >= 5 else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        print("  ".join(cells).rstrip())
    return 0


def run(args: argparse.Namespace) -> int:
    from wsmon_tui.commands.dashboard_cmd import check_theme, parse_refresh
    from wsmon_tui.commands.monitor_cmd import check_export, write_export
    from wsmon_tui.replay import ReplayEngine, parse_speed
    from wsmon_tui.runtime import load_config_for, resolve_state_dir

    speed = parse_speed(args.speed)
    refresh = parse_refresh(args.refresh)
    check_theme(args.theme)
    export = check_export(args.export)
    demo = bool(args.demo)
    config = load_config_for(args, demo=demo)
    state_dir = resolve_state_dir(args, config, demo=demo)
    if args.list:
        return list_sessions(state_dir)
    named = config.source is not None or demo
    engine = ReplayEngine(state_dir, config=config, session=args.session, speed=speed, paused=args.paused,
                          deployment=config.deployment.name if named else None)
    if export is not None:
        try:
            asyncio.run(write_export(engine, export))
        finally:
            engine.close()
        return 0
    from wsmon_tui.tui.replay import ReplayApp

    app = ReplayApp(engine, mode=args.mode or "summary",
                    refresh=refresh if refresh is not None else config.ui.refresh,
                    theme=args.theme or config.ui.theme)
    result = app.run()
    print(f"replayed session {engine.session_id}", file=sys.stderr)
    return int(result or 0)
