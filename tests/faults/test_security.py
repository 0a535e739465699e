"""Secrets, TLS, permissions and escaping, checked on what a real run writes.

The canary run puts a distinct secret in every place a config can hold one (probe
headers, a token in the metrics URL, a webhook URL with a token, channel headers, an
SMTP password, a PagerDuty routing key, a rollback http step's Authorization header,
a command step's env) and points each at a local server that FAILS and echoes the
request back in its error text. Then every byte written under the test's tmp dir (the
sqlite file, its WAL, session logs, the file channel, the reports, the flags file) and
every command's stdout/stderr is searched for each canary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import ssl
import stat
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.hostile import HOST, _raw_server, _read_request, echo_server, make_self_signed_cert, refused_url
from tests.receivers import smtp_server

CANARIES = {
    "SEC_PROBE_AUTH": "canaryProbeAuth9f2c71d4",
    "SEC_PROBE_COOKIE": "canaryProbeCookie5e8a02b7",
    "SEC_SCRAPE_TOKEN": "canaryScrapeTok3b9d6e15",
    "SEC_HOOK_TOKEN": "canaryHookTok7c1f4a92e",
    "SEC_CHANNEL_AUTH": "canaryChanAuth2d6b8f03",
    "SEC_SMTP_PASSWORD": "canarySmtpPw8e4a1c6d",
    "SEC_PD_KEY": "canaryPdRoutingKey1a7e5b9c",
    "SEC_STEP_AUTH": "canaryStepAuth6f3c9d28",
    "SEC_STEP_ENV": "canaryStepEnv4b2e7a1f",
}
LITERAL_URL_TOKEN = "canaryLiteralUrlTok0d5f3e8a"
"""Written into the config file itself (a token in a probe URL): masked by shape."""
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
HOSTILE = "\x1b]0;pwned\x07\x1b[31m|`<script>alert(1)</script>`|\x9b2J"


class EchoFailHandler(BaseHTTPRequestHandler):
    """Answers every request 500 (401 for GET) with the whole request in the body."""

    protocol_version = "HTTP/1.1"

    def _echo(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        echo = (f"{self.command} {self.path}\n{self.headers}\n").encode() + body
        status = 401 if self.command == "GET" else 500
        self.send_response(status, f"rejected {self.path}")
        self.send_header("Content-Type", "text/plain")
        self.send_header("X-Echo", self.headers.get("Authorization", "none"))
        self.send_header("Content-Length", str(len(echo)))
        self.end_headers()
        self.wfile.write(echo)

    do_GET = do_POST = do_PUT = _echo

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler], *, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    server = ThreadingHTTPServer((HOST, 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.asynccontextmanager
async def echo_reject_ws() -> AsyncIterator[str]:
    """Rejects the WebSocket upgrade with 401, echoing the request (headers, URL) in body and reason."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _read_request(reader)
        echo = json.dumps(head).encode()
        writer.write(b"HTTP/1.1 401 " + json.dumps(head)[:200].encode() + b"\r\nContent-Length: "
                     + str(len(echo)).encode() + b"\r\nConnection: close\r\n\r\n" + echo)
        await writer.drain()

    async with _raw_server(handler) as port:
        yield f"ws://{HOST}:{port}/ws"


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", **CANARIES}


