"""The collector loops of a Monitor: probe chains, scrapes, the Prometheus source, the host.

A target's next probe starts only after its last one ended (or timed out); a slot
missed because the last probe ran long is counted as an overrun, never stacked. A
semaphore bounds the probes in flight (``max_concurrency``).

Within a wave, targets on the same endpoint (scheme, host and port) form *chains*:
each probe starts when the one before it has completed its handshake, so wsmon never
sends one server a burst of simultaneous handshakes and then reports its own burst as
handshake latency (10 at once against a small server read ~10x the handshake p50 of
one at a time), while the rest of each probe (message, close) overlaps the next
handshake, which keeps the wake-ups shared. Distinct endpoints and chains run
concurrently. A handshake that is slow to complete holds its chain for at most
``CHAIN_STAGGER`` (a dead host must not delay the healthy targets behind it by N
timeouts). With one wave the tick waits briefly for its probes (``SETTLE_MAX``), so a
snapshot shows the probes of its own instant and the repaint rides on the same wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from wsmon_tui.config import TargetConfig
from wsmon_tui.engine.base import MonitorBase
from wsmon_tui.engine.probe import probe_once, ssl_context_for
from wsmon_tui.engine.schedule import Grid, resolve, resolver, sleep_until
from wsmon_tui.engine.scrape import ScrapeResult
from wsmon_tui.engine.state import TargetState
from wsmon_tui.metrics import PROBE_OUTCOME
from wsmon_tui.model import ProbeResult

SETTLE_MAX = 0.5
"""Longest a tick waits (seconds, and at most half a tick) for the probes of its own instant."""
CHAIN_STAGGER = 0.1
"""Longest a chain waits for a probe before starting the next one (seconds)."""


class Collectors(MonitorBase):
    """The loops that fill the collectors' state the read model reads."""

    async def _chain_loop(self, targets: list[TargetConfig], offset: float) -> None:
        """Probe ``targets`` one after another at every grid instant of their wave.

        A target whose last probe is still running when its next instant comes is not
        probed again (an overrun, counted); instants missed because the chain itself ran
        late count as overruns for every member.
        """
        loop = asyncio.get_running_loop()
        contexts = {t.name: ssl_context_for(t) for t in targets}
        running: dict[str, asyncio.Task[None]] = {}
        stagger = min(CHAIN_STAGGER, self.interval / (2 * len(targets)))
        k = 0
        try:
            while True:
                slot = self._grid.at(k, self.interval, offset)
                await sleep_until(slot)
                self._probe_started()  # the chain counts as in flight until its last probe starts
                try:
                    for i, target in enumerate(targets):
                        previous = running.get(target.name)
                        if previous is not None and not previous.done():
                            self._states[target.name].overruns += 1
                            continue
                        self._probe_started()
                        opened: asyncio.Future[None] = loop.create_future()
                        task = running[target.name] = asyncio.ensure_future(
                            self._probe(target, slot, contexts[target.name], partial(resolve, opened)))
                        if i < len(targets) - 1:
                            task.add_done_callback(resolver(opened))
                            await asyncio.wait((opened,), timeout=stagger)
                finally:
                    self._probe_ended()
                k += 1
                behind = Grid.next_index(loop.time(), self._grid.origin + offset, self.interval) - k
                if behind > 0:
                    if behind * self.interval < self._sleep.threshold:  # longer: asleep, not overrun
                        for target in targets:
                            self._states[target.name].overruns += behind
                    k += behind
        finally:
            pending = [t for t in running.values() if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def _probe(self, target: TargetConfig, slot: float, ssl_context: Any,
                     on_open: Callable[[], None] | None = None) -> None:
        """One probe (already counted by ``_probe_started``) and what follows from its result."""
        try:
            async with self._semaphore:
                self.schedule_lag.append(max(0.0, asyncio.get_running_loop().time() - slot))
                result = await probe_once(target, ssl_context=ssl_context, on_open=on_open)
        finally:
            self._probe_ended()
        self._on_probe(self._states[target.name], result)

    def _probe_started(self) -> None:
        self._probes_in_flight += 1
        self._probes_idle.clear()

    def _probe_ended(self) -> None:
        self._probes_in_flight -= 1
        if self._probes_in_flight <= 0:
            self._probes_in_flight = 0
            self._probes_idle.set()

    async def _settle(self) -> None:
        """Let the probes that start at this tick's instant finish (bounded), so the snapshot
        shows them. Only with one wave: with several, some wave is always in flight."""
        await asyncio.sleep(0)  # the probe loops woken at this same instant take their turn
        if self._waves > 1 or self._probes_idle.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._probes_idle.wait(), min(SETTLE_MAX, self.tick_period / 2))

    def _on_probe(self, state: TargetState, result: ProbeResult) -> None:
        self._wake_check()
        if result.started_at < self._fresh_since:  # it straddles a sleep (engine/wake.py): not evidence
            self._log("probe_dropped", target=result.target, started_at=result.started_at,
                      error_class=result.error_class, why="started before the monitor slept")
            return
        state.observe(result)
        self.probe_metrics.observe(result)
        if result.handshake_ms is not None:
            self.samples.add(state.config.name, "handshake_ms", result.started_at, result.handshake_ms)
        if result.rtt_ms is not None:
            self.samples.add(state.config.name, "rtt_ms", result.started_at, result.rtt_ms)
        self.samples.add(state.config.name, PROBE_OUTCOME, result.started_at, 1.0 if result.ok else 0.0)
        if self.store is not None:
            self._unsaved_probes.append(result)  # stored with the tick (one write, see _persist)
        if not result.ok:
            self._log("probe_failed", target=result.target, error_class=result.error_class,
                      detail=result.detail[:300], close_code=result.close_code,
                      http_status=result.http_status)

    async def _scrape_loop(self, target: TargetConfig) -> None:
        scraper = self._scraper
        assert scraper is not None
        url = target.metrics_url or ""
        k = 0
        while True:
            k = await self._grid_instant(k)
            try:
                result = await asyncio.wait_for(scraper.scrape(target, self.clock()), self.interval + 10)
            except TimeoutError:
                result = ScrapeResult(ok=False, values={}, instances={}, error="scrape timed out")
            self._scrape_results[url] = result
            for state in self._states.values():
                if state.config.metrics_url == url:
                    if result.ok:
                        state.metrics = dict(result.values)
                        state.instances = dict(result.instances)
                        state.scrape_failing = 0
                    else:
                        state.scrape_errors += 1
                        state.scrape_failing += 1
                        state.last_scrape_error = result.error
            if not result.ok:
                self._log("scrape_failed", url=url, error=result.error[:300])
            k += 1

    async def _prom_loop(self) -> None:
        assert self._prom_source is not None
        k = 0
        while True:
            k = await self._grid_instant(k)
            try:
                self._prom_result = await asyncio.wait_for(
                    self._prom_source.query_all(self.clock()), self.interval + 10
                )
            except TimeoutError:
                self._prom_result = ScrapeResult(ok=False, values={}, instances={},
                                                 error="Prometheus query timed out")
            k += 1

    async def _grid_instant(self, k: int) -> int:
        """Sleep to the interval grid's instant ``k`` and return ``k``; when that instant has
        already passed (the last run took longer than an interval), to the first one still to
        come, and return its index.

        A loop asks for ``k + 1`` after its run at ``k``: it runs once per interval on the
        grid, whatever the run cost, as long as it took less than an interval. (Sleeping to
        "one interval after the run started" rounded a wake-up a few ms late up to ``k + 2``:
        scrapes and queries ran every second interval.)
        """
        loop = asyncio.get_running_loop()
        k = max(k, Grid.next_index(loop.time(), self._grid.origin, self.interval))
        await sleep_until(self._grid.at(k, self.interval))
        return k

    async def _resource_loop(self) -> None:
        """Resources with a port to count, in a thread (see ``_sample_resources`` for the rest)."""
        k = 0
        while True:
            k = await self._grid_instant(k)
            self._resource_view = await asyncio.to_thread(self._resources.sample)
            k += 1

    def _sample_resources(self) -> None:
        """Host and process figures on the tick, once per interval: a few /proc reads, cheaper
        than handing them to a thread and back (two more wake-ups)."""
        cfg = self.config.resources
        if cfg.port or not (cfg.host or cfg.process):
            return
        # The interval grid's instant this tick is at or just after (ticks fall on the grid,
        # late by a few ms, or a timer a hair early): one sample per interval instant.
        k = math.floor((time.monotonic() - self._grid.origin) / self.interval + 0.01)
        if k < self._resources_next:
            return
        self._resources_next = k + 1
        self._resource_view = self._resources.sample()
