"""``wsmon-tui alerts list|stats|ack|acknowledge|unack|silence|silences``.

When an engine runs on the state dir, each action goes through it (its socket,
``wsmon_tui.attach``): the engine acknowledges its own alert at once, records who and
when, and stops its escalation. Without one, it works on the state database directly.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from wsmon_tui.alerts.db import AlertDB, db_path_for, report_fields, stats_of
from wsmon_tui.durations import format_duration, parse_duration
from wsmon_tui.errors import StoreError, UsageError
from wsmon_tui.report.sanitize import strip_control


def _user(args: Any) -> str:
    user = getattr(args, "user", None)
    if user:
        return str(user)
    env = os.environ.get("USER") or os.environ.get("LOGNAME")
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in a container
        return "unknown"


def _state_dir(args: Any) -> Path:
    from wsmon_tui.config import find_and_load
    from wsmon_tui.runtime import resolve_state_dir

    config = find_and_load(getattr(args, "config", None))
    return resolve_state_dir(args, config)


def _deployment(args: Any) -> str | None:
    """The deployment a config file names (None without one: every deployment on the state dir)."""
    from wsmon_tui.config import find_and_load

    config = find_and_load(getattr(args, "config", None))
    return config.deployment.name if config.source is not None else None


def _db_path(args: Any) -> Path:
    return db_path_for(_state_dir(args))


def _engine(args: Any, op: str, **kwargs: Any) -> Any:
    """``op`` answered by the engine running on the state dir, or ``NO_ENGINE``."""
    from wsmon_tui.attach.client import engine_call

    return engine_call(_state_dir(args), op, user=_user(args), **kwargs)


def _no_engine(value: Any) -> bool:
    from wsmon_tui.attach.client import NO_ENGINE

    return value is NO_ENGINE


_VIEW_FIELDS = ("id", "rule", "target", "severity", "state", "started_at", "firing_at", "resolved_at",
                "acknowledged_by", "acknowledged_at", "value", "threshold", "summary", "escalated",
                "silenced", "inhibited_by", "ack_comment")


def _open(path: Path, *, create: bool) -> AlertDB | None:
    """Writable (``create``) or read-only; None when there is nothing to read yet."""
    if not create:
        if not path.exists():
            # Say where we looked: a mistyped --state-dir must not pass for "no alerts".
            print(f"wsmon-tui: note: no history in {path.parent} (no {path.name})", file=sys.stderr)
            return None
        try:
            return AlertDB(path, readonly=True)
        except StoreError as exc:
            if "no alerts recorded" in str(exc):
                return None
            raise
    try:
        return AlertDB(path, create=True)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: {exc}") from exc


def _ts(value: float | None) -> str:
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(value).astimezone().isoformat(timespec="seconds")


def _safe(value: object) -> str:
    return strip_control("" if value is None else value)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def run(args: Any) -> int:
    action = getattr(args, "alerts_command", None) or "list"
    handlers = {"list": _list, "stats": _stats, "ack": _ack, "acknowledge": _ack, "unack": _unack,
                "silence": _silence, "silences": _silences}
    if action not in handlers:
        raise UsageError(f"unknown alerts action {action!r}")
    return handlers[action](args)


def _list(args: Any) -> int:
    state = getattr(args, "state", None) or "active"
    fmt = getattr(args, "format", None) or "text"
    views = _engine(args, "alerts", state=state)
    if not _no_engine(views):
        items = [{k: v.get(k) for k in _VIEW_FIELDS} for v in views]
    else:
        db = _open(_db_path(args), create=False)
        try:
            rows = db.rows(state, deployment=_deployment(args)) if db is not None else []
        except ValueError as exc:
            raise UsageError(f"--state: {exc}") from None
        finally:
            if db is not None:
                db.close()
        items = [report_fields(r) | {"ack_comment": r["ack_comment"]} for r in rows]
    if fmt == "json":
        print(json.dumps(items, indent=2, ensure_ascii=False))
        return 0
    if not items:
        print("no alerts" if state in ("all", "active") else f"no {state} alerts")
        return 0
    print(f"{'ID':16}  {'SEVERITY':8}  {'STATE':8}  {'RULE':22}  {'TARGET':16}  {'SINCE':25}  SUMMARY")
    for a in items:
        state_word = a["state"]
        flags = []
        if a["acknowledged_by"]:
            flags.append(f"acked by {_safe(a['acknowledged_by'])}")
        if a["silenced"]:
            flags.append("silenced")
        if a.get("inhibited_by"):
            flags.append(f"inhibited by {_safe(a['inhibited_by'])}")
        if a["escalated"]:
            flags.append("escalated")
        extra = f" [{', '.join(flags)}]" if flags else ""
        print(f"{a['id']:16}  {_safe(a['severity']):8}  {_safe(state_word):8}  {_safe(a['rule'])[:22]:22}  "
              f"{_safe(a['target'])[:16]:16}  {_ts(a['started_at']):25}  {_safe(a['summary'])}{extra}")
    return 0


def _stats(args: Any) -> int:
    from wsmon_tui.alerts.outbox import delivery_counts

    path = _db_path(args)
    got = _engine(args, "alerts_stats")
    if not _no_engine(got):
        deliveries = got.pop("deliveries", {})
        stats = got
    else:
        db = _open(path, create=False)
        try:
            stats = db.stats() if db is not None else stats_of([])
            deliveries = delivery_counts(path) if db is not None else {}
        finally:
            if db is not None:
                db.close()
    if getattr(args, "format", None) == "json":
        print(json.dumps({**stats, "deliveries": deliveries}, indent=2))
        return 0
    print(f"alerts: {stats['total']}")
    for title, key in (("by severity", "by_severity"), ("by state", "by_state"), ("by rule", "by_rule")):
        counts = stats[key]
        shown = ", ".join(f"{_safe(k)} {v}" for k, v in sorted(counts.items())) or "-"
        print(f"{title}: {shown}")
    for label, key in (("MTTA (time to acknowledge)", "mtta_s"), ("MTTR (time to resolve)", "mttr_s")):
        value = stats[key]
        print(f"{label}: {format_duration(value) if value is not None else '-'}")
    if deliveries:
        print("deliveries: " + ", ".join(f"{_safe(k)} {v}" for k, v in sorted(deliveries.items())))
    return 0


def _alert_id(args: Any) -> str:
    ident = (getattr(args, "alert_id", None) or "").strip()
    if not ident:
        raise UsageError("alert id: required (its fingerprint or a unique prefix; `wsmon-tui alerts list` "
                         "shows them)")
    return ident


def _ack(args: Any) -> int:
    ident = _alert_id(args)
    user, comment = _user(args), getattr(args, "comment", "") or ""
    view = _engine(args, "acknowledge", alert_id=ident, comment=comment)
    if not _no_engine(view):
        print(f"acknowledged {view['id']} ({_safe(view['rule'])} on {_safe(view['target'])}) "
              f"as {_safe(user)} (by the running engine)")
        return 0
    db = _active_db(args)
    try:
        row = db.acknowledge(ident, user, comment, time.time())
    finally:
        db.close()
    print(f"acknowledged {row['fingerprint']} ({_safe(row['rule'])} on {_safe(row['target'])}) "
          f"as {_safe(user)}")
    return 0


def _unack(args: Any) -> int:
    ident = _alert_id(args)
    user = _user(args)
    view = _engine(args, "unacknowledge", alert_id=ident)
    if not _no_engine(view):
        print(f"acknowledgement of {view['id']} ({_safe(view['rule'])} on {_safe(view['target'])}) "
              "taken back (by the running engine)")
        return 0
    db = _active_db(args)
    try:
        row = db.unacknowledge(ident, user, time.time())
    finally:
        db.close()
    print(f"acknowledgement of {row['fingerprint']} ({_safe(row['rule'])} on {_safe(row['target'])}) "
          "taken back")
    return 0


def _active_db(args: Any) -> AlertDB:
    from wsmon_tui.alerts.db import UnknownAlert

    path = _db_path(args)
    if not path.exists() or _open_ro_probe(path) is None:
        raise UnknownAlert(f"no alerts recorded in {path.parent}")
    db = _open(path, create=True)
    assert db is not None
    return db


def _open_ro_probe(path: Path) -> AlertDB | None:
    db = _open(path, create=False)
    if db is not None:
        db.close()
    return db


def _silence(args: Any) -> int:
    rule = (getattr(args, "rule", None) or "").strip()
    if not rule:
        raise UsageError("--rule: required (a rule name, or a pattern like 'Slow*')")
    raw = getattr(args, "duration", None)
    if raw is None:
        raise UsageError("--duration: required (30m, 4h, 2d; a bare number is hours)")
    try:
        duration = parse_duration(raw, bare_unit="h")
    except ValueError as exc:
        raise UsageError(f"--duration: {exc}") from None
    if duration <= 0:
        raise UsageError(f"--duration: expected more than zero, got {raw!r}")
    comment = getattr(args, "comment", None) or ""
    if not comment.strip():
        raise UsageError("--comment: say why (it is shown to everyone who sees the silence)")
    made = _engine(args, "silence", rule=rule, target=getattr(args, "target", None),
                   severity=getattr(args, "severity", None), duration=duration, comment=comment)
    if not _no_engine(made):
        print(f"silence {made['id']} for {_matcher(made)} until {_ts(made['expires_at'])} "
              f"({format_duration(duration)}, by the running engine)")
        return 0
    db = _open(_db_path(args), create=True)
    assert db is not None
    try:
        made = db.add_silence(rule=rule, target=getattr(args, "target", None),
                              severity=getattr(args, "severity", None), created_at=time.time(),
                              duration=duration, comment=comment, user=_user(args))
    finally:
        db.close()
    print(f"silence {made['id']} for {_matcher(made)} until {_ts(made['expires_at'])} "
          f"({format_duration(duration)})")
    return 0


def _matcher(s: dict[str, Any]) -> str:
    parts = [f"rule={_safe(s['rule'])}"]
    if s.get("target"):
        parts.append(f"target={_safe(s['target'])}")
    if s.get("severity"):
        parts.append(f"severity={_safe(s['severity'])}")
    return " ".join(parts)


def _silences(args: Any) -> int:
    items = _engine(args, "silences")
    if _no_engine(items):
        db = _open(_db_path(args), create=False)
        try:
            items = db.active_silences(time.time()) if db is not None else []
        finally:
            if db is not None:
                db.close()
    if getattr(args, "format", None) == "json":
        print(json.dumps(items, indent=2, ensure_ascii=False))
        return 0
    if not items:
        print("no active silences")
        return 0
    for s in items:
        print(f"{s['id']:>4}  {_matcher(s)}  until {_ts(s['expires_at'])}  by {_safe(s['created_by'])}: "
              f"{_safe(s['comment'])}")
    return 0