async def wsmon(*args: str, cwd: Path, timeout: float = 40) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsmon_tui", *args, cwd=cwd, env=env(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def canary_config(tmp: Path, *, ws_reject: str, http_fail: str, smtp: str) -> Path:
    cfg = tmp / "wsmon.toml"
    leak_cmd = "import os, sys; print('env is', os.environ['STEP_SECRET']); sys.exit(3)"
    cfg.write_text(f"""
[monitor]
level = "debug"
interval = "0.25s"
[deployment]
name = "chat-svc"
version = "2.0.0"
[[targets]]
name = "rejecting"
url = "{ws_reject}?access_token={LITERAL_URL_TOKEN}"
timeout = "1s"
metrics_url = "{http_fail}/metrics?token=${{SEC_SCRAPE_TOKEN}}"
[targets.headers]
Authorization = "Bearer ${{SEC_PROBE_AUTH}}"
Cookie = "session=${{SEC_PROBE_COOKIE}}"
[resources]
host = false
[alerts]
default_rules = false
[[alerts.rules]]
name = "Down"
metric = "error_rate"
op = ">"
threshold = 0.5
severity = "critical"
cooldown = "1s"
[[alerts.channels]]
type = "webhook"
name = "hook"
url = "{http_fail}/hook/${{SEC_HOOK_TOKEN}}"
min_severity = "info"
timeout = "2s"
[alerts.channels.headers]
Authorization = "Bearer ${{SEC_CHANNEL_AUTH}}"
[[alerts.channels]]
type = "email"
name = "mail"
smtp_server = "{smtp}"
sender = "wsmon@example.test"
recipients = ["oncall@example.test"]
starttls = false
username = "wsmon"
password = "${{SEC_SMTP_PASSWORD}}"
min_severity = "info"
timeout = "2s"
[[alerts.channels]]
type = "pagerduty"
name = "pd"
routing_key = "${{SEC_PD_KEY}}"
url = "{http_fail}/v2/enqueue"
min_severity = "info"
timeout = "2s"
[[alerts.channels]]
type = "file"
name = "file"
path = "{tmp / 'alerts.jsonl'}"
min_severity = "info"
[flags]
provider = "file"
path = "{tmp / 'flags.json'}"
[rollback]
auto = true
on = ["Down"]
cooldown = "1h"
verify_window = "1s"
[[rollback.steps]]
type = "http"
name = "disable"
method = "PUT"
url = "{http_fail}/flags/websocket_enabled"
json = {{ enabled = false }}
continue_on_error = true
[rollback.steps.headers]
Authorization = "Bearer ${{SEC_STEP_AUTH}}"
[[rollback.steps]]
type = "command"
name = "leaky"
argv = ["{sys.executable}", "-c", "{leak_cmd}", "; touch {tmp / 'pwned'}", "$(touch {tmp / 'pwned2'})"]
continue_on_error = true
[rollback.steps.env]
STEP_SECRET = "${{SEC_STEP_ENV}}"
[[rollback.steps]]
type = "flag"
name = "websocket_enabled"
enabled = false
""")
    return cfg


def every_file(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


async def test_canary_secrets_never_appear_in_anything_written(tmp_path: Path):
    state = tmp_path / "state"
    outputs: dict[str, str] = {}
    with http_server(EchoFailHandler) as http_fail, smtp_server() as smtp:
        async with echo_reject_ws() as ws_reject:
            cfg = canary_config(tmp_path, ws_reject=ws_reject, http_fail=http_fail, smtp=smtp.address)
            common = ["--config", str(cfg), "--state-dir", str(state)]
            code, out, err = await wsmon("monitor", *common, "--duration", "4s",
                                         "--export", str(tmp_path / "export.json"), cwd=tmp_path)
            assert code == 0, err
            outputs["monitor"] = out + err
    for name, argv in {
        "report-md": ["report", *common, "--format", "md", "-o", str(tmp_path / "r.md")],
        "report-html": ["report", *common, "--format", "html", "-o", str(tmp_path / "r.html")],
        "report-json": ["report", *common, "--format", "json", "--hours", "1"],
        "status": ["status", *common], "status-json": ["status", *common, "--format", "json"],
        "config-show": ["config", "show", *common], "config-check": ["config", "check", str(cfg)],
        "alerts": ["alerts", "list", *common, "--format", "json"], "stats": ["alerts", "stats", *common],
        "flags": ["flags", "list", *common], "rollback-dry": ["rollback", *common, "--dry-run"],
    }.items():
        code, out, err = await wsmon(*argv, cwd=tmp_path)
        assert "Traceback" not in err, (name, err)
        outputs[name] = out + err

    # the run really did exercise every place: failures were recorded with their (redacted) errors
    report = json.loads(outputs["report-json"])
    assert report["rollbacks"] and len(report["rollbacks"][0]["steps"]) == 3
    channels = {n["channel"] for n in report["notifications"]}
    assert {"hook", "mail", "pd", "file"} <= channels, channels
    assert any(n["last_error"] for n in report["notifications"] if n["channel"] == "hook")
    assert (tmp_path / "alerts.jsonl").exists() and (state / "wsmon.db").exists()
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()  # argv, no shell

    leaks = []
    for path in every_file(tmp_path):
        if path == cfg or "home" in path.relative_to(tmp_path).parts[:1]:
            continue
        data = path.read_bytes()
        for name, value in CANARIES.items():
            if value.encode() in data:
                leaks.append(f"{name} in {path.relative_to(tmp_path)}")
        if LITERAL_URL_TOKEN.encode() in data:
            leaks.append(f"literal URL token in {path.relative_to(tmp_path)}")
    for what, text in outputs.items():
        for name, value in CANARIES.items():
            if value in text:
                leaks.append(f"{name} in output of {what}")
        if LITERAL_URL_TOKEN in text:
            leaks.append(f"literal URL token in output of {what}")
    assert not leaks, "\n".join(leaks)
    assert (state / "wsmon.db-wal").exists() or (state / "wsmon.db").stat().st_size > 0


async def test_files_and_dirs_are_private(tmp_path: Path):
    state = tmp_path / "state"
    with http_server(EchoFailHandler) as http_fail, smtp_server() as smtp:
        async with echo_reject_ws() as ws_reject:
            cfg = canary_config(tmp_path, ws_reject=ws_reject, http_fail=http_fail, smtp=smtp.address)
            code, _, err = await wsmon("monitor", "--config", str(cfg), "--state-dir", str(state),
                                       "--duration", "2.5s", cwd=tmp_path)
    assert code == 0, err
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    private = [state / "wsmon.db", tmp_path / "alerts.jsonl", tmp_path / "flags.json",
               *(state / "sessions").glob("*.jsonl")]
    assert len(private) >= 4
    for path in [*private, *every_file(state)]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(path.stat().st_mode))
    assert stat.S_IMODE((tmp_path / "flags.json").stat().st_mode) == 0o600
    for d in state.rglob("*"):
        if d.is_dir():
            assert stat.S_IMODE(d.stat().st_mode) & 0o077 == 0, d
    assert json.loads((tmp_path / "flags.json").read_text())["websocket_enabled"]["enabled"] is False


