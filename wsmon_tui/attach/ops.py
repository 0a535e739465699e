"""The engine socket's commands and questions, run on the engine's loop.

Each takes the face (its ``user``, said in ``hello``) and the request's ``args``, and
returns what goes on the wire (``wsmon_tui.wire.to_wire``). Commands are the Monitor's
own, so each is recorded by the engine with who and when, exactly as from a local face;
read-only is checked by the server before any of them runs.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from wsmon_tui.errors import UsageError, WsmonError
from wsmon_tui.seam import RangeRequest
from wsmon_tui.wire import to_wire

Op = Callable[[Any, dict[str, Any]], Awaitable[Any]]


def _str(args: dict[str, Any], key: str, default: str | None = None) -> str:
    value = args.get(key, default)
    if not isinstance(value, str):
        raise UsageError(f"{key}: expected a string")
    return value


def _num(args: dict[str, Any], key: str, default: float | None = None) -> float:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{key}: expected a number")
    return float(value)


def _user(face: Any, args: dict[str, Any]) -> str:
    user = args.get("user") or face.user
    if not isinstance(user, str) or not user:
        raise UsageError("user: say who acts (hello's user or the request's)")
    return user


def _alert_engine(monitor: Any) -> Any:
    engine = getattr(monitor, "alert_engine", None)
    if engine is None:
        raise WsmonError("alerts are not available in this session")
    return engine


def _flags(monitor: Any) -> Any:
    controller = getattr(monitor, "rollback_controller", None)
    provider = getattr(controller, "flags", None) if controller is not None else None
    if provider is None:
        raise WsmonError("no flag provider is configured in the running engine")
    return provider


def bind(engine: Any, state_dir: Path) -> dict[str, Op]:
    """Every op but hello, read_only and subscribe (the server's own), over ``engine``."""

    async def refresh_now(face: Any, args: dict[str, Any]) -> Any:
        return to_wire(await engine.monitor.refresh_now())

    async def acknowledge(face: Any, args: dict[str, Any]) -> Any:
        return to_wire(await engine.monitor.acknowledge(_str(args, "alert_id"), _user(face, args),
                                                        _str(args, "comment", "")))

    async def unacknowledge(face: Any, args: dict[str, Any]) -> Any:
        return to_wire(await engine.monitor.unacknowledge(_str(args, "alert_id"), _user(face, args)))

    async def silence(face: Any, args: dict[str, Any]) -> Any:
        target = args.get("target")
        severity = args.get("severity")
        return to_wire(await engine.monitor.silence(
            rule=_str(args, "rule"), target=target if isinstance(target, str) else None,
            duration=_num(args, "duration"), comment=_str(args, "comment", ""), user=_user(face, args),
            severity=severity if isinstance(severity, str) else None))

    async def rollback(face: Any, args: dict[str, Any]) -> Any:
        return to_wire(await engine.monitor.rollback(reason=_str(args, "reason", "manual rollback"),
                                                     user=_user(face, args),
                                                     dry_run=bool(args.get("dry_run", False))))

    async def metric_ranges(face: Any, args: dict[str, Any]) -> Any:
        wanted = [RangeRequest(str(t), str(m)) for t, m in args.get("wanted") or []]
        got = await engine.metric_ranges(wanted, _num(args, "since"), _num(args, "until"))
        return [[w.target, w.metric, [list(p) for p in got.get(w, [])]] for w in wanted]

    async def deliveries(face: Any, args: dict[str, Any]) -> Any:
        return to_wire(await engine.monitor.deliveries(_str(args, "alert_id")))

    async def rule_info(face: Any, args: dict[str, Any]) -> Any:
        return to_wire(await engine.monitor.rule_info(_str(args, "name")))

    async def rules(face: Any, args: dict[str, Any]) -> Any:
        return to_wire(await engine.monitor.rules())

    async def report(face: Any, args: dict[str, Any]) -> Any:
        since = args.get("since")
        return await engine.report(_str(args, "fmt", "md"), float(since) if since is not None else None)

    async def status(face: Any, args: dict[str, Any]) -> Any:
        snap = engine.latest
        config = engine.config
        return {
            "pid": os.getpid(),
            "session": {
                "id": engine.session_id, "deployment": config.deployment.name,
                "version": config.deployment.version, "started_at": engine.session_started,
                "ended_at": None, "ended_by": None, "last_seen": snap.taken_at if snap else None,
                "status": str(snap.status) if snap else "unknown",
                "health_score": snap.health_score if snap else None, "interval": float(config.interval),
            },
            "alerts": [to_wire(a) for a in snap.alerts] if snap else [],
            "rollback": to_wire(snap.rollback) if snap else None,
            "hold_drops": {t.name: dict(t.hold.disconnects) for t in snap.targets
                           if t.hold is not None and t.hold.disconnects} if snap else {},
        }

    async def alerts(face: Any, args: dict[str, Any]) -> Any:
        state = _str(args, "state", "active")
        return [to_wire(a) for a in _alert_engine(engine.monitor).alerts(state)]

    async def alerts_stats(face: Any, args: dict[str, Any]) -> Any:
        from wsmon_tui.alerts.outbox import delivery_counts

        stats = _alert_engine(engine.monitor).stats()
        path = getattr(getattr(engine.monitor, "stages", None), "db_path", None)
        counts = await asyncio.to_thread(delivery_counts, path) if path is not None else {}
        return {**stats, "deliveries": counts}

    async def silences(face: Any, args: dict[str, Any]) -> Any:
        return to_wire(_alert_engine(engine.monitor).silences())

    async def flags_list(face: Any, args: dict[str, Any]) -> Any:
        return to_wire(await _flags(engine.monitor).list())

    async def flags_set(face: Any, args: dict[str, Any]) -> Any:
        provider = _flags(engine.monitor)
        name = _str(args, "name")
        enabled = args.get("enabled")
        rollout = args.get("rollout")
        before = (await provider.list()).get(name)
        after = await provider.set(name, enabled=enabled if isinstance(enabled, bool) else None,
                                   rollout=float(rollout) if isinstance(rollout, int | float) else None)
        user = _user(face, args)
        await asyncio.to_thread(_audit_flag, state_dir, user, name, before, after)
        return {"before": to_wire(before), "after": to_wire(after)}

    return {
        "refresh_now": refresh_now, "acknowledge": acknowledge, "unacknowledge": unacknowledge,
        "silence": silence, "rollback": rollback, "metric_ranges": metric_ranges,
        "deliveries": deliveries, "rule_info": rule_info, "rules": rules, "report": report, "status": status,
        "alerts": alerts, "alerts_stats": alerts_stats, "silences": silences,
        "flags_list": flags_list, "flags_set": flags_set,
    }


def _audit_flag(state_dir: Path, user: str, name: str, before: Any, after: Any) -> None:
    """A flag change through the engine, in the rollback audit (who and when), as the CLI records it."""
    from wsmon_tui.rollback.audit import AuditDB
    from wsmon_tui.store import state_db_path

    audit = AuditDB(state_db_path(state_dir))
    try:
        audit.record_flag_change(at=time.time(), user=user, flag=name, before=before, after=after)
    finally:
        audit.close()
