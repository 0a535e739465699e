"""The alert tables in the state database (``<state_dir>/wsmon.db``, next to the store's).

Tables (all prefixed ``alert_``, created if missing, never touching the store's schema
version):

* ``alert_alerts``: one row per occurrence (episode) of an alert (pending -> firing ->
  resolved). The user-facing id is the fingerprint of (deployment, rule, target); the row
  id tells occurrences apart. A pending alert that never fired is deleted. At most one row
  per fingerprint is active (a unique partial index, ``alert_alerts_one_active``): an engine
  that starts an occurrence another process already stored continues that row (an upsert),
  so ``alerts list`` never shows one id twice and an ack always reaches the one row.
* ``alert_history``: every transition and action (firing, escalated, acknowledged, ...).
* ``alert_acks``: acknowledgements of one occurrence; open while ``cleared_at`` is NULL.
* ``alert_silences``: matchers (rule and target as shell patterns, severity) with an expiry.

The database is the source of truth for acks and silences: ``alerts ack`` in another
process writes here, and the running engine reads the open ones every evaluation.
Own connection, WAL, ``busy_timeout`` 5000 ms; each logical change is one transaction.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wsmon_tui.errors import StoreError, WsmonError
from wsmon_tui.model import AlertView
from wsmon_tui.paths import create_private_file, ensure_state_dir
from wsmon_tui.sqlite_util import immediate
from wsmon_tui.store.connect import connect, state_db_path

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    rule TEXT NOT NULL,
    target TEXT NOT NULL,
    deployment TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL,
    base_severity TEXT NOT NULL,
    state TEXT NOT NULL,
    value REAL,
    threshold REAL,
    summary TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    runbook TEXT NOT NULL DEFAULT '',
    labels TEXT NOT NULL DEFAULT '{}',
    started_at REAL NOT NULL,
    firing_at REAL,
    resolved_at REAL,
    last_true_at REAL,
    acknowledged_by TEXT,
    acknowledged_at REAL,
    ack_comment TEXT NOT NULL DEFAULT '',
    silenced INTEGER NOT NULL DEFAULT 0,
    escalated INTEGER NOT NULL DEFAULT 0,
    external INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0,
    notified_firing INTEGER NOT NULL DEFAULT 0,
    first_notified_at REAL,
    last_notified_at REAL,
    ack_renotified_at REAL,
    inhibited_by TEXT NOT NULL DEFAULT '',
    session_id TEXT NOT NULL DEFAULT '',
    metric TEXT NOT NULL DEFAULT '',
    fired_value REAL
);
CREATE INDEX IF NOT EXISTS alert_alerts_state ON alert_alerts(state);
CREATE INDEX IF NOT EXISTS alert_alerts_fp ON alert_alerts(fingerprint, id);
CREATE INDEX IF NOT EXISTS alert_alerts_started ON alert_alerts(started_at);
CREATE TABLE IF NOT EXISTS alert_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER,
    fingerprint TEXT NOT NULL,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    severity TEXT,
    value REAL,
    user TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alert_history_fp ON alert_history(fingerprint, at);
CREATE TABLE IF NOT EXISTS alert_acks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    user TEXT NOT NULL,
    at REAL NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    cleared_at REAL,
    cleared_by TEXT
);
CREATE INDEX IF NOT EXISTS alert_acks_open ON alert_acks(alert_id) WHERE cleared_at IS NULL;
CREATE TABLE IF NOT EXISTS alert_silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    target TEXT,
    severity TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    cancelled_at REAL
);
CREATE INDEX IF NOT EXISTS alert_silences_expiry ON alert_silences(expires_at);
"""

ACTIVE_STATES = ("pending", "firing")
ACTIVE_WHERE = "state IN ('pending', 'firing')"
ONE_ACTIVE = "alert_alerts_one_active"
KEEP_ON_MERGE = frozenset({"fingerprint", "started_at", "firing_at", "fired_value", "acknowledged_by",
                           "acknowledged_at", "ack_comment", "first_notified_at", "seq"})
"""What an upsert keeps from the stored row: when the episode began, its ack, its first page."""
LIST_STATES = ("active", "pending", "firing", "acknowledged", "resolved", "silenced", "inhibited", "stale",
               "all")