# -- TLS verification on by default ------------------------------------------------------------------


class OkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _ok(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"ws_connections 3\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _ok

    def log_message(self, format: str, *args: Any) -> None:
        pass


def tls_context(tmp: Path) -> ssl.SSLContext:
    pair = make_self_signed_cert(tmp)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pair.cert, pair.key)
    return ctx


async def test_self_signed_servers_fail_with_verification_on_by_default(tmp_path: Path):
    ctx = tls_context(tmp_path)
    state = tmp_path / "state"
    with http_server(OkHandler, tls=ctx) as https:
        async with echo_server(ssl_context=ctx) as wss:
            cfg = tmp_path / "wsmon.toml"
            cfg.write_text(f"""
[monitor]
level = "debug"
interval = "0.25s"
[[targets]]
name = "secure"
url = "{wss}"
timeout = "1s"
metrics_url = "{https}/metrics"
[metrics]
connections = "ws_connections"
[resources]
host = false
[alerts]
default_rules = false
[[alerts.rules]]
name = "Down"
metric = "error_rate"
op = ">"
threshold = 0.5
severity = "critical"
[[alerts.channels]]
type = "webhook"
url = "{https}/hook"
min_severity = "info"
timeout = "2s"
[rollback]
auto = true
on = ["Down"]
verify_window = "1s"
[[rollback.steps]]
type = "http"
name = "disable"
url = "{https}/flags/off"
""")
            code, _, err = await wsmon("monitor", "--config", str(cfg), "--state-dir", str(state),
                                       "--duration", "3s", cwd=tmp_path)
            assert code == 0, err
            code, out, err = await wsmon("report", "--config", str(cfg), "--state-dir", str(state),
                                         "--format", "json", "--hours", "1", cwd=tmp_path)
    report = json.loads(out)
    target = report["targets"][0]
    assert target["success_rate"] == 0 and set(target["errors"]) == {"tls"}, target  # probe
    assert target["metrics"].get("connections") is None  # scrape refused the certificate
    hooks = [n for n in report["notifications"] if n["channel"] == "webhook"]
    assert hooks and all(n["status"] != "sent" for n in hooks)  # channel
    assert "certificate" in " ".join(n["last_error"] for n in hooks).lower()
    [rollback] = report["rollbacks"]
    [step] = rollback["steps"]
    assert step["ok"] is False and "certificate" in step["detail"].lower()  # http step


def test_config_check_warns_for_every_place_tls_verification_is_off(tmp_path: Path, capsys):
    from wsmon_tui.cli import main

    cfg = tmp_path / "wsmon.toml"
    cfg.write_text("""
[[targets]]
name = "a"
url = "wss://127.0.0.1:9/"
verify_tls = false
[prometheus]
url = "https://127.0.0.1:9"
verify_tls = false
[[alerts.channels]]
type = "webhook"
url = "https://127.0.0.1:9/hook"
verify_tls = false
[[rollback.steps]]
type = "http"
name = "off"
url = "https://127.0.0.1:9/off"
verify_tls = false
[flags]
provider = "http"
url = "https://127.0.0.1:9/flags"
verify_tls = false
""")
    main(["config", "check", str(cfg)])
    out = capsys.readouterr().out
    warns = [line for line in out.splitlines() if line.startswith("WARN") and "verif" in line.lower()]
    for place in ("targets", "prometheus", "channel", "step", "flags"):
        assert any(place in w.lower() or place.rstrip("s") in w.lower() for w in warns), (place, out)


