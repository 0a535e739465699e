"""The PromQL the fleet view asks, over wsmon's own series (``engine/exporter.py``), and how
the answers become one row per (deployment, target, site).

Every query keeps ``deployment``, ``site`` and ``target``: a row is what one site's monitor
sees of one target. Percentiles are ``histogram_quantile`` over the exported buckets'
``rate`` in the window; success is the window's share of ``result="success"``; errors, close
codes and HTTP statuses are the counters' values (the monitors' session totals, as on a
site's own dashboard).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

BY = "deployment, site, target"
Key = tuple[str, str, str]
"""(deployment, target, site)."""


def queries(window: str) -> dict[str, str]:
    """Name → instant query, for one refresh."""
    out: dict[str, str] = {}
    for kind in ("handshake", "rtt"):
        for q in ("50", "95", "99"):
            out[f"{kind}_p{q}"] = (f"histogram_quantile(0.{q}, sum by ({BY}, le) "
                                   f"(rate(wsmon_probe_{kind}_seconds_bucket[{window}])))")
    out["probes"] = f"sum by ({BY}, result) (increase(wsmon_probes_total[{window}]))"
    out["errors"] = f"sum by ({BY}, class) (wsmon_probe_errors_total)"
    out["close_codes"] = f"sum by ({BY}, code) (wsmon_probe_close_codes_total)"
    out["http_statuses"] = f"sum by ({BY}, status) (wsmon_probe_http_status_total)"
    out["health"] = f'max by ({BY}) (wsmon_health_score{{target!=""}})'
    return out


def _value(sample: dict[str, Any]) -> float | None:
    try:
        v = float(sample["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def _key(metric: dict[str, str]) -> Key:
    return (metric.get("deployment", ""), metric.get("target", ""), metric.get("site", ""))


@dataclass
class Row:
    """What the answers say of one (deployment, target, site)."""

    handshake_ms: dict[str, float | None] = field(default_factory=dict)
    rtt_ms: dict[str, float | None] = field(default_factory=dict)
    success: float = 0.0
    failure: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    close_codes: dict[str, int] = field(default_factory=dict)
    http_statuses: dict[str, int] = field(default_factory=dict)
    health: float | None = None


def rows(answers: dict[str, list[dict[str, Any]]]) -> dict[Key, Row]:
    """The answers of ``queries`` (name → result vector) gathered by row."""
    out: dict[Key, Row] = defaultdict(Row)
    for name, result in answers.items():
        for sample in result:
            metric = sample.get("metric", {})
            row = out[_key(metric)]
            value = _value(sample)
            if name.startswith(("handshake_", "rtt_")):
                kind, q = name.split("_", 1)
                ms = None if value is None else value * 1000.0
                (row.handshake_ms if kind == "handshake" else row.rtt_ms)[q] = ms
            elif name == "probes" and value is not None:
                if metric.get("result") == "success":
                    row.success += value
                else:
                    row.failure += value
            elif name in ("errors", "close_codes", "http_statuses") and value is not None:
                label = {"errors": "class", "close_codes": "code", "http_statuses": "status"}[name]
                getattr(row, name)[metric.get(label, "")] = round(value)
            elif name == "health":
                row.health = value
    return dict(out)