ALERT_COLUMNS = (
    "fingerprint", "rule", "target", "deployment", "severity", "base_severity", "state", "value",
    "threshold", "summary", "description", "runbook", "labels", "started_at", "firing_at", "resolved_at",
    "last_true_at", "acknowledged_by", "acknowledged_at", "ack_comment", "silenced", "escalated",
    "external", "seq", "notified_firing", "first_notified_at", "last_notified_at", "ack_renotified_at",
    "inhibited_by", "session_id", "metric", "fired_value",
)
ADDED_COLUMNS = (("inhibited_by", "TEXT NOT NULL DEFAULT ''"), ("session_id", "TEXT NOT NULL DEFAULT ''"),
                 ("metric", "TEXT NOT NULL DEFAULT ''"), ("fired_value", "REAL"))
"""Columns later versions added: an older state dir's table gets them when opened writable
(read-only readers treat them as absent: ``column``)."""


class UnknownAlert(WsmonError):
    """No alert with that id (or prefix), or it is no longer active (exit 1)."""

    exit_code = 1


def db_path_for(state_dir: Path) -> Path:
    return state_db_path(state_dir)


class AlertDB:
    """One connection to the alert tables. The owner serialises its use (the engine holds a lock).

    ``readonly`` opens the file read-only and never creates anything: StoreError when the
    file or the alert tables do not exist (callers treat that as "no alerts yet").
    """

    TABLES = frozenset({"alert_alerts", "alert_history", "alert_acks", "alert_silences"})

    def __init__(self, path: Path | None, *, create: bool = True, readonly: bool = False,
                 busy_timeout_ms: int = 5000) -> None:
        self.path = path
        if path is None:
            self._conn = connect(None, timeout=busy_timeout_ms / 1000, check_same_thread=False)
        else:
            if (readonly or not create) and not Path(path).exists():
                raise StoreError(f"no alerts recorded: {path} does not exist")
            try:
                if create and not readonly:
                    ensure_state_dir(path.parent)
                    create_private_file(Path(path))
                # WAL and synchronous=NORMAL unless read-only (``connect``)
                self._conn = connect(path, read_only=readonly, timeout=busy_timeout_ms / 1000,
                                     check_same_thread=False)
            except (OSError, sqlite3.OperationalError) as exc:
                raise StoreError(f"cannot open {path}: {exc}") from exc
            except sqlite3.DatabaseError as exc:  # not a database: the WAL switch read it
                raise StoreError(f"{path} is not a usable wsmon database ({exc})") from exc
        conn = self._conn
        conn.row_factory = sqlite3.Row
        try:
            if readonly:
                if not self._has_tables():
                    conn.close()
                    raise StoreError(f"no alerts recorded in {path}")
                return
            self._create_schema()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{path} is not a usable wsmon database ({exc})") from exc

    def _has_tables(self) -> bool:
        have = {r[0] for r in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'alert_%'")}
        return have >= self.TABLES

    def _create_schema(self) -> None:
        if not self._has_tables():
            with self.transaction():
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        self._conn.execute(stmt)
        have = {r[1] for r in self._conn.execute("PRAGMA table_info(alert_alerts)")}
        missing = [(name, decl) for name, decl in ADDED_COLUMNS if name not in have]
        if missing:
            with self.transaction() as conn:
                for name, decl in missing:
                    conn.execute(f"ALTER TABLE alert_alerts ADD COLUMN {name} {decl}")
        if self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                              (ONE_ACTIVE,)).fetchone() is None:
            with self.transaction() as conn:
                _merge_duplicate_active(conn)
                conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {ONE_ACTIVE} ON alert_alerts(fingerprint)"
                             f" WHERE {ACTIVE_WHERE}")

    def close(self) -> None:
        self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error)."""
        with immediate(self._conn) as conn:
            yield conn

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conn

    # -- rows ----------------------------------------------------------------------

    def save_alert(self, conn: sqlite3.Connection, row_id: int | None, values: dict[str, Any]) -> int:
        """Insert (``row_id`` None) or update one occurrence; returns its row id.

        An insert of an active occurrence whose fingerprint already has an active row (stored
        by another process, e.g. the engine this one took over from) updates that row: one
        row per fingerprint and episode, never a second one and never an error."""
        cols = ALERT_COLUMNS
        params = [values.get(c) for c in cols]
        if row_id is None:
            if values.get("state") in ACTIVE_STATES:
                row = conn.execute(
                    f"INSERT INTO alert_alerts ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                    f" ON CONFLICT (fingerprint) WHERE {ACTIVE_WHERE} DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in cols if c not in KEEP_ON_MERGE)
                    + ", seq = MAX(seq, excluded.seq) RETURNING id", params).fetchone()
                return int(row[0])
            cur = conn.execute(f"INSERT INTO alert_alerts ({', '.join(cols)}) "
                               f"VALUES ({', '.join('?' * len(cols))})", params)
            return int(cur.lastrowid or 0)
        conn.execute(f"UPDATE alert_alerts SET {', '.join(c + ' = ?' for c in cols)} WHERE id = ?",
                     [*params, row_id])
        return row_id

    def update_alerts(self, conn: sqlite3.Connection, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """Update many stored occurrences in one statement."""
        if not rows:
            return
        cols = ALERT_COLUMNS
        conn.executemany(f"UPDATE alert_alerts SET {', '.join(c + ' = ?' for c in cols)} WHERE id = ?",
                         [[*(values.get(c) for c in cols), row_id] for row_id, values in rows])

    def active_rows(self) -> list[sqlite3.Row]:
        return self._conn.execute(
            "SELECT * FROM alert_alerts WHERE state IN ('pending', 'firing') ORDER BY id").fetchall()

    def recent_stale(self, deployment: str) -> list[sqlite3.Row]:
        """The latest occurrence of each of ``deployment``'s fingerprints, when it ended stale."""
        return self._conn.execute(
            "SELECT * FROM alert_alerts WHERE deployment = ? AND state = 'stale' AND id IN "
            "(SELECT MAX(id) FROM alert_alerts WHERE deployment = ? GROUP BY fingerprint)",
            (deployment, deployment)).fetchall()

    def end_stale(self, session_id: str, at: float) -> int:
        """Active occurrences of every session but ``session_id`` (any deployment) end ``stale``:
        only the lease holder calls this, so those sessions are no longer running. Their end is
        when they were last evaluated. Returns how many."""
        with self.transaction() as conn:
            rows = conn.execute(f"SELECT id, fingerprint, severity, value FROM alert_alerts "
                                f"WHERE {ACTIVE_WHERE} AND session_id != ?", (session_id,)).fetchall()
            for r in rows:
                self.history(conn, r["id"], r["fingerprint"], at, "stale", severity=r["severity"],
                             value=r["value"], detail="its session is no longer running")
            conn.execute(f"UPDATE alert_alerts SET state = 'stale', resolved_at = "
                         f"MAX(started_at, COALESCE(last_true_at, firing_at, started_at)) "
                         f"WHERE {ACTIVE_WHERE} AND session_id != ?", (session_id,))
        return len(rows)

    def max_seqs(self) -> dict[str, int]:
        """The highest notification seq of each fingerprint, in the alert rows and in the outbox
        (a notification stored by a process that died before its alert row was saved counts)."""
        seqs = {r[0]: int(r[1]) for r in self._conn.execute(
            "SELECT fingerprint, MAX(seq) FROM alert_alerts GROUP BY fingerprint")}
        try:
            rows = self._conn.execute(
                "SELECT fingerprint, MAX(seq) FROM outbox_notifications GROUP BY fingerprint").fetchall()
        except sqlite3.OperationalError:  # no outbox table yet
            rows = []
        for fp, seq in rows:
            seqs[fp] = max(seqs.get(fp, 0), int(seq))
        return seqs

    def open_acks(self) -> dict[int, tuple[str, float, str]]:
        """Open acks by occurrence row id: (user, at, comment)."""
        return {int(r[0]): (r[1], float(r[2]), r[3]) for r in self._conn.execute(
            "SELECT alert_id, user, at, comment FROM alert_acks WHERE cleared_at IS NULL ORDER BY id")}

    def active_silences(self, now: float) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT * FROM alert_silences WHERE expires_at > ? AND cancelled_at IS NULL ORDER BY id",
            (now,)).fetchall()
        return [_silence_dict(r, now) for r in rows]

    def all_silences(self, now: float) -> list[dict[str, Any]]:
        rows = self._conn.execute("SELECT * FROM alert_silences ORDER BY id").fetchall()
        return [_silence_dict(r, now) for r in rows]

    def history(self, conn: sqlite3.Connection, row_id: int | None, fingerprint: str, at: float,
                event: str, *, severity: str | None = None, value: float | None = None,
                user: str | None = None, detail: str = "") -> None:
        conn.execute("INSERT INTO alert_history (alert_id, fingerprint, at, event, severity, value, user, "
                     "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (row_id, fingerprint, at, event, severity, value, user, detail))

    # -- what the CLI (and the engine's methods) do ----------------------------------

    def find_active(self, ident: str) -> sqlite3.Row:
        """The active occurrence whose fingerprint is ``ident`` or starts with it (like git)."""
        ident = ident.strip().lower()
        if not ident:
            raise UnknownAlert("no alert id given")
        rows = self._conn.execute(
            "SELECT * FROM alert_alerts WHERE fingerprint >= ? AND fingerprint < ? "
            "AND state IN ('pending', 'firing') ORDER BY id", (ident, ident + "\uffff")).fetchall()
        fps = {r["fingerprint"] for r in rows}
        if len(fps) > 1:
            shown = ", ".join(sorted(fps)[:5])
            raise UnknownAlert(f"alert id {ident!r} is ambiguous: it matches {shown}; give more characters")
        if not rows:
            past = self._conn.execute(
                "SELECT fingerprint, state FROM alert_alerts WHERE fingerprint >= ? AND fingerprint < ? "
                "ORDER BY id DESC LIMIT 1", (ident, ident + "\uffff")).fetchone()
            if past is not None:
                raise UnknownAlert(f"alert {past['fingerprint']} is {past['state']}, not active; "
                                   "nothing to acknowledge")
            raise UnknownAlert(f"no alert with id {ident!r}; see 'wsmon-tui alerts list --state all'")
        return rows[-1]

    def acknowledge(self, ident: str, user: str, comment: str, at: float) -> sqlite3.Row:
        with self.transaction() as conn:
            row = self.find_active(ident)
            conn.execute("UPDATE alert_acks SET cleared_at = ?, cleared_by = ? "
                         "WHERE alert_id = ? AND cleared_at IS NULL", (at, "re-acknowledged", row["id"]))
            conn.execute("INSERT INTO alert_acks (alert_id, fingerprint, user, at, comment) "
                         "VALUES (?, ?, ?, ?, ?)", (row["id"], row["fingerprint"], user, at, comment))
            conn.execute("UPDATE alert_alerts SET acknowledged_by = ?, acknowledged_at = ?, ack_comment = ? "
                         "WHERE id = ?", (user, at, comment, row["id"]))
            self.history(conn, row["id"], row["fingerprint"], at, "acknowledged", user=user, detail=comment)
            return conn.execute("SELECT * FROM alert_alerts WHERE id = ?", (row["id"],)).fetchone()

    def unacknowledge(self, ident: str, user: str, at: float) -> sqlite3.Row:
        with self.transaction() as conn:
            row = self.find_active(ident)
            cur = conn.execute("UPDATE alert_acks SET cleared_at = ?, cleared_by = ? "
                               "WHERE alert_id = ? AND cleared_at IS NULL", (at, f"unack:{user}", row["id"]))
            if cur.rowcount == 0:
                raise UnknownAlert(f"alert {row['fingerprint']} is not acknowledged")
            conn.execute("UPDATE alert_alerts SET acknowledged_by = NULL, acknowledged_at = NULL, "
                         "ack_comment = '' WHERE id = ?", (row["id"],))
            self.history(conn, row["id"], row["fingerprint"], at, "unacknowledged", user=user)
            return conn.execute("SELECT * FROM alert_alerts WHERE id = ?", (row["id"],)).fetchone()

    def add_silence(self, *, rule: str, target: str | None, severity: str | None, created_at: float,
                    duration: float, comment: str, user: str) -> dict[str, Any]:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO alert_silences (rule, target, severity, created_at, expires_at, comment, "
                "created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rule, target or None, severity or None, created_at, created_at + duration, comment, user))
            row = conn.execute("SELECT * FROM alert_silences WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _silence_dict(row, created_at)

    def prune(self, before: float) -> int:
        """Retention: resolved alerts resolved before ``before`` go, with their history and
        acknowledgements, and silences that expired before it. Active alerts and their whole
        history stay, however old. Returns the number of alerts removed."""
        with self.transaction() as conn:
            gone = conn.execute("DELETE FROM alert_alerts WHERE state IN ('resolved', 'stale') "
                                "AND resolved_at < ?",
                                (before,)).rowcount
            conn.execute("DELETE FROM alert_history WHERE at < ? AND (alert_id IS NULL OR alert_id NOT IN "
                         "(SELECT id FROM alert_alerts))", (before,))
            conn.execute("DELETE FROM alert_acks WHERE alert_id NOT IN (SELECT id FROM alert_alerts)")
            conn.execute("DELETE FROM alert_silences WHERE expires_at < ?", (before,))
        return gone

    def rows(self, state: str = "active", deployment: str | None = None) -> list[sqlite3.Row]:
        """Occurrences by the ``alerts list --state`` vocabulary (resolved/all: newest first),
        of one deployment when ``deployment`` is given."""
        if state not in LIST_STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {', '.join(LIST_STATES)}")
        where = {
            "active": "state IN ('pending', 'firing')",
            "pending": "state = 'pending'",
            "firing": "state = 'firing'",
            "acknowledged": "state IN ('pending', 'firing') AND acknowledged_by IS NOT NULL",
            "silenced": "state IN ('pending', 'firing') AND silenced = 1",
            "inhibited": "state IN ('pending', 'firing') AND inhibited_by != ''",
            "resolved": "state = 'resolved'",
            "stale": "state = 'stale'",
            "all": "1",
        }[state]
        order = "id DESC" if state in ("resolved", "stale", "all") else "id"
        if deployment is None:
            return self._conn.execute(f"SELECT * FROM alert_alerts WHERE {where} ORDER BY {order}").fetchall()
        return self._conn.execute(f"SELECT * FROM alert_alerts WHERE ({where}) AND deployment = ? "
                                  f"ORDER BY {order}", (deployment,)).fetchall()

    def occurrences(self, since: float | None = None, until: float | None = None) -> list[sqlite3.Row]:
        """Occurrences that overlap [since, until] (pending ones that never fired are not kept)."""
        lo = -1e300 if since is None else since
        hi = 1e300 if until is None else until
        return self._conn.execute(
            "SELECT * FROM alert_alerts WHERE started_at <= ? AND (resolved_at IS NULL OR resolved_at >= ?) "
            "ORDER BY started_at, id", (hi, lo)).fetchall()

    def stats(self, since: float | None = None, until: float | None = None) -> dict[str, Any]:
        return stats_of(self.occurrences(since, until))


def _merge_duplicate_active(conn: sqlite3.Connection) -> None:
    """Before the one-active-row index exists: a fingerprint with several active rows (two
    processes each kept their own) keeps its newest; the others are resolved as merged."""
    dups = conn.execute(f"SELECT fingerprint, MAX(id) FROM alert_alerts WHERE {ACTIVE_WHERE}"
                        " GROUP BY fingerprint HAVING COUNT(*) > 1").fetchall()
    for fp, keep in dups:
        conn.execute("INSERT INTO alert_history (alert_id, fingerprint, at, event, detail)"
                     " SELECT id, fingerprint, COALESCE(last_true_at, started_at), 'resolved', ?"
                     " FROM alert_alerts"
                     f" WHERE fingerprint = ? AND id != ? AND {ACTIVE_WHERE}",
                     (f"merged into row {keep}: one active row per alert", fp, keep))
        conn.execute("UPDATE alert_alerts SET state = 'resolved',"
                     " resolved_at = COALESCE(last_true_at, started_at)"
                     f" WHERE fingerprint = ? AND id != ? AND {ACTIVE_WHERE}", (fp, keep))


def stats_of(rows: list[sqlite3.Row]) -> dict[str, Any]:
    """Counts by severity, state and rule; MTTA (firing -> ack) and MTTR (firing -> resolved)."""
    sev: Counter[str] = Counter()
    state: Counter[str] = Counter()
    rule: Counter[str] = Counter()
    tta: list[float] = []
    ttr: list[float] = []
    for r in rows:
        sev[r["severity"]] += 1
        state[display_state(r)] += 1
        rule[r["rule"]] += 1
        began = r["firing_at"] if r["firing_at"] is not None else r["started_at"]
        if r["acknowledged_at"] is not None:
            tta.append(max(0.0, r["acknowledged_at"] - began))
        else:
            # an ack taken back still counts toward MTTA (report rows carry the first ack)
            columns = r.keys()
            first_ack = r["first_ack_at"] if "first_ack_at" in columns else None
            if first_ack is not None:
                tta.append(max(0.0, first_ack - began))
        if r["state"] == "resolved" and r["resolved_at"] is not None and r["firing_at"] is not None:
            ttr.append(max(0.0, r["resolved_at"] - r["firing_at"]))
    return {
        "total": len(rows),
        "by_severity": dict(sev), "by_state": dict(state), "by_rule": dict(rule),
        "mtta_s": sum(tta) / len(tta) if tta else None,
        "mttr_s": sum(ttr) / len(ttr) if ttr else None,
    }


def column(r: sqlite3.Row, name: str, default: Any = None) -> Any:
    """A column an older table may lack (read-only readers of an old state dir)."""
    return r[name] if name in r.keys() else default  # noqa: SIM118 (``in`` on a Row tests values)


def display_state(r: sqlite3.Row | dict[str, Any]) -> str:
    return str(r["state"])


def row_to_view(r: sqlite3.Row) -> AlertView:
    try:
        labels = json.loads(r["labels"] or "{}")
        if not isinstance(labels, dict):
            labels = {}
    except ValueError:
        labels = {}
    return AlertView(
        id=r["fingerprint"], rule=r["rule"], target=r["target"], severity=r["severity"], state=r["state"],
        value=r["value"], threshold=r["threshold"], summary=r["summary"], description=r["description"],
        runbook=r["runbook"], started_at=r["started_at"], firing_at=r["firing_at"],
        resolved_at=r["resolved_at"], acknowledged_by=r["acknowledged_by"],
        acknowledged_at=r["acknowledged_at"], ack_comment=r["ack_comment"] or "",
        silenced=bool(r["silenced"]), escalated=bool(r["escalated"]),
        labels={str(k): str(v) for k, v in labels.items()}, inhibited_by=column(r, "inhibited_by") or "",
        metric=column(r, "metric") or "", fired_value=column(r, "fired_value"),
    )


def report_fields(r: sqlite3.Row) -> dict[str, Any]:
    """One occurrence as the report's alert object (docs/report.md; times as epoch floats)."""
    return {
        "id": r["fingerprint"], "rule": r["rule"], "target": r["target"], "severity": r["severity"],
        "state": r["state"], "started_at": r["started_at"], "firing_at": r["firing_at"],
        "resolved_at": r["resolved_at"], "acknowledged_by": r["acknowledged_by"],
        "acknowledged_at": r["acknowledged_at"], "value": r["value"], "threshold": r["threshold"],
        "summary": r["summary"], "escalated": bool(r["escalated"]), "silenced": bool(r["silenced"]),
        "inhibited_by": column(r, "inhibited_by") or "",
    }


def _silence_dict(r: sqlite3.Row, now: float) -> dict[str, Any]:
    return {
        "id": int(r["id"]), "rule": r["rule"], "target": r["target"], "severity": r["severity"],
        "created_at": r["created_at"], "expires_at": r["expires_at"], "comment": r["comment"],
        "created_by": r["created_by"],
        "active": r["cancelled_at"] is None and r["expires_at"] > now,
    }


def prune_alerts(db_path: Path, before: float) -> int:
    """``AlertDB.prune`` on a connection of its own (the store's cleanup runs in a thread)."""
    if not Path(db_path).exists():
        return 0
    db = AlertDB(db_path, create=False)
    try:
        return db.prune(before)
    finally:
        db.close()


def report_alerts(db_path: Path, since: float, until: float, *, deployment: str | None = None,
                  session_id: str | None = None) -> dict[str, Any]:
    """The report's alerts and stats for [since, until], read without creating anything: of one
    deployment (and one session) when given."""
    empty: dict[str, Any] = {"alerts": [], "stats": stats_of([])}
    if not Path(db_path).exists():
        return empty
    try:
        conn = connect(db_path, read_only=True)
    except sqlite3.Error:
        return empty
    try:
        conn.row_factory = sqlite3.Row
        have = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alert_alerts'"
                            ).fetchone()
        if have is None:
            return empty
        where = ""
        params: list[Any] = [until, since]
        if deployment is not None:
            where, params = where + " AND a.deployment = ?", [*params, deployment]
        columns = {r[1] for r in conn.execute("PRAGMA table_info(alert_alerts)")}
        if session_id and "session_id" in columns:
            where, params = where + " AND a.session_id = ?", [*params, session_id]
        rows = conn.execute(
            "SELECT a.*, (SELECT MIN(k.at) FROM alert_acks k WHERE k.alert_id = a.id) AS first_ack_at "
            "FROM alert_alerts a WHERE a.started_at <= ? AND (a.resolved_at IS NULL OR a.resolved_at >= ?)"
            f"{where} ORDER BY a.started_at, a.id", params).fetchall()
        alerts = []
        for r in rows:
            item = report_fields(r)
            if item["acknowledged_by"] is None and r["first_ack_at"] is not None:
                ack = conn.execute("SELECT user, at FROM alert_acks WHERE alert_id = ? ORDER BY id LIMIT 1",
                                   (r["id"],)).fetchone()
                item["acknowledged_by"], item["acknowledged_at"] = ack["user"], ack["at"]
            alerts.append(item)
        return {"alerts": alerts, "stats": stats_of(rows)}
    except sqlite3.Error:
        return empty
    finally:
        conn.close()

