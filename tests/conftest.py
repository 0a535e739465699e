"""Shared fixtures: every test runs with its own HOME/XDG dirs and no wsmon env vars."""

from __future__ import annotations

import os
import shutil

import pytest

_ENV_PREFIXES = ("WEBSOCKET_", "WSMON_")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Keep the user's own config, state dir and environment out of tests."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def clock():
    """A settable clock for the alert engine's tests (``tests/test_alert_engine.py``'s ``Clock``)."""
    from tests.test_alert_engine import Clock

    return Clock()


@pytest.fixture
def db_path(tmp_path):
    """``wsmon.db`` in a fresh state dir (mode 0700, as the engine makes it), not yet created."""
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    return d / "wsmon.db"


def require_binary(name: str) -> str:
    """Path of a Debian-packaged binary a test talks to; skip locally, fail in CI."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed; scripts/test installs it with apt-get")
    pytest.skip(f"{name} not installed (scripts/test installs it when run as root)")
    raise AssertionError  # unreachable


@pytest.fixture(scope="session")
def recorded_session(tmp_path_factory):
    """A real monitoring session through the demo's fault, alert, ack and rollback, recorded once
    (``tests/replay_support.py``): what the replay tests play back."""
    from tests.replay_support import record_demo_session

    return record_demo_session(tmp_path_factory.mktemp("recorded") / "state")
