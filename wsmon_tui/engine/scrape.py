"""Scrape the servers' own metrics (Prometheus text / OpenMetrics / JSON) into canonical names.

One ``Scraper`` serves every target with ONE shared keep-alive ``httpx.AsyncClient``
(a new client per scrape costs several times the CPU: TLS contexts and connection
setup). Targets that ask for different TLS settings (``verify_tls = false`` or a
``ca_file``) get a client of their own, made once and kept; ``aclose()`` closes those.

Counters become per-second rates between consecutive successful scrapes of the same
target, series by series, surviving counter resets (a value that went down counts in
full as the increase since the reset, as Prometheus's ``rate`` does). The latency
histogram gives the p95 with ``histogram_quantile`` semantics, on the bucket deltas
between scrapes (what happened in the last interval); on the first scrape of a target
it uses the cumulative buckets; with no new observations in the interval it is None.

``scrape`` never raises: every failure is a ``ScrapeResult(ok=False, error=...)``.
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from wsmon_tui.config import MetricsConfig, TargetConfig
from wsmon_tui.engine import promtext
from wsmon_tui.selectors import (
    Expression,
    Families,
    Ratio,
    Selector,
    SeriesKey,
    json_number,
    parse_expression,
)

CANONICAL = ("connections", "messages_per_s", "server_error_rate", "queue_depth", "adoption",
             "server_latency_ms", "imbalance")
MAX_REDIRECTS = 3
DEFAULT_BODY_CAP = 10 * 1024 * 1024
THREAD_PARSE_ABOVE = 1024 * 1024
USER_AGENT = "wsmon-tui"
ACCEPT_PROMETHEUS = ("text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,"
                     "*/*;q=0.1")
ACCEPT_JSON = "application/json, */*;q=0.1"

Buckets = dict[SeriesKey, dict[float, float]]


@dataclass(frozen=True, slots=True)
class ScrapeResult:
    ok: bool
    values: dict[str, float | None]
    """Canonical: connections, messages_per_s, server_error_rate, queue_depth, adoption,
    server_latency_ms, imbalance (every key present; None when unknown)."""
    instances: dict[str, float]
    """Open connections per instance (by ``MetricsConfig.instance_label``)."""
    error: str = ""
    """For people; never raises. Untrusted text may appear in it: show it as plain text."""
    duration_ms: float | None = None
    bytes: int = 0


@dataclass(slots=True)
class _Previous:
    at: float
    counters: dict[str, dict[SeriesKey, float] | None]
    buckets: Buckets | None


@dataclass(slots=True)
class _Extract:
    gauges: dict[str, float | None] = field(default_factory=dict)
    counters: dict[str, dict[SeriesKey, float] | None] = field(default_factory=dict)
    buckets: Buckets | None = None
    latency: float | None = None
    """A latency given directly (JSON number instead of a histogram), in the path's unit."""
    instances: dict[str, float] = field(default_factory=dict)


class _Failed(Exception):
    """A scrape failure with a message for people."""


def make_client(*, verify: bool | ssl.SSLContext = True, timeout: float = 10.0) -> httpx.AsyncClient:
    """The one shared keep-alive client for scrapes and Prometheus queries.

    Redirects are followed by the scraper itself (at most ``MAX_REDIRECTS``).
    """
    return httpx.AsyncClient(
        verify=verify,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        max_redirects=MAX_REDIRECTS,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=50, keepalive_expiry=60.0),
        headers={"User-Agent": USER_AGENT},
    )


def human_size(n: int) -> str:
    mb = 1024 * 1024
    if n >= mb and n % mb == 0:
        return f"{n // mb} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} bytes"


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def counter_increase(prev: Mapping[SeriesKey, float], cur: Mapping[SeriesKey, float]) -> float:
    """The increase of a set of counters, series by series; a series that went down was reset.

    As Prometheus's ``rate()``: across a drop the counter restarted from zero, so the new
    value is the increase. Never negative (a negative sample is no counter: it adds nothing).
    """
    total = 0.0
    for key, value in cur.items():
        if math.isnan(value):
            continue
        before = prev.get(key)
        if before is None or math.isnan(before) or value < before:
            total += max(value, 0.0)  # new series, or reset: all of it happened since
        else:
            total += value - before
    return total


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus's ``histogram_quantile`` on {upper bound: cumulative count}; None where it gives NaN."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    if not math.isinf(bounds[-1]) or bounds[-1] < 0:
        return None
    counts = [buckets[b] for b in bounds]
    for i in range(1, len(counts)):  # ensureMonotonic
        counts[i] = max(counts[i], counts[i - 1])
    if len(bounds) < 2:
        return None
    observations = counts[-1]
    if not observations > 0:
        return None
    rank = q * observations
    b = next((i for i in range(len(bounds) - 1) if counts[i] >= rank), len(bounds) - 1)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)


