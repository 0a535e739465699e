"""What every monitoring face does before the engine starts, in one place.

Load the config (or the demo's), apply the command line's overrides, pick the state
dir, open the store, and start the in-process demo deployment when asked. The
headless monitor, ``--export`` and the TUI all go through ``prepare``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsmon_tui.config import Config
from wsmon_tui.durations import parse_duration
from wsmon_tui.errors import UsageError
from wsmon_tui.paths import default_state_dir, ensure_state_dir


@dataclass
class RunContext:
    config: Config
    state_dir: Path
    store: Any | None
    demo: Any | None = None
    """The in-process demo deployment (``DemoThread``) when --demo."""
    store_error: str = ""


def parse_run_duration(value: str | None) -> float | None:
    """``--duration``: 30s, 5m, 4h, 2d; a bare number is hours (as users already type it)."""
    if value in (None, ""):
        return None
    try:
        seconds = parse_duration(value, bare_unit="h")
    except ValueError as exc:
        raise UsageError(f"--duration: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"--duration: expected more than zero, got {value!r}")
    return seconds


def resolve_state_dir(args: Any, config: Config, *, demo: bool = False) -> Path:
    explicit = getattr(args, "state_dir", None)
    if explicit:
        return Path(explicit).expanduser()
    if config.monitor.state_dir and not demo:
        return Path(config.monitor.state_dir).expanduser()
    return default_state_dir(demo=demo)


def load_config_for(args: Any, *, demo: bool = False, demo_url: str | None = None) -> Config:
    """The config for a command: the demo's built-in one, or the file's; with CLI overrides."""
    if demo:
        from wsmon_tui.demo.config import demo_config

        state = getattr(args, "state_dir", None) or str(default_state_dir(demo=True))
        config = demo_config(demo_url or "http://127.0.0.1:0", state)
    else:
        from wsmon_tui.config import find_and_load

        config = find_and_load(getattr(args, "config", None))
    level = getattr(args, "level", None)
    if level:
        config.monitor = dataclasses.replace(config.monitor, level=level)
    if getattr(args, "disable_auto_rollback", False):
        config.rollback = dataclasses.replace(config.rollback, auto=False)
    return config


def open_store(state_dir: Path) -> tuple[Any | None, str]:
    """Open the store; on failure return (None, a message) so probing can go on in memory."""
    from wsmon_tui.errors import StoreError
    from wsmon_tui.store import Store

    try:
        ensure_state_dir(state_dir)
        return Store.open(state_dir), ""
    except StoreError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"cannot use state dir {state_dir}: {exc.strerror or exc}"


@contextlib.asynccontextmanager
async def prepare(args: Any) -> AsyncIterator[RunContext]:
    """Everything a monitoring run needs, torn down in reverse on exit."""
    demo_flag = bool(getattr(args, "demo", False))
    demo_server = None
    if demo_flag:
        demo_server = DemoThread(_demo_fault_after())
        await asyncio.to_thread(demo_server.start)
    try:
        config = load_config_for(args, demo=demo_flag,
                                 demo_url=demo_server.url_base if demo_server else None)
        state_dir = resolve_state_dir(args, config, demo=demo_flag)
        store, error = open_store(state_dir)
        if error:
            print(f"wsmon-tui: {error}", file=sys.stderr)
            print("wsmon-tui: probing goes on; history is kept in memory only.", file=sys.stderr)
        ctx = RunContext(config, state_dir, store, demo_server, error)
        try:
            yield ctx
        finally:
            if store is not None:
                store.close()
    finally:
        if demo_server is not None:
            await asyncio.to_thread(demo_server.stop)


class DemoThread:
    """The in-process demo deployment on a thread and event loop of its own.

    On the face's loop, every stall of the screen would delay the demo servers' answers
    and show up as their latency: the demo's figures are what a newcomer judges the tool
    by, so they must be the servers' own.
    """

    def __init__(self, fault_after: float | None) -> None:
        self.fault_after = fault_after
        self.url_base = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start the servers and wait until they listen (raises what stopped them)."""
        self._thread = threading.Thread(target=self._main, name="wsmon-demo", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the demo deployment did not start")
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        with asyncio.Runner() as runner:
            try:
                runner.run(self._serve())
            except BaseException as exc:  # handed to start(), or lost at shutdown
                self._error = exc
                self._ready.set()

    async def _serve(self) -> None:
        from wsmon_tui.demo.server import DemoServer

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with DemoServer("127.0.0.1", 0, fault_after=self.fault_after) as server:
            self.url_base = server.url_base
            self._ready.set()
            await self._stop.wait()

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)


def _demo_fault_after() -> float:
    raw = os.environ.get("WSMON_DEMO_FAULT_AFTER", "")
    if not raw:
        return 60.0
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise UsageError(f"WSMON_DEMO_FAULT_AFTER: {exc}") from None


GC_YOUNG_THRESHOLD = 10_000
"""Allocations between collections of young objects (CPython's default is 700)."""


def settle_gc() -> None:
    """Once started, for a process that runs for hours: freeze what exists (modules,
    config, the widget tree) so the cyclic collector stops re-scanning it, and collect
    young objects less often. Each tick allocates a snapshot's worth of short-lived
    objects that reference counting frees; at the default threshold the collector ran
    about four times a second for little. About half the time spent in GC goes."""
    import gc

    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
