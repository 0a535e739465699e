"""Soak: a compressed day of monitoring, watching for leaks and lost notifications.

200 targets (most healthy, some flapping between up and 503, some hostile: replies later
than the timeout, or close with 1011), one metrics endpoint, and a webhook receiver that
fails now and then, all served by a child process on 127.0.0.1 so that only the
monitor's own resources are measured. Retention is compressed (raw samples 60 s,
rollups and probe results 120 s) so the database reaches its steady state within the run
(with these numbers a minute's rollup expires as soon as it is made; the monitor's own
periodic cleanup is what keeps the file flat).

Every ``--every`` seconds it prints RSS, open fds, asyncio tasks and the database size;
at the end it compares the values after warm-up (the first ``--warmup`` share of the run)
and prints whether each stayed flat, then counts notifications: stored in the outbox,
received (distinct idempotency keys), lost (stored, never received, after the pending
ones are drained as the next run would) and duplicates (at-least-once re-sends).

    .venv/bin/python benchmarks/soak.py                 # ~4.5 minutes (warm-up: the first 60 %)
    .venv/bin/python benchmarks/soak.py --minutes 30    # longer
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SERVERS = r"""
import asyncio, json, logging, random, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

logging.disable(logging.CRITICAL)  # hostile handlers end abruptly on purpose
FLAP_PERIOD = float(sys.argv[1])
fail_share = [float(sys.argv[2])]
rng = random.Random(1)
keys = {}
failed = [0]
lock = threading.Lock()
open_ws = [0]

class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # a delivery: refused now and then
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with lock:
            fail = rng.random() < fail_share[0]
            if fail:
                failed[0] += 1
            else:
                key = self.headers.get("Idempotency-Key", "")
                keys[key] = keys.get(key, 0) + 1
        self._reply(503 if fail else 200, b"{}")

    def do_GET(self):  # what was received
        with lock:
            body = json.dumps({"keys": keys, "failed": failed[0]}).encode()
        self._reply(200, body)

    def do_PUT(self):  # stop failing
        fail_share[0] = 0.0
        self._reply(200, b"{}")

    def log_message(self, *a):
        pass

def process_request(conn, request):
    path = request.path
    if path.startswith("/metrics"):
        return conn.respond(200, f"ws_connections {open_ws[0]}\nws_messages_total {time.time():.0f}\n")
    if path.startswith("/flap/"):
        i = int(path.rsplit("/", 1)[1])
        if int(time.time() / FLAP_PERIOD + i * 0.37) % 2:
            return conn.respond(503, "flapping\n")
    return None

async def handler(ws):
    path = ws.request.path
    open_ws[0] += 1
    try:
        if path.startswith("/close/"):
            await ws.close(1011, "internal error")
            return
        async for message in ws:
            if path.startswith("/slow/"):
                await asyncio.sleep(5)
            await ws.send(message)
    except ConnectionClosed:
        pass
    finally:
        open_ws[0] -= 1

