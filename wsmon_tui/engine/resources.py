"""Host and process resources with psutil: CPU, memory, load, TCP connections, one process.

``ResourceSampler.sample`` is cheap for host and process figures (a few /proc reads), so
the Monitor calls it on its tick; counting TCP connections on a port walks the system's
table, so with ``port`` set the Monitor calls it in a thread instead. It never raises:
whatever failed is named in ``ResourceView.error`` and the rest of the view is still filled.

CPU percentages are psutil's non-blocking form (``interval=None``): the figure covers the
time since the previous call, so the sampler primes the counters first; the very first
process sample after (re)resolving reports ``cpu_percent = None`` rather than a
meaningless 0.

The watched process is given by pid (a string of digits) or by name. A name matches a
process whose name, executable basename or ``argv[0]`` basename equals it; with several
matches the oldest wins (the master of a pre-fork server). A process that exits is
looked up again by name on the next sample, so a restarted server is picked up.

Counting TCP connections on ``port`` uses the system-wide table
(``psutil.net_connections``); where that needs privileges it falls back to walking the
processes it may inspect, and remembers which way worked.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Any

import psutil

from wsmon_tui.config import ResourcesConfig
from wsmon_tui.model import EMPTY, ResourceView

_MB = 1024 * 1024

_SYSTEM, _PER_PROCESS, _UNAVAILABLE = "system", "per_process", "unavailable"


class ResourceSampler:
    def __init__(self, cfg: ResourcesConfig) -> None:
        self._cfg = cfg
        self._lock = threading.Lock()
        spec = (cfg.process or "").strip()
        self._pid: int | None = int(spec) if spec.isdigit() else None
        self._name: str | None = spec if spec and self._pid is None else None
        self._proc: psutil.Process | None = None
        self._proc_primed = False
        self._conn_mode: str | None = None
        """How TCP connections are counted, found on first use and then kept."""
        if cfg.host:
            try:
                psutil.cpu_percent(interval=None)
            except Exception:
                pass

    @property
    def connection_mode(self) -> str | None:
        """``system``, ``per_process`` or ``unavailable`` once a port count was attempted."""
        return self._conn_mode

    def sample(self) -> ResourceView:
        with self._lock:
            try:
                return self._sample()
            except Exception as exc:
                return ResourceView(error=f"resources: {type(exc).__name__}: {exc}")

    def _sample(self) -> ResourceView:
        errors: list[str] = []
        cpu = mem = load = None
        if self._cfg.host:
            try:
                cpu = float(psutil.cpu_percent(interval=None))
            except Exception as exc:
                errors.append(f"cpu: {exc}")
            try:
                mem = float(psutil.virtual_memory().percent)
            except Exception as exc:
                errors.append(f"memory: {exc}")
            try:
                load = float(os.getloadavg()[0])
            except (AttributeError, OSError):
                load = None  # not available on this platform: not an error
        tcp = self._count_port(self._cfg.port, errors) if self._cfg.port else None
        process = self._sample_process(errors) if (self._pid is not None or self._name) else {}
        return ResourceView(
            cpu_percent=cpu,
            memory_percent=mem,
            load1=load,
            tcp_connections=tcp,
            process=MappingProxyType(process) if process else EMPTY,
            error="; ".join(errors),
        )

    # -- TCP connections on a local port ----------------------------------------------------------

    def _count_port(self, port: int, errors: list[str]) -> int | None:
        if self._conn_mode in (None, _SYSTEM):
            try:
                conns = psutil.net_connections(kind="tcp")
                self._conn_mode = _SYSTEM
                return _count_established(conns, port)
            except (psutil.AccessDenied, PermissionError):
                self._conn_mode = _PER_PROCESS
            except Exception as exc:
                errors.append(f"tcp connections: {exc}")
                return None
        if self._conn_mode == _PER_PROCESS:
            seen: set[tuple] = set()
            inspected = 0
            for proc in psutil.process_iter():
                try:
                    conns = proc.net_connections(kind="tcp")
                except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess, PermissionError):
                    continue
                inspected += 1
                for c in conns:
                    if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port:
                        seen.add((c.laddr, c.raddr))
            if inspected:
                return len(seen)
            self._conn_mode = _UNAVAILABLE
        errors.append("tcp connections: not permitted (run as the server's user or root)")
        return None

    # -- the watched process ---------------------------------------------------------------------

    def _describe(self) -> str:
        return f"pid {self._pid}" if self._pid is not None else f"{self._name!r}"

    def _resolve(self) -> psutil.Process | None:
        if self._pid is not None:
            try:
                proc = psutil.Process(self._pid)
            except psutil.NoSuchProcess:
                return None
            return None if _is_gone(proc) else proc
        me = os.getpid()
        matches: list[psutil.Process] = []
        for proc in psutil.process_iter(["name", "exe", "cmdline", "create_time", "status"]):
            info = proc.info
            if proc.pid == me or info.get("status") == psutil.STATUS_ZOMBIE:
                continue
            exe = info.get("exe") or ""
            argv = info.get("cmdline") or []
            if (info.get("name") == self._name or os.path.basename(exe) == self._name
                    or (argv and os.path.basename(argv[0]) == self._name)):
                matches.append(proc)
        if not matches:
            return None
        return min(matches, key=lambda p: (p.info.get("create_time") or 0.0, p.pid))

    def _sample_process(self, errors: list[str]) -> dict[str, float | None]:
        if self._proc is None:
            self._proc = self._resolve()
            self._proc_primed = False
            if self._proc is None:
                errors.append(f"process {self._describe()} not found")
                return {}
        proc = self._proc
        out: dict[str, float | None] = {"pid": float(proc.pid)}
        try:
            if _is_gone(proc):
                raise psutil.NoSuchProcess(proc.pid)
            with proc.oneshot():
                cpu = proc.cpu_percent(interval=None)
                out["cpu_percent"] = float(cpu) if self._proc_primed else None
                self._proc_primed = True
                out["rss_mb"] = proc.memory_info().rss / _MB
                out["threads"] = float(proc.num_threads())
                out["open_fds"] = _optional(proc.num_fds if hasattr(proc, "num_fds") else proc.num_handles)
                out["connections"] = _optional(lambda: len(proc.net_connections(kind="inet")))
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            self._proc = None  # looked up again (by name) on the next sample
            errors.append(f"process {self._describe()} not found (pid {proc.pid} exited)")
            return {}
        except psutil.AccessDenied:
            errors.append(f"process {self._describe()}: access denied")
        return out


def _count_established(conns: Iterable[Any], port: int) -> int:
    seen = {(c.laddr, c.raddr) for c in conns
            if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port}
    return len(seen)


def _is_gone(proc: psutil.Process) -> bool:
    """Exited, a zombie, or its pid reused by another process."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True


def _optional(fn: Callable[[], float]) -> float | None:
    """``fn()``, or None where the platform does not give that figure (psutil raises
    NotImplementedError) or this user may not read it: the figure is shown as missing."""
    try:
        return float(fn())
    except (psutil.AccessDenied, PermissionError, NotImplementedError):
        return None


def resource_values(view: ResourceView) -> dict[str, float | None]:
    """Host and process figures under the canonical metric names (``ResourceView.values``)."""
    return view.values()
