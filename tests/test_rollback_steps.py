"""Rollback steps against real local HTTP servers and real subprocesses."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.rollback_support import recording_server
from wsmon_tui.config import StepConfig
from wsmon_tui.rollback.flags import FileFlags
from wsmon_tui.rollback.steps import describe_step, run_step, run_steps

PY = sys.executable


def _cmd(code: str, *extra: str, **kw) -> StepConfig:
    return StepConfig(type="command", argv=[PY, "-c", code, *extra], **kw)


async def test_steps_run_in_order_with_results_and_durations(tmp_path: Path) -> None:
    log = tmp_path / "order.txt"
    with recording_server() as rec:
        steps = [
            _cmd("import sys; open(sys.argv[1], 'a').write('one\\n')", str(log), name="first"),
            StepConfig(type="http", name="second", method="PUT", url=rec.url + "/flags/ws",
                       json={"enabled": False}),
            _cmd("import sys; open(sys.argv[1], 'a').write('three\\n')", str(log), name="third"),
        ]
        async with httpx.AsyncClient() as client:
            results = await run_steps(steps, client=client, flags=None)
        sent = [(m, p, json.loads(b)) for m, p, b in rec.requests]
        assert sent == [("PUT", "/flags/ws", {"enabled": False})]
    assert log.read_text() == "one\nthree\n"
    assert [r.name for r in results] == ["first", "second", "third"]
    assert all(r.ok for r in results)
    assert results[1].detail == "HTTP 200"
    assert all(r.duration_ms >= 0 for r in results)
    assert results[0].started_at <= results[1].started_at <= results[2].started_at


async def test_failing_step_stops_the_rest_unless_continue_on_error(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with recording_server() as rec:
        rec.statuses["/bad"] = 503
        failing = StepConfig(type="http", name="bad", method="POST", url=rec.url + "/bad")
        after = _cmd("import sys; open(sys.argv[1], 'w').write('x')", str(marker), name="after")
        async with httpx.AsyncClient() as client:
            results = await run_steps([failing, after], client=client, flags=None)
            assert [r.ok for r in results] == [False, None]
            assert "HTTP 503 (expected 2xx)" in results[0].detail
            assert results[1].detail == "not run: step 1 (bad) failed"
            assert not marker.exists()

            failing.continue_on_error = True
            results = await run_steps([failing, after], client=client, flags=None)
            assert [r.ok for r in results] == [False, True]
            assert marker.exists()


async def test_expect_status_and_exit_codes(tmp_path: Path) -> None:
    with recording_server() as rec:
        rec.statuses["/gone"] = 404
        async with httpx.AsyncClient() as client:
            ok = await run_step(StepConfig(type="http", url=rec.url + "/gone", expect_status=[404]),
                                client=client, flags=None)
            assert ok.ok
            r = await run_step(_cmd("import sys; print('boom', file=sys.stderr); sys.exit(3)"),
                               client=client, flags=None)
    assert not r.ok
    assert r.detail == "exit 3: boom"
    assert r.stderr.strip() == "boom"


async def test_shell_metacharacters_stay_literal(tmp_path: Path) -> None:
    hostile = "; rm -rf / $(touch pwned) `touch pwned2` && touch pwned3 | cat > pwned4"
    work = tmp_path / "work"
    work.mkdir()
    step = StepConfig(type="command", argv=[PY, "-c", "import sys; print(sys.argv)", hostile], cwd=str(work))
    async with httpx.AsyncClient() as client:
        r = await run_step(step, client=client, flags=None)
    assert r.ok, r.detail
    assert hostile in r.stdout
    assert sorted(p.name for p in work.iterdir()) == []
    assert not any(Path(name).exists() for name in ("pwned", "pwned2", "pwned3", "pwned4"))


async def test_command_timeout_kills_the_child(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    code = ("import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
            "sys.stdout.write('started\\n'); sys.stdout.flush(); time.sleep(60)")
    step = _cmd(code, str(pidfile), timeout=0.8)
    t0 = time.monotonic()
    async with httpx.AsyncClient() as client:
        r = await run_step(step, client=client, flags=None)
    assert time.monotonic() - t0 < 10
    assert not r.ok
    assert "timed out after 0.8s; killed" in r.detail
    assert "started" in r.stdout
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_env_cwd_missing_program_and_redaction(tmp_path: Path) -> None:
    code = "import os; print(os.environ['ROLLBACK_TOKEN'], os.getcwd(), os.environ.get('HOME') is not None)"
    step = _cmd(code, env={"ROLLBACK_TOKEN": "s3cr3t-value"}, cwd=str(tmp_path))
    async with httpx.AsyncClient() as client:
        r = await run_step(step, client=client, flags=None, secrets={"s3cr3t-value"})
        assert r.ok
        assert "s3cr3t-value" not in r.stdout and "***" in r.stdout
        assert str(tmp_path) in r.stdout and "True" in r.stdout  # merged onto os.environ
        missing = await run_step(StepConfig(type="command", argv=["/nonexistent/kubectl", "rollout"]),
                                 client=client, flags=None)
        assert not missing.ok and "not found" in missing.detail
        dead = await run_step(StepConfig(type="http", url="http://127.0.0.1:9/x", timeout=2), client=client,
                              flags=None)
        assert not dead.ok and "ConnectError" in dead.detail


async def test_flag_step_sets_the_flag(tmp_path: Path) -> None:
    flags = FileFlags(tmp_path / "flags.json")
    step = StepConfig(type="flag", name="websocket_enabled", enabled=False, rollout=0)
    async with httpx.AsyncClient() as client:
        r = await run_step(step, client=client, flags=flags)
        assert r.ok, r.detail
        assert (await flags.list())["websocket_enabled"] == {"enabled": False, "rollout": 0}
        none = await run_step(step, client=client, flags=None)
        assert not none.ok and "no [flags] provider" in none.detail


def test_describe_step_redacts() -> None:
    step = StepConfig(type="http", method="post", url="https://api.example.com/undo?token=abcdef123456",
                      headers={"Authorization": "Bearer abcdef123456"}, json={"a": 1})
    text = describe_step(step, {"abcdef123456"})
    assert "abcdef123456" not in text
    assert text.startswith("http POST https://api.example.com/undo")
