"""wsmon's own ``/metrics`` from a running Monitor at real servers: ``promtool check metrics``
accepts the page, its histograms put a known latency in the right bucket, and it carries the
HTTP statuses and close codes of failed probes and the held connections' drops.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import require_binary
from tests.hostile import close_after_accept_server, flaky_server, http_status_server, slow_reply_server
from tests.prom_server import free_port, running_prometheus
from wsmon_tui.config import Config, MonitorConfig, TargetConfig
from wsmon_tui.engine.exporter import BUCKETS
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.engine.scrape import histogram_quantile

DELAY = 0.1
"""The echo server answers after 100 ms: a round trip of a little over 100 ms."""


def config(slow: str, rejected: str, closing: str, dropping: str) -> Config:
    return Config(monitor=MonitorConfig(level="debug", interval=0.5), targets=[
        TargetConfig(name="slow", url=slow, send="hi {nonce}", expect="{nonce}", timeout=2.0),
        TargetConfig(name="rejected", url=rejected, timeout=1.0),
        TargetConfig(name="closing", url=closing, send="hi", timeout=1.0),
        TargetConfig(name="held", url=dropping, hold=True, timeout=1.0),
    ])


def bucket_of(seconds: float) -> tuple[float, float]:
    """(lower, upper] bounds of the bucket holding ``seconds``."""
    bounds = (0.0, *BUCKETS, float("inf"))
    i = next(i for i in range(1, len(bounds)) if seconds <= bounds[i])
    return bounds[i - 1], bounds[i]


async def run_with_metrics(seconds: float, poll=None) -> tuple[str, Monitor]:
    """Run a Monitor serving /metrics on a free port against the four peers; the page at the end."""
    async with (
        slow_reply_server(DELAY) as slow,
        http_status_server(503) as rejected,
        close_after_accept_server(1011, after_message=True) as closing,
        flaky_server(failures=10_000, code=None) as dropping,
    ):
        monitor = Monitor(config(slow, rejected, closing, dropping), None, metrics_port=free_port())
        task = asyncio.ensure_future(monitor.run(seconds))
        try:
            while monitor.metrics_server is None:
                await asyncio.sleep(0.05)
            url = f"http://127.0.0.1:{monitor.metrics_server.port}/metrics"
            if poll is not None:
                await poll(monitor.metrics_server.port)
            await asyncio.sleep(seconds - 0.3)
            async with httpx.AsyncClient() as client:
                page = (await client.get(url)).text
        finally:
            await asyncio.wait_for(task, seconds + 15)
    return page, monitor


def families(page: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(page)}


def by_target(family, label: str) -> dict[tuple[str, str], float]:
    return {(s.labels["target"], s.labels[label]): s.value for s in family.samples}


async def test_page_passes_promtool_and_carries_statuses_closes_and_hold_drops(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    page, monitor = await run_with_metrics(3.0)
    checked = subprocess.run([promtool, "check", "metrics"], input=page.encode(), capture_output=True,
                             timeout=30, check=False)
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()
    fams = families(page)
    statuses = by_target(fams["wsmon_probe_http_status"], "status")
    assert statuses.get(("rejected", "503"), 0) >= 2
    closes = by_target(fams["wsmon_probe_close_codes"], "code")
    assert closes.get(("closing", "1011"), 0) >= 2
    drops = by_target(fams["wsmon_hold_drops"], "code")
    last = monitor.probe_metrics.snapshot  # the last published: the page's source
    assert last is not None
    held = next(t for t in last.targets if t.name == "held")
    assert held.hold is not None and held.hold.disconnects.get("1006", 0) >= 1
    assert drops.get(("held", "1006"), 0) >= 1
    assert fams["wsmon_hold_drops"].type == "counter"
    # Buckets from 1 ms to 10 s, the same for handshake and round trip.
    for name in ("wsmon_probe_rtt_seconds", "wsmon_probe_handshake_seconds"):
        les = sorted({s.labels["le"] for s in fams[name].samples if s.name.endswith("_bucket")},
                     key=float)
        assert [float(le) for le in les] == [*BUCKETS, float("inf")]
    assert BUCKETS[0] == 0.001 and BUCKETS[-1] == 10.0


async def test_histogram_quantile_lands_in_the_bucket_of_the_true_latency() -> None:
    page, monitor = await run_with_metrics(3.0)
    true_p50 = next(t for t in monitor.build_snapshot().targets if t.name == "slow").rtt_ms.p50
    assert true_p50 is not None and DELAY * 1000 <= true_p50 < DELAY * 1000 + 30
    samples = families(page)["wsmon_probe_rtt_seconds"].samples
    buckets = {float(s.labels["le"]): s.value for s in samples
               if s.name.endswith("_bucket") and s.labels["target"] == "slow"}
    p50 = histogram_quantile(0.5, buckets)
    assert p50 is not None
    low, high = bucket_of(true_p50 / 1000)
    assert low <= p50 <= high, (p50, true_p50, (low, high))
    # within the bucket's width, and far closer than prometheus_client's defaults (175 ms)
    assert abs(p50 * 1000 - true_p50) <= (high - low) * 1000
    assert p50 <= 0.125


@pytest.mark.prometheus
async def test_a_real_prometheus_reads_the_page(tmp_path: Path) -> None:
    """Prometheus scrapes wsmon's /metrics every second; its histogram_quantile agrees."""
    require_binary("prometheus")
    port = free_port()
    with running_prometheus(tmp_path / "prom", extra_targets=[f"127.0.0.1:{port}"]) as prom:
        async with (
            slow_reply_server(DELAY) as slow,
            http_status_server(503) as rejected,
            close_after_accept_server(1011, after_message=True) as closing,
            flaky_server(failures=10_000, code=None) as dropping,
        ):
            monitor = Monitor(config(slow, rejected, closing, dropping), None, metrics_port=port)
            # runs until Prometheus has scraped what we ask for (bounded): a fixed 6 s run
            # raced the first scrape of a new target on a loaded CI machine
            task = asyncio.ensure_future(monitor.run(40.0))
            queries = (("p50", 'histogram_quantile(0.5, wsmon_probe_rtt_seconds_bucket{target="slow"})'),
                       ("rejected", 'wsmon_probe_http_status_total{target="rejected",status="503"}'),
                       ("drops", 'wsmon_hold_drops_total{target="held",code="1006"}'))
            answers: dict[str, float] = {}
            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline and len(answers) < 3:
                        await asyncio.sleep(0.5)
                        for name, q in queries:
                            r = (await client.get(prom.url + "/api/v1/query", params={"query": q})).json()
                            if r["data"]["result"]:
                                answers[name] = float(r["data"]["result"][0]["value"][1])
            finally:
                monitor.request_stop("test done")
                await asyncio.wait_for(task, 20)
    true_p50 = next(t for t in monitor.build_snapshot().targets if t.name == "slow").rtt_ms.p50
    assert set(answers) == {"p50", "rejected", "drops"}, answers
    assert true_p50 is not None
    low, high = bucket_of(true_p50 / 1000)
    assert low <= answers["p50"] <= high, (answers["p50"], true_p50)
    assert answers["rejected"] >= 1 and answers["drops"] >= 1
