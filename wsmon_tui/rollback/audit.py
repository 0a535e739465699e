"""The rollback audit: tables prefixed ``rollback_`` in the state database (``<state_dir>/wsmon.db``).

* ``rollback_actions``: every rollback and throttle, automatic or manual: who, why, the
  rule and value that triggered it, when, and its outcome (running -> verifying ->
  verified | failed_verification | failed | dry_run; throttles end ``done`` or ``failed``).
* ``rollback_steps``: each step of an action with its result, duration and captured output.
* ``rollback_rollout``: the rollout timeline (rollout percent from the flag provider and
  adoption from the metrics).
* ``rollback_flag_changes``: flag changes made by hand (``wsmon-tui flags set|rollout``).

Own connection, WAL, ``busy_timeout`` 5000 ms, never touching the store's schema version.
Not thread-safe: one owner (the controller or a CLI run).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wsmon_tui.errors import StoreError
from wsmon_tui.paths import create_private_file
from wsmon_tui.sqlite_util import immediate
from wsmon_tui.store.connect import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS rollback_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    deployment TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    session_id TEXT NOT NULL DEFAULT '',
    automatic INTEGER NOT NULL,
    user TEXT NOT NULL,
    trigger TEXT NOT NULL DEFAULT '',
    trigger_value REAL,
    reason TEXT NOT NULL DEFAULT '',
    dry_run INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS rollback_actions_started ON rollback_actions(started_at);
CREATE TABLE IF NOT EXISTS rollback_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    ok INTEGER,
    duration_ms REAL,
    detail TEXT NOT NULL DEFAULT '',
    started_at REAL,
    stdout TEXT NOT NULL DEFAULT '',
    stderr TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS rollback_steps_action ON rollback_steps(action_id, seq);
CREATE TABLE IF NOT EXISTS rollback_rollout (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    session_id TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL,
    rollout_percent REAL,
    adoption REAL
);
CREATE INDEX IF NOT EXISTS rollback_rollout_at ON rollback_rollout(at);
CREATE TABLE IF NOT EXISTS rollback_flag_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    user TEXT NOT NULL,
    flag TEXT NOT NULL,
    before TEXT,
    after TEXT
);
"""

OUTCOMES = ("running", "verifying", "verified", "failed_verification", "failed", "dry_run", "done")


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _connect(path: Path | None, *, read_only: bool = False) -> sqlite3.Connection:
    # WAL; synchronous is left at SQLite's default (FULL), as the audit always had it
    conn = connect(path, read_only=read_only, synchronous=None)
    conn.row_factory = sqlite3.Row
    return conn


