"""A history database like a long monitoring run leaves it, written fast and the same every time.

    .venv/bin/python benchmarks/gen_history.py STATE_DIR [--targets 100] [--hours 24]
        [--interval 10] [--rolled-hours 24] [--seed 14] [--end EPOCH]

Writes ``STATE_DIR/wsmon.db`` through the store's own schema (``Store.open`` creates it,
``AlertDB`` the alert tables): for ``--targets`` targets probed every ``--interval`` seconds
over the last ``--hours`` hours, up to ``--end`` (default: now):

* two sessions: an earlier one over the ``--rolled-hours`` before the window, and the
  latest, running over the whole window (not ended, as if the monitor still ran);
* one probe row per target per interval (a few targets fail in bursts: refused, timeout,
  a 1006 close, HTTP 502), as ``Store.record_probes`` writes them;
* per target and interval ``METRICS`` samples, and ``FLEET`` fleet-wide ones, where the
  writer would hold them: ``series_samples`` (settled) for all but the last ``SETTLE_EVERY``
  seconds, which are still in ``samples``; before the window, 1-minute rollups only, as
  ``cleanup`` makes them once raw samples pass ``retention_raw``;
* alerts: a ``HighLatency`` episode now and then per failing target, resolved, and one still
  firing.

100 targets x 24 h at 10 s: 864,000 probes, 5.2 M raw samples in the window (the database
of issue 14). Rows go in with ``executemany`` in a few large transactions, in the order of
each table's key. The values come from ``random.Random(--seed)``: the same arguments give
the same database.
"""

from __future__ import annotations

import argparse
import math
import random
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wsmon_tui.alerts.alert import fingerprint
from wsmon_tui.alerts.db import ALERT_COLUMNS, AlertDB
from wsmon_tui.store import DB_NAME, Store
from wsmon_tui.store.writer import SETTLE_EVERY

METRICS = ("probe_success_rate", "error_rate", "handshake_p95", "rtt_p95", "health_score", "connections")
"""Stored per target each interval (6 a probe, as in issue 14's database)."""
FLEET = ("cpu_percent", "memory_percent", "rss_mb")
"""Stored for the fleet (target ``""``) each interval."""
DEPLOYMENT = "chat"
CHUNK = 200_000


def _value(rnd: random.Random, metric: str, base: float) -> float:
    if metric in ("probe_success_rate", "health_score"):
        return min(1.0, 0.97 + rnd.random() * 0.05) * (100.0 if metric == "health_score" else 1.0)
    if metric == "error_rate":
        return max(0.0, rnd.random() * 0.04 - 0.02)
    if metric == "connections":
        return float(int(base * 40 + rnd.random() * 20))
    return base * (0.8 + rnd.random() * 0.4)


def _sessions(store: Store, *, start: float, window_start: float, interval: float,
              targets: list[tuple[str, str]]) -> tuple[str | None, str]:
    earlier = None
    if start < window_start:
        earlier = store.begin_session(deployment=DEPLOYMENT, version="1.0.0", level="standard",
                                      config_digest="gen", interval=interval, targets=targets,
                                      host="gen-history", user="bench", started_at=start)
        store.end_session(earlier, "sigterm", ended_at=window_start - interval)
    latest = store.begin_session(deployment=DEPLOYMENT, version="1.1.0", level="standard",
                                 config_digest="gen", interval=interval, targets=targets,
                                 host="gen-history", user="bench", started_at=window_start)
    return earlier, latest


