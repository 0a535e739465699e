"""``monitor --metrics-port [HOST:]PORT`` as a user runs it: a real process, real HTTP GETs.

A bare port binds the loopback address 127.0.0.1 only: another loopback address (127.0.0.2,
still this machine) is refused. ``0.0.0.0:PORT`` binds every address, so 127.0.0.2 answers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.hostile import echo_server
from tests.prom_server import free_port
from tests.test_monitor_cli import start, wait_for_line, write_config
from wsmon_tui.cli import main
from wsmon_tui.metrics_bind import parse_metrics_bind


async def serve_and_get(tmp_path: Path, flag: str, port: int) -> tuple[str, dict[str, int | None]]:
    """Run ``monitor --metrics-port flag``; the line it printed and the status of a GET at each
    loopback address (None: refused)."""
    statuses: dict[str, int | None] = {}
    async with echo_server() as url:
        cfg = write_config(tmp_path / "wsmon.toml", url)
        proc = await start("monitor", "--config", str(cfg), "--state-dir", str(tmp_path / "state"),
                           "--metrics-port", flag, cwd=tmp_path)
        try:
            line = await wait_for_line(proc, "metrics at")
            async with httpx.AsyncClient(timeout=5) as client:
                for addr in ("127.0.0.1", "127.0.0.2"):
                    try:
                        reply = await client.get(f"http://{addr}:{port}/metrics")
                    except httpx.ConnectError:
                        statuses[addr] = None
                    else:
                        statuses[addr] = reply.status_code
                        assert "wsmon_probes" in reply.text
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.communicate(), 15)
    return line, statuses


async def test_a_bare_port_binds_the_loopback_only(tmp_path: Path) -> None:
    port = free_port()
    line, statuses = await serve_and_get(tmp_path, str(port), port)
    assert f"http://127.0.0.1:{port}/metrics" in line
    assert statuses == {"127.0.0.1": 200, "127.0.0.2": None}


async def test_host_port_binds_where_asked(tmp_path: Path) -> None:
    port = free_port()
    line, statuses = await serve_and_get(tmp_path, f"0.0.0.0:{port}", port)
    assert f":{port}/metrics" in line
    assert statuses == {"127.0.0.1": 200, "127.0.0.2": 200}


@pytest.mark.parametrize("value", ["94x64", "0.0.0.0:", ":9464", "127.0.0.1:70000", "300.1.1.1:9464",
                                   "::1:9464", "[127.0.0.1]:9464", "-1"])
def test_bad_values_are_one_usage_message(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "--metrics-port", value]) == 2
    err = capsys.readouterr().err
    first, *rest = err.strip().splitlines()
    assert first.startswith(f"wsmon-tui: --metrics-port {value!r}: ")
    assert "Traceback" not in err and rest == ["Try 'wsmon-tui --help'."]


def test_accepted_forms() -> None:
    assert parse_metrics_bind("9464") == ("127.0.0.1", 9464)
    assert parse_metrics_bind("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert parse_metrics_bind("[::1]:9464") == ("::1", 9464)
    assert parse_metrics_bind("localhost:0") == ("localhost", 0)
