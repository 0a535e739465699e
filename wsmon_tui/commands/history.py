"""Commands that read stored history: ``report`` and ``status``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from wsmon_tui.errors import UsageError, WsmonError
from wsmon_tui.fmt import num
from wsmon_tui.runtime import resolve_state_dir

NAGIOS = {"healthy": 0, "degraded": 1, "critical": 2, "unknown": 3}
NAGIOS_WORD = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


def _open_existing(args: argparse.Namespace) -> tuple[Any, Any]:
    """The config and the store of the state dir, without creating anything."""
    from wsmon_tui.config import find_and_load
    from wsmon_tui.store import Store, state_db_path

    config = find_and_load(getattr(args, "config", None))
    state_dir = resolve_state_dir(args, config)
    if not state_db_path(state_dir).exists():
        return config, None
    return config, Store.open(state_dir, create=False)


def report(args: argparse.Namespace) -> int:
    from wsmon_tui.report import render, write
    from wsmon_tui.report.build import build_report
    from wsmon_tui.store import DB_NAME

    if args.hours <= 0:
        raise UsageError(f"--hours: expected more than zero, got {args.hours:g}")
    config, store = _open_existing(args)
    if store is None:
        # Not an error (a fresh install has no history), but a mistyped --state-dir must not
        # pass for "nothing happened": say where we looked.
        print(f"wsmon-tui: note: no history in {resolve_state_dir(args, config)} (no {DB_NAME}); "
              "the report is empty", file=sys.stderr)
    now = time.time()
    try:
        data = build_report(store, config, since=now - args.hours * 3600, until=now)
    finally:
        if store is not None:
            store.close()
    if args.output:
        out = Path(args.output).expanduser()
        try:
            write(out, data, args.format)
        except OSError as exc:
            raise WsmonError(f"cannot write {out}: {exc.strerror or exc}") from None
        print(f"report written to {out}", file=sys.stderr)
    else:
        text = render(data, args.format)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _status_from_engine(args: argparse.Namespace) -> int | None:
    """The running engine's own view (its latest Snapshot), or None when no engine runs here."""
    from wsmon_tui.attach.client import NO_ENGINE, engine_call
    from wsmon_tui.config import find_and_load

    try:
        config = find_and_load(getattr(args, "config", None))
        got = engine_call(resolve_state_dir(args, config), "status")
    except WsmonError:
        return None  # the store still answers
    if got is NO_ENGINE:
        return None
    session = got["session"]
    status_word = session.get("status") or "unknown"
    code = NAGIOS.get(status_word, 3)
    score = session.get("health_score")
    text = (f"{session.get('deployment') or config.deployment.name} {session.get('version') or ''}"
            f" {status_word} health={num(score, 0)} (running, session {session['id']}, "
            f"engine pid {got.get('pid')})")
    firing = [a for a in got.get("alerts", []) if a.get("state") == "firing"]
    if firing:
        text += "; firing: " + ", ".join(f"{a['rule']}/{a['target']}" for a in firing)
    drops = got.get("hold_drops") or {}
    text += _hold_drops_text(drops)
    session["summary"] = {"status": status_word, "alerts": got.get("alerts", []), "hold_drops": drops}
    perf = f"health={score if score is not None else 'U'};;;0;100"
    return _emit(args, code, text + f" | {perf}", session)


def status(args: argparse.Namespace) -> int:
    """Nagios-style: the running engine's view, else the most recent session; exit 0/1/2/3."""
    from wsmon_tui.store import process_gone

    via_engine = _status_from_engine(args)
    if via_engine is not None:
        return via_engine

    try:
        config, store = _open_existing(args)
    except WsmonError as exc:
        return _emit(args, 3, f"cannot read history: {exc}", {})
    if store is None:
        return _emit(args, 3, f"no monitoring session recorded yet in {resolve_state_dir(args, config)}", {})
    try:
        session = store.latest_session()
    finally:
        store.close()
    if not session:
        return _emit(args, 3, "no monitoring session recorded yet", {})
    now = time.time()
    interval = float(session.get("interval") or 30.0)
    last_seen = session.get("last_seen") or session.get("started_at") or 0
    running = session.get("ended_at") is None
    summary = session.get("summary") or {}
    gone = process_gone(session.get("host"), session.get("pid"))
    if running and (gone or now - last_seen > max(3 * interval, 30)):
        return _emit(args, 3, f"session {session['id']} stopped reporting "
                     f"{now - last_seen:.0f}s ago without closing (crashed or killed)", session)
    status_word = session.get("status") or summary.get("status") or "unknown"
    code = NAGIOS.get(status_word, 3)
    score = session.get("health_score")
    state = "running" if running else f"ended {session.get('ended_by') or ''}".strip()
    shown = num(score, 0)
    text = (f"{session.get('deployment') or config.deployment.name} {session.get('version') or ''}"
            f" {status_word} health={shown} ({state}, session {session['id']})")
    firing = [a for a in summary.get("alerts", []) if a.get("state") == "firing"]
    if firing:
        # an ended session's alerts are no longer evaluated: stale, not firing
        label = "firing" if running else "stale (firing when the session ended)"
        text += f"; {label}: " + ", ".join(f"{a['rule']}/{a['target']}" for a in firing)
    text += _hold_drops_text(summary.get("hold_drops") or {})  # as the last heartbeat counted them
    perf = f"health={score if score is not None else 'U'};;;0;100"
    return _emit(args, code, text + f" | {perf}", session)


def _hold_drops_text(drops: dict[str, dict[str, int]]) -> str:
    """``; held connection drops: edge 1006x2`` (nothing when there were none)."""
    if not drops:
        return ""
    return "; held connection drops: " + ", ".join(
        f"{name} " + " ".join(f"{code}x{n}" for code, n in sorted(codes.items()))
        for name, codes in sorted(drops.items()))


def _emit(args: argparse.Namespace, code: int, text: str, session: dict[str, Any]) -> int:
    """The Nagios line (then, as the plugin's long output, the command that replays the session)."""
    from wsmon_tui.report.build import replay_command
    from wsmon_tui.report.sanitize import strip_control

    replay = replay_command(session.get("id")) if session else None
    if getattr(args, "format", "text") == "json":
        payload = {"status": NAGIOS_WORD[code], "exit_code": code, "message": strip_control(text),
                   "session": {k: session.get(k) for k in ("id", "deployment", "version", "started_at",
                                                           "ended_at", "ended_by", "last_seen",
                                                           "status", "health_score")}
                   if session else None,
                   "summary": session.get("summary") if session else None, "replay": replay}
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(f"WSMON {NAGIOS_WORD[code]} - {strip_control(text)}")
        if replay:
            print(f"replay: {strip_control(replay)}")
    return code
