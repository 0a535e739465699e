"""One frame of a replay: the Snapshot a recorded session's screens showed at one instant,
rebuilt from what the store kept.

Kept, and so shown: each target's stored figures (success and error rate, handshake and
round-trip percentiles, score, server metrics), the fleet's (score, summed server metrics,
host and process resources), the probes themselves (the last one, the errors, close codes and
statuses counted over the session so far, the probes in the evaluation window), the status
changes, sparklines from the stored samples, the alerts, the rollback and the rollout.

Not kept, and so left empty (``None``, ``{}``) rather than made up: the performance score,
connections per server instance, the held connection's state, scrape errors, the baseline's
verdict; for a session recorded before the alert pictures were (``pictures.py``), alerts that
were pending but never fired (the alert engine deletes those). ``NOT_RECORDED`` names them;
every frame lists them (``Snapshot.not_recorded``, which the target view shows as "not
recorded") and says so in a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from wsmon_tui.engine.readmodel import HISTORY_POINTS
from wsmon_tui.metrics import HISTORY_METRICS, RESOURCE_METRICS, SERVER_METRICS
from wsmon_tui.model import (
    DeploymentView,
    Percentiles,
    ProbeResult,
    ResourceView,
    Snapshot,
    Status,
    TargetView,
    counts_close_code,
    counts_http_status,
)
from wsmon_tui.replay.episodes import alert_views_at, rollback_view_at
from wsmon_tui.replay.pictures import picture_at
from wsmon_tui.replay.source import Recording, StoreReader

NOT_RECORDED = {"performance_score": "performance score", "instances": "connections per instance",
                "hold": "held connection state", "scrape_errors": "scrape errors",
                "baseline": "baseline verdict", "pending_alerts": "pending alerts that never fired"}
"""Figures a live snapshot has that the store does not keep (``Snapshot.not_recorded``), by name."""
NO_STATUS_NOTE = "replay: statuses were not recorded by the version that ran this session"

DONE_BY = "ts <= ?2 AND ts + coalesce(duration_ms, 0) / 1000.0 <= ?2"
"""A probe counts in a frame once its result was in (started and finished by the frame's instant;
``?2`` is the instant): one still in flight at the tick was not shown live."""
LOOKBACK_INTERVALS = 10
_PROBE_COLS = ("ts", "ok", "error_class", "detail", "connect_ms", "handshake_ms", "rtt_ms", "ping_ms",
               "duration_ms", "close_code", "close_reason", "http_status")
_PROCESS = (("process_cpu_percent", "cpu_percent"), ("rss_mb", "rss_mb"), ("open_fds", "open_fds"),
            ("threads", "threads"), ("process_connections", "connections"))


def _status_at(changes: tuple[tuple[float, str], ...], t: float) -> str:
    status = Status.UNKNOWN.value
    for at, value in changes:
        if at > t:
            break
        status = value
    return status


class FrameBuilder:
    """Builds frame ``i`` of a recording (blocking reads: call it from a worker thread)."""

    def __init__(self, reader: StoreReader, recording: Recording) -> None:
        self.reader = reader
        self.rec = recording
        self.lookback = max(LOOKBACK_INTERVALS * float(recording.session["interval"]), recording.window)
        """How far back one read looks for each target's last probe."""
        self._last_tails: tuple[int, dict[tuple[str, str], tuple[float, ...]]] | None = None

    # -- stored figures ----------------------------------------------------------------------

    def _values_at(self, t: float) -> dict[tuple[str, str], float]:
        """Every stored series' value at the instant ``t`` (raw samples, or the minute's rollup)."""
        by_id = {i: key for key, i in self.rec.series.items()}
        out: dict[tuple[str, str], float] = {}
        for sid, value in self.reader.read("SELECT series_id, value FROM samples WHERE ts = ?", (t,)):
            if sid in by_id:
                out[by_id[sid]] = float(value)
        ids = list(by_id)
        for i in range(0, len(ids), 500):  # both tables are keyed (series, time): a lookup per series
            chunk = ids[i:i + 500]
            marks = ", ".join("?" * len(chunk))
            for sid, value in self.reader.read(
                    f"SELECT series_id, value FROM series_samples WHERE series_id IN ({marks}) AND ts = ?"
                    f" UNION ALL SELECT series_id, avg FROM rollups WHERE series_id IN ({marks})"
                    " AND minute = ?",
                    (*chunk, t, *chunk, t)):
                out[by_id[sid]] = float(value)
        return out

    def _tails_at(self, index: int, values: Mapping[tuple[str, str], float]
                  ) -> dict[tuple[str, str], tuple[float, ...]]:
        """The sparklines of frame ``index``: the previous frame's with this frame's values added
        when the frames are built in order (playing), else read (a step back, a jump)."""
        done = self._last_tails
        if done is not None and done[0] == index - 1:
            tails = dict(done[1])
            for key in ((n, m) for n, _ in self.rec.targets for m in HISTORY_METRICS):
                value = values.get(key)
                if value is not None:
                    tails[key] = (*tails.get(key, ())[-(HISTORY_POINTS - 1):], value)
        else:
            tails = self._tails(self.rec.times[index])
        self._last_tails = (index, tails)
        return tails

    def _tails(self, t: float) -> dict[tuple[str, str], tuple[float, ...]]:
        """Per target and sparkline metric, the last ``HISTORY_POINTS`` stored values up to ``t``,
        oldest first: one read of each table for every series (samples come once per interval,
        rollups once a minute, so the points lie within a bounded range before ``t``)."""
        wanted = {sid: key for key in ((n, m) for n, _ in self.rec.targets for m in HISTORY_METRICS)
                  if (sid := self.rec.series.get(key)) is not None}
        interval = float(self.rec.session["interval"])
        raw_since = max(self.rec.start, t - 2 * HISTORY_POINTS * interval)
        minute_since = max(self.rec.start - 60.0, t - 2 * HISTORY_POINTS * max(interval, 60.0))
        points: dict[int, list[tuple[float, float]]] = {}
        for sid, ts, value in self.reader.read(  # the unsettled minutes: by time, every series
                "SELECT series_id, ts, value FROM samples WHERE ts >= ? AND ts <= ?", (raw_since, t)):
            if sid in wanted:
                points.setdefault(sid, []).append((ts, value))
        ids = list(wanted)
        for i in range(0, len(ids), 500):  # keyed (series, time): a range read per series
            chunk = ids[i:i + 500]
            marks = ", ".join("?" * len(chunk))
            for sid, ts, value in self.reader.read(
                    f"SELECT series_id, ts, value FROM series_samples WHERE series_id IN ({marks})"
                    " AND ts >= ? AND ts <= ? UNION ALL SELECT series_id, minute, avg FROM rollups"
                    f" WHERE series_id IN ({marks}) AND minute >= ? AND minute <= ?",
                    (*chunk, raw_since, t, *chunk, minute_since, t)):
                points.setdefault(sid, []).append((ts, value))
        out: dict[tuple[str, str], tuple[float, ...]] = {}
        for sid, pts in points.items():
            pts.sort()
            out[wanted[sid]] = tuple(float(v) for _, v in pts[-HISTORY_POINTS:])
        return out

    # -- probes ------------------------------------------------------------------------------

    def _probe_counts(self, t: float) -> dict[str, dict[str, dict[str, int]]]:
        """Per target: errors by class, close codes and HTTP statuses over the session up to ``t``,
        counted as the live figures count them."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for target, ok, eclass, code, status, n in self.reader.read(
                "SELECT target, ok, error_class, close_code, http_status, count(*) FROM probes"
                f" WHERE session_id = ?1 AND {DONE_BY} AND (NOT ok OR close_code IS NOT NULL"
                " OR http_status IS NOT NULL) GROUP BY 1, 2, 3, 4, 5", (self.rec.id, t)):
            counts = out.setdefault(target, {"errors": {}, "close_codes": {}, "http_statuses": {}})
            if not ok:
                key = eclass or "unknown"
                counts["errors"][key] = counts["errors"].get(key, 0) + n
            if counts_close_code(bool(ok), code):
                counts["close_codes"][str(code)] = counts["close_codes"].get(str(code), 0) + n
            if counts_http_status(bool(ok), status):
                counts["http_statuses"][str(status)] = counts["http_statuses"].get(str(status), 0) + n
        return out

    def _in_window(self, t: float) -> dict[str, int]:
        return {str(target): int(n) for target, n in self.reader.read(
            f"SELECT target, count(*) FROM probes WHERE session_id = ?1 AND ts > ?3 AND {DONE_BY}"
            " GROUP BY target", (self.rec.id, t, t - self.rec.window))}

    def _last_probes(self, t: float) -> dict[str, ProbeResult]:
        """Each target's last probe whose result was in by ``t``: one read over the recent probes,
        then one per target that had none lately (down for long, or probed rarely)."""
        order = "ts + coalesce(duration_ms, 0) / 1000.0 DESC, id DESC"
        cols = ", ".join(_PROBE_COLS)
        out = {r["target"]: _probe(r) for r in self.reader.rows(
            f"SELECT target, {cols} FROM (SELECT target, {cols}, row_number() OVER (PARTITION BY target"
            f" ORDER BY {order}) AS rn FROM probes WHERE session_id = ?1 AND ts > ?3 AND {DONE_BY})"
            " WHERE rn = 1", (self.rec.id, t, t - self.lookback))}
        for name, _ in self.rec.targets:
            if name not in out:
                rows = self.reader.rows(f"SELECT target, {cols} FROM probes WHERE session_id = ?1 AND"
                                        f" target = ?3 AND {DONE_BY} ORDER BY {order} LIMIT 1",
                                        (self.rec.id, t, name))
                if rows:
                    out[name] = _probe(rows[0])
        return out

    # -- the frame ---------------------------------------------------------------------------

    def build(self, index: int) -> Snapshot:
        rec = self.rec
        t = rec.times[index]
        values = self._values_at(t)
        counts = self._probe_counts(t)
        in_window = self._in_window(t)
        last = self._last_probes(t)
        tails = self._tails_at(index, values)
        targets = tuple(self._target(name, url, t, values, counts.get(name, {}), in_window.get(name, 0),
                                     last.get(name), tails)
                        for name, url in rec.targets)
        overall = {m: v for (target, m), v in values.items() if target == ""}
        if rec.alert_pictures:
            alerts = picture_at(rec.alert_pictures, t, ())
        else:
            alerts = alert_views_at(rec.occurrences, t)
        if rec.rollback_pictures:
            rollback = picture_at(rec.rollback_pictures, t, None)
        else:
            rollback = rollback_view_at(rec.actions, t, auto_times=rec.auto_times, alerts=alerts)
        rollout = None
        for at, pct in rec.rollout:
            if at > t:
                break
            rollout = pct
        session = rec.session
        missing = {k: v for k, v in NOT_RECORDED.items() if k != "pending_alerts" or not rec.alert_pictures}
        notes = ["replay: not recorded, so not shown: " + ", ".join(missing.values())]
        if not rec.statuses:
            notes.insert(0, NO_STATUS_NOTE)
        return Snapshot(
            taken_at=t, tick=index + 1, session_id=rec.id,
            deployment=DeploymentView(name=str(session["deployment"]), version=str(session["version"] or ""),
                                      rollout_percent=rollout),
            level=str(session["level"]), interval=float(session["interval"]),
            status=_status_at(rec.statuses.get("", ()), t), health_score=overall.get("health_score"),
            targets=targets, resources=_resources(overall), alerts=alerts,
            rollback=rollback, notes=tuple(notes), overall=MappingProxyType(overall),
            not_recorded=tuple(missing))

    def _target(self, name: str, url: str, t: float, values: Mapping[tuple[str, str], float],
                counts: Mapping[str, dict[str, int]], probes: int, last: ProbeResult | None,
                tails: Mapping[tuple[str, str], tuple[float, ...]]) -> TargetView:
        def get(metric: str) -> float | None:
            return values.get((name, metric))

        metrics = {m: v for m in SERVER_METRICS if (v := get(m)) is not None}
        history = {m: tail for m in HISTORY_METRICS if (tail := tails.get((name, m)))}
        return TargetView(
            name=name, url=url, status=_status_at(self.rec.statuses.get(name, ()), t),
            health_score=get("health_score"), probes=probes, success_rate=get("probe_success_rate"),
            error_rate=get("error_rate"),
            handshake_ms=Percentiles(get("handshake_p50"), get("handshake_p95"), get("handshake_p99")),
            rtt_ms=Percentiles(get("rtt_p50"), get("rtt_p95"), get("rtt_p99")),
            errors=MappingProxyType(dict(counts.get("errors", {}))),
            close_codes=MappingProxyType(dict(counts.get("close_codes", {}))),
            http_statuses=MappingProxyType(dict(counts.get("http_statuses", {}))),
            last_probe=last, metrics=MappingProxyType(metrics),
            history=MappingProxyType(history))


def _probe(r: Mapping[str, Any]) -> ProbeResult:
    return ProbeResult(target=r["target"], started_at=r["ts"], ok=bool(r["ok"]), error_class=r["error_class"],
                       detail=r["detail"] or "", connect_ms=r["connect_ms"], handshake_ms=r["handshake_ms"],
                       rtt_ms=r["rtt_ms"], ping_ms=r["ping_ms"], duration_ms=r["duration_ms"],
                       close_code=r["close_code"], close_reason=r["close_reason"] or "",
                       http_status=r["http_status"])


def _resources(overall: Mapping[str, Any]) -> ResourceView | None:
    """The host's and the watched process's figures, when the session sampled them."""
    if not any(overall.get(m) is not None for m in RESOURCE_METRICS):
        return None
    tcp = overall.get("tcp_connections")
    return ResourceView(cpu_percent=overall.get("cpu_percent"), memory_percent=overall.get("memory_percent"),
                        load1=overall.get("load1"), tcp_connections=None if tcp is None else int(tcp),
                        process=MappingProxyType({key: overall[m] for m, key in _PROCESS
                                                  if overall.get(m) is not None}))
