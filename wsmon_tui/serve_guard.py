"""The guard around textual-serve for ``wsmon-tui serve``: a token, Host and Origin checks,
per-request page URLs, and faces that end cleanly when their tab goes.

textual-serve serves a page, its static files and a WebSocket at ``/ws``; every WebSocket
starts one app process by running a shell command string, and every key typed in the page
reaches that process. Upstream checks nothing, so this module wraps its aiohttp app in one
middleware that runs before any route (and so before any process is spawned):

1. **Host**: the request's Host header must name this server (its bound address and port,
   ``localhost``/``127.0.0.1``/``::1`` on loopback, the machine's names and addresses when
   bound to every interface, and each ``--allow-host``). A DNS-rebinding page has its own
   name in Host and is refused.
2. **Token**: ``?token=`` or the session cookie it sets, compared in constant time. A page
   load with a good ``?token=`` sets an HttpOnly, SameSite=Strict cookie and redirects to the
   same URL without the token, so it is not left in the history.
3. **Origin** (the WebSocket only): the upgrade's Origin must be the origin the page was
   served from, ``http://`` plus the Host the browser used. A page on another origin --
   another port on the same machine included, which is *same-site* for a cookie -- cannot
   open the socket even when the browser holds the cookie.

Each refusal is a 403 with a short plain-text body, logged without the token. The token is
printed once, in the startup line; aiohttp's access log (which would print ``?token=``) is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import socket
import stat
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp_jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server

from wsmon_tui.errors import UsageError

log = logging.getLogger("wsmon.serve")

TOKEN_ENV = "WSMON_SERVE_TOKEN"
MIN_TOKEN_CHARS = 16
FACE_STOP_TIMEOUT_S = 20.0
"""How long a face's app gets to close (its engine session, or just itself) once its tab went."""

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- the token ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    source: str
    """Where it came from: "generated", "--token-file F" or "$WSMON_SERVE_TOKEN"."""

    def matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.value.encode())

    @property
    def cookie_value(self) -> str:
        """What the cookie holds: derived from the token, so a cookie store never holds the token."""
        return hmac.new(self.value.encode(), b"wsmon-tui serve cookie", hashlib.sha256).hexdigest()


def resolve_token(token_file: str | None, environ: Mapping[str, str] | None = None) -> Token:
    """``--token-file F`` (owner-only), else ``$WSMON_SERVE_TOKEN``, else a random one."""
    env = os.environ if environ is None else environ
    if token_file:
        return Token(_read_token_file(Path(token_file)), f"--token-file {token_file}")
    if env.get(TOKEN_ENV):
        return Token(_check_token(env[TOKEN_ENV].strip(), f"${TOKEN_ENV}"), f"${TOKEN_ENV}")
    return Token(secrets.token_urlsafe(32), "generated")


