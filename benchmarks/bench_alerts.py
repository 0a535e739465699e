"""Alert evaluation benchmark: 1,000 rules over 200 targets per tick, as a share of a 10 s interval.

    .venv/bin/python benchmarks/bench_alerts.py            # default: 20 measured ticks per case
    .venv/bin/python benchmarks/bench_alerts.py --ticks 5  # quicker

Cases, measured side by side on the same snapshots and series (one hour of 10 s history,
24 metrics per target), with a real SQLite file:

* ``all, quiet``: every one of the 1,000 rules applies to every target (200,000 judgements
  per tick; 30 % of the rules judge a window with an aggregate), thresholds at 3.5 sigma:
  a few hundred alerts. The strictest reading of the requirement.
* ``all, storm``: the same with thresholds at 2 sigma: ~15,000 alerts open and thousands of
  notifications every tick (pending/firing/resolved churn on noisy data). A stress case.
* ``scoped``: the same 1,000 rules, each filtered to 1 of the 200 targets (5 rules a target).
* ``defaults``: the level's 14 default rules over 200 targets.

CPU time is ``time.process_time`` around ``AlertEngine.evaluate``; the target is <= 5 % of
the interval (500 ms at 10 s).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from wsmon_tui.alerts.engine import AlertEngine
from wsmon_tui.config import AlertsConfig, Config, DeploymentConfig, RuleConfig
from wsmon_tui.engine.series import SeriesBook
from wsmon_tui.model import DeploymentView, Percentiles, ResourceView, Snapshot, TargetView

TARGETS = 200
RULES = 1000
INTERVAL = 10.0
HISTORY = 360  # ticks: one hour at 10 s
METRICS = {  # metric -> (typical value, spread)
    "probe_success_rate": (0.99, 0.01), "error_rate": (0.01, 0.01), "handshake_p95": (200.0, 80.0),
    "rtt_p95": (80.0, 30.0), "health_score": (95.0, 4.0), "abnormal_closes": (0.5, 0.5),
    "refused": (0.1, 0.1), "timeout": (0.1, 0.1), "closed": (0.2, 0.2), "queue_depth": (300.0, 200.0),
    "connections": (5000.0, 500.0), "messages_per_s": (900.0, 100.0), "server_error_rate": (0.01, 0.005),
    "adoption": (0.8, 0.05), "server_latency_ms": (40.0, 10.0), "connection_utilisation": (0.5, 0.1),
    "imbalance": (1.1, 0.1), "scrape_errors": (0.0, 0.0), "baseline_degradation": (0.0, 0.0),
}
RULE_METRICS = [m for m in METRICS if m not in ("scrape_errors", "baseline_degradation")]


def value(rng: random.Random, metric: str) -> float:
    mid, spread = METRICS[metric]
    return max(0.0, rng.gauss(mid, spread))


def make_rules(rng: random.Random, scoped: bool, sigmas: float = 2.0) -> list[RuleConfig]:
    rules = []
    for i in range(RULES):
        metric = rng.choice(RULE_METRICS)
        mid, spread = METRICS[metric]
        low = metric in ("probe_success_rate", "health_score", "adoption")
        # sigmas = 2: about 2 % of (rule, target) pairs breach each tick (an alert storm);
        # sigmas = 3.5: a handful do (a bad day, judged by the same 200,000 comparisons)
        threshold = mid - sigmas * spread if low else mid + sigmas * spread
        if metric in ("probe_success_rate", "error_rate", "server_error_rate", "adoption",
                      "connection_utilisation"):
            threshold = min(max(threshold, 0.0), 1.0)
        windowed = rng.random() < 0.3
        rules.append(RuleConfig(
            name=f"rule{i}", metric=metric, op="<" if low else ">", threshold=threshold,
            for_=rng.choice([0.0, 30.0, 60.0]), keep_firing_for=30.0,
            window=rng.choice([60.0, 300.0, 900.0]) if windowed else None,
            aggregate=rng.choice(["avg", "max", "p95"]) if windowed else "last",
            severity=rng.choice(["warning", "critical"]), cooldown=300.0,
            summary="{target}: {value:.2f} vs {threshold:.2f}",
            targets=[f"t{i % TARGETS}"] if scoped else [],
        ))
    return rules


def snapshot(rng: random.Random, book: SeriesBook, now: float, tick: int) -> Snapshot:
    views = []
    for t in range(TARGETS):
        name = f"t{t}"
        vals = {m: value(rng, m) for m in METRICS}
        for m, v in vals.items():
            book.add(name, m, now, v)
        metrics = {k: vals[k] for k in ("connections", "messages_per_s", "server_error_rate", "queue_depth",
                                        "adoption", "server_latency_ms", "connection_utilisation",
                                        "imbalance")}
        views.append(TargetView(
            name=name, url=f"ws://10.0.0.{t % 250}/ws", probes=6, success_rate=vals["probe_success_rate"],
            error_rate=vals["error_rate"], handshake_ms=Percentiles(None, vals["handshake_p95"], None),
            rtt_ms=Percentiles(None, vals["rtt_p95"], None), health_score=vals["health_score"],
            metrics=metrics,
        ))
    cpu = value(rng, "health_score") - 30
    book.add("", "cpu_percent", now, cpu)
    book.add("", "health_score", now, 95.0)
    return Snapshot(taken_at=now, tick=tick, session_id="bench", deployment=DeploymentView("bench"),
                    level="standard", interval=INTERVAL, targets=tuple(views), health_score=95.0,
                    resources=ResourceView(cpu_percent=cpu, memory_percent=40.0))


def run_case(label: str, config: Config, ticks: int, seed: int) -> None:
    rng = random.Random(seed)
    book = SeriesBook()
    clock = [1_750_000_000.0]
    snaps = []
    for i in range(HISTORY):
        snaps.append(snapshot(rng, book, clock[0], i))
        clock[0] += INTERVAL
    with tempfile.TemporaryDirectory() as tmp:
        engine = AlertEngine(config, Path(tmp) / "wsmon.db", clock=lambda: clock[0])
        try:
            # warm up on the last history tick (creates the first alerts), then measure fresh ticks
            engine.evaluate(snaps[-1], book)
            cpu: list[float] = []
            notes = alerts = 0
            for i in range(ticks):
                clock[0] += INTERVAL
                snap = snapshot(rng, book, clock[0], HISTORY + i)
                c0 = time.process_time()
                views, out = engine.evaluate(snap, book)
                cpu.append(time.process_time() - c0)
                notes += len(out)
                alerts = len(views)
        finally:
            engine.close()
    cpu.sort()
    mean = sum(cpu) / len(cpu)
    worst = cpu[-1]
    rules = config.alerts.rules
    judged = sum(len(r.targets) or TARGETS for r in rules) if rules else 14 * TARGETS
    print(f"{label:11} {judged:>10,} {mean * 1000:>9.1f} {worst * 1000:>9.1f} {mean / INTERVAL * 100:>8.2f}% "
          f"{alerts:>8} {notes / len(cpu):>10.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=20)
    args = ap.parse_args()
    rng = random.Random(7)
    dep = DeploymentConfig(name="bench")
    cases = [
        ("all, quiet", Config(deployment=dep, alerts=AlertsConfig(
            default_rules=False, rules=make_rules(rng, scoped=False, sigmas=3.5)))),
        ("all, storm", Config(deployment=dep, alerts=AlertsConfig(default_rules=False,
                                                                  rules=make_rules(rng, scoped=False)))),
        ("scoped", Config(deployment=dep, alerts=AlertsConfig(default_rules=False,
                                                              rules=make_rules(rng, scoped=True)))),
        ("defaults", Config(deployment=dep, alerts=AlertsConfig(default_rules=True))),
    ]
    print(f"{TARGETS} targets, {HISTORY} ticks of history, {args.ticks} measured ticks, "
          f"interval {INTERVAL:.0f}s")
    print(f"{'case':11} {'judgements':>10} {'mean ms':>9} {'max ms':>9} {'of 10 s':>9} {'alerts':>8} "
          f"{'notes/tick':>10}")
    for label, config in cases:
        run_case(label, config, args.ticks, seed=11)
    print("target: <= 5% of the interval (500 ms at 10 s)")


if __name__ == "__main__":
    main()
