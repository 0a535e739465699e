"""The read model: once per tick, the collectors' state becomes one immutable record.

``read_target`` and ``read_fleet`` read the collectors' state (probe records, raw latency
samples, the latest scrapes, the host sample) and return frozen views with every
canonical metric under its name (``wsmon_tui.metrics``). They write nothing; the one
stateful question, the session baseline, is asked through a callback. The engine's
recorder appends the record's values to the derived history afterwards
(``Monitor._record``), which is what later windows and sparklines read.

Everything downstream reads this one record: the Snapshot the faces get, the alert
rules (``TargetView.values`` and ``Snapshot.overall``), the rollback policy, the stored
rows, ``/metrics`` and the live table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from wsmon_tui.engine.offline import offline_hosts
from wsmon_tui.engine.scoring import TargetHealthInput, performance_score, score_target
from wsmon_tui.engine.scrape import ScrapeResult
from wsmon_tui.engine.series import SeriesBook
from wsmon_tui.engine.state import ProbeRecord, TargetState
from wsmon_tui.levels import LevelProfile
from wsmon_tui.metrics import HISTORY_METRICS
from wsmon_tui.model import (
    ERROR_CLASSES,
    HoldView,
    Percentiles,
    ResourceView,
    TargetView,
    abnormal_hold_drop,
)
from wsmon_tui.stats import percentiles

HISTORY_POINTS = 60
"""Values kept in each snapshot for sparklines."""

#: Fleet-wide server metrics that add up across scrapes, and those whose worst counts.
SUMMED = ("connections", "messages_per_s", "queue_depth")
WORST = ("server_error_rate", "adoption", "server_latency_ms", "imbalance")


@dataclass(frozen=True, slots=True)
class TargetInputs:
    """What the read model needs about one target besides its running state."""

    state: TargetState
    samples: SeriesBook
    """Raw per-probe ``handshake_ms`` / ``rtt_ms``."""
    history: SeriesBook
    """The record's values of earlier ticks (sparklines continue from them)."""
    scrape: ScrapeResult | None
    hold: HoldView | None
    baseline: Callable[[float | None, float | None], bool]
    """Judges (handshake p95, error rate) against the session's baseline: True when worse.
    The one thing the read model asks of the engine (the baseline learns as it judges)."""


def read_target(inp: TargetInputs, *, now: float, window: float, level: LevelProfile,
                connection_limit: int | float | None) -> TargetView:
    """One target's view for the tick at ``now``, judged over the last ``window`` seconds."""
    state = inp.state
    name = state.config.name
    since = now - window
    recent = state.window(since)
    probes = len(recent)
    ok = sum(1 for r in recent if r.ok)
    success = ok / probes if probes else None
    error_rate = 1 - success if success is not None else None
    hs = Percentiles(*percentiles(inp.samples.values_since(name, "handshake_ms", since)))
    rtt = Percentiles(*percentiles(inp.samples.values_since(name, "rtt_ms", since)))
    metrics: dict[str, float | None] = dict(state.metrics)
    if connection_limit and metrics.get("connections") is not None:
        metrics["connection_utilisation"] = metrics["connections"] / connection_limit  # type: ignore[operator]
    hold_drops = _hold_drops(inp.hold, since)
    probe_abnormal = sum(1 for r in recent if r.abnormal_close)
    abnormal = probe_abnormal + (hold_drops or 0)
    by_class = Counter(r.error_class for r in recent if r.error_class)
    scrape_ok = None
    if state.config.metrics_url:
        scrape_ok = inp.scrape.ok if inp.scrape is not None else None
    score, status, _reasons = score_target(
        TargetHealthInput(
            probes=probes, success_rate=success, error_rate=error_rate,
            handshake_p95=hs.p95, rtt_p95=rtt.p95, abnormal_closes=probe_abnormal,
            hold_drops=hold_drops or 0,
            server_error_rate=metrics.get("server_error_rate"),
            queue_depth=metrics.get("queue_depth"),
            connection_utilisation=metrics.get("connection_utilisation"), scrape_ok=scrape_ok,
        ),
        level,
    )
    degraded = inp.baseline(hs.p95, error_rate)
    last = state.last_probe
    values: dict[str, float | None] = {
        "probe_success_rate": success, "error_rate": error_rate,
        "handshake_ms": last.handshake_ms if last is not None else None,
        "handshake_p50": hs.p50, "handshake_p95": hs.p95, "handshake_p99": hs.p99,
        "rtt_ms": last.rtt_ms if last is not None else None,
        "rtt_p50": rtt.p50, "rtt_p95": rtt.p95, "rtt_p99": rtt.p99,
        **{cls: float(by_class.get(cls, 0)) for cls in ERROR_CLASSES},
        "abnormal_closes": float(abnormal),
        "consecutive_failures": float(_failing_streak(recent)) if probes else None,
        "hold_drops": None if hold_drops is None else float(hold_drops),
        "scrape_errors": float(state.scrape_failing) if state.config.metrics_url else None,
        "health_score": score,
        **metrics,
    }
    if probes:
        values["baseline_degradation"] = 1.0 if degraded else 0.0
    return TargetView(
        name=name, url=state.config.url, status=status, health_score=score,
        performance_score=performance_score(hs.p95, rtt.p95, level),
        probes=probes, success_rate=success, error_rate=error_rate, handshake_ms=hs, rtt_ms=rtt,
        errors=dict(state.errors), close_codes=dict(state.close_codes),
        http_statuses=dict(state.http_statuses), overruns=state.overruns,
        last_probe=last, metrics=metrics, instances=dict(state.instances),
        scrape_errors=state.scrape_errors, last_scrape_error=state.last_scrape_error,
        hold=inp.hold, degraded_vs_baseline=degraded,
        history=_history(inp.history, name, values, HISTORY_METRICS),
        values=MappingProxyType(values),
    )


