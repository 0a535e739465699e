"""What the store reads back: sessions, samples and rollups, probe summaries, events.

Reads go through the caller connection (``Store._read``, under the store's lock); raw
samples where they are still kept, 1-minute rollups where ``cleanup`` has rolled them up.
Each read asks for what it needs: one series' range (a range read by ``(series_id, ts)``),
the last point of a series, counts grouped in SQL.
"""

from __future__ import annotations

import json
import math
import os
import socket
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsmon_tui.model import counts_close_code, counts_http_status
from wsmon_tui.stats import percentiles
from wsmon_tui.store.schema import SESSION_COLS

_ROLLUPS = "SELECT minute, avg FROM rollups WHERE series_id = ?1 AND minute >= ?2 AND minute <= ?3"
"""One series' minute rollups in a range (parameters: series id, since, until)."""
_RAW = ("SELECT ts, value FROM series_samples WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3"
        " UNION ALL SELECT ts, value FROM samples WHERE series_id = ?1 AND ts >= ?2 AND ts <= ?3")
"""One series' raw samples in a range: the settled ones (keyed by series) and the last minutes'."""


def where(*conditions: tuple[str, Any]) -> tuple[str, list[Any]]:
    """`` WHERE a AND b`` of the conditions whose value is not None, with their parameters."""
    used = [(sql, value) for sql, value in conditions if value is not None]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"({sql})" for sql, _ in used), [value for _, value in used]


def _percentiles(values: Iterable[float]) -> dict[str, float | None]:
    p50, p95, p99 = percentiles(values)
    return {"p50": p50, "p95": p95, "p99": p99}


def process_gone(host: str | None, pid: int | None) -> bool:
    """True when a session's monitor ran on this host and its process no longer exists."""
    if not pid or host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        return False
    return False