# -- escaping what servers send -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def hostile_text_servers() -> AsyncIterator[tuple[str, str, str]]:
    """A WS server closing with a hostile reason, one replying hostile text, a metrics page with
    hostile label values."""
    from websockets.asyncio.server import serve

    async def closer(ws: Any) -> None:
        await ws.close(4000, HOSTILE[:100])

    async def replier(ws: Any) -> None:
        async for _ in ws:
            await ws.send("nope " + HOSTILE)

    class Metrics(OkHandler):
        def _ok(self) -> None:
            label = HOSTILE.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            body = f'ws_connections{{instance="{label}"}} 5\n'.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _ok

    with http_server(Metrics) as metrics:
        async with serve(closer, HOST, 0) as s1, serve(replier, HOST, 0) as s2:
            p1 = s1.sockets[0].getsockname()[1]
            p2 = s2.sockets[0].getsockname()[1]
            yield f"ws://{HOST}:{p1}/", f"ws://{HOST}:{p2}/", f"{metrics}/metrics"


async def test_server_text_is_escaped_in_terminal_output_and_reports(tmp_path: Path):
    state = tmp_path / "state"
    async with hostile_text_servers() as (closing, replying, metrics):
        cfg = tmp_path / "wsmon.toml"
        cfg.write_text(f"""
[monitor]
level = "debug"
interval = "0.25s"
[deployment]
name = "chat-svc"
[[targets]]
name = "closing"
url = "{closing}"
timeout = "1s"
metrics_url = "{metrics}"
[[targets]]
name = "replying"
url = "{replying}"
send = "hello {{nonce}}"
expect = "{{nonce}}"
timeout = "1s"
[metrics]
connections = "ws_connections"
[resources]
host = false
[alerts]
default_rules = false
[[alerts.rules]]
name = "Bad"
metric = "error_rate"
op = ">"
threshold = 0.5
severity = "critical"
summary = "{{target}} failing: {{value}}"
[[alerts.channels]]
type = "file"
path = "{tmp_path / 'alerts.jsonl'}"
min_severity = "info"
""")
        common = ["--config", str(cfg), "--state-dir", str(state)]
        code, out, err = await wsmon("monitor", *common, "--duration", "3s", cwd=tmp_path)
        assert code == 0, err
    monitor_out = out + err
    outputs = {"monitor": monitor_out}
    for name, argv in {"status": ["status", *common], "alerts": ["alerts", "list", *common]}.items():
        _, o, e = await wsmon(*argv, cwd=tmp_path)
        outputs[name] = o + e
    for name, text in outputs.items():
        assert not CONTROL.search(text.replace("\n", "").replace("\t", "")), (name, repr(text[:2000]))
    # the hostile text did reach the store (so the checks below are not vacuous)
    _, rep, _ = await wsmon("report", *common, "--format", "json", "--hours", "1", cwd=tmp_path)
    assert "<script>alert(1)" in json.dumps(json.loads(rep))
    code, md, err = await wsmon("report", *common, "--format", "md", cwd=tmp_path)
    assert code == 0, err
    assert not CONTROL.search(md.replace("\n", "").replace("\t", "")), repr(md[:3000])
    assert any(line.startswith("|") and "alert(1)" in line for line in md.splitlines())
    for line in md.splitlines():
        if line.startswith("|") and "alert(1)" in line:
            # a pipe or backtick from the server never opens a cell or a code span
            cells = re.split(r"(?<!\\)\|", line.strip())
            header = next(h for h in md.splitlines() if h.startswith("|"))
            assert len(cells) <= len(re.split(r"(?<!\\)\|", header.strip())) + 1, line
            assert "`" not in line.replace("\\`", ""), line
    code, html, err = await wsmon("report", *common, "--format", "html", cwd=tmp_path)
    assert code == 0, err
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert not CONTROL.search(html.replace("\n", "").replace("\t", ""))


async def test_refused_target_error_text_is_plain(tmp_path: Path):
    """A control-free baseline: an ordinary failure prints nothing odd either."""
    async with refused_url() as url:
        cfg = tmp_path / "wsmon.toml"
        cfg.write_text(f'[monitor]\nlevel = "debug"\ninterval = "0.25s"\n[[targets]]\nname = "x"\n'
                       f'url = "{url}"\ntimeout = "1s"\n[resources]\nhost = false\n')
        code, out, err = await wsmon("monitor", "--config", str(cfg), "--state-dir", str(tmp_path / "s"),
                                     "--duration", "1s", cwd=tmp_path)
    assert code == 0 and not CONTROL.search((out + err).replace("\n", ""))
