"""Run a real ``prometheus`` (the Debian package's binary) on 127.0.0.1 for tests and benchmarks.

``running_prometheus(tmp)`` writes a config that scrapes Prometheus itself (and any extra
``host:port`` targets) every second and loads any ``rule_files`` (recording rules), starts
the server on a free port, waits until ``/-/ready`` and until its first scrape of itself has
landed (the scrape manager starts up to five seconds after ``/-/ready``: a test that only
waits for ready can see no data at all on a loaded machine) and, whatever happens,
terminates it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Prometheus:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(port: int, extra_targets: list[str], rule_files: list[Path]) -> str:
    lines = [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
    ]
    if rule_files:
        lines += ["rule_files:", *(f"  - '{path}'" for path in rule_files)]
    lines += [
        "scrape_configs:",
        "  - job_name: prometheus",
        "    static_configs:",
        f"      - targets: ['127.0.0.1:{port}']",
    ]
    if extra_targets:
        lines += ["  - job_name: extra", "    static_configs:",
                  "      - targets: [" + ", ".join(f"'{t}'" for t in extra_targets) + "]"]
    return "\n".join(lines) + "\n"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _scraped_itself(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
        answer = httpx.get(url + "/api/v1/query", params={"query": 'up{job="prometheus"}'},
                           timeout=1.0).json()
        return bool(answer["data"]["result"])
    return False


@contextlib.contextmanager
def running_prometheus(tmp: Path, extra_targets: list[str] | None = None,
                       ready_timeout: float = 30.0,
                       rule_files: list[Path] | None = None) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus is not installed")
    tmp.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _attempt in range(3):  # the free port may be taken between probing and binding
        port = free_port()
        cfg = tmp / "prometheus.yml"
        cfg.write_text(_config(port, extra_targets or [], [p.resolve() for p in rule_files or []]))
        log = tmp / f"prometheus-{port}.log"
        with log.open("wb") as log_file:
            proc = subprocess.Popen(
                [binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + ready_timeout
            ready = False
            while time.monotonic() < deadline and proc.poll() is None:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/-/ready", timeout=1.0).status_code == 200:
                        ready = True
                        break
                time.sleep(0.1)
            while ready and time.monotonic() < deadline and not _scraped_itself(url):
                time.sleep(0.2)
            if ready:
                yield Prometheus(url, port, proc, log)
                return
            last_error = log.read_text(errors="replace")[-2000:]
        finally:
            _stop(proc)
    raise RuntimeError(f"prometheus did not become ready:\n{last_error}")
