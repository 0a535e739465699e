"""Scrape benchmark: promtext vs prometheus_client, and a shared client vs a client per scrape.

Run: ``.venv/bin/python benchmarks/bench_scrape.py [--series 10000] [--url URL ...]``

Prints side-by-side times and ratios measured in this one run:

1. extracting the configured families (6) from a synthetic 10,000-series page with
   ``wsmon_tui.engine.promtext.parse`` vs parsing the page with
   ``prometheus_client``'s ``text_string_to_metric_families`` (the target: <= 0.25),
   after checking that both give identical values for the configured series;
2. the same on real pages: Prometheus's own ``/metrics`` (a local ``prometheus`` is
   started when the binary is installed) and any ``--url`` given;
3. CPU per scrape of the real ``Scraper`` against a local HTTP server, with one shared
   keep-alive client vs a new client per scrape.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wsmon_tui.config import MetricsConfig, TargetConfig
from wsmon_tui.engine import promtext
from wsmon_tui.engine.scrape import Scraper, make_client

WANTED = ("ws_connections", "ws_messages", "ws_errors", "ws_send_queue_depth", "ws_clients",
          "ws_message_latency_seconds")
BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf")


def synthetic_page(n_series: int = 10_000, seed: int = 1, openmetrics: bool = False) -> str:
    """A realistic exposition page: the wanted families plus filler families, ~n_series samples."""
    rnd = random.Random(seed)
    lines: list[str] = []
    instances = [f"ws-{i}" for i in range(8)]

    def fam(name: str, kind: str, help_: str) -> None:
        if openmetrics and kind == "counter":
            name = name.removesuffix("_total")
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")

    fam("ws_connections", "gauge", "Open WebSocket connections.")
    for inst in instances:
        lines.append(f'ws_connections{{instance="{inst}",path="/ws"}} {rnd.randint(100, 5000)}')
    fam("ws_connections_opened_total", "counter", "A neighbour sharing the prefix.")
    for inst in instances:
        lines.append(f'ws_connections_opened_total{{instance="{inst}"}} {rnd.randint(1, 10**7)}')
    for name in ("ws_messages_total", "ws_errors_total"):
        fam(name, "counter", "Counter.")
        for inst in instances:
            for kind in ("text", "binary", "ping"):
                lines.append(f'{name}{{instance="{inst}",kind="{kind}"}} {rnd.randint(0, 10**9)}')
    fam("ws_send_queue_depth", "gauge", "Send queue.")
    for inst in instances:
        lines.append(f'ws_send_queue_depth{{instance="{inst}"}} {rnd.random() * 100:.3f}')
    fam("ws_clients", "gauge", "Clients by transport.")
    for transport in ("websocket", "longpoll", "sse"):
        lines.append(f'ws_clients{{transport="{transport}",note="a \\"quoted\\" \\\\ value"}} '
                     f'{rnd.randint(0, 10**5)}')
    fam("ws_message_latency_seconds", "histogram", "Latency.")
    for inst in instances:
        total = 0
        for le in BUCKETS:
            total += rnd.randint(0, 1000)
            lines.append(f'ws_message_latency_seconds_bucket{{instance="{inst}",le="{le}"}} {total}')
        lines.append(f'ws_message_latency_seconds_sum{{instance="{inst}"}} {rnd.random() * 1000:.6f}')
        lines.append(f'ws_message_latency_seconds_count{{instance="{inst}"}} {total}')

    handlers = [f"/api/v1/{w}" for w in ("query", "series", "labels", "targets", "rules", "alerts",
                                          "status", "write", "read", "admin")]
    i = 0
    while sum(1 for ln in lines if not ln.startswith("#")) < n_series:
        i += 1
        kind = ("counter", "gauge", "histogram")[i % 3]
        name = f"app_subsystem{i % 17}_metric_{i}"
        if kind == "histogram":
            name += "_seconds"
            fam(name, kind, "Filler histogram.")
            for h in handlers[:3]:
                total = 0
                for le in BUCKETS:
                    total += rnd.randint(0, 50)
                    lines.append(f'{name}_bucket{{handler="{h}",le="{le}"}} {total}')
                lines.append(f'{name}_sum{{handler="{h}"}} {rnd.random():.6f}')
                lines.append(f'{name}_count{{handler="{h}"}} {total}')
        else:
            if kind == "counter":
                name += "_total"
            fam(name, kind, "Filler.")
            for h in handlers:
                for code in ("200", "500", "503"):
                    value = rnd.randint(0, 10**6)
                    lines.append(f'{name}{{handler="{h}",code="{code}",method="GET"}} {value}')
    return "\n".join(lines) + ("\n# EOF\n" if openmetrics else "\n")


def reference(text: str, wanted: Iterable[str], openmetrics: bool) -> dict[tuple, float]:
    """prometheus_client's view of the wanted samples: {(sample name, labels): value}."""
    names = promtext.accepted_names(wanted)
    parse = om_parse if openmetrics else text_parse
    out: dict[tuple, float] = {}
    for family in parse(text):
        for s in family.samples:
            if s.name in names:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def ours(text: str, wanted: Iterable[str]) -> dict[tuple, float]:
    return {(name, tuple(sorted(labels.items()))): value
            for name, samples in promtext.parse(text, wanted).items() for labels, value in samples}