async def main():
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    hook.daemon_threads = True
    threading.Thread(target=hook.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    async with serve(handler, "127.0.0.1", 0, process_request=process_request, compression=None,
                     backlog=2048) as server:
        print(server.sockets[0].getsockname()[1], hook.server_address[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 1e6


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def db_mb(state: Path) -> float:
    return sum(p.stat().st_size for p in state.glob("wsmon.db*") if p.exists()) / 1e6


def make_config(ws_port: int, hook_port: int, args: argparse.Namespace):
    from wsmon_tui.config import (
        AlertsConfig,
        ChannelConfig,
        Config,
        MetricsConfig,
        MonitorConfig,
        RuleConfig,
        TargetConfig,
    )

    base = f"ws://127.0.0.1:{ws_port}"
    kinds = ["flap"] * args.flapping + ["slow"] * args.slow + ["close"] * args.closing
    kinds += ["ok"] * (args.targets - len(kinds))
    targets = [TargetConfig(name=f"{k}{i}", url=f"{base}/{k}/{i}", send="ping {nonce}", expect="{nonce}",
                            timeout=min(2.0, args.interval * 2),
                            metrics_url=f"http://127.0.0.1:{ws_port}/metrics" if i % 50 == 0 else None)
               for i, k in enumerate(kinds)]
    config = Config(
        monitor=MonitorConfig(level="standard", interval=args.interval, max_concurrency=200,
                              retention_raw=60.0, retention=120.0),
        targets=targets,
        metrics=MetricsConfig(connections="ws_connections", messages="ws_messages_total"),
        alerts=AlertsConfig(
            default_rules=False, escalate_after=None, send_resolved=True,
            rules=[RuleConfig(name="TargetDown", metric="error_rate", op=">", threshold=0.5, for_=2.0,
                              severity="warning", cooldown=60.0, summary="{target} failing")],
            channels=[ChannelConfig(type="webhook", url=f"http://127.0.0.1:{hook_port}/hook",
                                    min_severity="info", timeout=3.0)],
        ),
    )
    config.resources.host = True
    return config


async def soak(args: argparse.Namespace) -> int:
    from wsmon_tui.alerts.outbox import Outbox
    from wsmon_tui.engine.monitor import Monitor
    from wsmon_tui.store import Store

    servers = subprocess.Popen([sys.executable, "-c", SERVERS, str(args.flap_period), str(args.fail_share)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert servers.stdout is not None
        ws_port, hook_port = map(int, servers.stdout.readline().split())
        config = make_config(ws_port, hook_port, args)
        seconds = args.minutes * 60
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp)
            store = Store.open(state)
            monitor = Monitor(config, store, state_dir=state)
            run = asyncio.ensure_future(monitor.run(seconds))
            rows: list[tuple[float, float, int, int, float]] = []
            t0 = time.monotonic()
            print(f"soak: {args.targets} targets ({args.flapping} flapping, {args.slow} slow, {args.closing} "
                  f"closing 1011), interval {args.interval:g}s, {args.minutes:g} min, receiver fails "
                  f"{args.fail_share:.0%}")
            print(f"{'t(s)':>6} {'rss MB':>8} {'fds':>5} {'tasks':>6} {'db MB':>7} {'probes':>8}")
            while not run.done():
                await asyncio.wait([run], timeout=args.every)
                elapsed = time.monotonic() - t0
                probes = sum(st.probes for st in monitor._states.values())
                row = (elapsed, rss_mb(), open_fds(), len(asyncio.all_tasks()), db_mb(state))
                if run.done():
                    break  # the session has closed: not a steady-state figure
                rows.append(row)
                print(f"{row[0]:6.0f} {row[1]:8.1f} {row[2]:5d} {row[3]:6d} {row[4]:7.2f} {probes:8d}",
                      flush=True)
            ended = run.result()
            dropped = store.dropped_writes
            store.close()
            verdicts = judge(rows, args.warmup)
            # notifications: the receiver works again; drain what is left as the next run would
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{hook_port}/x", method="PUT"),
                                   timeout=5).read()
            db = state / "wsmon.db"
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE outbox_deliveries SET next_at = 0 WHERE status IN ('pending', 'failed')")
            outbox = Outbox(db, config.alerts.channels, deployment=config.deployment.name)
            await outbox.drain(30)
            await outbox.aclose()
            with sqlite3.connect(db) as conn:
                stored = {f"{fp}:{seq}" for fp, seq in conn.execute(
                    "SELECT fingerprint, seq FROM outbox_notifications")}
                statuses = dict(conn.execute(
                    "SELECT status, count(*) FROM outbox_deliveries GROUP BY status"))
                tables = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in
                          ("samples", "rollups", "probes", "events", "alert_history", "outbox_deliveries")}
        with urllib.request.urlopen(f"http://127.0.0.1:{hook_port}/keys", timeout=5) as resp:
            got = json.loads(resp.read())
    finally:
        if servers.stdin is not None:
            servers.stdin.close()
        try:
            servers.wait(timeout=10)
        except subprocess.TimeoutExpired:
            servers.kill()
            servers.wait(timeout=10)
    received = got["keys"]
    lost = sorted(stored - set(received))
    duplicates = sum(n - 1 for k, n in received.items() if k in stored)
    print(f"\nsession ended by {ended}; samples/probes not stored: {dropped}; rows at the end: {tables}")
    for name, (ok, text) in verdicts.items():
        print(f"{name:6}: {'flat' if ok else 'GROWING'} ({text})")
    print(f"notifications: stored {len(stored)}, received {len(set(received) & stored)}, lost {len(lost)}, "
          f"duplicates {duplicates} (at-least-once re-sends), receiver refused {got['failed']} attempts; "
          f"deliveries by status {statuses}")
    ok = all(v[0] for v in verdicts.values()) and not lost
    print("SOAK PASS" if ok else "SOAK FAIL")
    return 0 if ok else 1


def judge(rows: list[tuple[float, float, int, int, float]], warmup: float) -> dict[str, tuple[bool, str]]:
    """After warm-up, each figure must stay within its tolerance of its value at warm-up's end."""
    if len(rows) < 4:
        return {"run": (False, "too short to judge")}
    start = max(1, int(len(rows) * warmup))
    base, after = rows[start - 1], rows[start:]
    out: dict[str, tuple[bool, str]] = {}
    for i, name, tol_pct, tol_abs in ((1, "rss", 10.0, 5.0), (2, "fds", 0.0, 10), (3, "tasks", 0.0, 20),
                                     (4, "db", 25.0, 0.5)):
        peak = max(r[i] for r in after)
        growth = peak - base[i]
        allowed = max(base[i] * tol_pct / 100, tol_abs)
        out[name] = (growth <= allowed, f"{base[i]:.1f} at warm-up end, peak {peak:.1f} after, "
                                        f"+{growth:.1f} (allowed +{allowed:.1f})")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=4.5, help="how long (default 4.5)")
    p.add_argument("--interval", type=float, default=1.0, help="probe interval, seconds (default 1)")
    p.add_argument("--targets", type=int, default=200)
    p.add_argument("--flapping", type=int, default=20)
    p.add_argument("--slow", type=int, default=10)
    p.add_argument("--closing", type=int, default=10)
    p.add_argument("--flap-period", type=float, default=20.0, help="seconds up, then as long down")
    p.add_argument("--fail-share", type=float, default=0.1, help="share of deliveries the receiver refuses")
    p.add_argument("--every", type=float, default=15.0, help="seconds between figures")
    p.add_argument("--warmup", type=float, default=0.6,
                   help="share of the run that is warm-up (retention is 120 s: keep it past that)")
    args = p.parse_args()
    return asyncio.run(soak(args))


if __name__ == "__main__":
    raise SystemExit(main())
