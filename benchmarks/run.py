"""One entry point for every benchmark: each prints its figures measured side by side.

    .venv/bin/python benchmarks/run.py            # everything (about 7 minutes)
    .venv/bin/python benchmarks/run.py probe scrape

Benchmarks are not tests: they print ratios against a baseline measured in the same run
(a bare websockets loop, prometheus_client's parser, bare httpx posts, ...) and exit
non-zero when a target in the issues is missed. The machines are noisy; compare ratios,
never absolute times across runs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITES = {
    "probe": ["bench_probe.py"],
    "scrape": ["bench_scrape.py"],
    "monitor": ["bench_monitor.py"],
    "headless": ["bench_headless.py"],
    "series": ["bench_series.py", "--hours", "24"],
    "store": ["bench_store.py"],
    "history": ["bench_history.py"],
    "alerts": ["bench_alerts.py"],
    "outbox": ["bench_outbox.py"],
    "tui": ["bench_tui.py"],
    "attach": ["bench_attach.py"],
    "fleet": ["bench_fleet.py"],
}


def main(argv: list[str]) -> int:
    chosen = argv or list(SUITES)
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(SUITES)}", file=sys.stderr)
        return 2
    failed = []
    for name in chosen:
        script, *args = SUITES[name]
        print(f"\n=== {name} ({script}) ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / script), *args])
        print(f"--- {name}: exit {code}, {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    print("\nmissed a target: " + ", ".join(failed) if failed else "\nevery target met")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