def generate(state_dir: Path, *, targets: int = 100, hours: float = 24.0, interval: float = 10.0,
             rolled_hours: float = 24.0, seed: int = 14, end: float | None = None) -> dict[str, float]:
    """Write the database; returns its figures (rows, bytes, seconds, the window)."""
    started = time.perf_counter()
    end = math.floor((time.time() if end is None else end) / 60.0) * 60.0
    window_start = end - hours * 3600.0
    start = window_start - rolled_hours * 3600.0
    names = [(f"ws-{i:03d}", f"wss://ws-{i:03d}.example.net/socket") for i in range(targets)]
    rnd = random.Random(seed)
    failing = set(rnd.sample(range(targets), max(1, targets // 10)))
    hs_base = [20.0 + rnd.random() * 80.0 for _ in range(targets)]

    with Store.open(state_dir) as store:
        earlier, latest = _sessions(store, start=start, window_start=window_start, interval=interval,
                                    targets=names)
        series = [(name, m) for name, _ in names for m in METRICS] + [("", m) for m in FLEET]
        with store._tx() as c:
            c.executemany("INSERT INTO series (target, metric) VALUES (?, ?)", series)
        store.heartbeat(latest, at=end, status="healthy", health_score=97.0, summary={"status": "healthy"})
        store.flush(30)
    db = state_dir / DB_NAME
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -64000")
    ids = {(t, m): i for i, t, m in conn.execute("SELECT id, target, metric FROM series")}
    ticks = int(hours * 3600.0 / interval)
    settled = end - SETTLE_EVERY
    probes = _write_probes(conn, rnd, names, failing, hs_base, window_start, interval, ticks, latest)
    raw, rollups = _write_samples(conn, rnd, ids, hs_base, start, window_start, interval, ticks, settled)
    alerts = _write_alerts(db, rnd, names, failing, window_start, end)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"probes": probes, "samples": raw, "rollups": rollups, "alerts": alerts,
            "bytes": db.stat().st_size, "seconds": time.perf_counter() - started,
            "since": window_start, "until": end, "session_started": window_start,
            "earlier_session": 1.0 if earlier else 0.0}


def _write_probes(conn: sqlite3.Connection, rnd: random.Random, names: list[tuple[str, str]],
                  failing: set[int], hs_base: list[float], t0: float, interval: float, ticks: int,
                  session: str) -> int:
    rows: list[tuple] = []
    n = 0
    sql = ("INSERT INTO probes (session_id, target, ts, ok, error_class, detail, connect_ms, handshake_ms,"
           " rtt_ms, ping_ms, duration_ms, close_code, close_reason, http_status)"
           " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    for k in range(ticks):
        ts = t0 + k * interval
        burst = (k // 90) % 16 == 3  # a quarter hour of trouble every four hours
        for i, (name, _) in enumerate(names):
            at = ts + i * 0.003
            if i in failing and burst and rnd.random() < 0.5:
                kind = rnd.randrange(4)
                if kind == 0:
                    rows.append((session, name, at, 0, "refused", "connection refused", None, None, None,
                                 None, 1.2, None, "", None))
                elif kind == 1:
                    rows.append((session, name, at, 0, "timeout", "handshake timed out after 5s", 3.1,
                                 None, None, None, 5000.0, None, "", None))
                elif kind == 2:
                    hs = hs_base[i] * (0.8 + rnd.random() * 0.4)
                    rows.append((session, name, at, 0, "closed", "closed 1006 before the reply", 3.0, hs,
                                 None, None, hs + 2.0, 1006, "", None))
                else:
                    rows.append((session, name, at, 0, "http_status", "upgrade refused: HTTP 502", 3.0,
                                 None, None, None, 9.0, None, "", 502))
                continue
            hs = hs_base[i] * (0.8 + rnd.random() * 0.4) + (rnd.random() ** 20) * 400.0
            rtt = hs * 0.4 + rnd.random() * 5.0
            rows.append((session, name, at, 1, None, "", 2.0 + rnd.random(), hs, rtt, None, hs + rtt + 1.0,
                         1000, "", None))
        if len(rows) >= CHUNK:
            n += _flush(conn, sql, rows)
    n += _flush(conn, sql, rows)
    return n


def _flush(conn: sqlite3.Connection, sql: str, rows: list[tuple]) -> int:
    if not rows:
        return 0
    conn.execute("BEGIN")
    conn.executemany(sql, rows)
    conn.execute("COMMIT")
    n = len(rows)
    rows.clear()
    return n


def _write_samples(conn: sqlite3.Connection, rnd: random.Random, ids: dict[tuple[str, str], int],
                   hs_base: list[float], start: float, t0: float, interval: float, ticks: int,
                   settled: float) -> tuple[int, int]:
    """Rollups before ``t0``, settled raw samples series by series, the unsettled tail by time."""
    per_minute = max(1, int(60.0 / interval))
    minutes = int((t0 - start) / 60.0)
    roll_sql = "INSERT INTO rollups (series_id, minute, min, max, avg, count) VALUES (?,?,?,?,?,?)"
    raw_sql = "INSERT INTO series_samples (series_id, ts, value) VALUES (?,?,?)"
    rows: list[tuple] = []
    rolled: list[tuple] = []
    tail: list[tuple[float, int, float]] = []
    n_raw = n_roll = 0
    for (target, metric), sid in sorted(ids.items(), key=lambda kv: kv[1]):
        base = hs_base[int(target[3:])] if target else 50.0
        for m in range(minutes):
            vals = [_value(rnd, metric, base) for _ in range(per_minute)]
            rolled.append((sid, start + m * 60.0, min(vals), max(vals), sum(vals) / len(vals), len(vals)))
        if len(rolled) >= CHUNK:
            n_roll += _flush(conn, roll_sql, rolled)
        for k in range(ticks):
            ts = t0 + k * interval
            v = _value(rnd, metric, base)
            if ts < settled:
                rows.append((sid, ts, v))
            else:
                tail.append((ts, sid, v))
            if len(rows) >= CHUNK:
                n_raw += _flush(conn, raw_sql, rows)
    n_raw += _flush(conn, raw_sql, rows)
    n_roll += _flush(conn, roll_sql, rolled)
    tail.sort()
    n_raw += _flush(conn, "INSERT INTO samples (ts, series_id, value) VALUES (?,?,?)", tail)
    return n_raw, n_roll


def _write_alerts(db: Path, rnd: random.Random, names: list[tuple[str, str]], failing: set[int],
                  t0: float, end: float) -> int:
    alerts = AlertDB(db)
    n = 0
    try:
        with alerts.transaction() as conn:
            for i in sorted(failing):
                name = names[i][0]
                fp = fingerprint("HighLatency", name, DEPLOYMENT)
                at = t0 + 3600.0  # then every four hours
                while at < end:
                    values = {c: None for c in ALERT_COLUMNS}
                    values.update(fingerprint=fp, rule="HighLatency", target=name, deployment=DEPLOYMENT,
                                  severity="warning", base_severity="warning", state="resolved",
                                  value=400.0 + rnd.random() * 100, threshold=300.0,
                                  summary=f"handshake p95 high on {name}", description="", runbook="",
                                  labels="{}", started_at=at, firing_at=at + 60.0, resolved_at=at + 900.0,
                                  last_true_at=at + 840.0, ack_comment="", silenced=0, escalated=0,
                                  external=0, seq=n + 1, notified_firing=1, inhibited_by="",
                                  session_id="", metric="handshake_p95", fired_value=420.0)
                    if at + 4 * 3600.0 >= end:
                        values.update(state="firing", resolved_at=None)
                    alerts.save_alert(conn, None, values)
                    n += 1
                    at += 4 * 3600.0
    finally:
        alerts.close()
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("state_dir", type=Path)
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--rolled-hours", type=float, default=24.0,
                    help="history before the window, as 1-minute rollups only")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--end", type=float, default=None, help="epoch seconds the history ends at (default now)")
    args = ap.parse_args()
    if (args.state_dir / DB_NAME).exists():
        print(f"{args.state_dir / DB_NAME} exists: give an empty state dir", file=sys.stderr)
        return 2
    got = generate(args.state_dir, targets=args.targets, hours=args.hours, interval=args.interval,
                   rolled_hours=args.rolled_hours, seed=args.seed, end=args.end)
    print(f"{args.state_dir / DB_NAME}: {got['probes']:,.0f} probes, {got['samples']:,.0f} raw samples, "
          f"{got['rollups']:,.0f} rollups, {got['alerts']:.0f} alerts, {got['bytes'] / 1e6:.0f} MB "
          f"in {got['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
