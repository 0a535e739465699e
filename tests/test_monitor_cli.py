"""The headless faces as a user runs them: real processes, real signals, real files."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
import time
from pathlib import Path

import pytest

from tests.hostile import echo_server, refused_url
from wsmon_tui.cli import main
from wsmon_tui.store import Store

REPORT_KEYS = {"generated_at", "window", "deployment", "session", "health", "targets", "resources",
               "alerts", "rollbacks", "notifications"}


def write_config(path: Path, url: str, *, name: str = "chat", interval: str = "0.3s") -> Path:
    path.write_text(
        "[monitor]\n"
        'level = "debug"\n'
        f'interval = "{interval}"\n'
        "[deployment]\n"
        'name = "chat-svc"\n'
        'version = "2.1.0"\n'
        "[[targets]]\n"
        f'name = "{name}"\n'
        f'url = "{url}"\n'
        'timeout = "1s"\n'
    )
    return path


async def start(*args: str, cwd: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsmon_tui", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )


async def wait_for_line(proc: asyncio.subprocess.Process, needle: str, timeout: float = 20) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = await asyncio.wait_for(proc.stdout.readline(), deadline - time.monotonic())
        if not line:
            break
        if needle in line.decode():
            return line.decode()
    raise AssertionError(f"never printed {needle!r}")


async def test_monitor_duration_writes_every_report_format(tmp_path: Path):
    async with echo_server() as url:
        cfg = write_config(tmp_path / "wsmon.toml", url)
        for suffix in ("json", "md", "html"):
            out = tmp_path / f"report.{suffix}"
            proc = await start("monitor", "--config", str(cfg), "--state-dir", str(tmp_path / "state"),
                               "--duration", "1.5s", "--export", str(out), cwd=tmp_path)
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, stderr.decode()
            assert "session" in stdout.decode()
            assert out.exists()
            assert stat.S_IMODE(out.stat().st_mode) == 0o600  # reports carry alert text: owner only
    data = json.loads((tmp_path / "report.json").read_text())
    assert set(data) >= REPORT_KEYS
    assert data["deployment"]["name"] == "chat-svc"
    target = data["targets"][0]
    assert target["name"] == "chat" and target["probes"] >= 3 and target["success_rate"] == 1.0
    assert set(target["handshake_ms"]) == {"p50", "p95", "p99"}
    assert "chat-svc" in (tmp_path / "report.md").read_text()
    assert "<html" in (tmp_path / "report.html").read_text().lower()


@pytest.mark.parametrize("sig,name", [(signal.SIGTERM, "sigterm"), (signal.SIGINT, "sigint"),
                                      (signal.SIGHUP, "sighup")])
async def test_signals_stop_gracefully_and_write_the_export(tmp_path: Path, sig, name):
    async with echo_server() as url:
        cfg = write_config(tmp_path / "wsmon.toml", url)
        out = tmp_path / "out.json"
        state = tmp_path / "state"
        proc = await start("--config", str(cfg), "monitor", "--state-dir", str(state),
                           "--export", str(out), cwd=tmp_path)
        await wait_for_line(proc, "chat: healthy")
        sent = time.monotonic()
        proc.send_signal(sig)
        _, stderr = await asyncio.wait_for(proc.communicate(), 10)
        took = time.monotonic() - sent
    assert proc.returncode == 0, stderr.decode()
    assert took < 5
    assert json.loads(out.read_text())["targets"][0]["probes"] >= 1
    with Store.open(state, create=False) as store:
        assert store.latest_session()["ended_by"] == name


async def test_kill_9_leaves_readable_history(tmp_path: Path, capsys):
    async with echo_server() as url:
        cfg = write_config(tmp_path / "wsmon.toml", url)
        state = tmp_path / "state"
        proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), cwd=tmp_path)
        for _ in range(3):
            await wait_for_line(proc, "chat: healthy")
        proc.kill()
        await proc.wait()
    code = main(["status", "--config", str(cfg), "--state-dir", str(state)])
    out = capsys.readouterr().out
    assert code == 3 and "without closing" in out
    assert main(["report", "--config", str(cfg), "--state-dir", str(state), "--format", "json",
                 "--hours", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["targets"][0]["probes"] >= 3
    # the next run marks the killed session as crashed and carries on
    async with echo_server() as url:
        write_config(cfg, url)
        proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), "--duration", "1s",
                           cwd=tmp_path)
        await asyncio.wait_for(proc.communicate(), 30)
    with Store.open(state, create=False) as store:
        sessions = store.sessions()
    assert [s["ended_by"] for s in sessions] == ["crash", "duration"]


async def run_monitor(cfg: Path, state: Path, cwd: Path) -> None:
    proc = await start("monitor", "--config", str(cfg), "--state-dir", str(state), "--duration", "1s",
                       cwd=cwd)
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()


async def test_status_exit_codes_follow_nagios(tmp_path: Path, capsys):
    state = tmp_path / "state"
    assert main(["status", "--state-dir", str(state)]) == 3
    assert "UNKNOWN" in capsys.readouterr().out
    async with echo_server() as good:
        cfg = write_config(tmp_path / "good.toml", good)
        await run_monitor(cfg, state, tmp_path)
    assert main(["status", "--config", str(cfg), "--state-dir", str(state)]) == 0
    assert capsys.readouterr().out.startswith("WSMON OK")
    async with refused_url() as bad:
        cfg = write_config(tmp_path / "bad.toml", bad)
        await run_monitor(cfg, state, tmp_path)
    assert main(["status", "--config", str(cfg), "--state-dir", str(state), "--format", "json"]) == 2
    payload = json.loads(capsys.readouterr().out)
    assert payload["status"] == "CRITICAL" and payload["exit_code"] == 2


def test_bad_duration_and_export_suffix_are_usage_errors(tmp_path: Path, capsys):
    assert main(["monitor", "--duration", "soon"]) == 2
    assert "--duration" in capsys.readouterr().err
    assert main(["--export", str(tmp_path / "report.pdf")]) == 2
    assert ".md, .json or .html" in capsys.readouterr().err


def test_report_without_history_is_empty_not_an_error(tmp_path: Path, capsys):
    assert main(["report", "--state-dir", str(tmp_path / "none"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= REPORT_KEYS and data["targets"] == []


def test_corrupt_database_is_named_with_the_way_out(tmp_path: Path, capsys):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "wsmon.db").write_bytes(b"this is not a database" * 100)
    assert main(["report", "--state-dir", str(state)]) == 1
    err = capsys.readouterr().err
    assert str(state / "wsmon.db") in err and "mv " in err
