"""ResourceSampler against real processes and real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import psutil
import pytest

from wsmon_tui.config import ResourcesConfig
from wsmon_tui.engine.resources import ResourceSampler
from wsmon_tui.model import ResourceView

SLEEPER = "import time; time.sleep(30)"


def wait_for(pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen]]:
    """Start child processes; every one is killed and reaped afterwards."""
    procs: list[subprocess.Popen] = []

    def start(argv: list[str], **kw) -> subprocess.Popen:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
        procs.append(p)
        return p

    try:
        yield start
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def named_python(tmp_path) -> tuple[str, str]:
    """A Python interpreter under a unique name (a symlink), so a name lookup finds only ours."""
    name = "wsmt" + secrets.token_hex(4)  # 12 chars: under the kernel's 15-char comm limit
    link = tmp_path / name
    link.symlink_to(os.path.realpath(sys.executable))
    return name, str(link)


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, list[socket.socket]]]:
    """A real listening socket on 127.0.0.1; every socket is closed afterwards."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    opened: list[socket.socket] = [srv]
    try:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        srv.settimeout(5)
        yield srv, opened
    finally:
        for s in opened:
            s.close()


def connect_clients(srv: socket.socket, opened: list[socket.socket], n: int) -> list[socket.socket]:
    accepted = []
    for _ in range(n):
        c = socket.create_connection(srv.getsockname(), timeout=5)
        opened.append(c)
        a, _ = srv.accept()
        opened.append(a)
        accepted.append(a)
    return accepted


def sample_until(sampler: ResourceSampler, pred: Callable[[ResourceView], bool],
                 timeout: float = 5.0) -> ResourceView:
    view = sampler.sample()
    deadline = time.monotonic() + timeout
    while not pred(view) and time.monotonic() < deadline:
        time.sleep(0.05)
        view = sampler.sample()
    return view


# -- host ---------------------------------------------------------------------------------------


def test_host_figures():
    sampler = ResourceSampler(ResourcesConfig(host=True))
    time.sleep(0.1)
    view = sampler.sample()
    assert view.error == ""
    assert view.cpu_percent is not None and 0.0 <= view.cpu_percent <= 100.0
    assert view.memory_percent is not None and 0.0 < view.memory_percent <= 100.0
    assert view.load1 is not None and view.load1 >= 0.0
    assert view.tcp_connections is None
    assert dict(view.process) == {}


def test_host_off_samples_nothing():
    view = ResourceSampler(ResourcesConfig(host=False)).sample()
    assert view == ResourceView()


# -- TCP connections on a port --------------------------------------------------------------------


def test_counts_established_connections_on_the_port(listener):
    srv, opened = listener
    port = srv.getsockname()[1]
    sampler = ResourceSampler(ResourcesConfig(host=False, port=port))
    assert sampler.sample().tcp_connections == 0  # the listening socket itself is not counted
    accepted = connect_clients(srv, opened, 3)
    view = sample_until(sampler, lambda v: v.tcp_connections == 3)
    assert view.tcp_connections == 3 and view.error == ""
    assert sampler.connection_mode == "system"
    accepted[0].close()  # server side closes: no longer ESTABLISHED
    view = sample_until(sampler, lambda v: v.tcp_connections == 2)
    assert view.tcp_connections == 2


def test_port_count_falls_back_when_the_system_table_is_denied(listener, monkeypatch):
    """Where the system-wide table needs root (macOS, hardened hosts): walk our own processes."""
    srv, opened = listener
    port = srv.getsockname()[1]
    calls = 0

    def denied(kind: str = "inet"):
        nonlocal calls
        calls += 1
        raise psutil.AccessDenied(pid=None)

    monkeypatch.setattr(psutil, "net_connections", denied)
    connect_clients(srv, opened, 2)
    sampler = ResourceSampler(ResourcesConfig(host=False, port=port))
    view = sample_until(sampler, lambda v: v.tcp_connections == 2)
    assert view.tcp_connections == 2 and view.error == ""
    assert sampler.connection_mode == "per_process"
    sampler.sample()
    assert calls == 1  # the working method is remembered


# -- the watched process --------------------------------------------------------------------------


def test_process_by_pid(spawn):
    child = spawn([sys.executable, "-c", "import socket, time\n"
                   "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
                   "print('ready', flush=True); time.sleep(30)"], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    sampler = ResourceSampler(ResourcesConfig(host=False, process=str(child.pid)))
    first = sampler.sample()
    assert first.error == ""
    assert first.process["pid"] == child.pid
    assert first.process["cpu_percent"] is None  # primed, not yet meaningful
    time.sleep(0.1)
    view = sampler.sample()
    proc = view.process
    assert proc["cpu_percent"] is not None and proc["cpu_percent"] >= 0.0
    assert proc["rss_mb"] is not None and 1.0 < proc["rss_mb"] < 500.0
    assert proc["threads"] is not None and proc["threads"] >= 1
    assert proc["open_fds"] is not None and proc["open_fds"] >= 4  # stdio + the socket
    assert proc["connections"] == 1  # its listening socket

    child.kill()
    child.wait(timeout=5)
    view = sampler.sample()
    assert f"pid {child.pid} not found" in view.error
    assert dict(view.process) == {}
    assert f"pid {child.pid} not found" in sampler.sample().error  # a pid does not come back


def test_process_by_name_recovers_after_a_restart(spawn, named_python):
    name, exe = named_python
    sampler = ResourceSampler(ResourcesConfig(host=True, process=name))
    view = sampler.sample()
    assert view.error == f"process {name!r} not found"
    assert view.cpu_percent is not None  # the rest of the view is still there

    first = spawn([exe, "-c", SLEEPER])
    view = sample_until(sampler, lambda v: v.process.get("pid") == first.pid)
    assert view.process.get("pid") == first.pid and view.error == ""
    assert view.process["rss_mb"] is not None and view.process["rss_mb"] > 1.0

    first.kill()
    first.wait(timeout=5)
    view = sampler.sample()
    assert "not found" in view.error and name in view.error
    assert dict(view.process) == {}

    second = spawn([exe, "-c", SLEEPER])
    view = sample_until(sampler, lambda v: v.process.get("pid") == second.pid)
    assert view.process.get("pid") == second.pid
    assert view.error == ""


def test_zombie_counts_as_gone(spawn, named_python):
    """A killed child nobody has reaped yet is still in the process table, but it is dead."""
    name, exe = named_python
    child = spawn([exe, "-c", SLEEPER])
    sampler = ResourceSampler(ResourcesConfig(host=False, process=str(child.pid)))
    assert sampler.sample().process.get("pid") == child.pid
    os.kill(child.pid, 9)
    assert wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE)
    assert "not found" in sampler.sample().error
    by_name = ResourceSampler(ResourcesConfig(host=False, process=name))
    assert by_name.sample().error == f"process {name!r} not found"


def test_oldest_match_wins(spawn, named_python):
    name, exe = named_python
    older = spawn([exe, "-c", SLEEPER])
    assert wait_for(lambda: psutil.Process(older.pid).name() == name)
    time.sleep(0.05)  # create_time has clock-tick (10 ms) resolution
    spawn([exe, "-c", SLEEPER])
    view = ResourceSampler(ResourcesConfig(host=False, process=name)).sample()
    assert view.process.get("pid") == older.pid


async def test_sample_from_a_thread():
    sampler = ResourceSampler(ResourcesConfig(host=True, process=str(os.getpid())))
    view = await asyncio.wait_for(asyncio.to_thread(sampler.sample), timeout=10)
    assert view.error == "" and view.process["pid"] == os.getpid()
