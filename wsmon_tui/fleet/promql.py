"""The PromQL the fleet view asks, over wsmon's own series (``engine/exporter.py``), and how
the answers become one row per (deployment, target, site).

Every query keeps ``deployment``, ``site`` and ``target``: a row is what one site's monitor
sees of one target. Percentiles are ``histogram_quantile`` over the exported buckets'
``rate`` in the window; success is the window's share of ``result="success"``; errors, close
codes and HTTP statuses are the counters' values (the monitors' session totals, as on a
site's own dashboard).

With the recording rules of ``examples/prometheus/wsmon-fleet-rules.yml`` loaded, the windowed
figures read the recorded series instead (``queries(window, recorded=True)``): the buckets'
rate, the percentiles over it and the probes' increase are computed once per rule evaluation
by Prometheus, not once per query per refresh, and a refresh reads one series per row and
figure instead of every bucket's. The window is part of the recorded names (``rate5m``), so a recorded
figure means what the raw one means for the same window.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

BY = "deployment, site, target"
Key = tuple[str, str, str]
"""(deployment, target, site)."""


RULES_FILE = "examples/prometheus/wsmon-fleet-rules.yml"


def duration(seconds: float) -> str:
    """``300`` → ``5m``: a window as PromQL and the recorded names spell it."""
    whole = max(1, round(seconds))
    for unit, size in (("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def recorded_names(window: str) -> dict[str, str]:
    """Figure → the recorded series ``RULES_FILE`` makes for ``window`` (``5m``)."""
    out = {f"{kind}_quantile": f"deployment_site_target_quantile:wsmon_probe_{kind}_seconds:"
                               f"histogram_quantile{window}" for kind in ("handshake", "rtt")}
    out.update({f"{kind}_rate": f"deployment_site_target_le:wsmon_probe_{kind}_seconds_bucket:rate{window}"
                for kind in ("handshake", "rtt")})
    out["probes"] = f"deployment_site_target_result:wsmon_probes:increase{window}"
    return out


def recorded_probe(window: str) -> str:
    """One cheap query: non-empty when Prometheus holds the recorded probes for ``window``. The
    probes' series stand for the group: every probed row has them, while a fleet whose probes
    never complete a handshake (or measure no round trip) has no bucket series to record."""
    return f"count({recorded_names(window)['probes']})"


def queries(window: str, recorded: bool = False) -> dict[str, str]:
    """Name → instant query, for one refresh (``window`` as PromQL spells it, ``5m``)."""
    out: dict[str, str] = {}
    names = recorded_names(window)
    for kind in ("handshake", "rtt"):
        rate = f"rate(wsmon_probe_{kind}_seconds_bucket[{window}])"
        for q in ("50", "95", "99"):
            out[f"{kind}_p{q}"] = (f'max by ({BY}) ({names[f"{kind}_quantile"]}{{quantile="0.{q}"}})'
                                   if recorded else f"histogram_quantile(0.{q}, sum by ({BY}, le) ({rate}))")
    increase = names["probes"] if recorded else f"increase(wsmon_probes_total[{window}])"
    out["probes"] = f"sum by ({BY}, result) ({increase})"
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