def _read_token_file(path: Path) -> str:
    try:
        info = path.stat()
    except OSError as exc:
        raise UsageError(f"--token-file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"--token-file {path}: not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise UsageError(f"--token-file {path}: mode {mode:04o} lets other users read it; "
                         f"make it owner-only (chmod 600 {path})")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise UsageError(f"--token-file {path}: owned by uid {info.st_uid}, not by this user")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--token-file {path}: {exc}") from None
    return _check_token(text, f"--token-file {path}")


def _check_token(text: str, where: str) -> str:
    if len(text) < MIN_TOKEN_CHARS or any(c.isspace() for c in text):
        raise UsageError(f"{where}: the token must be at least {MIN_TOKEN_CHARS} characters, "
                         "without spaces")
    return text


# -- the names this server answers to ----------------------------------------------------------

def split_host(value: str) -> tuple[str, int | None]:
    """``name:port``, ``[v6]:port``, ``name`` -> (lower-case name without brackets, port or None)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return "", None
        name, rest = value[1:end], value[end + 1:]
    elif value.count(":") == 1:
        name, _, port_text = value.partition(":")
        rest = ":" + port_text
    else:
        name, rest = value, ""
    if not rest:
        return name.rstrip("."), None
    if not rest.startswith(":") or not rest[1:].isdigit():
        return "", None
    return name.rstrip("."), int(rest[1:])


def url_host(name: str) -> str:
    """A name as it goes in a URL (an IPv6 address in brackets)."""
    return f"[{name}]" if ":" in name else name


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def machine_names() -> list[str]:
    """This machine's host names, best first (the fully qualified one when it has a dot)."""
    names: list[str] = []
    for name in (socket.getfqdn(), socket.gethostname()):
        name = name.lower().rstrip(".")
        if name and name not in names and name not in LOOPBACK_NAMES:
            names.append(name)
    names.sort(key=lambda n: "." not in n)
    return names


def machine_addresses() -> list[str]:
    """The machine's interface addresses (loopback last, link-local IPv6 left out)."""
    import psutil

    found: list[str] = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family not in (socket.AF_INET, socket.AF_INET6) or "%" in a.address:
                continue
            try:
                ip = ipaddress.ip_address(a.address)
            except ValueError:
                continue
            if ip.is_link_local:
                continue
            if str(ip) not in found:
                found.append(str(ip))
    return sorted(found, key=lambda s: (ipaddress.ip_address(s).is_loopback, ":" in s))


@dataclass(frozen=True)
class Served:
    """The bound host and port, and what the server answers to and advertises."""

    bind: str
    port: int
    names: frozenset[str]
    urls: tuple[str, ...]
    """Base URLs to print, best first (``http://name:port``)."""

    @classmethod
    def for_bind(cls, bind: str, port: int, allow_hosts: Iterable[str] = ()) -> Served:
        bind = bind.strip("[]").lower()
        extra = [split_host(h)[0] for h in allow_hosts]
        if bind in ANY_ADDRESS:
            advertised = [*machine_names(), *machine_addresses()]
            names = {*advertised, *LOOPBACK_NAMES}
        elif is_loopback(bind):
            advertised = [bind]
            names = {bind, *LOOPBACK_NAMES} if bind != "::1" else {"::1", "localhost"}
        else:
            advertised = [bind]
            names = {bind}
        names.update(n for n in extra if n)
        urls = tuple(dict.fromkeys(f"http://{url_host(n)}:{port}" for n in advertised or ["localhost"]))
        return cls(bind, port, frozenset(names), urls)

    def host_ok(self, header: str | None) -> bool:
        if not header:
            return False
        name, port = split_host(header)
        return bool(name) and name in self.names and (port or 80) == self.port

    def origin_ok(self, origin: str | None, host_header: str) -> bool:
        """The WebSocket's Origin is the origin its page came from: http:// + the Host used."""
        if not origin:
            return False
        try:
            parts = urlsplit(origin)
            origin_port = parts.port or 80
        except ValueError:
            return False
        name, port = split_host(host_header)
        return (parts.scheme == "http" and not parts.path.strip("/") and (parts.hostname or "") == name
                and origin_port == (port or 80))


# -- the guard ---------------------------------------------------------------------------------

def _refuse(request: web.Request, why: str, body: str) -> web.Response:
    peer = request.remote or "?"
    log.warning("refused %s %s from %s: %s", request.method, request.path, peer, why)
    return web.Response(status=403, text=f"403 Forbidden: {body}\n", content_type="text/plain")


def guard_middleware(token: Token, served: Served, cookie_name: str) -> Any:
    """The aiohttp middleware: Host, then the token (or its cookie), then Origin on ``/ws``."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if not served.host_ok(host):
            return _refuse(request, f"Host {host[:80]!r} is not served here",
                           "this server does not answer to that Host name "
                           "(start it with --allow-host NAME to add one).")
        given = request.query.get("token")
        if given is not None:
            if not token.matches(given):
                return _refuse(request, "wrong token", "wrong token.")
            if request.path != "/ws" and request.method in ("GET", "HEAD"):
                rest = [(k, v) for k, v in request.query.items() if k != "token"]
                target = request.path + (f"?{urlencode(rest)}" if rest else "")
                redirect = web.HTTPSeeOther(target)
                redirect.set_cookie(cookie_name, token.cookie_value, httponly=True, samesite="Strict",
                                    path="/")
                redirect.headers["Cache-Control"] = "no-store"
                redirect.headers["Referrer-Policy"] = "no-referrer"
                return redirect
        elif not hmac.compare_digest(request.cookies.get(cookie_name, "").encode(),
                                     token.cookie_value.encode()):
            return _refuse(request, "no token", "this page needs the token: open the URL that "
                           "`wsmon-tui serve` printed (it ends in ?token=...), pasted in the address bar.")
        if request.path == "/ws" and not served.origin_ok(request.headers.get("Origin"), host):
            origin = request.headers.get("Origin", "")
            return _refuse(request, f"WebSocket from Origin {origin[:80]!r}",
                           "a WebSocket from another origin is refused.")
        response = await handler(request)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return guard


class GuardedServer(Server):
    """textual-serve's Server behind the guard; faces end cleanly when their tab goes.

    When a WebSocket closes, upstream asks the app to quit but stops reading its output as soon
    as a write to the closed socket fails: an app still drawing could block on a full pipe and
    never end. Here writes to a closed socket are dropped, the app is read until it exits, and
    one that does not end within ``FACE_STOP_TIMEOUT_S`` gets SIGTERM, then SIGKILL.
    """

    def __init__(self, command: str, *, served: Served, token: Token, title: str,
                 banner: Callable[[], None]) -> None:
        super().__init__(command, host=served.bind, port=served.port, title=title,
                         public_url=served.urls[0])
        self.served = served
        self.token = token
        self.banner = banner
        self.cookie_name = f"wsmon_serve_{served.port}"  # cookies are not per port: one per server
        self.sessions: set[AppService] = set()
        self.faces_opened = 0

    def initialize_logging(self) -> None:
        super().initialize_logging()
        logging.getLogger("aiohttp.access").disabled = True  # its lines would carry ?token=

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(guard_middleware(self.token, self.served, self.cookie_name))
        return app

    async def on_startup(self, app: web.Application) -> None:
        self.banner()

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """Upstream's page, with its WebSocket URL from the Host this browser used (validated by
        the guard), not from one configured public URL (``ws://0.0.0.0:...`` reaches nobody)."""
        try:
            font_size = int(request.query.get("fontsize", "16"))
        except ValueError:
            font_size = 16
        context = {
            "font_size": font_size,
            "app_websocket_url": f"ws://{request.host}/ws",
            "config": {"static": {"url": "/static/"}},
            "application": {"name": self.title},
        }
        response = aiohttp_jinja2.render_template("app_index.html", request, context)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        websocket = web.WebSocketResponse(heartbeat=15)

        def size(key: str, default: int) -> int:
            try:
                return max(10, min(int(request.query.get(key, default)), 1000))
            except ValueError:
                return default

        async def send_bytes(data: bytes) -> None:
            if not websocket.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await websocket.send_bytes(data)

        async def send_str(data: str) -> None:
            if not websocket.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await websocket.send_str(data)

        async def close() -> None:
            await websocket.close()

        await websocket.prepare(request)
        service = AppService(self.command, write_bytes=send_bytes, write_str=send_str,
                             close=close, download_manager=self.download_manager,
                             debug=self.debug)
        self.sessions.add(service)
        self.faces_opened += 1
        log.info("face opened from %s (%d open)", request.remote or "?", len(self.sessions))
        try:
            await service.start(size("width", 80), size("height", 24))
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("face failed")
        finally:
            with contextlib.suppress(Exception):
                await websocket.close()
            await self.end_face(service)
            self.sessions.discard(service)
            log.info("face closed (%d open)", len(self.sessions))
        return websocket

    async def end_face(self, service: AppService) -> None:
        """Ask the app to quit (it closes what it holds, then exits); reap it either way."""
        process = getattr(service, "_process", None)
        try:
            await asyncio.wait_for(asyncio.shield(service.stop()), FACE_STOP_TIMEOUT_S)
        except (Exception, asyncio.CancelledError):
            pass
        if process is None:
            return
        for sig, wait in ((None, 2.0), ("terminate", 5.0), ("kill", 5.0)):
            if sig == "terminate" and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
            elif sig == "kill" and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            try:
                await asyncio.wait_for(process.wait(), wait)
                return
            except (Exception, asyncio.CancelledError):
                continue

    async def on_shutdown(self, app: web.Application) -> None:
        await asyncio.gather(*(self.end_face(s) for s in list(self.sessions)), return_exceptions=True)
