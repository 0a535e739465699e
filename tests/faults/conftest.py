"""Fixtures of the fault suite: a loop exception recorder and resource gauges.

``loop_errors`` replaces the running loop's exception handler with one that records
every context (an exception nobody retrieved, a task destroyed while pending, a callback
that raised) and fails the test at teardown if anything was recorded. Tests that check
leaks call ``resources()`` after a warm-up and again at the end.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@dataclass(frozen=True)
class Resources:
    tasks: int
    fds: int
    rss: int
    """Resident set size in bytes (tracemalloc would slow probes into their timeouts)."""

    def __str__(self) -> str:
        return f"tasks={self.tasks} fds={self.fds} rss={self.rss / 1e6:.1f} MB"


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def resources() -> Resources:
    gc.collect()
    return Resources(len(asyncio.all_tasks()), open_fds(), rss_bytes())


async def settle(base: Resources, *, fd_slack: int = 2, within: float = 3.0) -> Resources:
    """Wait (bounded) until tasks and fds are back to ``base``; returns what was measured last.

    Connection handlers of the in-process servers notice a client's close one loop turn
    or a few later, so a measurement right after the last probe would be noise.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    now = resources()
    while loop.time() < deadline:
        if now.tasks <= base.tasks and now.fds <= base.fds + fd_slack:
            break
        await asyncio.sleep(0.05)
        now = resources()
    return now


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Everything the loop's exception handler saw during the test; must stay empty."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
        gc.collect()  # "Task exception was never retrieved" is reported when a task is collected
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert not seen, "the event loop reported: " + "; ".join(
        f"{c.get('message')} {c.get('exception')!r}" for c in seen)


@pytest.fixture
def traced() -> Any:
    """tracemalloc on for the test (memory figures in bytes), off afterwards."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        yield tracemalloc
    finally:
        if started:
            tracemalloc.stop()
