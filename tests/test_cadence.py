"""Every collector runs once per interval, on the clock grid: counted at real HTTP servers.

A scrape or a PromQL query that wakes a few milliseconds late must not skip the next grid
instant (it did: ``_next_interval`` rounded a late wake-up to k + 2, so at 2 s a metrics
server saw a scrape every 4 s).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator

import pytest

from tests.hostile import echo_server
from tests.test_scrape import PageServer, Route
from wsmon_tui.config import Config, MetricsConfig, MonitorConfig, PrometheusConfig, TargetConfig
from wsmon_tui.engine.monitor import Monitor

PAGE = b"# TYPE ws_connections gauge\nws_connections 3\n"


def prom_answer(value: float) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"instance": "ws-1"}, "value": [0, str(value)]}]}}).encode()


@pytest.fixture
async def server() -> AsyncIterator[PageServer]:
    srv = PageServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.mark.parametrize("interval", [1.0, 2.0])
async def test_scrapes_and_queries_run_once_per_interval(server: PageServer, interval: float) -> None:
    server.routes["/metrics"] = Route(PAGE)
    server.routes["/api/v1/query"] = Route(prom_answer(3))
    duration = 6.0
    async with echo_server() as ws_url:
        config = Config(
            monitor=MonitorConfig(level="debug", interval=interval),
            targets=[TargetConfig(name="a", url=ws_url, timeout=1.0, metrics_url=server.url("/metrics"))],
            metrics=MetricsConfig(connections="ws_connections"),
            prometheus=PrometheusConfig(url=server.base, queries={"queue_depth": "sum(q)"}),
        )
        monitor = Monitor(config, None)
        loop = asyncio.get_running_loop()
        samples: list[float] = []
        sample = monitor._resources.sample

        def counted_sample():  # the real psutil sample, counted
            samples.append(loop.time())
            return sample()

        monitor._resources.sample = counted_sample  # type: ignore[method-assign]
        stamps: dict[str, list[float]] = {"/metrics": [], "/api/v1/query": []}
        seen = 0

        async def watch() -> None:
            nonlocal seen
            while True:
                for path, _ in server.requests[seen:]:
                    stamps[path.split("?")[0]].append(loop.time())
                seen = len(server.requests)
                await asyncio.sleep(0.01)

        watcher = asyncio.ensure_future(watch())
        try:
            assert await asyncio.wait_for(monitor.run(duration), duration + 15) == "duration"
        finally:
            watcher.cancel()
    expected = duration / interval  # the first at 0, then one per interval until the end
    stamps["host sample"] = samples[1:]  # the first primes psutil's cpu_percent at start
    for path, times in stamps.items():
        assert abs(len(times) - expected) <= 1, (path, len(times), expected)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps and max(gaps) < 1.5 * interval, (path, gaps)
