"""Scrapes of hostile metrics endpoints: malformed pages, bad UTF-8, a 1 GB body, redirect
loops, slow and silent bodies, 500s, a response cut in its headers.

Each must end as ``ScrapeResult(ok=False)`` with a message saying what was wrong, within
the scrape timeout, without buffering more than the body cap, and leave no task, fd or
memory behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.faults import peers
from tests.faults.conftest import resources, settle
from wsmon_tui.config import MetricsConfig, TargetConfig
from wsmon_tui.engine.scrape import DEFAULT_BODY_CAP, Scraper, make_client

TIMEOUT = 1.0
SLACK = 0.5
METRICS = MetricsConfig(connections="ws_connections", messages="ws_messages")

#: path -> a fragment the error must contain ("" for a good page).
EXPECTED = {
    "/good": "",
    "/malformed": "malformed metrics page",
    "/badvalue": "malformed metrics page",
    "/utf8": "invalid UTF-8",
    "/binary": "none of the configured metrics",
    "/500": "HTTP 500",
    "/loop0": "too many redirects",
    "/selfloop": "too many redirects",
    "/elsewhere": "unsupported location",
    "/gigabyte-chunked": "body exceeds 10 MB",
    "/gigabyte-length": "body exceeds 10 MB",
    "/gigabyte-unframed": "body exceeds 10 MB",
    "/slow": "timed out",
    "/silent": "timed out",
    "/half-headers": "protocol error",
}


@pytest.fixture
async def base_url(loop_errors: list[dict[str, Any]]) -> AsyncIterator[str]:
    async with peers.metrics_server() as url:
        yield url


@pytest.fixture
async def scraper() -> AsyncIterator[Scraper]:
    client = make_client(timeout=TIMEOUT)
    s = Scraper(METRICS, client, timeout=TIMEOUT)
    try:
        yield s
    finally:
        await s.aclose()
        await client.aclose()


def _target(base: str, path: str, i: int = 0) -> TargetConfig:
    return TargetConfig(name=f"{path}#{i}", url="ws://127.0.0.1:1/", metrics_url=base + path, timeout=TIMEOUT)


async def _scrape(scraper: Scraper, base: str, path: str, i: int = 0) -> tuple[str, Any, float]:
    t0 = time.perf_counter()
    result = await asyncio.wait_for(scraper.scrape(_target(base, path, i), time.time()), TIMEOUT + 5)
    return path, result, time.perf_counter() - t0


def _problem(path: str, result: Any, elapsed: float) -> str | None:
    want = EXPECTED[path]
    if not want:
        if not result.ok or result.values["connections"] != 7.0:
            return f"{path}: expected a good scrape, got {result}"
    elif result.ok or want not in result.error:
        return f"{path}: expected an error with {want!r}, got ok={result.ok} error={result.error!r}"
    if elapsed > TIMEOUT + SLACK:
        return f"{path}: took {elapsed:.2f}s"
    if result.bytes > DEFAULT_BODY_CAP + 256 * 1024:
        return f"{path}: read {result.bytes} bytes, more than the cap"
    return None


async def test_each_hostile_endpoint_fails_clearly_and_in_time(base_url: str, scraper: Scraper) -> None:
    problems = []
    for path in peers.METRICS_PATHS:
        problem = _problem(*await _scrape(scraper, base_url, path))
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)


async def test_a_gigabyte_body_is_cut_at_the_cap_without_buffering_it(base_url: str, traced: Any) -> None:
    """The chunked and the unframed gigabyte are read up to the cap and dropped (a declared
    Content-Length above the cap is refused before reading a byte)."""
    client = make_client(timeout=5.0)
    cap = 2 * 1024 * 1024
    scraper = Scraper(METRICS, client, body_cap=cap, timeout=5.0)
    try:
        for path, most in (("/gigabyte-chunked", cap + 128 * 1024), ("/gigabyte-unframed", cap + 128 * 1024),
                           ("/gigabyte-length", 0)):
            traced.reset_peak()
            before = traced.get_traced_memory()[0]
            result = await scraper.scrape(_target(base_url, path), time.time())
            peak = traced.get_traced_memory()[1] - before
            assert not result.ok and "body exceeds 2 MB" in result.error, (path, result)
            assert result.bytes <= most, (path, result.bytes)
            # The chunks up to the cap are held, nothing more: far from a gigabyte.
            assert peak < 4 * cap, f"{path}: peak traced memory {peak / 1e6:.1f} MB"
    finally:
        await client.aclose()


async def test_fifty_concurrent_scrapes_of_hostile_endpoints_leave_nothing_behind(
        base_url: str, scraper: Scraper) -> None:
    paths = list(peers.METRICS_PATHS)

    async def round_() -> list[str]:
        jobs = (_scrape(scraper, base_url, paths[i % len(paths)], i) for i in range(50))
        done = await asyncio.gather(*jobs)
        return [p for p in (_problem(*d) for d in done) if p]

    assert not await round_()  # warm-up: the client's pool, lazy imports
    base = await settle(resources())
    growth = []
    for _ in range(3):
        t0 = time.perf_counter()
        problems = await round_()
        assert not problems, "\n".join(problems)
        assert time.perf_counter() - t0 < TIMEOUT + 2 * SLACK + 1
        now = await settle(base)
        growth.append(now.rss - base.rss)
    assert now.tasks <= base.tasks, f"{base} -> {now}"
    # Keep-alive connections of the shared client may stay open (that is its job): at most
    # one per good page in flight.
    assert now.fds <= base.fds + 8, f"{base} -> {now}"
    assert growth[-1] < 32 * 1024 * 1024, f"RSS grew by {growth} ({base} -> {now})"
    assert growth[-1] - growth[0] < 16 * 1024 * 1024, f"RSS grows round by round: {growth}"


async def test_refused_and_unresolvable_metrics_urls(scraper: Scraper,
                                                      loop_errors: list[dict[str, Any]]) -> None:
    from tests.prom_server import free_port

    port = free_port()
    for url, want in ((f"http://127.0.0.1:{port}/metrics", "cannot connect"),
                      ("http://wsmon-fault-suite.invalid/metrics", "cannot connect")):
        t = TargetConfig(name=url, url="ws://127.0.0.1:1/", metrics_url=url, timeout=TIMEOUT)
        result = await scraper.scrape(t, time.time())
        assert not result.ok and want in result.error, result


async def test_a_metrics_url_the_client_cannot_use_is_an_error_not_an_exception(
        scraper: Scraper, loop_errors: list[dict[str, Any]]) -> None:
    for url in ("http://[::1", "http://127.0.0.1:99999/metrics", "ftp://127.0.0.1/metrics", "not a url"):
        t = TargetConfig(name=url, url="ws://127.0.0.1:1/", metrics_url=url, timeout=TIMEOUT)
        result = await scraper.scrape(t, time.time())
        assert not result.ok and result.error, (url, result)

