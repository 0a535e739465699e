"""Flag providers: the JSON file (atomic, locked, concurrent writers) and HTTP (the demo's /flags)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from wsmon_tui.config import FlagsConfig
from wsmon_tui.demo.server import DemoServer
from wsmon_tui.rollback.flags import (
    FileFlags,
    FlagError,
    HttpFlags,
    effective_rollout,
    make_provider,
)

REPO = Path(__file__).resolve().parents[1]


async def test_file_flags_created_0600_and_set(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "flags.json"
    flags = FileFlags(path)
    assert await flags.list() == {}
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await flags.set("ws", enabled=True) == {"enabled": True, "rollout": 100}
    assert await flags.set("ws", rollout=25) == {"enabled": True, "rollout": 25}
    assert await flags.set("ws", rollout=12.5) == {"enabled": True, "rollout": 12.5}
    assert json.loads(path.read_text()) == {"ws": {"enabled": True, "rollout": 12.5}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize(("name", "enabled", "rollout"), [
    ("ws", None, 101), ("ws", None, -1), ("ws", None, float("nan")), ("ws", None, True),
    ("ws", "yes", None), ("bad name", True, None), ("", True, None), ("ws", None, None),
])
def test_file_flags_reject_bad_changes_and_change_nothing(tmp_path: Path, name, enabled, rollout) -> None:
    path = tmp_path / "flags.json"
    flags = FileFlags(path)
    flags.set_sync("ws", enabled=True, rollout=50)
    before = path.read_bytes()
    with pytest.raises(FlagError):
        flags.set_sync(name, enabled=enabled, rollout=rollout)
    assert path.read_bytes() == before


def test_file_flags_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text("{not json")
    with pytest.raises(FlagError, match="invalid JSON at line 1"):
        FileFlags(path).list_sync()
    path.write_text('{"a": 3}')
    with pytest.raises(FlagError, match="expected an object"):
        FileFlags(path).list_sync()


WRITER = """
import sys
from wsmon_tui.rollback.flags import FileFlags
flags = FileFlags(sys.argv[1])
me = sys.argv[2]
for i in range(int(sys.argv[3])):
    flags.set_sync(f"{me}_{i}", enabled=True, rollout=i % 101)
    flags.set_sync("shared", rollout=i % 101)
"""

READER = """
import json, sys, time
path = sys.argv[1]
deadline = time.monotonic() + 20
seen = 0
while time.monotonic() < deadline:
    try:
        with open(path) as fh:
            text = fh.read()
    except FileNotFoundError:
        continue
    json.loads(text)   # a torn write would raise here
    seen += 1
    if open(sys.argv[2]).read() == "stop":
        break
print(seen)
"""


def test_file_flags_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Several real processes write at once; every update survives and a reader never sees a torn file."""
    path = tmp_path / "flags.json"
    stop = tmp_path / "stop"
    stop.write_text("")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    per_writer, writers = 40, 4
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path), str(stop)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{k}", str(per_writer)], env=env,
                              stderr=subprocess.PIPE) for k in range(writers)]
    try:
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err.decode()
    finally:
        stop.write_text("stop")
        for p in procs:
            if p.poll() is None:
                p.kill()
        out, err = reader.communicate(timeout=30)
    assert reader.returncode == 0, err.decode()
    assert int(out) > 0
    data = json.loads(path.read_text())
    expected = {f"w{k}_{i}" for k in range(writers) for i in range(per_writer)} | {"shared"}
    assert set(data) == expected
    assert all(data[f"w{k}_{i}"] == {"enabled": True, "rollout": i} for k in range(writers)
               for i in range(per_writer))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_http_flags_against_the_demo_server() -> None:
    async with DemoServer("127.0.0.1", 0, fault_after=None) as demo, httpx.AsyncClient() as client:
        provider = make_provider(FlagsConfig(provider="http", url=demo.url_base + "/flags"), client)
        assert isinstance(provider, HttpFlags)
        listed = await provider.list()
        assert listed["websocket_enabled"] == {"enabled": True, "rollout": 100}
        assert await provider.set("websocket_enabled", rollout=30) == {"enabled": True, "rollout": 30}
        assert demo.flags.websocket_rollout == 30
        assert await provider.set("websocket_enabled", enabled=False) == {"enabled": False, "rollout": 30}
        assert not demo.flags.websocket_enabled
        with pytest.raises(FlagError, match="rollout must be"):
            await provider.set("websocket_enabled", rollout=300)
        assert demo.flags.websocket_rollout == 30


async def test_http_flags_server_errors_are_flag_errors() -> None:
    from tests.rollback_support import recording_server

    with recording_server() as rec:
        rec.statuses["/flags/x"] = 500
        rec.bodies["/flags"] = ["not", "a", "dict"]
        async with httpx.AsyncClient() as client:
            provider = HttpFlags(rec.url + "/flags", {"Authorization": "Bearer t0k"}, client)
            with pytest.raises(FlagError, match="HTTP 500"):
                await provider.set("x", enabled=True)
            with pytest.raises(FlagError, match="expected a JSON object"):
                await provider.list()
    async with httpx.AsyncClient() as client:
        dead = HttpFlags("http://127.0.0.1:9/flags", {}, client, timeout=2)
        with pytest.raises(FlagError, match="ConnectError"):
            await dead.list()


async def test_make_provider_and_effective_rollout(tmp_path: Path) -> None:
    async with httpx.AsyncClient() as client:
        assert make_provider(FlagsConfig(), client) is None
        file_cfg = FlagsConfig(provider="file", path=str(tmp_path / "f.json"))
        assert isinstance(make_provider(file_cfg, client), FileFlags)
    assert effective_rollout({"enabled": False, "rollout": 80}) == 0.0
    assert effective_rollout({"enabled": True, "rollout": 80}) == 80.0
    assert effective_rollout({"enabled": True}) == 100.0
    assert effective_rollout(None) is None
