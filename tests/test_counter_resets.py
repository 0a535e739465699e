"""Counters that go down are resets, never negative rates: a real metrics server restarts.

Prometheus' ``rate()`` takes a counter that went down to have restarted from zero, so the
increase across the drop is the new value. wsmon does the same series by series, on the
Prometheus text page and on a JSON document alike, through the running Monitor.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable

import pytest

from tests.hostile import echo_server
from tests.test_scrape import PageServer, Route
from wsmon_tui.config import Config, MetricsConfig, MonitorConfig, TargetConfig
from wsmon_tui.engine.monitor import Monitor
from wsmon_tui.engine.scrape import Scraper, make_client
from wsmon_tui.engine.series import Series

# Per scrape: (ws-1, ws-2). ws-2 restarts twice (5000 -> 2990 and 4990 -> 10); ws-1 goes on.
STEPS = [(100, 1000), (200, 3000), (300, 5000), (400, 2990), (500, 4990), (600, 10), (700, 2010)]


class Pages(dict):
    """Routes whose ``/metrics`` answer is the next page of a sequence at every request."""

    def __init__(self, render: Callable[[int, int], bytes]) -> None:
        super().__init__()
        self.render = render
        self.served = 0

    def get(self, key, default=None):  # type: ignore[override]
        if key != "/metrics":
            return default
        a, b = STEPS[min(self.served, len(STEPS) - 1)]
        self.served += 1
        return Route(self.render(a, b))


def text_page(a: int, b: int) -> bytes:
    return (f'# TYPE ws_messages_total counter\nws_messages_total{{instance="ws-1"}} {a}\n'
            f'ws_messages_total{{instance="ws-2"}} {b}\n').encode()


def json_page(a: int, b: int) -> bytes:
    return json.dumps({"stats": {"messages": {"ws-1": a, "ws-2": b}}}).encode()


@pytest.fixture
async def server() -> AsyncIterator[PageServer]:
    srv = PageServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def expected_rates() -> list[float]:
    """The increase per step, a drop counting its new value (dt is applied by the caller)."""
    out = []
    for (a0, b0), (a1, b1) in itertools.pairwise(STEPS):
        out.append((a1 - a0 if a1 >= a0 else a1) + (b1 - b0 if b1 >= b0 else b1))
    return out


@pytest.mark.parametrize(("fmt", "render", "messages"), [
    ("prometheus", text_page, "ws_messages_total"),
    ("json", json_page, "stats.messages"),
])
async def test_scraper_counts_a_drop_as_a_reset(server: PageServer, fmt, render, messages) -> None:
    server.routes = Pages(render)
    async with make_client(timeout=5.0) as client:
        scraper = Scraper(MetricsConfig(messages=messages), client)
        tgt = TargetConfig(name="t", url="ws://127.0.0.1:1/", metrics_url=server.url("/metrics"),
                           metrics_format=fmt)
        rates = []
        for i in range(len(STEPS)):
            result = await scraper.scrape(tgt, now=10.0 * i)
            assert result.ok, result.error
            rates.append(result.values["messages_per_s"])
    assert rates[0] is None
    # Per series: at ws-2's first restart the increase is 100 + 2990, not 100 - 2010 (a sum
    # that went down would have counted 3390 in full; a plain difference, -191 per second).
    assert rates[1:] == pytest.approx([inc / 10.0 for inc in expected_rates()])
    assert rates[3] == pytest.approx((100 + 2990) / 10.0)


@pytest.mark.parametrize(("fmt", "render", "messages"), [
    ("prometheus", text_page, "ws_messages_total"),
    ("json", json_page, "stats.messages"),
])
async def test_monitor_never_shows_a_negative_rate(server: PageServer, fmt, render, messages) -> None:
    server.routes = Pages(render)
    async with echo_server() as ws_url:
        config = Config(
            monitor=MonitorConfig(level="debug", interval=0.5),
            targets=[TargetConfig(name="a", url=ws_url, timeout=1.0, metrics_url=server.url("/metrics"),
                                  metrics_format=fmt)],
            metrics=MetricsConfig(messages=messages),
        )
        monitor = Monitor(config, None)
        seen: list[float] = []
        monitor.subscribe(lambda snap: seen.extend(
            v for t in snap.targets if (v := t.metrics.get("messages_per_s")) is not None))
        await asyncio.wait_for(monitor.run(0.5 * len(STEPS) + 0.3), 20)
    assert server.routes.served >= len(STEPS) - 1
    assert seen and min(seen) >= 0, seen
    assert max(seen) == pytest.approx(max(expected_rates()) / 0.5, rel=0.25)
    fleet = monitor.build_snapshot().overall.get("messages_per_s")
    assert fleet is None or fleet >= 0


def test_series_counter_rate_counts_a_drop_as_a_reset() -> None:
    s = Series()
    for ts, (a, b) in enumerate(STEPS):
        s.add(float(ts), float(a + b))
    # the summed counter went down twice: each drop counts its new value
    total = sum(STEPS[i + 1][0] + STEPS[i + 1][1] - (STEPS[i][0] + STEPS[i][1])
                if sum(STEPS[i + 1]) >= sum(STEPS[i]) else sum(STEPS[i + 1]) for i in range(len(STEPS) - 1))
    assert s.counter_rate(0.0) == pytest.approx(total / (len(STEPS) - 1))
    assert s.counter_rate(0.0) > 0