class History:
    """The reading half of ``Store`` (a mixin: ``Store`` owns the connections)."""

    if TYPE_CHECKING:
        path: Path

        def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]: ...

        def _iterate(self, sql: str, params: Iterable[Any] = ()) -> Iterator[tuple[Any, ...]]: ...

    # -- sessions ------------------------------------------------------------------

    def session(self, session_id: str) -> dict | None:
        rows = self._read(f"SELECT {', '.join(SESSION_COLS)} FROM sessions WHERE id = ?", (session_id,))
        return self._session_dict(rows[0]) if rows else None

    def sessions(self, *, since: float | None = None, deployment: str | None = None,
                 version: str | None = None) -> list[dict]:
        """Sessions oldest first; ``since`` keeps those that ended, or were last seen, at/after it."""
        clause, params = where(("coalesce(ended_at, last_seen) >= ?", since), ("deployment = ?", deployment),
                               ("version = ?", version))
        rows = self._read(f"SELECT {', '.join(SESSION_COLS)} FROM sessions{clause} ORDER BY started_at, id",
                          params)
        return [self._session_dict(r) for r in rows]

    def latest_session(self) -> dict | None:
        rows = self._read(f"SELECT {', '.join(SESSION_COLS)} FROM sessions ORDER BY started_at DESC, id DESC"
                          " LIMIT 1")
        return self._session_dict(rows[0]) if rows else None

    @staticmethod
    def _session_dict(row: tuple[Any, ...]) -> dict:
        d = dict(zip(SESSION_COLS, row, strict=True))
        d["targets"] = [tuple(t) for t in json.loads(d["targets"])]
        d["summary"] = json.loads(d["summary"]) if d["summary"] else {}
        return d

    # -- samples and probes ------------------------------------------------------------

    def series(self) -> list[tuple[str, str]]:
        """Every stored ``(target, metric)`` pair."""
        return [(t, m) for t, m in self._read("SELECT target, metric FROM series ORDER BY target, metric")]

    def _series_ids(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The ids of the stored series among ``pairs`` (one read of the small ``series`` table)."""
        wanted = set(pairs)
        if not wanted:
            return {}
        return {(t, m): i for i, t, m in self._read("SELECT id, target, metric FROM series")
                if (t, m) in wanted}

    def samples(self, target: str, metric: str, since: float,
                until: float | None = None) -> list[tuple[float, float]]:
        """``(ts, value)`` oldest first: raw samples where kept, else 1-minute rollups.

        A rollup contributes its average at the minute's start. Every part is a range read
        of the one series (``series_samples`` and ``rollups`` are keyed by series; the
        unsettled ``samples`` hold the last minutes only).
        """
        sid = self._series_ids([(target, metric)]).get((target, metric))
        if sid is None:
            return []
        hi = math.inf if until is None else until
        return [(ts, v) for ts, v in self._read(
            f"{_ROLLUPS} UNION ALL {_RAW} ORDER BY 1", (sid, since, hi))]

    def minute_points(self, target: str, metric: str, since: float,
                      until: float | None = None) -> list[tuple[float, float]]:
        """``(minute, avg)`` oldest first: the stored 1-minute rollups, and the same rollup computed
        from the raw samples where ``cleanup`` has not made it yet (long chart ranges read these)."""
        sid = self._series_ids([(target, metric)]).get((target, metric))
        if sid is None:
            return []
        hi = math.inf if until is None else until
        return [(ts, v) for ts, v in self._read(
            f"{_ROLLUPS} UNION ALL SELECT CAST(ts / 60 AS INTEGER) * 60.0 AS m, avg(value) FROM ({_RAW})"
            " GROUP BY m ORDER BY 1", (sid, since, hi))]

    def last_values(self, pairs: Iterable[tuple[str, str]], since: float,
                    until: float | None = None) -> dict[tuple[str, str], float]:
        """The last value in ``[since, until]`` of each stored series among ``pairs`` (the last
        point ``samples`` would return), asking for that point only."""
        ids = self._series_ids(pairs)
        if not ids:
            return {}
        hi = math.inf if until is None else until
        best: dict[int, tuple[float, int, float]] = {}  # id -> (ts, raw first on a tie, value)
        id_list = list(ids.values())
        for i in range(0, len(id_list), 500):
            chunk = id_list[i:i + 500]
            # unsettled samples: the last minutes of every series, one grouped read
            for sid, ts, value in self._read(
                    f"SELECT series_id, max(ts), value FROM samples WHERE ts >= ? AND ts <= ?"
                    f" AND series_id IN ({', '.join('?' * len(chunk))}) GROUP BY series_id",
                    (since, hi, *chunk)):
                best[sid] = (ts, 1, value)
        for sid in id_list:
            for ts, raw, value in self._read(
                    "SELECT * FROM (SELECT ts, 1, value FROM series_samples WHERE series_id = ?1"
                    " AND ts >= ?2 AND ts <= ?3 ORDER BY ts DESC LIMIT 1)"
                    " UNION ALL SELECT * FROM (SELECT minute, 0, avg FROM rollups WHERE series_id = ?1"
                    " AND minute >= ?2 AND minute <= ?3 ORDER BY minute DESC LIMIT 1)", (sid, since, hi)):
                if sid not in best or (ts, raw) > best[sid][:2]:
                    best[sid] = (ts, raw, value)
        return {pair: best[sid][2] for pair, sid in ids.items() if sid in best}

    def rollups(self, target: str, metric: str, since: float,
                until: float | None = None) -> list[tuple[float, float, float, float, int]]:
        """``(minute, min, max, avg, count)`` rows of one series, oldest first."""
        hi = math.inf if until is None else until
        return [tuple(r) for r in self._read(
            "SELECT minute, min, max, avg, count FROM rollups WHERE series_id = (SELECT id FROM series"
            " WHERE target = ? AND metric = ?) AND minute >= ? AND minute <= ? ORDER BY minute",
            (target, metric, since, hi))]

    def probe_summary(self, *, since: float, until: float | None = None,
                      session_id: str | None = None) -> dict[str, dict]:
        """Per target: probes, ok, success_rate, error_rate, errors by class, close_codes,
        http_statuses, handshake_ms / rtt_ms percentiles, first_ts, last_ts, last_error.

        ``close_codes`` and ``http_statuses`` count as the live figures do
        (``model.counts_close_code``, ``model.counts_http_status``); percentiles are the shared
        ``stats.percentiles`` over every probe's latency. The counts come from grouped reads,
        the last error from one, and the latencies are streamed as bare floats, so a day of
        a hundred targets is read without holding its rows.
        """
        cond = "ts >= ? AND ts <= ?"
        params: list[Any] = [since, math.inf if until is None else until]
        if session_id is not None:
            cond += " AND session_id = ?"
            params.append(session_id)
        out: dict[str, dict] = {}
        for target, n, ok, first, last in self._read(
                f"SELECT target, count(*), sum(ok), min(ts), max(ts) FROM probes WHERE {cond}"
                " GROUP BY target", params):
            out[target] = {"probes": n, "ok": ok, "errors": {}, "close_codes": {}, "http_statuses": {},
                           "first_ts": first, "last_ts": last, "last_error": None}
        # the rows that may count under errors, close codes or statuses, grouped (a probe that
        # succeeded, closed with 1000 or no code and without a status counts in none of them)
        for target, ok, eclass, code, status, n in self._read(
                "SELECT target, ok, error_class, close_code, http_status, count(*) FROM probes"
                f" WHERE {cond} AND (NOT ok OR coalesce(close_code, 1000) != 1000 OR http_status IS NOT NULL)"
                " GROUP BY 1, 2, 3, 4, 5", params):
            s = out[target]
            if not ok:
                key = eclass or "unknown"
                s["errors"][key] = s["errors"].get(key, 0) + n
            if counts_close_code(bool(ok), code):
                s["close_codes"][str(code)] = s["close_codes"].get(str(code), 0) + n
            if counts_http_status(bool(ok), status):
                s["http_statuses"][str(status)] = s["http_statuses"].get(str(status), 0) + n
        if not out:
            return out
        for target, ts, eclass, detail, code, status in self._read(
                "SELECT target, ts, error_class, detail, close_code, http_status FROM"
                " (SELECT target, ts, error_class, detail, close_code, http_status, row_number() OVER"
                f" (PARTITION BY target ORDER BY ts DESC, id DESC) AS rn FROM probes WHERE {cond} AND NOT ok)"
                " WHERE rn = 1", params):
            out[target]["last_error"] = {"ts": ts, "error_class": eclass, "detail": detail,
                                         "close_code": code, "http_status": status}
        lat = {target: (array("d"), array("d")) for target in out}
        for target, hs, rtt in self._iterate(
                f"SELECT target, handshake_ms, rtt_ms FROM probes WHERE {cond}", params):
            if hs is not None:
                lat[target][0].append(hs)
            if rtt is not None:
                lat[target][1].append(rtt)
        for target, s in out.items():
            s["success_rate"] = s["ok"] / s["probes"]
            s["error_rate"] = 1.0 - s["success_rate"]
            s["handshake_ms"] = _percentiles(lat[target][0])
            s["rtt_ms"] = _percentiles(lat[target][1])
        return out

    # -- events ----------------------------------------------------------------------------

    def events(self, *, kinds: Iterable[str] | None = None, since: float | None = None,
               until: float | None = None, session_id: str | None = None) -> list[dict]:
        """Events oldest first as ``{"id", "session_id", "kind", "at", "data"}``."""
        kind_list = None if kinds is None else list(kinds)
        if kind_list is not None and not kind_list:
            return []
        clause, params = where(("at >= ?", since), ("at <= ?", until), ("session_id = ?", session_id))
        if kind_list is not None:
            marks = ", ".join("?" * len(kind_list))
            clause += f"{' AND' if clause else ' WHERE'} kind IN ({marks})"
            params.extend(kind_list)
        rows = self._read(f"SELECT id, session_id, kind, at, data FROM events{clause} ORDER BY at, id",
                          params)
        return [{"id": i, "session_id": s, "kind": k, "at": a, "data": json.loads(d)}
                for i, s, k, a, d in rows]