def _hold_drops(hold: HoldView | None, since: float) -> int | None:
    """Abnormal drops of the held connection since ``since`` (None: the target holds none).
    1001 and 1012 are left out, as for probes: normal while servers roll."""
    if hold is None:
        return None
    return sum(1 for at, code in hold.drops if at >= since and abnormal_hold_drop(code))


def _failing_streak(recent: Sequence[ProbeRecord]) -> int:
    """How many of the window's latest probes failed in a row (0 when the last one succeeded)."""
    streak = 0
    for record in reversed(recent):
        if record.ok:
            break
        streak += 1
    return streak


def _history(book: SeriesBook, name: str, values: Mapping[str, float | None],
             metrics: Iterable[str]) -> dict[str, tuple[float, ...]]:
    """Each metric's recent values: the earlier ticks' and this tick's, oldest first."""
    out: dict[str, tuple[float, ...]] = {}
    for metric in metrics:
        current = values.get(metric)
        earlier = book.tail(name, metric, HISTORY_POINTS - (current is not None))
        if current is not None:
            out[metric] = (*earlier, float(current))
        elif earlier:
            out[metric] = earlier
    return out


def read_fleet(scrapes: Sequence[ScrapeResult], prom: ScrapeResult | None, *,
               connection_limit: int | float | None, health_score: float | None,
               resources: ResourceView | None, targets: Sequence[TargetView] = ()) -> dict[str, float | None]:
    """Fleet-wide figures: unique scrapes summed (or their worst), the Prometheus source's
    answers winning over them; the host's resources; the fleet's ``health_score``; whether this
    machine looks offline (``offline_hosts``, from the tick's ``targets``)."""
    merged: dict[str, float | None] = {}
    results = [r for r in scrapes if r.ok]
    for name in SUMMED:
        vals = [v for r in results if (v := r.values.get(name)) is not None]
        merged[name] = sum(vals) if vals else None
    for name in WORST:
        vals = [v for r in results if (v := r.values.get(name)) is not None]
        merged[name] = max(vals) if vals else None
    if prom is not None and prom.ok:
        for name, value in prom.values.items():
            if value is not None:
                merged[name] = value
    conns = merged.get("connections")
    merged["connection_utilisation"] = conns / connection_limit if connection_limit and conns is not None \
        else None
    if resources is not None:
        merged.update(resources.values())
    merged["health_score"] = health_score
    merged["offline_hosts"] = offline_hosts(targets)
    return merged
