"""The canonical metric names: the one list every layer reads (see docs/metrics.md).

The read model (``engine/readmodel.py``) fills ``TargetView.values`` and
``Snapshot.overall`` under these names once per tick; alert rules, the rollback
policy, stored rows, sparklines, ``/metrics`` and reports all look figures up by them.
Nothing else spells the mapping from a figure to its name.
"""

from __future__ import annotations

from wsmon_tui.model import ERROR_CLASSES

#: Per target, from probes (percentiles over the evaluation window; ``handshake_ms`` and
#: ``rtt_ms`` alone are the last probe's, and raw samples in a rule's ``window``).
PROBE_METRICS: tuple[str, ...] = (
    "probe_success_rate", "error_rate",
    "handshake_ms", "handshake_p50", "handshake_p95", "handshake_p99",
    "rtt_ms", "rtt_p50", "rtt_p95", "rtt_p99",
    *ERROR_CLASSES, "abnormal_closes", "consecutive_failures", "hold_drops",
)
#: Per target, from the servers' own metrics (or fleet-wide, from PromQL).
SERVER_METRICS: tuple[str, ...] = (
    "connections", "messages_per_s", "server_error_rate", "queue_depth", "adoption",
    "server_latency_ms", "connection_utilisation", "imbalance", "scrape_errors",
)
#: Fleet-wide, from the host and the watched process.
RESOURCE_METRICS: tuple[str, ...] = (
    "cpu_percent", "memory_percent", "load1", "tcp_connections",
    "process_cpu_percent", "rss_mb", "open_fds", "threads", "process_connections",
)
#: Derived by scoring.
DERIVED_METRICS: tuple[str, ...] = ("health_score", "baseline_degradation")
#: Fleet-wide, about the monitor itself (its own network): ``engine/offline.py``.
MONITOR_METRICS: tuple[str, ...] = ("offline_hosts",)

OVERALL = "overall"
"""A rule's metric for the fleet's health score, and the target name of fleet-wide alerts."""
HEALTH = "health_score"

CANONICAL_METRICS: frozenset[str] = frozenset(
    PROBE_METRICS + SERVER_METRICS + RESOURCE_METRICS + DERIVED_METRICS + MONITOR_METRICS)
"""Every name a rule may judge (besides ``overall``)."""

FLEET_METRICS: frozenset[str] = frozenset({OVERALL, *RESOURCE_METRICS, *MONITOR_METRICS})
"""Judged once for the whole fleet (target ``overall``); the rest per target."""

SHARE, PERCENT, MS, PER_S, COUNT, RATIO, LOAD, MIB, FLAG = (
    "share", "percent", "ms", "per second", "count", "ratio", "load", "MiB", "0 or 1")
"""The units of docs/metrics.md: a *share* is 0 to 1 (5 % is 0.05), a *percent* 0 to 100."""

UNITS: dict[str, str] = {
    "probe_success_rate": SHARE, "error_rate": SHARE,
    **dict.fromkeys(("handshake_ms", "handshake_p50", "handshake_p95", "handshake_p99",
                     "rtt_ms", "rtt_p50", "rtt_p95", "rtt_p99", "server_latency_ms"), MS),
    **dict.fromkeys(ERROR_CLASSES, COUNT),
    **dict.fromkeys(("abnormal_closes", "consecutive_failures", "hold_drops", "connections", "queue_depth",
                     "scrape_errors", "tcp_connections", "open_fds", "threads", "process_connections",
                     "offline_hosts"), COUNT),
    "messages_per_s": PER_S, "server_error_rate": SHARE, "adoption": SHARE,
    "connection_utilisation": SHARE, "imbalance": RATIO,
    "cpu_percent": PERCENT, "memory_percent": PERCENT, "process_cpu_percent": PERCENT,
    "load1": LOAD, "rss_mb": MIB,
    "health_score": PERCENT, "baseline_degradation": FLAG,
}
"""Each canonical metric's unit, as docs/metrics.md gives it (a test holds the two together):
how a value and a threshold on it are shown (``fmt.metric_value``)."""


def unit_of(metric: str) -> str:
    """The unit of a canonical metric (``overall`` is the fleet's health score); "" if unknown."""
    return UNITS.get(HEALTH if metric == OVERALL else metric, "")


PROBE_OUTCOME = "probe_ok"
"""Per probe, 1 (succeeded) or 0 (failed): not a metric a rule names, but what a rate or
success rule counts its evidence in (how many probes its window holds)."""

RATE_METRICS: frozenset[str] = frozenset({"probe_success_rate", "error_rate"})
"""Rates of probes: a rule on one needs evidence (``levels.min_probes``) before it judges."""

RAW_SAMPLES: frozenset[str] = frozenset({"handshake_ms", "rtt_ms", PROBE_OUTCOME})
"""Kept per probe (not per tick): a rule's window over these reads every probe in it."""

STORED_METRICS: tuple[str, ...] = (
    "probe_success_rate", "error_rate", "handshake_p50", "handshake_p95", "handshake_p99",
    "rtt_p50", "rtt_p95", "rtt_p99", "health_score", "connections", "messages_per_s",
    "server_error_rate", "queue_depth", "adoption", "server_latency_ms", "connection_utilisation",
    "imbalance",
)
"""Stored per target once per interval (the history the reports and long chart ranges read)."""

HISTORY_METRICS: tuple[str, ...] = (
    "handshake_p95", "error_rate", "rtt_p95", "health_score", "connections", "messages_per_s",
)
"""Carried in every snapshot as recent values, for sparklines."""

CHART_METRICS: tuple[str, ...] = (
    "handshake_p95", "rtt_p95", "messages_per_s", "connections", "adoption", "cpu_percent", "memory_percent",
)
"""What the metrics view charts over its recent (in-memory) range."""
