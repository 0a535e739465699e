"""The scraper against a real local HTTP server (asyncio, 127.0.0.1, ephemeral port)."""

from __future__ import annotations

import asyncio
import json
import math
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

from tests.conftest import require_binary
from wsmon_tui.config import MetricsConfig, TargetConfig
from wsmon_tui.engine import promtext
from wsmon_tui.engine.scrape import (
    CANONICAL,
    Scraper,
    bucket_deltas,
    histogram_quantile,
    make_client,
)

# ----------------------------------------------------------------------------- the server


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    stream_chunks: int = 0
    """> 0: send the body in this many chunks without Content-Length, then close."""
    stall_after_headers: float = 0.0
    """> 0: send headers and a first line, then wait this long before the rest."""


class PageServer:
    """A minimal HTTP/1.1 server with keep-alive, routes set by each test."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.connections = 0
        self._tasks: set[asyncio.Task] = set()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.tls: ssl.SSLContext | None = None

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while True:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {k.strip().lower(): v.strip() for k, v in
                           (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                self.requests.append((path, headers))
                route = self.routes.get(path.split("?")[0], Route(b"not found", 404))
                if not await self._respond(writer, route):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ssl.SSLError,
                asyncio.CancelledError):
            pass  # cancelled at stop: end quietly (3.11 logs a cancelled connection handler)
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _respond(self, writer: asyncio.StreamWriter, route: Route) -> bool:
        """Write one response; False when the connection must close afterwards."""
        status = f"HTTP/1.1 {route.status} {'OK' if route.status == 200 else 'Status'}\r\n"
        extra = "".join(f"{k}: {v}\r\n" for k, v in route.headers.items())
        if route.stream_chunks or route.stall_after_headers:
            writer.write((status + extra + "Connection: close\r\n\r\n").encode())
            body = route.body
            if route.stall_after_headers:
                writer.write(body[:20])
                await writer.drain()
                await asyncio.sleep(route.stall_after_headers)
                body = body[20:]
            n = max(route.stream_chunks, 1)
            size = max(1, math.ceil(len(body) / n))
            for i in range(0, len(body), size):
                writer.write(body[i:i + size])
                await writer.drain()
            return False
        writer.write((status + extra + f"Content-Length: {len(route.body)}\r\n\r\n").encode() + route.body)
        await writer.drain()
        return True


@pytest.fixture
async def server() -> AsyncIterator[PageServer]:
    srv = PageServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(timeout=5.0) as c:
        yield c


METRICS = MetricsConfig(
    connections="ws_connections",
    messages="ws_messages_total",
    errors="ws_errors_total",
    queue_depth='ws_queue_depth{queue="send"}',
    adoption='ws_clients{transport="websocket"} / ws_clients',
    latency_histogram="ws_latency_seconds",
)

BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")


def page(*, messages: tuple[float, float] = (100, 100), errors: float = 2, conns=(10, 30),
         buckets: tuple[float, ...] = (10, 50, 90, 98, 100, 100), fmt: str = "text") -> str:
    """A page like a real WebSocket server exposes, with the awkward bits included."""
    om = fmt == "openmetrics"
    counter_type = "ws_messages counter" if om else "ws_messages_total counter"
    lines = [
        "# HELP ws_connections Open connections.",
        "# TYPE ws_connections gauge",
        f'ws_connections{{instance="ws-1",note="a \\"quoted\\" \\\\ value\\n"}} {conns[0]}',
        f'ws_connections{{instance="ws-2",note="}}{{,= #"}} {conns[1]} 1700000000000',
        f"# TYPE {counter_type}",
        f'ws_messages_total{{instance="ws-1"}} {messages[0]}' + (' # {trace_id="x"} 1.0' if om else ""),
        f'ws_messages_total{{instance="ws-2"}} {messages[1]}',
        f"# TYPE {'ws_errors counter' if om else 'ws_errors_total counter'}",
        f"ws_errors_total {errors}",
        "# TYPE ws_queue_depth gauge",
        'ws_queue_depth{queue="send"} 7',
        'ws_queue_depth{queue="recv"} 1000',
        "# TYPE ws_clients gauge",
        'ws_clients{transport="websocket"} 30',
        'ws_clients{transport="longpoll"} 10',
        "# TYPE ws_idle gauge",
        "ws_idle NaN",
        "# TYPE ws_latency_seconds histogram",
    ]
    for le, count in zip(BUCKETS, buckets, strict=True):
        le_text = le if not om or le == "+Inf" else str(float(le))
        lines.append(f'ws_latency_seconds_bucket{{le="{le_text}"}} {count}')
    lines += [f"ws_latency_seconds_sum {buckets[-1] * 0.1}", f"ws_latency_seconds_count {buckets[-1]}"]
    lines += [f"filler_metric_{i}{{handler=\"/x/{i}\"}} {i}" for i in range(50)]
    return "\n".join(lines) + ("\n# EOF\n" if om else "\n")


def target(url: str, **kw) -> TargetConfig:
    return TargetConfig(name=kw.pop("name", "t1"), url="ws://127.0.0.1:1/ws", metrics_url=url, **kw)


# ----------------------------------------------------------------------------- the happy path


async def test_first_scrape_gauges_instances_and_cumulative_p95(server, client) -> None:
    server.routes["/metrics"] = Route(page().encode(), headers={"Content-Type": "text/plain; version=0.0.4"})
    result = await Scraper(METRICS, client).scrape(target(server.url("/metrics")), now=1000.0)
    assert result.ok, result.error
    assert set(result.values) == set(CANONICAL)
    assert result.values["connections"] == 40.0
    assert result.values["queue_depth"] == 7.0
    assert result.values["adoption"] == pytest.approx(0.75)
    assert result.values["messages_per_s"] is None  # first scrape: no rate yet
    assert result.values["server_error_rate"] is None
    assert result.instances == {"ws-1": 10.0, "ws-2": 30.0}
    assert result.values["imbalance"] == pytest.approx(30 / 20)
    # p95 of 100 cumulative observations: rank 95 in (0.25, 0.5] holding 8 (90 -> 98): 0.25 + 0.25 * 5/8
    assert result.values["server_latency_ms"] == pytest.approx((0.25 + 0.25 * 5 / 8) * 1000)
    assert result.bytes == len(page().encode())
    assert result.duration_ms is not None and result.duration_ms > 0
    assert "text/plain" in server.requests[0][1]["accept"]


async def test_rates_error_rate_and_p95_on_bucket_deltas(server, client) -> None:
    scraper = Scraper(METRICS, client)
    url = server.url("/metrics")
    server.routes["/metrics"] = Route(page(messages=(100, 100), errors=2).encode())
    assert (await scraper.scrape(target(url), now=1000.0)).ok
    # 10 s later: +300 and +100 messages, +8 errors; 100 new observations, all slow (in (0.5, 1]).
    server.routes["/metrics"] = Route(page(messages=(400, 200), errors=10,
                                           buckets=(10, 50, 90, 98, 200, 200)).encode())
    result = await scraper.scrape(target(url), now=1010.0)
    assert result.ok, result.error
    assert result.values["messages_per_s"] == pytest.approx(40.0)
    assert result.values["server_error_rate"] == pytest.approx(0.8 / 40.0)
    # On the deltas: all 100 new observations are in (0.5, 1], so p95 = 0.5 + 0.5 * 95/100.
    assert result.values["server_latency_ms"] == pytest.approx((0.5 + 0.5 * 0.95) * 1000)
    # No new observations in the next interval: no latency to report.
    result = await scraper.scrape(target(url), now=1020.0)
    assert result.values["server_latency_ms"] is None
    assert result.values["messages_per_s"] == 0.0
    assert result.values["server_error_rate"] is None  # no messages: the ratio is unknown, not 0


async def test_deltas_differ_from_cumulative(server, client) -> None:
    scraper = Scraper(METRICS, client)
    url = server.url("/metrics")
    server.routes["/metrics"] = Route(page(buckets=(1000, 1000, 1000, 1000, 1000, 1000)).encode())
    first = await scraper.scrape(target(url), now=0.0)
    assert first.values["server_latency_ms"] == pytest.approx(0.05 * 0.95 * 1000)
    # 10 new observations, all in (0.1, 0.25]; cumulative p95 would still be in the first bucket.
    server.routes["/metrics"] = Route(page(buckets=(1000, 1000, 1010, 1010, 1010, 1010)).encode())
    second = await scraper.scrape(target(url), now=5.0)
    assert second.values["server_latency_ms"] == pytest.approx((0.1 + 0.15 * 0.95) * 1000)


async def test_counter_reset_counts_the_new_value_as_increase(server, client) -> None:
    scraper = Scraper(METRICS, client)
    url = server.url("/metrics")
    server.routes["/metrics"] = Route(page(messages=(5000, 100)).encode())
    await scraper.scrape(target(url), now=0.0)
    # ws-1 restarted (5000 -> 30), ws-2 went on (100 -> 170): increase 30 + 70 over 5 s.
    server.routes["/metrics"] = Route(page(messages=(30, 170)).encode())
    result = await scraper.scrape(target(url), now=5.0)
    assert result.values["messages_per_s"] == pytest.approx(20.0)
    # Rates are kept per target: another target's first scrape has no rate.
    other = await scraper.scrape(target(url, name="t2"), now=5.0)
    assert other.values["messages_per_s"] is None


async def test_openmetrics_page_with_exemplars_and_eof(server, client) -> None:
    body = page(fmt="openmetrics")
    server.routes["/metrics"] = Route(body.encode(), headers={
        "Content-Type": "application/openmetrics-text; version=1.0.0; charset=utf-8"})
    result = await Scraper(METRICS, client).scrape(target(server.url("/metrics")), now=1.0)
    assert result.ok, result.error
    assert result.values["connections"] == 40.0
    assert result.values["server_latency_ms"] == pytest.approx((0.25 + 0.25 * 5 / 8) * 1000)


@pytest.mark.parametrize("fmt", ["text", "openmetrics"])
async def test_promtext_matches_prometheus_client_on_served_pages(server, fmt: str) -> None:
    server.routes["/metrics"] = Route(page(fmt=fmt).encode())
    async with httpx.AsyncClient() as c:
        text = (await c.get(server.url("/metrics"), timeout=5)).text
    wanted = ["ws_connections", "ws_messages", "ws_errors", "ws_latency_seconds", "ws_idle",
              "filler_metric_7"]
    names = promtext.accepted_names(wanted)
    reference = {}
    for family in (om_parse if fmt == "openmetrics" else text_parse)(text):
        for s in family.samples:
            if s.name in names:
                reference[(s.name, tuple(sorted(s.labels.items())))] = s.value
    ours = {(n, tuple(sorted(lab.items()))): v
            for n, samples in promtext.parse(text, wanted).items() for lab, v in samples}
    assert ours.keys() == reference.keys()
    assert len(ours) >= 14
    for key, value in reference.items():
        assert ours[key] == value or (math.isnan(value) and math.isnan(ours[key]))


async def test_json_format(server, client) -> None:
    metrics = MetricsConfig(connections="server.connections", messages="stats.messages",
                            errors="stats.errors", queue_depth="queues.value",
                            adoption="clients.websocket / clients.total",
                            latency_histogram="latency_seconds")
    doc = {"server": {"connections": {"ws-1": 40, "ws-2": 120}},
           "stats": {"messages": 1000, "errors": 10},
           "queues": [{"value": 3}, {"value": 4}],
           "clients": {"websocket": 9, "total": 12},
           "latency_seconds": {"0.1": 50, "0.5": 100, "+Inf": 100}}
    server.routes["/stats"] = Route(json.dumps(doc).encode(), headers={"Content-Type": "application/json"})
    scraper = Scraper(metrics, client)
    tgt = target(server.url("/stats"), metrics_format="json")
    first = await scraper.scrape(tgt, now=0.0)
    assert first.ok, first.error
    assert first.values["connections"] == 160.0
    assert first.instances == {"ws-1": 40.0, "ws-2": 120.0}
    assert first.values["imbalance"] == pytest.approx(120 / 80)
    assert first.values["queue_depth"] == 7.0
    assert first.values["adoption"] == pytest.approx(0.75)
    assert first.values["server_latency_ms"] == pytest.approx((0.1 + 0.4 * 0.9) * 1000)
    assert "application/json" in server.requests[0][1]["accept"]
    doc["stats"] = {"messages": 1500, "errors": 20}
    server.routes["/stats"] = Route(json.dumps(doc).encode())
    second = await scraper.scrape(tgt, now=10.0)
    assert second.values["messages_per_s"] == pytest.approx(50.0)
    assert second.values["server_error_rate"] == pytest.approx(0.02)
    server.routes["/stats"] = Route(b"{not json")
    bad = await scraper.scrape(tgt, now=20.0)
    assert not bad.ok and "not valid JSON" in bad.error


async def test_keep_alive_one_connection_for_many_scrapes(server, client) -> None:
    server.routes["/metrics"] = Route(page().encode())
    scraper = Scraper(METRICS, client)
    for i in range(5):
        assert (await scraper.scrape(target(server.url("/metrics")), now=float(i))).ok
    assert server.connections == 1


# ----------------------------------------------------------------------------- failures


async def test_http_500(server, client) -> None:
    server.routes["/metrics"] = Route(b"boom", status=500)
    result = await Scraper(METRICS, client).scrape(target(server.url("/metrics")), now=0.0)
    assert not result.ok and result.error.startswith("HTTP 500")
    assert set(result.values) == set(CANONICAL) and all(v is None for v in result.values.values())


async def test_malformed_wanted_line(server, client) -> None:
    server.routes["/metrics"] = Route(b'ws_connections{instance="a" 5\n')
    result = await Scraper(METRICS, client).scrape(target(server.url("/metrics")), now=0.0)
    assert not result.ok and "malformed metrics page: line 1" in result.error


async def test_page_without_any_configured_metric(server, client) -> None:
    server.routes["/metrics"] = Route(b"<html><body>Please log in</body></html>")
    result = await Scraper(METRICS, client).scrape(target(server.url("/metrics")), now=0.0)
    assert not result.ok and "none of the configured metrics" in result.error
    assert "ws_connections" in result.error


async def test_invalid_utf8(server, client) -> None:
    scraper = Scraper(METRICS, client)
    url = server.url("/metrics")
    # Invalid bytes in a part of the page nobody asked for: the scrape still works.
    server.routes["/metrics"] = Route(page().encode() + b'junk{a="\xff\xfe"} 1\n')
    assert (await scraper.scrape(target(url), now=0.0)).ok
    # ...in a wanted series: reported, not raised.
    server.routes["/metrics"] = Route(b'ws_connections{instance="\xc3\x28"} 5\n')
    result = await scraper.scrape(target(url), now=1.0)
    assert not result.ok and "invalid UTF-8" in result.error
    server.routes["/metrics"] = Route(b"\xff\xfe\xfd garbage")
    result = await scraper.scrape(target(url), now=2.0)
    assert not result.ok and "not valid UTF-8" in result.error


@pytest.mark.parametrize("streamed", [True, False])
async def test_body_over_the_cap(server, client, streamed: bool) -> None:
    body = page().encode() * 20
    server.routes["/metrics"] = Route(body, stream_chunks=40 if streamed else 0)
    result = await Scraper(METRICS, client, body_cap=4096).scrape(target(server.url("/metrics")), now=0.0)
    assert not result.ok and result.error == "body exceeds 4 KB"
    assert result.bytes < len(body)  # it stopped reading


async def test_default_cap_is_10_mb_streamed(server, client) -> None:
    body = b"# padding\n" * (1024 * 1024 + 1)  # 10 MB + 10 bytes, no Content-Length
    server.routes["/metrics"] = Route(body, stream_chunks=64)
    result = await Scraper(METRICS, client).scrape(target(server.url("/metrics")), now=0.0)
    assert not result.ok and result.error == "body exceeds 10 MB"


async def test_slow_body_times_out(server, client) -> None:
    server.routes["/metrics"] = Route(page().encode(), stall_after_headers=5.0)
    started = time.monotonic()
    result = await Scraper(METRICS, client).scrape(target(server.url("/metrics"), timeout=0.3), now=0.0)
    assert not result.ok and result.error == "timed out after 0.3s"
    assert time.monotonic() - started < 2.0


async def test_redirects(server, client) -> None:
    server.routes["/metrics"] = Route(page().encode())
    for i in range(1, 4):  # /r1 -> /r2 -> /r3 -> /metrics: three redirects are fine
        nxt = f"/r{i + 1}" if i < 3 else "/metrics"
        server.routes[f"/r{i}"] = Route(status=302, headers={"Location": nxt})
    scraper = Scraper(METRICS, client)
    ok = await scraper.scrape(target(server.url("/r1")), now=0.0)
    assert ok.ok, ok.error
    server.routes["/r0"] = Route(status=301, headers={"Location": "/r1"})
    four = await scraper.scrape(target(server.url("/r0"), name="t2"), now=0.0)
    assert not four.ok and "too many redirects" in four.error
    server.routes["/loop"] = Route(status=307, headers={"Location": server.url("/loop")})
    loop = await scraper.scrape(target(server.url("/loop"), name="t3"), now=0.0)
    assert not loop.ok and "too many redirects" in loop.error
    assert sum(1 for p, _ in server.requests if p == "/loop") == 4


async def test_connection_refused_and_missing_url(client) -> None:
    from tests.prom_server import free_port

    scraper = Scraper(METRICS, client)
    refused = await scraper.scrape(target(f"http://127.0.0.1:{free_port()}/metrics"), now=0.0)
    assert not refused.ok and refused.error.startswith("cannot connect")
    missing = await scraper.scrape(TargetConfig(name="x", url="ws://127.0.0.1:1"), now=0.0)
    assert not missing.ok and "no metrics_url" in missing.error


async def test_bad_expressions_are_rejected_when_built(client) -> None:
    with pytest.raises(ValueError, match="not a ratio"):
        Scraper(MetricsConfig(latency_histogram="a / b"), client)
    with pytest.raises(ValueError, match="bad metric expression"):
        Scraper(MetricsConfig(connections="a{"), client)


# ----------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    openssl = require_binary("openssl")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return d / "cert.pem", d / "key.pem"


async def test_tls_verification(cert, client) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert[0], cert[1])
    srv = PageServer()
    await srv.start(tls=ctx)
    scraper = Scraper(METRICS, client)
    try:
        srv.routes["/metrics"] = Route(page().encode())
        url = srv.url("/metrics")
        untrusted = await scraper.scrape(target(url), now=0.0)
        assert not untrusted.ok and "TLS error" in untrusted.error
        assert (await scraper.scrape(target(url, name="a", verify_tls=False), now=0.0)).ok
        pinned = await scraper.scrape(target(url, name="b", ca_file=str(cert[0])), now=0.0)
        assert pinned.ok, pinned.error
        missing_ca = await scraper.scrape(target(url, name="c", ca_file="/nonexistent/ca.pem"), now=0.0)
        assert not missing_ca.ok
    finally:
        await scraper.aclose()
        await srv.stop()


# ----------------------------------------------------------------------------- pure helpers


def test_histogram_quantile_semantics() -> None:
    inf = math.inf
    assert histogram_quantile(0.95, {}) is None
    assert histogram_quantile(0.95, {1.0: 5}) is None  # no +Inf bucket
    assert histogram_quantile(0.95, {1.0: 0, inf: 0}) is None  # no observations
    assert histogram_quantile(0.5, {1.0: 10, 2.0: 20, inf: 20}) == pytest.approx(1.0)
    assert histogram_quantile(0.75, {1.0: 10, 2.0: 20, inf: 20}) == pytest.approx(1.5)
    assert histogram_quantile(0.95, {1.0: 10, 2.0: 10, inf: 20}) == 2.0  # in +Inf: the highest finite bound
    assert histogram_quantile(0.5, {1.0: 10, 2.0: 8, inf: 20}) == pytest.approx(1.0)  # made monotonic
    assert histogram_quantile(0.5, {-1.0: 10, inf: 20}) == -1.0


def test_bucket_deltas_handle_resets_and_new_series() -> None:
    a, b = frozenset({("i", "a")}), frozenset({("i", "b")})
    prev = {a: {1.0: 10.0, math.inf: 20.0}}
    cur = {a: {1.0: 2.0, math.inf: 3.0}, b: {1.0: 1.0, math.inf: 1.0}}  # a was reset, b is new
    assert bucket_deltas(prev, cur) == {1.0: 3.0, math.inf: 4.0}
    cur = {a: {1.0: 15.0, math.inf: 30.0}}
    assert bucket_deltas(prev, cur) == {1.0: 5.0, math.inf: 10.0}


async def test_histogram_with_label_matchers(server, client) -> None:
    lines = []
    for route, counts in (("/ws", (0, 0, 10)), ("/health", (10, 10, 10))):
        for le, c in zip(("0.1", "1", "+Inf"), counts, strict=True):
            lines.append(f'lat_seconds_bucket{{route="{route}",le="{le}"}} {c}')
    server.routes["/metrics"] = Route(("\n".join(lines) + "\n").encode())
    url = server.url("/metrics")
    only_ws = await Scraper(MetricsConfig(latency_histogram='lat_seconds{route="/ws"}'), client).scrape(
        target(url), now=0.0)
    assert only_ws.values["server_latency_ms"] == pytest.approx(1000.0)  # all in +Inf: highest finite bound
    both = await Scraper(MetricsConfig(latency_histogram="lat_seconds"), client).scrape(target(url), now=0.0)
    assert both.values["server_latency_ms"] == pytest.approx(1000.0)  # rank 19 of 20: in +Inf too
    health = await Scraper(MetricsConfig(latency_histogram='lat_seconds{route="/health"}'), client).scrape(
        target(url), now=0.0)
    assert health.values["server_latency_ms"] == pytest.approx(95.0)


async def test_large_page_is_read_off_the_loop_with_same_result(server, client) -> None:
    """Pages over 1 MB are parsed in a worker thread; the values are the same."""
    body = page() + "".join(f'padding_metric{{i="{i}"}} {i}\n' for i in range(60_000))
    assert len(body) > 1024 * 1024
    server.routes["/big"] = Route(body.encode())
    server.routes["/small"] = Route(page().encode())
    scraper = Scraper(METRICS, client)
    big = await scraper.scrape(target(server.url("/big"), name="big"), now=0.0)
    small = await scraper.scrape(target(server.url("/small"), name="small"), now=0.0)
    assert big.ok, big.error
    assert big.values == small.values and big.instances == small.instances


def test_imbalance_needs_enough_connections_to_mean_anything():
    from wsmon_tui.engine.scrape import imbalance

    assert imbalance({"a": 30.0, "b": 10.0}) == pytest.approx(1.5)
    assert imbalance({"a": 3.0, "b": 0.0, "c": 0.0}) is None  # a drained fleet, probe connections only
    assert imbalance({"a": 50.0}) is None
