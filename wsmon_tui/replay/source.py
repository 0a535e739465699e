"""A recorded session read back from the state database, read-only.

``StoreReader`` is the store's reading half (``store.history.History``) over one read-only
connection: opening it never creates, migrates or writes anything, so a replay can run
next to a live engine on the same state dir. ``load_recording`` reads what a session left:

* its **frames**: the instants its samples were stored (once per interval), from the
  fleet's series and each target's success rate and score;
* its **pictures**: the alerts and the rollback as its faces were given them, at each tick
  they changed (``pictures.py``; a session recorded before those were written has its alert
  occurrences and rollbacks rebuilt from their rows instead, ``episodes.py``), the rollout
  percent, and each status change (``status`` events);
* its **events**: what the timeline marks and ``[``/``]`` jump between, oldest first.

What a frame shows at one instant is built on demand by ``frames.py``.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsmon_tui.errors import WsmonError
from wsmon_tui.levels import LEVELS, evaluation_window
from wsmon_tui.replay.episodes import Ack, Occurrence, RollbackAction, Step
from wsmon_tui.replay.pictures import (
    AlertPictures,
    RollbackPictures,
    alert_events,
    read_pictures,
    rollback_events,
)
from wsmon_tui.seam import ReplayEvent
from wsmon_tui.store.connect import connect, state_db_path
from wsmon_tui.store.history import History

CLOCK_METRICS = ("probe_success_rate", "health_score")
"""Per target, the series whose stored instants are the frames (with every fleet series)."""
TICK_SLACK = 0.25
"""Seconds after a frame's instant within which the engine's own stamps belong to that tick (at
most a quarter of the interval): judging a tick takes milliseconds."""
USER_EVENTS = frozenset({"acknowledged", "unacknowledged"})
"""Transitions people make between ticks: never moved onto a tick (the next frame shows them)."""


class UnknownSession(WsmonError):
    """No such session to replay (exit 2, as for a usage error: the id given was wrong)."""

    exit_code = 2


class StoreReader(History):
    """The store's reads over one read-only connection (thread-safe: one lock)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_db_path(state_dir)
        if not self.path.exists():
            raise WsmonError(f"nothing to replay: no history in {state_dir} (no {self.path.name})")
        try:
            self._conn = connect(self.path, read_only=True, check_same_thread=False)
            self._conn.execute("SELECT count(*) FROM sessions").fetchone()
        except sqlite3.Error as exc:
            raise WsmonError(f"cannot read {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise WsmonError(f"cannot read {self.path}: {exc}") from exc

    def _iterate(self, sql: str, params: Iterable[Any] = ()) -> Iterator[tuple[Any, ...]]:
        yield from self._read(sql, params)

    def read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows as tuples."""
        return self._read(sql, params)

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts by column name."""
        with self._lock:
            try:
                cur = self._conn.execute(sql, tuple(params))
                names = [d[0] for d in cur.description or ()]
                return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            except sqlite3.Error as exc:
                raise WsmonError(f"cannot read {self.path}: {exc}") from exc

    def columns(self, table: str) -> set[str]:
        """The columns of ``table`` (empty when it does not exist: a stage never ran here)."""
        return {r[1] for r in self._read(f"PRAGMA table_info({table})")}

    def series_ids(self) -> dict[tuple[str, str], int]:
        return {(t, m): i for i, t, m in self._read("SELECT id, target, metric FROM series")}


# -- sessions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One recorded session as ``replay --list`` shows it."""

    id: str
    deployment: str
    version: str
    started_at: float
    ended_at: float | None
    ended_by: str | None
    alerts: int
    rollbacks: int


def _counts(reader: StoreReader, table: str, where: str = "") -> dict[str, int]:
    if "session_id" not in reader.columns(table):
        return {}
    return {str(s): int(n) for s, n in reader.read(
        f"SELECT session_id, count(*) FROM {table}{where} GROUP BY session_id")}


def list_sessions(reader: StoreReader) -> list[SessionInfo]:
    """Every recorded session, oldest first, with its alert occurrences and rollbacks."""
    alerts = _counts(reader, "alert_alerts")
    rollbacks = _counts(reader, "rollback_actions", " WHERE kind = 'rollback'")
    return [SessionInfo(id=s["id"], deployment=s["deployment"], version=s["version"],
                        started_at=s["started_at"], ended_at=s["ended_at"], ended_by=s["ended_by"],
                        alerts=alerts.get(s["id"], 0), rollbacks=rollbacks.get(s["id"], 0))
            for s in reader.sessions()]


def find_session(reader: StoreReader, wanted: str | None, *, deployment: str | None) -> dict[str, Any]:
    """The session ``wanted`` names (its id, or a prefix of exactly one), or without it the latest
    ended session of ``deployment`` (any deployment's when None)."""
    sessions = reader.sessions()
    if wanted:
        exact = [s for s in sessions if s["id"] == wanted]
        matches = exact or [s for s in sessions if s["id"].startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            shown = ", ".join(s["id"] for s in matches[:5])
            raise UnknownSession(f"session {wanted!r} is ambiguous: it matches {shown}; give more characters")
        raise UnknownSession(f"no session {wanted!r} in {reader.path.parent}; "
                             "see 'wsmon-tui replay --list'")
    ended = [s for s in sessions if s["ended_at"] is not None
             and (deployment is None or s["deployment"] == deployment)]
    if not ended:
        whose = f" of deployment {deployment!r}" if deployment else ""
        raise WsmonError(f"nothing to replay: no ended session{whose} in {reader.path.parent}; "
                         "see 'wsmon-tui replay --list'")
    return ended[-1]


# -- a recording ------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    """Everything of one session the frames are built from, read once."""

    session: dict[str, Any]
    times: tuple[float, ...]
    """The instants of the frames, oldest first."""
    start: float
    end: float
    """The session's start and end (its last sign of life while it ran, or it crashed)."""
    window: float
    """The evaluation window its snapshots counted probes over (level and interval)."""
    series: dict[tuple[str, str], int]
    occurrences: tuple[Occurrence, ...] = ()
    actions: tuple[RollbackAction, ...] = ()
    auto_times: tuple[float, ...] = ()
    alert_pictures: AlertPictures = ()
    """The alerts as the faces were given them, at each tick they changed (``pictures.py``); empty
    for a session recorded before they were, whose alerts come from ``occurrences``."""
    rollback_pictures: RollbackPictures = ()
    rollout: tuple[tuple[float, float | None], ...] = ()
    statuses: dict[str, tuple[tuple[float, str], ...]] = field(default_factory=dict)
    events: tuple[ReplayEvent, ...] = ()

    @property
    def id(self) -> str:
        return str(self.session["id"])

    @property
    def targets(self) -> list[tuple[str, str]]:
        return [(str(n), str(u)) for n, u in self.session["targets"]]

    def frame_of(self, at: float) -> int:
        """The first frame that shows what happened at ``at``."""
        return min(bisect_left(self.times, at), len(self.times) - 1)


def load_recording(reader: StoreReader, session: dict[str, Any]) -> Recording:
    sid = str(session["id"])
    start = float(session["started_at"])
    end = float(session["ended_at"] if session["ended_at"] is not None else session["last_seen"])
    series = reader.series_ids()
    names = [str(n) for n, _ in session["targets"]]
    clock = [i for (t, m), i in series.items() if t == "" or (t in names and m in CLOCK_METRICS)]
    times = _frame_times(reader, clock, start, end)
    if not times:
        raise WsmonError(f"session {sid} stored no samples to replay (it ended before its first interval)")
    end = max(end, times[-1])
    interval = float(session["interval"])
    level = LEVELS.get(str(session["level"]))
    window = evaluation_window(level.window, interval) if level is not None else interval * 10
    alert_pictures, rollback_pictures = read_pictures(
        reader.events(kinds=["alerts", "rollback"], session_id=sid))
    # a session recorded before the pictures were: its alerts and rollbacks rebuilt from the rows
    snap = _tick_snapper(times, interval)
    occurrences: tuple[Occurrence, ...] = ()
    if not alert_pictures:
        occurrences = tuple(_snapped_occurrence(o, snap) for o in _occurrences(reader, sid))
    actions: tuple[RollbackAction, ...] = ()
    auto_times: tuple[float, ...] = ()
    if not rollback_pictures:
        actions, auto_times = _actions(reader, session)
        actions = tuple(_snapped_action(a, snap) for a in actions)
        auto_times = tuple(sorted(float(snap(at) or at) for at in auto_times))
    events = [*(e for o in occurrences for e in o.events()), *(e for a in actions for e in a.events()),
              *alert_events(alert_pictures), *rollback_events(rollback_pictures)]
    events.sort(key=lambda e: e.at)
    return Recording(session=session, times=times, start=start, end=end, window=window, series=series,
                     occurrences=occurrences, actions=actions, auto_times=auto_times,
                     alert_pictures=alert_pictures, rollback_pictures=rollback_pictures,
                     rollout=_rollout(reader, sid), statuses=_statuses(reader, sid), events=tuple(events))


def _tick_snapper(times: tuple[float, ...], interval: float) -> Callable[[float | None], float | None]:
    """A time the engine stamped while judging a tick (an alert's transition, a rollback's start or
    end) moved onto that tick's frame: the tick's Snapshot is stamped first and judged
    milliseconds later, and its Snapshot already showed what the judging decided."""
    slack = min(TICK_SLACK, interval / 4)

    def snap(at: float | None) -> float | None:
        if at is None:
            return None
        i = bisect_right(times, at) - 1
        return times[i] if i >= 0 and at - times[i] <= slack else at

    return snap


def _snapped_occurrence(o: Occurrence, snap: Callable[[float | None], float | None]) -> Occurrence:
    row = dict(o.row)
    for key in ("started_at", "firing_at", "resolved_at"):
        row[key] = snap(row[key])
    moved = tuple((at if event in USER_EVENTS else float(snap(at) or at), event, value, detail)
                  for at, event, value, detail in o.transitions)
    return dataclasses.replace(o, row=row, transitions=moved)


def _snapped_action(a: RollbackAction, snap: Callable[[float | None], float | None]) -> RollbackAction:
    row = dict(a.row)
    for key in ("started_at", "finished_at"):
        row[key] = snap(row[key])
    return dataclasses.replace(a, row=row)


def _frame_times(reader: StoreReader, ids: list[int], start: float, end: float) -> tuple[float, ...]:
    found: set[float] = set()
    for sid in ids:
        found.update(ts for (ts,) in reader.read(
            "SELECT ts FROM series_samples WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3"
            " UNION SELECT ts FROM samples WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3"
            " UNION SELECT minute FROM rollups WHERE series_id = ?1 AND minute >= ?2 AND minute <= ?3",
            (sid, start, end)))
    return tuple(sorted(found))


def _occurrences(reader: StoreReader, sid: str) -> tuple[Occurrence, ...]:
    if "session_id" not in reader.columns("alert_alerts"):
        return ()
    rows = reader.rows("SELECT * FROM alert_alerts WHERE session_id = ? ORDER BY id", (sid,))
    if not rows:
        return ()
    ids = [r["id"] for r in rows]
    marks = ", ".join("?" * len(ids))
    transitions: dict[int, list[tuple[float, str, float | None, str]]] = {}
    for r in reader.rows(f"SELECT alert_id, at, event, value, detail FROM alert_history"
                         f" WHERE alert_id IN ({marks}) ORDER BY at, id", ids):
        transitions.setdefault(r["alert_id"], []).append((r["at"], r["event"], r["value"], r["detail"] or ""))
    acks: dict[int, list[Ack]] = {}
    if reader.columns("alert_acks"):
        for r in reader.rows(f"SELECT * FROM alert_acks WHERE alert_id IN ({marks}) ORDER BY at, id", ids):
            acks.setdefault(r["alert_id"], []).append(
                Ack(user=r["user"], at=r["at"], comment=r["comment"] or "", cleared_at=r["cleared_at"],
                    cleared_by=r["cleared_by"]))
    return tuple(Occurrence(row=r, transitions=tuple(transitions.get(r["id"], ())),
                            acks=tuple(acks.get(r["id"], ()))) for r in rows)


def _actions(reader: StoreReader,
             session: dict[str, Any]) -> tuple[tuple[RollbackAction, ...], tuple[float, ...]]:
    if not reader.columns("rollback_actions"):
        return (), ()
    rows = reader.rows("SELECT * FROM rollback_actions WHERE session_id = ? AND kind = 'rollback'"
                       " ORDER BY id", (session["id"],))
    actions = []
    for r in rows:
        steps = tuple(Step(seq=s["seq"], type=s["type"], name=s["name"],
                           ok=None if s["ok"] is None else bool(s["ok"]), duration_ms=s["duration_ms"],
                           detail=s["detail"] or "", started_at=s["started_at"])
                      for s in reader.rows("SELECT * FROM rollback_steps WHERE action_id = ? ORDER BY seq",
                                           (r["id"],)))
        actions.append(RollbackAction(row=r, steps=steps))
    auto = tuple(float(at) for (at,) in reader.read(
        "SELECT started_at FROM rollback_actions WHERE kind = 'rollback' AND automatic = 1"
        " AND deployment = ? AND version = ? ORDER BY started_at",
        (session["deployment"], session["version"])))
    return tuple(actions), auto


def _rollout(reader: StoreReader, sid: str) -> tuple[tuple[float, float | None], ...]:
    if "session_id" not in reader.columns("rollback_rollout"):
        return ()
    return tuple((float(at), pct) for at, pct in reader.read(
        "SELECT at, rollout_percent FROM rollback_rollout WHERE session_id = ? ORDER BY at", (sid,)))


def _statuses(reader: StoreReader, sid: str) -> dict[str, tuple[tuple[float, str], ...]]:
    """Per target ("" for the fleet), each recorded status change (older sessions have none)."""
    out: dict[str, list[tuple[float, str]]] = {}
    for event in reader.events(kinds=["status"], session_id=sid):
        for name, status in (event["data"].get("statuses") or {}).items():
            out.setdefault(str(name), []).append((float(event["at"]), str(status)))
    return {name: tuple(changes) for name, changes in out.items()}
