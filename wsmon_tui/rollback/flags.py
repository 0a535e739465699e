"""Feature-flag providers: a JSON file or an HTTP endpoint, behind one protocol.

The shape everywhere is ``{"name": {"enabled": bool, "rollout": 0-100}}`` (the demo
server's ``/flags`` speaks it too). ``FileFlags`` serialises read-modify-write cycles
with ``fcntl.flock`` on a sibling lock file and replaces the flag file atomically
(temp file + ``os.replace``), so concurrent writers in different processes never lose
an update and a reader never sees half a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from wsmon_tui.config import FlagsConfig
from wsmon_tui.errors import WsmonError

FLAG_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEFAULT_NEW_ROLLOUT = 100
MAX_ERROR_BODY = 200


class FlagError(WsmonError):
    """A flag could not be read or changed (exit 1); the message says which and why."""

    exit_code = 1


class FlagProvider(Protocol):
    async def list(self) -> dict[str, dict]: ...

    async def set(self, name: str, *, enabled: bool | None = None, rollout: float | None = None) -> dict: ...


def check_change(name: str, enabled: bool | None, rollout: float | None) -> dict[str, Any]:
    """The validated change for one flag; ``FlagError`` names what is wrong."""
    if not isinstance(name, str) or not FLAG_NAME.match(name):
        raise FlagError(f"invalid flag name {name!r}: 1-64 letters, digits, '_', '.' or '-'")
    change: dict[str, Any] = {}
    if enabled is not None:
        if not isinstance(enabled, bool):
            raise FlagError(f"{name}: enabled must be true or false")
        change["enabled"] = enabled
    if rollout is not None:
        if (isinstance(rollout, bool) or not isinstance(rollout, int | float) or not math.isfinite(rollout)
                or not 0 <= rollout <= 100):
            raise FlagError(f"{name}: rollout must be a number from 0 to 100, got {rollout!r}")
        change["rollout"] = int(rollout) if float(rollout).is_integer() else float(rollout)
    if not change:
        raise FlagError(f"{name}: nothing to change (give enabled and/or rollout)")
    return change


def effective_rollout(state: dict | None) -> float | None:
    """The share of traffic a flag really gets: 0 when disabled, else its rollout (default 100)."""
    if not isinstance(state, dict):
        return None
    if state.get("enabled") is False:
        return 0.0
    rollout = state.get("rollout", DEFAULT_NEW_ROLLOUT)
    if isinstance(rollout, bool) or not isinstance(rollout, int | float) or not math.isfinite(rollout):
        return None
    return float(rollout)


def _check_document(data: Any, where: str) -> dict[str, dict]:
    if not isinstance(data, dict):
        raise FlagError(f"{where}: expected a JSON object of flags, got {type(data).__name__}")
    out: dict[str, dict] = {}
    for name, state in data.items():
        if not isinstance(state, dict):
            raise FlagError(f"{where}: flag {str(name)[:64]!r}: expected an object with enabled and rollout")
        out[str(name)] = dict(state)
    return out


class FileFlags:
    """Flags in a JSON file (``[flags] provider = "file"``), created 0600 when missing."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    async def list(self) -> dict[str, dict]:
        return await asyncio.to_thread(self.list_sync)

    async def set(self, name: str, *, enabled: bool | None = None, rollout: float | None = None) -> dict:
        return await asyncio.to_thread(self.set_sync, name, enabled=enabled, rollout=rollout)

    # synchronous forms (the CLI and the concurrency test use them from plain processes)

    def list_sync(self) -> dict[str, dict]:
        with self._locked():
            if not self.path.exists():
                self._write({})
                return {}
            return self._read()

    def set_sync(self, name: str, *, enabled: bool | None = None, rollout: float | None = None) -> dict:
        change = check_change(name, enabled, rollout)
        with self._locked():
            flags = self._read() if self.path.exists() else {}
            state = flags.setdefault(name, {"enabled": False, "rollout": DEFAULT_NEW_ROLLOUT})
            state.update(change)
            self._write(flags)
            return dict(state)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise FlagError(f"{self.path}: cannot lock: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> dict[str, dict]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FlagError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise FlagError(f"{self.path}: not UTF-8 text") from None
        if not text.strip():
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FlagError(f"{self.path}: invalid JSON at line {exc.lineno}, column {exc.colno}") from None
        return _check_document(data, str(self.path))

    def _write(self, flags: dict[str, dict]) -> None:
        payload = (json.dumps(flags, indent=2, sort_keys=True) + "\n").encode()
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix="." + self.path.name + ".", suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            tmp = None
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise FlagError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


class HttpFlags:
    """Flags behind an HTTP endpoint (``[flags] provider = "http"``): GET url lists, PUT url/{name} sets."""

    def __init__(self, url: str, headers: dict[str, str] | None, client: httpx.AsyncClient,
                 *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.headers = dict(headers or {})
        self.client = client
        self.timeout = timeout

    def _where(self) -> str:
        from wsmon_tui.redact import redact_url

        return redact_url(self.url)

    async def list(self) -> dict[str, dict]:
        try:
            response = await self.client.get(self.url, headers=self.headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise FlagError(f"{self._where()}: {type(exc).__name__}: {str(exc)[:MAX_ERROR_BODY]}") from None
        if not response.is_success:
            raise FlagError(f"{self._where()}: HTTP {response.status_code}: "
                            f"{response.text[:MAX_ERROR_BODY]!r}")
        try:
            data = response.json()
        except ValueError:
            raise FlagError(f"{self._where()}: the reply is not JSON") from None
        return _check_document(data, self._where())

    async def set(self, name: str, *, enabled: bool | None = None, rollout: float | None = None) -> dict:
        change = check_change(name, enabled, rollout)
        url = f"{self.url}/{quote(name, safe='')}"
        try:
            response = await self.client.put(url, json=change, headers=self.headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise FlagError(f"{self._where()}: {type(exc).__name__}: {str(exc)[:MAX_ERROR_BODY]}") from None
        if not response.is_success:
            raise FlagError(f"{self._where()}/{name}: HTTP {response.status_code}: "
                            f"{response.text[:MAX_ERROR_BODY]!r}")
        with contextlib.suppress(ValueError):
            data = response.json()
            # the reply may be the one flag, or every flag (the demo returns all of them)
            if isinstance(data, dict) and isinstance(data.get(name), dict):
                return dict(data[name])
            if isinstance(data, dict) and set(data) & {"enabled", "rollout"}:
                return dict(data)
        return (await self.list()).get(name, dict(change))


def make_provider(cfg: FlagsConfig, client: httpx.AsyncClient) -> FlagProvider | None:
    """The configured provider, or None when ``[flags]`` names none.

    ``client`` is used as given: create it with ``verify=cfg.verify_tls`` for an http provider.
    """
    if cfg.provider == "file" and cfg.path:
        return FileFlags(cfg.path)
    if cfg.provider == "http" and cfg.url:
        return HttpFlags(cfg.url, cfg.headers, client)
    return None