def same(a: dict[tuple, float], b: dict[tuple, float]) -> bool:
    if a.keys() != b.keys():
        return False
    return all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def best_of(fn: Callable[[], object], repeat: int = 7) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def compare(label: str, text: str, wanted: tuple[str, ...], openmetrics: bool = False) -> float:
    ref = reference(text, wanted, openmetrics)
    got = ours(text, wanted)
    if not same(ref, got):
        print(f"{label}: VALUES DIFFER (reference {len(ref)} samples, promtext {len(got)})")
        return math.nan
    parse = om_parse if openmetrics else text_parse
    t_ref = best_of(lambda: [f.samples for f in parse(text)], 3)
    t_ours = best_of(lambda: promtext.parse(text, wanted))
    n_lines = sum(1 for ln in text.splitlines() if ln and not ln.startswith("#"))
    ratio = t_ours / t_ref
    print(f"{label:<46} {n_lines:>6} series {len(got):>4} wanted  prometheus_client {t_ref * 1e3:8.2f} ms"
          f"  promtext {t_ours * 1e3:7.3f} ms  ratio {ratio:.3f}  {'OK' if ratio <= 0.25 else 'OVER 0.25'}")
    return ratio


def real_prometheus_pages() -> list[tuple[str, str, tuple[str, ...], bool]]:
    if not shutil.which("prometheus"):
        print("prometheus not installed: real Prometheus page skipped")
        return []
    from tests.prom_server import running_prometheus

    pages = []
    with running_prometheus(Path(__import__("tempfile").mkdtemp(prefix="bench-prom-"))) as prom:
        # Prometheus 2.x answers text 0.0.4 for its own page even when asked for OpenMetrics.
        resp = httpx.get(prom.url + "/metrics", timeout=10,
                         headers={"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
        om = "openmetrics" in resp.headers.get("content-type", "")
        wanted = ("prometheus_http_requests", "prometheus_http_request_duration_seconds",
                  "go_goroutines", "process_resident_memory_bytes",
                  "prometheus_tsdb_head_series", "go_gc_duration_seconds")
        label = f"prometheus /metrics ({'OpenMetrics' if om else 'text 0.0.4'})"
        pages.append((label, resp.text, wanted, om))
    return pages


async def bench_clients(n: int = 200) -> None:
    page = synthetic_page(2000).encode()

    handlers: set[asyncio.Task] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                             + str(len(page)).encode() + b"\r\n\r\n" + page)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # a handler cancelled at shutdown ends quietly (3.11 logs a cancelled handler task)
        finally:
            writer.close()
            handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    metrics = MetricsConfig(connections="ws_connections", messages="ws_messages_total",
                            latency_histogram="ws_message_latency_seconds")
    target = TargetConfig(name="t", url="ws://x", metrics_url=f"http://127.0.0.1:{port}/metrics")
    try:
        async with make_client() as client:
            scraper = Scraper(metrics, client)
            t0 = time.process_time()
            for i in range(n):
                assert (await scraper.scrape(target, float(i))).ok
            shared = (time.process_time() - t0) / n
        t0 = time.process_time()
        for i in range(n):
            async with make_client() as client:
                assert (await Scraper(metrics, client).scrape(target, float(i))).ok
        fresh = (time.process_time() - t0) / n
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
    print(f"{'Scraper, 2000-series page, CPU per scrape':<46} shared client {shared * 1e3:.2f} ms"
          f"  new client each time {fresh * 1e3:.2f} ms  ratio {fresh / shared:.1f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--url", action="append", default=[], help="also measure a real page (http only)")
    ap.add_argument("--no-prometheus", action="store_true", help="do not start a local prometheus")
    args = ap.parse_args()

    ratios = [compare(f"synthetic text 0.0.4 ({args.series} series)", synthetic_page(args.series), WANTED)]
    om_page = synthetic_page(args.series, openmetrics=True)
    ratios.append(compare("synthetic OpenMetrics", om_page, WANTED, openmetrics=True))
    pages = [] if args.no_prometheus else real_prometheus_pages()
    for url in args.url:
        resp = httpx.get(url, timeout=10)
        wanted = tuple(sorted({f.name for f in text_parse(resp.text)})[:6])
        pages.append((url, resp.text, wanted, "openmetrics" in resp.headers.get("content-type", "")))
    for label, text, wanted, om in pages:
        ratios.append(compare(label, text, wanted, om))
    asyncio.run(bench_clients())
    bad = [r for r in ratios if not r <= 0.25]
    print("target (promtext <= 1/4 of prometheus_client, identical values):",
          "MET" if not bad else f"NOT MET on {len(bad)} page(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