def bucket_deltas(prev: Buckets, cur: Buckets) -> dict[float, float]:
    """Observations per bucket since ``prev``, summed over series (a series that went down was reset)."""
    out: dict[float, float] = {}
    for key, buckets in cur.items():
        before = prev.get(key)
        reset = before is None or before.keys() != buckets.keys() or any(
            buckets[le] < before[le] for le in buckets)
        for le, count in buckets.items():
            out[le] = out.get(le, 0.0) + (count if reset or before is None else count - before[le])
    return out


def sum_buckets(cur: Buckets) -> dict[float, float]:
    out: dict[float, float] = {}
    for buckets in cur.values():
        for le, count in buckets.items():
            out[le] = out.get(le, 0.0) + count
    return out


class Scraper:
    """Scrapes targets' ``metrics_url`` and keeps what rates need between scrapes (per target)."""

    def __init__(self, metrics: MetricsConfig, client: httpx.AsyncClient, *,
                 body_cap: int = DEFAULT_BODY_CAP, timeout: float | None = None) -> None:
        """``timeout`` bounds a whole scrape (connect + body); default the target's ``timeout``.

        Raises ValueError for a bad expression (the config loader has normally caught it).
        """
        self._metrics = metrics
        self._client = client
        self._cap = body_cap
        self._timeout = timeout
        self._exprs: dict[str, Expression] = {}
        for key in ("connections", "messages", "errors", "queue_depth", "adoption"):
            text = getattr(metrics, key)
            if text:
                self._exprs[key] = parse_expression(text)
        self._hist: Selector | None = None
        if metrics.latency_histogram:
            hist = parse_expression(metrics.latency_histogram)
            if isinstance(hist, Ratio):
                raise ValueError(f"latency_histogram must be a histogram name, not a ratio: {hist.text!r}")
            self._hist = hist
        names: set[str] = set()
        for expr in self._exprs.values():
            names |= expr.names
        if self._hist is not None:
            names |= self._hist.names
        self.wanted = frozenset(names)
        self._prev: dict[str, _Previous] = {}
        self._own_clients: dict[tuple[bool, str | None], httpx.AsyncClient] = {}

    async def aclose(self) -> None:
        """Close the clients this scraper made for targets with their own TLS settings."""
        clients, self._own_clients = list(self._own_clients.values()), {}
        for c in clients:
            await c.aclose()

    def forget(self, target_name: str) -> None:
        """Drop the rate state of a target (its next scrape is a first scrape)."""
        self._prev.pop(target_name, None)

    def _client_for(self, target: TargetConfig) -> httpx.AsyncClient:
        if target.verify_tls and not target.ca_file:
            return self._client
        key = (target.verify_tls, target.ca_file)
        client = self._own_clients.get(key)
        if client is None:
            verify: bool | ssl.SSLContext = False
            if target.verify_tls:
                verify = ssl.create_default_context(cafile=target.ca_file)
            timeout = self._client.timeout.read or 10.0
            client = self._own_clients[key] = make_client(verify=verify, timeout=timeout)
        return client

    def _empty(self) -> dict[str, float | None]:
        return dict.fromkeys(CANONICAL)

    async def scrape(self, target: TargetConfig, now: float) -> ScrapeResult:
        """Fetch and evaluate one target's metrics page. Never raises."""
        started = time.perf_counter()
        received = [0]

        def failed(msg: str) -> ScrapeResult:
            return ScrapeResult(False, self._empty(), {}, msg, (time.perf_counter() - started) * 1000,
                                received[0])

        if not target.metrics_url:
            return failed("no metrics_url configured")
        deadline = self._timeout if self._timeout is not None else target.timeout
        accept = ACCEPT_JSON if target.metrics_format == "json" else ACCEPT_PROMETHEUS
        try:
            client = self._client_for(target)
            async with asyncio.timeout(deadline):
                body = await self._fetch(client, target.metrics_url, accept, received)
        except _Failed as exc:
            return failed(str(exc))
        except (TimeoutError, httpx.TimeoutException):
            return failed(f"timed out after {deadline:g}s")
        except httpx.HTTPError as exc:
            return failed(_describe(exc))
        except (OSError, ssl.SSLError, ValueError) as exc:
            return failed(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # never raise to the monitor loop
            return failed(f"unexpected {type(exc).__name__}: {exc}")
        try:
            if len(body) > THREAD_PARSE_ABOVE:  # keep the loop (and probe timings) responsive
                extract = await asyncio.to_thread(self._extract, body, target.metrics_format)
            else:
                extract = self._extract(body, target.metrics_format)
            values = self._values(target.name or target.metrics_url, now, extract)
        except _Failed as exc:
            return failed(str(exc))
        except Exception as exc:
            return failed(f"unexpected {type(exc).__name__} while reading the page: {exc}")
        return ScrapeResult(True, values, extract.instances, "", (time.perf_counter() - started) * 1000,
                            received[0])

    async def _fetch(self, client: httpx.AsyncClient, url: str, accept: str, received: list[int]) -> bytes:
        headers = {"Accept": accept}
        current = httpx.URL(url)
        for hop in range(MAX_REDIRECTS + 1):
            request = client.build_request("GET", current, headers=headers)
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                if response.is_redirect:
                    if hop == MAX_REDIRECTS:
                        raise _Failed(f"too many redirects (more than {MAX_REDIRECTS})")
                    nxt = response.next_request
                    if nxt is None or nxt.url.scheme not in ("http", "https"):
                        raise _Failed("redirect to an unsupported location")
                    current = nxt.url
                    continue
                if response.status_code != 200:
                    raise _Failed(f"HTTP {response.status_code} {response.reason_phrase[:80]}".rstrip())
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > self._cap:
                    raise _Failed(f"body exceeds {human_size(self._cap)}")
                chunks: list[bytes] = []
                async for chunk in response.aiter_bytes():
                    received[0] += len(chunk)
                    if received[0] > self._cap:
                        raise _Failed(f"body exceeds {human_size(self._cap)}")
                    chunks.append(chunk)
                return b"".join(chunks)
            finally:
                await response.aclose()
        raise _Failed(f"too many redirects (more than {MAX_REDIRECTS})")  # pragma: no cover

    # ------------------------------------------------------------------ extraction

    def _extract(self, body: bytes, fmt: str) -> _Extract:
        """Decode and read one page (pure: no scraper state is touched, so it may run in a thread)."""
        try:
            text, bad_utf8 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, bad_utf8 = body.decode("utf-8", errors="replace"), True
        if fmt == "json":
            return self._extract_json(text)
        return self._extract_prometheus(text, bad_utf8)

    def _extract_prometheus(self, text: str, bad_utf8: bool) -> _Extract:
        try:
            families = promtext.parse(text, self.wanted)
        except promtext.PromTextError as exc:
            raise _Failed(f"malformed metrics page: {exc}") from None
        if self.wanted and not families:
            listed = ", ".join(sorted(self.wanted))
            note = " (and it is not valid UTF-8)" if bad_utf8 else ""
            raise _Failed(f"none of the configured metrics ({listed}) found on the page{note}")
        if bad_utf8:
            for name, samples in families.items():
                for labels, _ in samples:
                    if any("\ufffd" in v for v in labels.values()):
                        raise _Failed(f"invalid UTF-8 in a label value of {name}")
        out = _Extract()
        for key, expr in self._exprs.items():
            if key in ("messages", "errors"):
                out.counters[key] = _series(expr, families)
            else:
                out.gauges[key] = expr.evaluate(families)
        if out.counters.get("errors", {}) is None:
            # A labelled error counter has no series until the first error: no series is zero errors.
            out.counters["errors"] = {}
        conn = self._exprs.get("connections")
        if isinstance(conn, Selector):
            label = self._metrics.instance_label
            for sample_labels, value in conn.samples(families):
                inst = sample_labels.get(label)
                if inst is not None and not math.isnan(value):
                    out.instances[inst] = out.instances.get(inst, 0.0) + value
        if self._hist is not None:
            out.buckets = self._prom_buckets(families, self._hist)
        return out

    @staticmethod
    def _prom_buckets(families: Families, hist: Selector) -> Buckets | None:
        samples = families.get(hist.name + "_bucket")
        if not samples:
            return None
        buckets: Buckets = {}
        for labels, value in samples:
            if not all(m.matches(labels) for m in hist.matchers):
                continue
            le_text = labels.get("le")
            if le_text is None:
                continue
            try:
                le = float(le_text)
            except ValueError:
                raise _Failed(f"malformed metrics page: bad le {le_text[:30]!r} in {hist.name}_bucket") \
                    from None
            key = frozenset((k, v) for k, v in labels.items() if k != "le")
            series = buckets.setdefault(key, {})
            series[le] = series.get(le, 0.0) + value
        return buckets or None

    def _extract_json(self, text: str) -> _Extract:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise _Failed(f"not valid JSON: {exc}") from None
        out = _Extract()
        try:
            for key, expr in self._exprs.items():
                if key in ("messages", "errors"):
                    out.counters[key] = _json_series(expr, doc)
                else:
                    out.gauges[key] = expr.evaluate_json(doc)
            if out.counters.get("errors", {}) is None:
                out.counters["errors"] = {}
            conn = self._exprs.get("connections")
            if isinstance(conn, Selector):
                raw = conn.resolve_json(doc)
                if isinstance(raw, dict):
                    for inst, v in raw.items():
                        n = json_number(v)
                        if n is not None:
                            out.instances[str(inst)] = n
            if self._hist is not None:
                raw = self._hist.resolve_json(doc)
                if isinstance(raw, dict):
                    series: dict[float, float] = {}
                    for le_text, v in raw.items():
                        n = json_number(v)
                        try:
                            le = float(le_text)
                        except ValueError:
                            continue
                        if n is not None:
                            series[le] = n
                    out.buckets = {frozenset(): series} if series else None
                else:
                    out.latency = json_number(raw)
        except ValueError as exc:
            raise _Failed(str(exc)) from None
        return out

    # ------------------------------------------------------------------ values

    def _values(self, key: str, now: float, ex: _Extract) -> dict[str, float | None]:
        prev = self._prev.get(key)
        dt = now - prev.at if prev is not None else 0.0
        values = self._empty()
        for name in ("connections", "queue_depth", "adoption"):
            values[name] = _clean(ex.gauges.get(name))

        rates: dict[str, float | None] = {}
        for name in ("messages", "errors"):
            cur = ex.counters.get(name)
            before = prev.counters.get(name) if prev is not None else None
            rates[name] = None
            if cur is not None and before is not None and dt > 0:
                rates[name] = counter_increase(before, cur) / dt
        values["messages_per_s"] = _clean(rates["messages"])
        msg_rate, err_rate = rates["messages"], rates["errors"]
        if msg_rate and err_rate is not None and not math.isnan(msg_rate):
            values["server_error_rate"] = _clean(err_rate / msg_rate)

        scale = 1000.0 if self._hist is not None and self._hist.path[-1].endswith("_seconds") else 1.0
        if ex.buckets is not None:
            if prev is not None and prev.buckets is not None and dt > 0:
                p95 = histogram_quantile(0.95, bucket_deltas(prev.buckets, ex.buckets))
            else:
                p95 = histogram_quantile(0.95, sum_buckets(ex.buckets))
            values["server_latency_ms"] = _clean(p95 * scale if p95 is not None else None)
        elif ex.latency is not None:
            values["server_latency_ms"] = _clean(ex.latency * scale)

        values["imbalance"] = imbalance(ex.instances)
        self._prev[key] = _Previous(now, ex.counters, ex.buckets)
        return values


IMBALANCE_MIN_MEAN = 10.0
"""Below this many connections per instance, imbalance is noise (a drained fleet holding a
handful of probe connections is not "imbalanced")."""


def imbalance(instances: Mapping[str, float]) -> float | None:
    """max / mean of per-instance connections; None with fewer than two instances or too few connections."""
    if len(instances) < 2:
        return None
    mean = sum(instances.values()) / len(instances)
    if not mean >= IMBALANCE_MIN_MEAN:
        return None
    return max(instances.values()) / mean


def _series(expr: Expression, families: Families) -> dict[SeriesKey, float] | None:
    if isinstance(expr, Selector):
        series = expr.series(families)
        return series or None
    value = expr.evaluate(families)
    return None if value is None else {frozenset(): value}


def _json_series(expr: Expression, doc: object) -> dict[SeriesKey, float] | None:
    """A JSON counter as series: an object of numbers (per instance, say) or a list is one
    series per key or index, so one instance restarting is a reset of its own series and not
    of the sum; a single number is one series."""
    if isinstance(expr, Selector):
        raw = expr.resolve_json(doc)
        if isinstance(raw, dict | list) and raw:
            items = raw.items() if isinstance(raw, dict) else enumerate(raw)
            series = {frozenset({("key", str(k))}): n for k, v in items if (n := json_number(v)) is not None}
            return series or None
    value = expr.evaluate_json(doc)
    return None if value is None else {frozenset(): value}


def _describe(exc: httpx.HTTPError) -> str:
    """A short, plain description of a transport failure."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
            return f"TLS error: {text}"
        return f"cannot connect: {text}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error: {text}"
    return f"{type(exc).__name__}: {text}"