class AuditDB:
    """The rollback tables; ``path=None`` keeps them in memory (tests, a store that cannot open)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                create_private_file(path)
            self._conn = _connect(path)
            self._conn.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the rollback audit in {path}: {exc}") from exc

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with immediate(self._conn) as conn:
            yield conn

    def begin(self, *, kind: str, deployment: str, version: str, session_id: str, automatic: bool, user: str,
              trigger: str, trigger_value: float | None, reason: str, dry_run: bool, started_at: float,
              outcome: str = "running") -> int:
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO rollback_actions (kind, deployment, version, session_id, automatic, user,"
                " trigger, trigger_value, reason, dry_run, started_at, outcome)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (kind, deployment, version, session_id, int(automatic), user, trigger, trigger_value, reason,
                 int(dry_run), started_at, outcome),
            )
            return int(cur.lastrowid or 0)

    def add_step(self, action_id: int, seq: int, step: dict[str, Any]) -> None:
        ok = step.get("ok")
        with self._tx() as c:
            c.execute(
                "INSERT INTO rollback_steps (action_id, seq, type, name, ok, duration_ms, detail, started_at,"
                " stdout, stderr) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (action_id, seq, step.get("type", ""), step.get("name", ""), None if ok is None else int(ok),
                 step.get("duration_ms"), step.get("detail", ""), step.get("started_at"),
                 step.get("stdout", ""), step.get("stderr", "")),
            )

    def set_outcome(self, action_id: int, outcome: str, *, finished_at: float | None = None,
                    detail: str | None = None) -> None:
        with self._tx() as c:
            c.execute("UPDATE rollback_actions SET outcome = ?, finished_at = COALESCE(?, finished_at),"
                      " detail = COALESCE(?, detail) WHERE id = ?", (outcome, finished_at, detail, action_id))

    def settle_interrupted(self) -> list[int]:
        """Close actions left ``running`` or ``verifying`` by a session that has ended (killed,
        or crashed before it could write the outcome): never left looking in progress or
        verified. Needs the store's ``sessions`` table in the same file (run after the store
        marked crashed sessions); returns the ids settled."""
        try:
            with self._tx() as c:
                if not c.execute("SELECT 1 FROM sqlite_master WHERE name = 'sessions'").fetchone():
                    return []
                rows = c.execute(
                    "SELECT a.id, a.outcome, s.id, s.ended_by, s.ended_at FROM rollback_actions a"
                    " JOIN sessions s ON s.id = a.session_id"
                    " WHERE a.outcome IN ('running', 'verifying') AND s.ended_at IS NOT NULL").fetchall()
                for aid, outcome, sid, ended_by, ended_at in rows:
                    if outcome == "running":
                        new, why = "failed", "while the steps ran"
                    else:
                        new, why = "failed_verification", "before health was seen to recover"
                    c.execute("UPDATE rollback_actions SET outcome = ?,"
                              " finished_at = COALESCE(finished_at, ?), detail = ? WHERE id = ?",
                              (new, ended_at, f"interrupted: session {sid} ended ({ended_by}) {why}", aid))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot settle interrupted rollbacks in {self.path}: {exc}") from exc
        return [r[0] for r in rows]

    def record_rollout(self, *, deployment: str, version: str, session_id: str, at: float,
                       rollout_percent: float | None, adoption: float | None) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO rollback_rollout (deployment, version, session_id, at, rollout_percent,"
                      " adoption) VALUES (?,?,?,?,?,?)",
                      (deployment, version, session_id, at, rollout_percent, adoption))

    def record_flag_change(self, *, at: float, user: str, flag: str, before: dict | None,
                           after: dict | None) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO rollback_flag_changes (at, user, flag, before, after) VALUES (?,?,?,?,?)",
                      (at, user, flag, json.dumps(before), json.dumps(after)))

    def auto_count(self, deployment: str, version: str) -> int:
        """Automatic rollbacks of this deployment and version, by any process (``max_auto``)."""
        row = self._conn.execute("SELECT COUNT(*) FROM rollback_actions WHERE kind = 'rollback'"
                                 " AND automatic = 1 AND deployment = ? AND version = ?",
                                 (deployment, version)).fetchone()
        return int(row[0])

    def last_rollback_at(self, deployment: str) -> float | None:
        """When the latest rollback of this deployment started, by any process (``cooldown``)."""
        row = self._conn.execute("SELECT MAX(started_at) FROM rollback_actions WHERE kind = 'rollback'"
                                 " AND deployment = ?", (deployment,)).fetchone()
        return None if row[0] is None else float(row[0])

    def last_rollback(self, deployment: str) -> dict[str, Any] | None:
        """The latest rollback of this deployment, by any process (as ``actions`` gives it)."""
        row = self._conn.execute("SELECT id, started_at FROM rollback_actions WHERE kind = 'rollback'"
                                 " AND deployment = ? ORDER BY started_at DESC, id DESC LIMIT 1",
                                 (deployment,)).fetchone()
        if row is None:
            return None
        at = float(row[1])
        return next((a for a in _actions(self._conn, at, at, iso=False) if a["id"] == row[0]), None)

    def actions(self, since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
        return _actions(self._conn, since, until, iso=False)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()


def _actions(conn: sqlite3.Connection, since: float | None, until: float | None, *,
             iso: bool) -> list[dict[str, Any]]:
    lo = since if since is not None else float("-inf")
    hi = until if until is not None else float("inf")
    rows = conn.execute("SELECT * FROM rollback_actions WHERE started_at >= ? AND started_at <= ?"
                        " ORDER BY id", (lo, hi)).fetchall()
    out: list[dict[str, Any]] = []
    for r in rows:
        steps = conn.execute("SELECT * FROM rollback_steps WHERE action_id = ? ORDER BY seq",
                             (r["id"],)).fetchall()
        when = _iso if iso else (lambda t: t)
        out.append({
            "id": r["id"], "kind": r["kind"], "automatic": bool(r["automatic"]), "user": r["user"],
            "trigger": r["trigger"], "trigger_value": r["trigger_value"], "reason": r["reason"],
            "deployment": r["deployment"], "version": r["version"], "session_id": r["session_id"],
            "dry_run": bool(r["dry_run"]), "started_at": when(r["started_at"]),
            "finished_at": when(r["finished_at"]), "outcome": r["outcome"], "detail": r["detail"],
            "steps": [{"type": s["type"], "name": s["name"], "ok": None if s["ok"] is None else bool(s["ok"]),
                       "duration_ms": s["duration_ms"], "detail": s["detail"]} for s in steps],
        })
    return out


def _open_for_report(db_path: Path) -> sqlite3.Connection | None:
    if not Path(db_path).exists():
        return None
    try:
        conn = _connect(Path(db_path), read_only=True)
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'rollback_actions'").fetchone()
    except sqlite3.Error:
        return None
    if not exists:
        conn.close()
        return None
    return conn


def report_rollbacks(db_path: Path, since: float | None = None, until: float | None = None) -> list[dict]:
    """Rollbacks and throttles started in [since, until], oldest first, times ISO 8601 (UTC).

    Fields: id, kind (rollback|throttle), automatic, user, trigger, trigger_value, reason,
    started_at, finished_at, outcome, detail, steps [{type, name, ok, duration_ms, detail}].
    """
    conn = _open_for_report(db_path)
    if conn is None:
        return []
    try:
        return _actions(conn, since, until, iso=True)
    finally:
        conn.close()


def report_rollout(db_path: Path, since: float | None = None, until: float | None = None) -> list[dict]:
    """The rollout timeline in [since, until]: {at, rollout_percent, adoption}, oldest first."""
    conn = _open_for_report(db_path)
    if conn is None:
        return []
    try:
        lo = since if since is not None else float("-inf")
        hi = until if until is not None else float("inf")
        rows = conn.execute("SELECT at, rollout_percent, adoption FROM rollback_rollout"
                            " WHERE at >= ? AND at <= ? ORDER BY at", (lo, hi)).fetchall()
        return [{"at": _iso(r["at"]), "rollout_percent": r["rollout_percent"], "adoption": r["adoption"]}
                for r in rows]
    finally:
        conn.close()
