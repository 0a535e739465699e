"""Fleet-wide metrics from a Prometheus server: ``[prometheus.queries]`` as instant queries.

Each entry ``name = "PromQL"`` runs as ``GET /api/v1/query?query=...&time=...``; the
result (a vector, summed, or a scalar) becomes the value of the canonical metric
``name``. The per-instance connections (and so ``imbalance``) come from the query named
``connections``, by ``[metrics] instance_label`` (``instance`` unless set), when the
query keeps that label (``sum by (pod) (...)`` with ``instance_label = "pod"``).
An empty vector gives None. Errors never raise: the result says ``ok=False`` and
carries Prometheus's own message (plain text, untrusted).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

import httpx

from wsmon_tui.config import PrometheusConfig
from wsmon_tui.engine.scrape import ScrapeResult, imbalance, make_client


@dataclass(frozen=True, slots=True)
class QueryResult:
    value: float | None
    instances: dict[str, float]
    error: str = ""


class PrometheusSource:
    """Runs the configured PromQL queries against one Prometheus server."""

    def __init__(self, cfg: PrometheusConfig, client: httpx.AsyncClient, *,
                 instance_label: str = "instance") -> None:
        """With ``verify_tls = false`` a client of its own is made (``aclose()`` closes it).
        ``instance_label`` names a server instance in a vector's labels (``[metrics]``)."""
        self.cfg = cfg
        self.instance_label = instance_label
        self._own: httpx.AsyncClient | None = None
        if not cfg.verify_tls and (cfg.url or "").startswith("https:"):
            self._own = make_client(verify=False, timeout=cfg.timeout)
        self._client = self._own or client

    async def aclose(self) -> None:
        if self._own is not None:
            await self._own.aclose()
            self._own = None

    async def query(self, promql: str, now: float) -> QueryResult:
        """One instant query; never raises."""
        if not self.cfg.url:
            return QueryResult(None, {}, "no [prometheus] url configured")
        url = self.cfg.url.rstrip("/") + "/api/v1/query"
        params = {"query": promql, "time": f"{now:.3f}"}
        try:
            async with asyncio.timeout(self.cfg.timeout):
                resp = await self._client.get(url, params=params, headers=self.cfg.headers)
        except (TimeoutError, httpx.TimeoutException):
            return QueryResult(None, {}, f"timed out after {self.cfg.timeout:g}s")
        except httpx.HTTPError as exc:
            return QueryResult(None, {}, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            return QueryResult(None, {}, f"unexpected {type(exc).__name__}: {exc}")
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return QueryResult(None, {}, f"HTTP {resp.status_code}: not a Prometheus API response")
        if body.get("status") != "success":
            kind = body.get("errorType") or f"HTTP {resp.status_code}"
            return QueryResult(None, {}, f"{kind}: {body.get('error') or 'query failed'}")
        try:
            return _read(body.get("data") or {}, self.instance_label)
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            return QueryResult(None, {}, f"unreadable query result: {exc}")

    async def query_all(self, now: float) -> ScrapeResult:
        """Every configured query at time ``now``, concurrently, as one result."""
        started = time.perf_counter()
        names = list(self.cfg.queries)
        results = await asyncio.gather(*(self.query(self.cfg.queries[n], now) for n in names))
        values: dict[str, float | None] = {}
        instances: dict[str, float] = {}
        errors: list[str] = []
        for name, res in zip(names, results, strict=True):
            values[name] = res.value
            if res.error:
                errors.append(f"{name}: {res.error}")
            if name == "connections":
                instances = res.instances
        if "imbalance" not in values:
            values["imbalance"] = imbalance(instances)
        return ScrapeResult(not errors, values, instances, "; ".join(errors),
                            (time.perf_counter() - started) * 1000)


def _number(text: object) -> float:
    return float(str(text))


def _read(data: dict[str, Any], instance_label: str = "instance") -> QueryResult:
    """Parsed JSON: a malformed shape raises TypeError/KeyError/IndexError, which ``query`` reports."""
    kind = data.get("resultType")
    result: Any = data.get("result")
    if kind == "scalar":
        value = _number(result[1])
        return QueryResult(None if math.isnan(value) else value, {})
    if kind == "vector":
        total: float | None = None
        instances: dict[str, float] = {}
        for item in result:
            value = _number(item["value"][1])
            if math.isnan(value):
                continue
            total = value if total is None else total + value
            inst = (item.get("metric") or {}).get(instance_label)
            if inst is not None:
                instances[str(inst)] = instances.get(str(inst), 0.0) + value
        return QueryResult(total, instances)
    if kind == "matrix":
        return QueryResult(None, {}, "the query gives a range vector; use an instant vector")
    return QueryResult(None, {}, f"unsupported result type {str(kind)[:30]!r}")
