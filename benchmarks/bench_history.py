"""History that answers: the 24 h report, the 24 h chart range and the ``e`` export over a big database.

    .venv/bin/python benchmarks/bench_history.py [--targets 100] [--hours 24] [--interval 10]
        [--state-dir DIR]

Generates issue 14's database once (``gen_history.py``: 100 targets x 24 h at 10 s, 864k
probes, 5.2 M samples, a day of rollups before it) in a temp dir for the run, or reuses
``--state-dir`` when it already holds one, then times:

* ``wsmon-tui report --hours 24 --format json`` as a subprocess: wall time and peak RSS
  (``os.wait4``'s ``ru_maxrss``); target <= 5 s and <= 200 MB;
* the metrics screen's 24 h range through ``EngineHost.metric_ranges`` (the series the
  screen asks for: six targets' handshake and round-trip p95 and five fleet series), and
  the same for every target's two series; target < 2 s;
* the ``e`` export, ``EngineHost.report("md")`` for the running session (24 h); target < 2 s.

The two in-process calls run on a worker thread as the TUI's do; a 10 ms ticker on the
calling loop reports the longest it waited (the UI loop's stall). Exit 1 when a target is
missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_history import FLEET, generate

from wsmon_tui.config import Config
from wsmon_tui.host import EngineHost
from wsmon_tui.seam import RangeRequest
from wsmon_tui.store import DB_NAME, Store

REPORT_S = 5.0
REPORT_MB = 200.0
UI_CALL_S = 2.0


def time_report(state_dir: Path, hours: float) -> tuple[float, float, dict[str, Any]]:
    """``wsmon-tui report`` in a child: (wall seconds, peak RSS in MB, the report)."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(state_dir / "xdg"), WSMON_CONFIG="")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    out = state_dir / "report.json"
    started = time.perf_counter()
    with open(out, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "wsmon_tui", "report", "--state-dir", str(state_dir),
                                 "--hours", f"{hours:g}", "--format", "json"], stdout=fh, cwd=state_dir,
                                env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"report exited {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024.0, json.loads(out.read_text())


async def _off_loop(call: Any) -> tuple[float, float, Any]:
    """Await ``call`` with a 10 ms ticker beside it: (seconds, the ticker's longest wait, result)."""
    worst = 0.0
    done = False

    async def tick() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            worst = max(worst, now - last - 0.01)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    result = await call
    elapsed = time.perf_counter() - started
    done = True
    await ticker
    return elapsed, worst, result


async def time_engine(state_dir: Path, targets: int, session: dict[str, Any]) -> dict[str, Any]:
    """The chart range and the export through ``EngineHost``, as the TUI asks for them."""
    store = Store.open(state_dir, create=False)
    try:
        host = EngineHost(lambda: None, config=Config(), state_dir=state_dir, store=store,  # type: ignore[arg-type,return-value]
                          serve_faces=False)
        # the engine's session, as a running Monitor holds it (nothing here probes)
        host._monitor = SimpleNamespace(session_id=session["id"],  # type: ignore[assignment]
                                        session_started=session["started_at"], read_only=True)
        names = [f"ws-{i:03d}" for i in range(targets)]
        fleet = [RangeRequest("", m) for m in ("messages_per_s", "connections", "adoption", *FLEET[:2])]
        screen = [RangeRequest(n, m) for n in names[:6] for m in ("handshake_p95", "rtt_p95")] + fleet
        every = [RangeRequest(n, m) for n in names for m in ("handshake_p95", "rtt_p95")] + fleet
        now = time.time()
        out: dict[str, Any] = {}
        for key, wanted in (("screen", screen), ("every", every)):
            secs, stall, got = await _off_loop(host.metric_ranges(wanted, now - 86400.0, now))
            out[key] = (secs, stall, len(wanted), sum(len(p) for p in got.values()))
        secs, stall, text = await _off_loop(host.report("md"))
        out["export"] = (secs, stall, len(text))
        return out
    finally:
        store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--state-dir", type=Path, default=None,
                    help="keep the generated database here (reused when it exists)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wsmon-bench-history-") as tmp:
        state_dir = args.state_dir or Path(tmp)
        if not (state_dir / DB_NAME).exists():
            got = generate(state_dir, targets=args.targets, hours=args.hours, interval=args.interval)
            print(f"generated {state_dir / DB_NAME}: {got['probes']:,.0f} probes, {got['samples']:,.0f} raw "
                  f"samples, {got['rollups']:,.0f} rollups, {got['alerts']:.0f} alerts, "
                  f"{got['bytes'] / 1e6:.0f} MB in {got['seconds']:.0f} s", flush=True)
        with Store.open(state_dir, create=False) as store:
            session = store.latest_session() or {}
        secs, mb, report = time_report(state_dir, args.hours)
        probes = sum(t["probes"] for t in report["targets"])
        engine = asyncio.run(time_engine(state_dir, args.targets, session))
    failed = []
    print(f"  report --hours {args.hours:g} --format json   {secs:6.2f} s  {mb:6.0f} MB peak RSS   "
          f"({len(report['targets'])} targets, {probes:,} probes)   target <= {REPORT_S:g} s, "
          f"<= {REPORT_MB:g} MB")
    if secs > REPORT_S or mb > REPORT_MB:
        failed.append("report")
    for key, label in (("screen", "metrics 24 h range, the screen's"), ("every", "metrics 24 h range, all")):
        t, stall, n, points = engine[key]
        print(f"  {label:<36} {t:6.2f} s  loop stall {stall * 1e3:5.0f} ms   ({n} series, {points:,} points)"
              f"   target < {UI_CALL_S:g} s")
        if t >= UI_CALL_S:
            failed.append(key)
    t, stall, chars = engine["export"]
    print(f"  e export, EngineHost.report('md')    {t:6.2f} s  loop stall {stall * 1e3:5.0f} ms   "
          f"({chars:,} characters)   target < {UI_CALL_S:g} s")
    if t >= UI_CALL_S:
        failed.append("export")
    if failed:
        print("missed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
