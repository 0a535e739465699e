"""Alerts do not outlive their session (real processes): a monitor that fired and was stopped
leaves its alert stale (never resolved, no longer firing), and another deployment's report on the
same state dir does not carry it."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from tests.hostile import refused_url
from tests.test_monitor_cli import start, wait_for_line


def write_config(path: Path, url: str, state: Path, deployment: str) -> Path:
    path.write_text(
        "[monitor]\n"
        'level = "debug"\n'
        f'state_dir = "{state}"\n'
        'interval = "0.3s"\n'
        "[deployment]\n"
        f'name = "{deployment}"\n'
        "[[targets]]\n"
        'name = "chat"\n'
        f'url = "{url}"\n'
        'timeout = "1s"\n'
    )
    return path


async def cli_json(*args: str, cwd: Path) -> object:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsmon_tui", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def test_a_stopped_monitors_alert_is_stale_and_stays_with_its_deployment(tmp_path: Path):
    state = tmp_path / "state"
    async with refused_url() as url:
        alpha = write_config(tmp_path / "alpha.toml", url, state, "alpha")
        beta = write_config(tmp_path / "beta.toml", url, state, "beta")
        proc = await start("monitor", "--config", str(alpha), cwd=tmp_path)
        try:
            await wait_for_line(proc, "firing: TargetDown/chat", timeout=30)
            live = await cli_json("alerts", "list", "--config", str(alpha), "--format", "json", cwd=tmp_path)
            assert isinstance(live, list)
            assert [a["rule"] for a in live if a["state"] == "firing"] == ["TargetDown"]
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), 20)
    assert await cli_json("alerts", "list", "--config", str(alpha), "--format", "json", cwd=tmp_path) == []
    every = await cli_json("alerts", "list", "--config", str(alpha), "--state", "all", "--format", "json",
                           cwd=tmp_path)
    assert isinstance(every, list)
    down = [a for a in every if a["rule"] == "TargetDown"]
    assert len(down) == 1 and down[0]["state"] == "stale" and down[0]["resolved_at"] is not None
    stale = await cli_json("alerts", "list", "--config", str(alpha), "--state", "stale", "--format", "json",
                           cwd=tmp_path)
    assert [a["id"] for a in stale] == [down[0]["id"]]  # type: ignore[index]
    # another deployment on the same state dir: not its alert, in its list or its report
    assert await cli_json("alerts", "list", "--config", str(beta), "--state", "all", "--format", "json",
                          cwd=tmp_path) == []
    theirs = await cli_json("report", "--config", str(beta), "--format", "json", "--hours", "1", cwd=tmp_path)
    assert isinstance(theirs, dict) and theirs["alerts"] == []
    ours = await cli_json("report", "--config", str(alpha), "--format", "json", "--hours", "1", cwd=tmp_path)
    assert isinstance(ours, dict)
    assert [(a["rule"], a["state"]) for a in ours["alerts"]] == [("TargetDown", "stale")]
    assert ours["alerts"][0]["id"] == down[0]["id"]
