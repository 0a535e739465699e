"""Where things live: the state dir and the config search order (XDG)."""

from __future__ import annotations

import os
from pathlib import Path


def xdg_state_home() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")


def xdg_config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def default_state_dir(*, demo: bool = False) -> Path:
    """``$XDG_STATE_HOME/wsmon-tui`` (``.../wsmon-tui/demo`` for the demo, kept apart)."""
    base = xdg_state_home() / "wsmon-tui"
    return base / "demo" if demo else base


def ensure_state_dir(path: Path) -> Path:
    """Create the state dir 0700 (and tighten it if it exists with looser bits)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist; tighten it if it does.

    An existing file is never opened here: closing any descriptor of a SQLite database
    drops every POSIX lock this process holds on it (fcntl semantics), so a connection
    already open in this process would lose its shared lock, and another process could
    then checkpoint and delete the WAL under it, losing everything written afterwards.
    """
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def config_search_path(explicit: str | None) -> list[Path]:
    """Candidate config files in order: --config, $WSMON_CONFIG, ./wsmon.toml, XDG."""
    if explicit:
        return [Path(explicit)]
    found: list[Path] = []
    if os.environ.get("WSMON_CONFIG"):
        return [Path(os.environ["WSMON_CONFIG"])]
    found.append(Path.cwd() / "wsmon.toml")
    found.append(xdg_config_home() / "wsmon-tui" / "config.toml")
    return found
