"""PrometheusSource and real pages, against a real ``prometheus`` on 127.0.0.1."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

from tests.conftest import require_binary
from tests.hostile import echo_server
from tests.prom_server import Prometheus, free_port, running_prometheus
from wsmon_tui.config import Config, MetricsConfig, MonitorConfig, PrometheusConfig, TargetConfig
from wsmon_tui.engine import promtext
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.engine.promapi import PrometheusSource
from wsmon_tui.engine.scrape import Scraper, make_client

pytestmark = pytest.mark.prometheus


@pytest.fixture(scope="module")
def prom(tmp_path_factory) -> Iterator[tuple[Prometheus, str]]:
    """Prometheus scraping itself and a target that refuses connections (up == 0)."""
    require_binary("prometheus")
    dead = f"127.0.0.1:{free_port()}"
    with running_prometheus(tmp_path_factory.mktemp("prom"), extra_targets=[dead]) as p:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # both targets scraped at least once
            r = httpx.get(p.url + "/api/v1/query", params={"query": "count(up)"}, timeout=5).json()
            if r["data"]["result"] and r["data"]["result"][0]["value"][1] == "2":
                break
            time.sleep(0.2)
        else:
            pytest.fail("prometheus did not scrape its targets in 20 s")
        yield p, dead


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(timeout=5.0) as c:
        yield c


async def test_queries_map_to_canonical_names(prom, client) -> None:
    p, dead = prom
    cfg = PrometheusConfig(url=p.url, queries={
        "connections": "sum by (instance) (up)",
        "queue_depth": "count(up)",
        "adoption": "scalar(sum(up)) / 2",
        "messages_per_s": 'sum(up{job="no-such-job"})',
    })
    result = await PrometheusSource(cfg, client).query_all(time.time())
    assert result.ok, result.error
    assert result.values["connections"] == 1.0
    assert result.values["queue_depth"] == 2.0
    assert result.values["adoption"] == 0.5  # a scalar result
    assert result.values["messages_per_s"] is None  # an empty vector
    assert result.instances == {f"127.0.0.1:{p.port}": 1.0, dead: 0.0}
    assert result.values["imbalance"] is None  # a mean of 0.5 per instance is too few to judge
    assert result.duration_ms is not None


async def test_query_errors_carry_prometheus_message(prom, client) -> None:
    p, _ = prom
    cfg = PrometheusConfig(url=p.url, queries={"connections": "sum(up)", "queue_depth": "sum(",
                                               "adoption": "up[1m]"})
    result = await PrometheusSource(cfg, client).query_all(time.time())
    assert not result.ok
    assert result.values["connections"] == 1.0  # the good query still counts
    assert "queue_depth: bad_data" in result.error and "parse error" in result.error
    assert "adoption: the query gives a range vector" in result.error


async def test_unreachable_prometheus(client) -> None:
    cfg = PrometheusConfig(url=f"http://127.0.0.1:{free_port()}", queries={"connections": "sum(up)"})
    result = await PrometheusSource(cfg, client).query_all(time.time())
    assert not result.ok and "connections: ConnectError" in result.error
    none = await PrometheusSource(PrometheusConfig(queries={"x": "1"}), client).query_all(0.0)
    assert not none.ok and "no [prometheus] url" in none.error


@pytest.mark.parametrize("accept", ["text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0"])
def test_promtext_matches_prometheus_client_on_prometheus_own_page(prom, accept: str) -> None:
    """Every sample of a real, large page: promtext and prometheus_client agree exactly.

    (Prometheus 2.42 answers text 0.0.4 for its own page even when OpenMetrics is asked for;
    the parser follows the content type it got.)
    """
    p, _ = prom
    resp = httpx.get(p.url + "/metrics", headers={"Accept": accept}, timeout=10)
    openmetrics = "openmetrics" in resp.headers["content-type"]
    reference: dict[tuple, float] = {}
    for family in (om_parse if openmetrics else text_parse)(resp.text):
        for s in family.samples:
            reference[(s.name, tuple(sorted(s.labels.items())))] = s.value
    wanted = {name for name, _ in reference}
    ours = {(n, tuple(sorted(lab.items()))): v
            for n, samples in promtext.parse(resp.text, wanted).items() for lab, v in samples}
    assert len(reference) > 300
    assert ours.keys() == reference.keys()
    for key, value in reference.items():
        assert ours[key] == value or (math.isnan(value) and math.isnan(ours[key])), key


async def test_scraper_on_prometheus_own_page(prom, client) -> None:
    p, _ = prom
    metrics = MetricsConfig(connections="prometheus_target_scrape_pools_total",
                            messages="prometheus_http_requests_total",
                            errors='prometheus_http_requests_total{code=~"5.."}',
                            queue_depth="go_goroutines",
                            latency_histogram="prometheus_http_request_duration_seconds")
    scraper = Scraper(metrics, client)
    tgt = TargetConfig(name="prom", url="ws://127.0.0.1:1", metrics_url=p.url + "/metrics")
    first = await scraper.scrape(tgt, now=time.time())
    assert first.ok, first.error
    assert first.values["queue_depth"] and first.values["queue_depth"] > 0
    assert first.values["server_latency_ms"] is not None and first.values["server_latency_ms"] > 0
    assert first.bytes > 10_000
    await client.get(p.url + "/api/v1/query", params={"query": "up"})  # at least one more request
    second = await scraper.scrape(tgt, now=time.time() + 0.001)
    assert second.ok, second.error
    assert second.values["messages_per_s"] is not None and second.values["messages_per_s"] > 0
    assert second.values["server_error_rate"] == 0.0


async def test_instance_label_names_the_instances_of_a_query(prom, client) -> None:
    """``[metrics] instance_label`` holds for the PromQL source as for scrapes: here ``job``."""
    p, _ = prom
    queries = {"connections": "sum by (job) (up) * 30 + 10"}  # prometheus: 40, extra: 10
    by_job = await PrometheusSource(PrometheusConfig(url=p.url, queries=queries), client,
                                    instance_label="job").query_all(time.time())
    assert by_job.ok, by_job.error
    assert by_job.instances == {"prometheus": 40.0, "extra": 10.0}
    assert by_job.values["imbalance"] == pytest.approx(40 / 25)
    # The default label is not in a vector summed by job: no instances, no imbalance.
    default = await PrometheusSource(PrometheusConfig(url=p.url, queries=queries),
                                     client).query_all(time.time())
    assert default.instances == {} and default.values["imbalance"] is None


async def test_monitor_reads_imbalance_by_instance_label_from_prometheus(prom) -> None:
    p, _ = prom
    async with echo_server() as ws_url:
        config = Config(
            monitor=MonitorConfig(level="debug", interval=0.5),
            targets=[TargetConfig(name="a", url=ws_url, timeout=1.0)],
            metrics=MetricsConfig(instance_label="job"),
            prometheus=PrometheusConfig(url=p.url, queries={"connections": "sum by (job) (up) * 30 + 10"}),
        )
        monitor = Monitor(config, None)
        assert await asyncio.wait_for(monitor.run(1.2), 15) == "duration"
    overall = monitor.build_snapshot().overall
    assert overall["connections"] == 50.0
    assert overall["imbalance"] == pytest.approx(40 / 25)
