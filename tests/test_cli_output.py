"""What commands write: nothing but their output into a pipe closed early, private report
files, warnings about plain-text channel URLs, and a plain line that stays short."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_live import snapshot
from wsmon_tui.live import LINE_TARGETS, status_line
from wsmon_tui.model import AlertView, DeploymentView, ProbeResult, Snapshot, TargetView

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo.toml"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBSOCKET_", "WSMON_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _run(args: list[str], cwd: Path, *, stdout: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wsmon_tui", *args], cwd=cwd, env=_env(), text=True,
                          stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=60, check=False)


@pytest.mark.parametrize("args", [
    ["config", "check", str(DEMO)],
    ["alerts", "list"],
    ["alerts", "stats"],
    ["report", "--hours", "1"],
    ["status"],
    ["config", "show"],
])
def test_a_pipe_closed_early_ends_quietly_with_141(tmp_path: Path, args: list[str]) -> None:
    """The reader is gone before the first write (``| head -0``): no traceback, exit 141."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = _run(["--state-dir", str(tmp_path / "state"), *args], tmp_path, stdout=write_end)
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr
    assert "Exception ignored" not in proc.stderr


def test_config_check_into_head_has_no_traceback(tmp_path: Path) -> None:
    """The reported case: ``config check F | head -1``, with a real head."""
    shell = (f"{sys.executable} -m wsmon_tui --state-dir {tmp_path / 'state'} config check {DEMO} | head -1;"
             " echo \"status=${PIPESTATUS[0]}\" >&2")
    proc = subprocess.run(["bash", "-c", shell], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.stdout.startswith(f"{DEMO}: valid")
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] in ("status=0", "status=141")


def test_report_output_file_is_private(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    old = os.umask(0o022)
    try:
        proc = _run(["--state-dir", str(tmp_path / "state"), "report", "-o", str(out)], tmp_path)
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_config_check_warns_about_plain_http_channels(tmp_path: Path) -> None:
    path = tmp_path / "wsmon.toml"
    secret = "T000/B000/XXXXSECRET"
    path.write_text(f"""
[[targets]]
name = "a"
url = "wss://edge.example.com/ws"

[[alerts.channels]]
type = "slack"
url = "http://hooks.example.com/services/{secret}"

[[alerts.channels]]
type = "webhook"
url = "http://hooks.example.com/x"

[[alerts.channels]]
type = "alertmanager"
url = "http://am.example.com:9093"

[[alerts.channels]]
type = "pagerduty"
url = "http://pd.example.com/v2/enqueue"
routing_key = "${{PD_KEY}}"

[[alerts.channels]]
type = "webhook"
name = "safe"
url = "https://hooks.example.com/y"
""")
    env_key = {"PD_KEY": "x" * 32}
    proc = subprocess.run([sys.executable, "-m", "wsmon_tui", "--state-dir", str(tmp_path / "s"), "config",
                           "check", str(path)], cwd=tmp_path, env={**_env(), **env_key}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warns = [line for line in proc.stdout.splitlines() if line.startswith("WARN") and "http://" in line]
    for kind in ("slack", "webhook", "alertmanager", "pagerduty"):
        name = f"{kind} ({kind})"
        assert any(f"channel {name} posts to http:// (unencrypted)" in w for w in warns), proc.stdout
    assert len(warns) == 4 and not any("safe" in w for w in warns)
    assert secret not in proc.stdout


def _fleet(n: int, bad: dict[str, str]) -> Snapshot:
    failed = ProbeResult(target="x", started_at=1.0, ok=False, error_class="refused", detail="refused")
    targets = tuple(
        TargetView(name=f"t{i:04d}", url="wss://x/", status=bad.get(f"t{i:04d}", "healthy"),
                   health_score=0.0 if f"t{i:04d}" in bad else 100.0, success_rate=1.0,
                   last_probe=failed if f"t{i:04d}" in bad else None)
        for i in range(n))
    alerts = tuple(AlertView(id=f"a{i}", rule="TargetDown", target=f"t{i:04d}", severity="critical",
                             state="firing") for i in range(40))
    return Snapshot(taken_at=1.0, tick=1, session_id="s", deployment=DeploymentView("d", "1"), level="debug",
                    interval=1.0, status="critical", health_score=50.0, targets=targets, alerts=alerts)


def test_the_plain_line_summarises_a_big_fleet() -> None:
    bad = {f"t{i:04d}": "degraded" for i in range(100, 108)} | {"t4000": "critical", "t4001": "critical"}
    line = status_line(_fleet(5000, bad))
    assert len(line) < 1500, len(line)
    assert "5000 targets: 4990 healthy, 8 degraded, 2 critical" in line
    worst = line.split("worst: ", 1)[1]
    assert worst.startswith("t4000: critical ok=") and "t4001: critical" in worst
    assert "t0100: degraded" in worst
    assert "last_error=refused" in worst and "t0105" not in worst  # five named
    assert "firing: TargetDown/t0000" in line and "and 30 more" in line


def test_a_small_fleet_still_lists_every_target() -> None:
    line = status_line(_fleet(LINE_TARGETS, {}))
    assert all(f"t{i:04d}: healthy" in line for i in range(LINE_TARGETS))
    assert "targets:" not in line
    assert "\x1b" not in status_line(snapshot())
