"""Store throughput and size, measured side by side in one run.

    .venv/bin/python benchmarks/bench_store.py [--samples 1000000] [--series 1000] [--compare]

Prints: the caller's cost per ``record_samples`` call (what the event loop pays),
samples/s through ``record_samples`` + ``flush`` next to a bare sqlite3 executemany into a
plain table without any index (the floor), bytes per sample on disk after the raw
writes, the time and result of ``cleanup`` into 1-minute rollups, and a one-series
range query. The store's figure includes its settling of samples into ``series_samples``
every 5 minutes of sample time. ``--compare`` adds the write the store avoids: samples
clustered by series (``WITHOUT ROWID`` keyed ``(series_id, ts)``) written directly, one
tick per transaction.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wsmon_tui.store import DB_NAME, Store

T0 = 1_800_000_000.0


def _db_bytes(path: Path, conn: sqlite3.Connection) -> int:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return path.stat().st_size


def _ticks(n_samples: int, n_series: int) -> list[list[tuple[str, str, float]]]:
    rnd = random.Random(7)
    names = [(f"target-{i // 20:03d}", f"metric_{i % 20:02d}") for i in range(n_series)]
    return [[(t, m, rnd.random() * 100) for t, m in names] for _ in range(n_samples // n_series)]


def bench_floor(dirpath: Path, ticks: list[list[tuple[str, str, float]]], n_series: int) -> float:
    """Bare sqlite3: rowid table, no index, 1000-row transactions, series ids known."""
    db = dirpath / "floor.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE samples (ts REAL, series_id INTEGER, value REAL)")
    rows = [(T0 + i, k, v) for i, tick in enumerate(ticks) for k, (_, _, v) in enumerate(tick)]
    start = time.perf_counter()
    for j in range(0, len(rows), 1000):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO samples VALUES (?, ?, ?)", rows[j:j + 1000])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    size = _db_bytes(db, conn)
    conn.close()
    print(f"  floor: bare executemany, no index   {len(rows) / elapsed:>12,.0f} samples/s   "
          f"{size / len(rows):6.1f} B/sample")
    return len(rows) / elapsed


def bench_clustered(dirpath: Path, ticks: list[list[tuple[str, str, float]]]) -> float:
    """The rejected write: one B-tree keyed (series_id, ts) written one tick per transaction."""
    db = dirpath / "clustered.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE samples (series_id INTEGER, ts REAL, value REAL, PRIMARY KEY (series_id, ts))"
                 " WITHOUT ROWID")
    n = 0
    start = time.perf_counter()
    for i, tick in enumerate(ticks):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO samples VALUES (?, ?, ?)",
                         [(k, T0 + i, v) for k, (_, _, v) in enumerate(tick)])
        conn.execute("COMMIT")
        n += len(tick)
    elapsed = time.perf_counter() - start
    size = _db_bytes(db, conn)
    conn.close()
    print(f"  rejected: clustered by series        {n / elapsed:>12,.0f} samples/s   "
          f"{size / n:6.1f} B/sample")
    return n / elapsed


def bench_store(dirpath: Path, ticks: list[list[tuple[str, str, float]]], n_series: int) -> float:
    state = dirpath / "state"
    n = sum(len(t) for t in ticks)
    with Store.open(state) as store:
        enqueue = 0.0
        start = time.perf_counter()
        for i, tick in enumerate(ticks):
            t = time.perf_counter()
            store.record_samples("bench", T0 + i, tick)
            enqueue += time.perf_counter() - t
        if not store.flush(600):
            raise SystemExit("flush did not finish in 600 s")
        elapsed = time.perf_counter() - start
        assert store.dropped_writes == 0, store.last_write_error
        raw = _db_bytes(state / DB_NAME, store._conn)
        print(f"  Store.record_samples + flush         {n / elapsed:>12,.0f} samples/s   "
              f"{raw / n:6.1f} B/sample   ({raw / 1e6:.1f} MB for {n:,} samples)")
        print(f"  caller cost per record_samples call  {enqueue / len(ticks) * 1e6:>12,.0f} µs "
              f"for {n_series} samples ({enqueue / n * 1e9:.0f} ns/sample)")

        target, metric = ticks[0][7][:2]
        t = time.perf_counter()
        got = store.samples(target, metric, T0 + 100, T0 + 400)
        q = time.perf_counter() - t
        print(f"  samples() one series, 300 s window   {q * 1e3:>12.2f} ms ({len(got)} points)")

        now = T0 + len(ticks) + 3600  # every raw sample is older than retention_raw
        t = time.perf_counter()
        store.cleanup(now, retention_raw=3600, retention=30 * 86400)
        c = time.perf_counter() - t
        after = _db_bytes(state / DB_NAME, store._conn)
        rollups = store._conn.execute("SELECT count(*) FROM rollups").fetchone()[0]
        print(f"  cleanup into 1-minute rollups        {c:>12.2f} s    {after / n:6.2f} B/sample   "
              f"({after / 1e6:.2f} MB, {rollups:,} rollup rows, {after / max(rollups, 1):.0f} B/row)")
        t = time.perf_counter()
        got = store.samples(target, metric, T0, now)
        q = time.perf_counter() - t
        print(f"  samples() one series after cleanup   {q * 1e3:>12.2f} ms ({len(got)} points)")
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--series", type=int, default=1000, help="series written each tick (targets x 20)")
    ap.add_argument("--compare", action="store_true", help="also time the series-clustered layout (slow)")
    args = ap.parse_args()
    ticks = _ticks(args.samples, args.series)
    print(f"store benchmark: {args.samples:,} samples, {args.series} series, "
          f"{len(ticks)} ticks 1 s apart, sqlite {sqlite3.sqlite_version}, pid {os.getpid()}")
    with tempfile.TemporaryDirectory(prefix="wsmon-bench-") as tmp:
        floor = bench_floor(Path(tmp), ticks, args.series)
        store = bench_store(Path(tmp), ticks, args.series)
        clustered = bench_clustered(Path(tmp), ticks) if args.compare else None
    print(f"  ratio floor / Store                  {floor / store:>12.1f} x")
    if clustered is not None:
        print(f"  ratio Store / clustered              {store / clustered:>12.1f} x")


if __name__ == "__main__":
    main()
