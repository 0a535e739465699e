"""Series benchmark: memory per sample, add() throughput, window() cost, RSS over a long run.

    .venv/bin/python benchmarks/bench_series.py            # full 24 h simulation (a few minutes)
    .venv/bin/python benchmarks/bench_series.py --hours 2  # quicker

Everything is measured side by side in one run and printed as a small table.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections import deque

import psutil

from wsmon_tui.engine.series import DEFAULT_CAPACITY, Series, SeriesBook

TARGETS = 200
METRICS = 20


def traced_bytes(build) -> tuple[int, object]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    obj = build()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, obj


def bench_bytes_per_sample(capacity: int) -> None:
    n_series = 50
    samples = n_series * capacity

    def ring():
        out = []
        for _ in range(n_series):
            s = Series(capacity)
            for i in range(capacity):
                s.add(float(i), i * 0.5 + 0.1)
            out.append(s)
        return out

    def float_list():  # ts and value as two Python floats in one list
        out = []
        for _ in range(n_series):
            col: list[float] = []
            for i in range(capacity):
                col.append(float(i) + 0.25)
                col.append(i * 0.5 + 0.1)
            out.append(col)
        return out

    def tuple_list():  # the obvious deque/list of (ts, value) tuples
        out = []
        for _ in range(n_series):
            out.append([(float(i) + 0.25, i * 0.5 + 0.1) for i in range(capacity)])
        return out

    print(f"\n## bytes per (ts, value) sample  ({n_series} series x {capacity} samples, tracemalloc)")
    ring_b, keep = traced_bytes(ring)
    del keep
    flt_b, keep = traced_bytes(float_list)
    del keep
    tup_b, keep = traced_bytes(tuple_list)
    del keep
    print(f"  Series (array('d') ring)     {ring_b / samples:7.1f} B/sample   1.00x")
    print(f"  list of floats (ts, value)   {flt_b / samples:7.1f} B/sample   {flt_b / ring_b:.2f}x")
    print(f"  list of (ts, value) tuples   {tup_b / samples:7.1f} B/sample   {tup_b / ring_b:.2f}x")


def bench_add(capacity: int) -> None:
    n = 1_000_000
    s = Series(capacity)
    add = s.add
    t0 = time.perf_counter()
    for i in range(n):
        add(float(i), 1.5)
    series_s = time.perf_counter() - t0

    book = SeriesBook(capacity)
    names = [(f"t{i % TARGETS}", f"m{i % METRICS}") for i in range(4000)]
    badd = book.add
    t0 = time.perf_counter()
    for i in range(n):
        tgt, met = names[i % 4000]
        badd(tgt, met, float(i), 1.5)
    book_s = time.perf_counter() - t0

    dq: deque[tuple[float, float]] = deque(maxlen=capacity)
    dadd = dq.append
    t0 = time.perf_counter()
    for i in range(n):
        dadd((float(i), 1.5))
    list_s = time.perf_counter() - t0

    print(f"\n## add() throughput ({n:,} adds)")
    print(f"  Series.add                   {n / series_s / 1e6:6.2f} M/s  ({series_s / n * 1e9:5.0f} ns)")
    print(f"  SeriesBook.add (4000 keys)   {n / book_s / 1e6:6.2f} M/s  ({book_s / n * 1e9:5.0f} ns)")
    print(f"  deque(maxlen) of tuples      {n / list_s / 1e6:6.2f} M/s  ({list_s / n * 1e9:5.0f} ns)")


def bench_window(capacity: int) -> None:
    book = SeriesBook(capacity)
    now = float(capacity)
    for t in range(TARGETS):
        for m in range(METRICS):
            s = Series(capacity)
            for i in range(capacity):
                s.add(float(i), float((i * 7919 + t * 31 + m) % 1000))
            book._series[(f"t{t}", f"m{m}")] = s
    keys = book.keys()
    print(f"\n## window() over {TARGETS} targets x {METRICS} metrics (1 sample/s, capacity {capacity})")
    for span in (60, 300, 600, capacity):
        since = now - span
        t0 = time.perf_counter()
        for tgt, met in keys:
            book.window(tgt, met, since)
        dt = time.perf_counter() - t0
        print(f"  window of {span:5d} s: {dt * 1000:8.1f} ms per sweep of {len(keys)} series "
              f"({dt / len(keys) * 1e6:6.1f} µs each)")


def bench_rss(capacity: int, hours: float) -> None:
    proc = psutil.Process()
    seconds = int(hours * 3600)
    series = [Series(capacity) for _ in range(TARGETS * METRICS)]
    gc.collect()
    rss0 = proc.memory_info().rss
    bound = len(series) * capacity * 16
    print(f"\n## RSS over a simulated {hours:g} h at 1 s, {TARGETS} targets x {METRICS} metrics, "
          f"capacity {capacity}")
    print(f"  data bound {bound / 2**20:.0f} MiB (fills after {capacity} s); "
          f"start RSS {rss0 / 2**20:.0f} MiB")
    marks = {int(seconds * f): f for f in (0.10, 0.50, 1.00)}
    t0 = time.perf_counter()
    for sec in range(1, seconds + 1):
        ts = float(sec)
        v = float(sec % 977)
        for s in series:
            s.add(ts, v)
        if sec in marks:
            rss = proc.memory_info().rss
            print(f"  {marks[sec] * 100:4.0f}% ({sec:6d} s simulated): RSS {rss / 2**20:7.1f} MiB "
                  f"(+{(rss - rss0) / 2**20:6.1f})   samples held {sum(map(len, series)):,}   "
                  f"elapsed {time.perf_counter() - t0:5.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=24.0, help="simulated run length (default 24)")
    ap.add_argument("--capacity", type=int, default=DEFAULT_CAPACITY, help="samples per series")
    args = ap.parse_args()
    print(f"# wsmon-tui series benchmark (capacity {args.capacity})")
    bench_bytes_per_sample(args.capacity)
    bench_add(args.capacity)
    bench_window(args.capacity)
    bench_rss(args.capacity, args.hours)


if __name__ == "__main__":
    main()
