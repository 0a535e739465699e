"""probe_once against real local servers, friendly and hostile (tests/hostile.py)."""

from __future__ import annotations

import asyncio
import ssl
import time
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests import hostile
from wsmon_tui.config import TargetConfig
from wsmon_tui.engine import probe as probe_module
from wsmon_tui.engine.probe import is_benign_close, make_matcher, probe_once, ssl_context_for, truncate
from wsmon_tui.engine.tlsctx import tls_context
from wsmon_tui.model import ErrorClass, ProbeResult

SLACK = 0.5


def target(url: str, **kw) -> TargetConfig:
    kw.setdefault("timeout", 2.0)
    return TargetConfig(name="t", url=url, **kw)


async def timed_probe(t: TargetConfig, **kw) -> ProbeResult:
    start = time.monotonic()
    result = await asyncio.wait_for(probe_once(t, **kw), t.timeout + 5)
    elapsed = time.monotonic() - start
    assert elapsed < t.timeout + SLACK, f"probe took {elapsed:.2f}s (timeout {t.timeout}s)"
    return result


def assert_failed(result: ProbeResult, error_class: str) -> None:
    assert not result.ok, result
    assert result.error_class == error_class, result
    assert result.detail, result


# ---------------------------------------------------------------- success paths

async def test_connect_only_success_measures_connect_and_handshake():
    async with hostile.echo_server() as url:
        r = await timed_probe(target(url))
    assert r.ok and r.error_class is None, r
    assert r.connect_ms is not None and r.handshake_ms is not None
    assert 0 <= r.connect_ms <= r.handshake_ms <= r.duration_ms
    assert r.rtt_ms is None and r.ping_ms is None
    assert r.close_code == 1000


async def test_connect_only_counts_a_server_that_waits_for_the_client_as_healthy():
    async with hostile.waiting_server() as url:
        r = await timed_probe(target(url, timeout=1.0))
    assert r.ok, r


async def test_send_expect_with_nonce_substring():
    async with hostile.echo_server() as url:
        r = await timed_probe(target(url, send='{"op":"echo","id":"{nonce}"}', expect='"id":"{nonce}"'),
                              nonce="abc123def456")
    assert r.ok, r
    assert r.rtt_ms is not None and r.rtt_ms > 0


async def test_fresh_nonce_per_probe_is_sent():
    seen: list[str] = []

    async def record(ws: ServerConnection) -> None:
        async for message in ws:
            seen.append(str(message))
            await ws.send(message)

    async with serve(record, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        t = target(url, send="n={nonce}", expect="re:^n=[0-9a-f]{12}$")
        results = [await timed_probe(t) for _ in range(2)]
    assert all(r.ok for r in results), results
    assert len(seen) == 2 and seen[0] != seen[1]
    assert all(s.startswith("n=") and len(s) == 14 for s in seen)


async def test_regex_expect_and_nonce_inside_regex():
    async with hostile.echo_server() as url:
        ok = await timed_probe(target(url, send="pong {nonce} 42", expect=r"re:^pong {nonce} \d+$"))
        bad = await timed_probe(target(url, send="pong {nonce} x", expect=r"re:^pong {nonce} \d+$",
                                       timeout=1.0))
    assert ok.ok, ok
    assert_failed(bad, ErrorClass.UNEXPECTED_REPLY)
    assert "pong" in bad.detail


async def test_heartbeats_are_skipped_until_the_matching_reply():
    async with hostile.echo_server(delay=0.2, heartbeat=0.03) as url:
        r = await timed_probe(target(url, send="id={nonce}", expect="id={nonce}"))
    assert r.ok, r
    assert r.rtt_ms is not None and r.rtt_ms >= 150


async def test_send_without_expect_takes_the_first_reply():
    async with hostile.echo_server(heartbeat=10, heartbeat_text="first") as url:
        r = await timed_probe(target(url, send="hello"))
    assert r.ok and r.rtt_ms is not None, r


async def test_only_heartbeats_is_unexpected_reply_with_the_last_message():
    async with hostile.echo_server(delay=5, heartbeat=0.05, heartbeat_text="beat " + "x" * 500) as url:
        r = await timed_probe(target(url, send="id={nonce}", expect="id={nonce}", timeout=1.0))
    assert_failed(r, ErrorClass.UNEXPECTED_REPLY)
    assert "beat xxx" in r.detail and len(r.detail) <= 200


async def test_ping_measures_pong():
    async with hostile.echo_server() as url:
        r = await timed_probe(target(url, ping=True))
    assert r.ok and r.ping_ms is not None and r.ping_ms >= 0, r


async def test_headers_subprotocols_and_origin_are_sent():
    got: dict[str, str | None] = {}

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        got["auth"] = ws.request.headers.get("Authorization")
        got["origin"] = ws.request.headers.get("Origin")
        got["subprotocol"] = ws.subprotocol
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, subprotocols=["v2.wsmon"]) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        r = await timed_probe(target(url, headers={"Authorization": "Bearer t0k"},
                                     subprotocols=["v2.wsmon"], origin="https://ops.example"))
    assert r.ok, r
    assert got == {"auth": "Bearer t0k", "origin": "https://ops.example", "subprotocol": "v2.wsmon"}


# ---------------------------------------------------------------- failure classes

async def test_refused():
    async with hostile.refused_url() as url:
        r = await timed_probe(target(url))
    assert_failed(r, ErrorClass.REFUSED)
    assert r.handshake_ms is None


async def test_dns():
    r = await timed_probe(target("ws://wsmon-probe-test.invalid/", timeout=5.0))
    assert_failed(r, ErrorClass.DNS)


async def test_hanging_resolver_is_dns_within_budget(monkeypatch):
    # A resolver that never answers cannot be produced locally without root: stand it in.
    async def hang(*_args, **_kwargs):
        await asyncio.sleep(30)

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", hang)
    r = await timed_probe(target("ws://slow-resolver.example.test/", timeout=0.4))
    assert_failed(r, ErrorClass.DNS)
    assert "resolution" in r.detail


async def test_hostname_target_resolves_and_excludes_dns_from_connect_ms():
    async with hostile.echo_server() as url:
        r = await timed_probe(target(url.replace("127.0.0.1", "localhost"), send="a", expect="a"))
    assert r.ok, r
    assert r.connect_ms is not None and r.connect_ms <= r.handshake_ms


@asynccontextmanager
async def counted_lookups(monkeypatch):
    """Count the loop's getaddrinfo calls (the probe's own resolution)."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    hosts: list[str] = []

    async def counting(host, *args, **kwargs):
        hosts.append(host)
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", counting)
    yield hosts


async def test_a_resolved_name_is_reused_until_it_expires(monkeypatch):
    async with hostile.echo_server() as url, counted_lookups(monkeypatch) as lookups:
        t = target(url.replace("127.0.0.1", "localhost"), send="a", expect="a")
        for _ in range(3):
            assert (await timed_probe(t)).ok
        assert lookups == ["localhost"]
        cached = probe_module._resolved
        for key, (expires, address) in list(cached.items()):
            assert expires > time.monotonic()
            cached[key] = (time.monotonic() - 1, address)  # RESOLVE_EVERY has passed
        assert (await timed_probe(t)).ok
        assert lookups == ["localhost", "localhost"]


async def test_a_failed_connect_looks_the_name_up_again(monkeypatch):
    async with hostile.refused_url() as url, counted_lookups(monkeypatch) as lookups:
        t = target(url.replace("127.0.0.1", "localhost"), timeout=1.0)
        for _ in range(2):
            assert_failed(await timed_probe(t), ErrorClass.REFUSED)
    assert lookups == ["localhost", "localhost"]


async def test_silent_after_accept_is_timeout_within_budget():
    async with hostile.silent_tcp_server() as url:
        r = await timed_probe(target(url, timeout=0.5))
    assert_failed(r, ErrorClass.TIMEOUT)
    assert "handshake" in r.detail


async def test_503_on_upgrade_records_http_status():
    async with hostile.http_status_server(503) as url:
        r = await timed_probe(target(url))
    assert_failed(r, ErrorClass.HTTP_STATUS)
    assert r.http_status == 503 and "503" in r.detail


async def test_a_redirect_is_reported_not_followed():
    async with hostile.echo_server() as live, \
            hostile.http_status_server(302, "Found", b"", headers=f"Location: {live}\r\n") as url:
        r = await timed_probe(target(url))
    assert_failed(r, ErrorClass.HTTP_STATUS)
    assert r.http_status == 302 and f"redirect to {live}" in r.detail


async def test_tcp_drop_mid_handshake_is_protocol():
    for partial in (True, False):
        async with hostile.drop_mid_handshake_server(partial=partial) as url:
            r = await timed_probe(target(url))
        assert_failed(r, ErrorClass.PROTOCOL)


@pytest.mark.parametrize(("code", "reason"), [(1011, "internal error"), (1001, "going away"),
                                              (1012, "service restart")])
async def test_close_after_accept_records_code_and_reason(code, reason):
    async with hostile.close_after_accept_server(code, reason, after_message=True) as url:
        r = await timed_probe(target(url, send="hi", expect="never"))
    assert_failed(r, ErrorClass.CLOSED)
    assert r.close_code == code and r.close_reason == reason
    assert is_benign_close(r.close_code) == (code in (1001, 1012))


async def test_close_right_after_accept_fails_a_ping_probe():
    async with hostile.close_after_accept_server(1011, "boom") as url:
        r = await timed_probe(target(url, ping=True))
    assert_failed(r, ErrorClass.CLOSED)
    assert r.close_code == 1011


async def test_server_close_seen_by_connect_only_probe():
    async with hostile.close_after_accept_server(1012, "restart") as url:
        r = await timed_probe(target(url))
    # The close frame may race our own close; either way the server's code is reported.
    assert_failed(r, ErrorClass.CLOSED)
    assert r.close_code == 1012 and is_benign_close(r.close_code)


async def test_tcp_drop_after_accept_is_closed_1006():
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        ws.transport.abort()

    async with serve(handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        r = await timed_probe(target(url, send="x", expect="y"))
    assert_failed(r, ErrorClass.CLOSED)
    assert r.close_code == 1006 and not is_benign_close(1006)


async def test_garbage_frames_after_101_is_protocol():
    async with hostile.garbage_frames_server() as url:
        with_send = await timed_probe(target(url, send="x", expect="y"))
        connect_only = await timed_probe(target(url))
    assert_failed(with_send, ErrorClass.PROTOCOL)
    assert_failed(connect_only, ErrorClass.PROTOCOL)


async def test_invalid_utf8_text_frame_is_protocol():
    async with hostile.invalid_utf8_server() as url:
        r = await timed_probe(target(url, send="x", expect="ok"))
    assert_failed(r, ErrorClass.PROTOCOL)
    assert "utf" in r.detail.lower()


async def test_slow_reply_is_timeout():
    async with hostile.slow_reply_server(3.0) as url:
        r = await timed_probe(target(url, send="x", expect="x", timeout=0.6))
    assert_failed(r, ErrorClass.TIMEOUT)
    assert "reply" in r.detail
    assert r.handshake_ms is not None


async def test_no_pong_is_timeout():
    async with hostile.no_pong_server() as url:
        r = await timed_probe(target(url, ping=True, timeout=0.6))
    assert_failed(r, ErrorClass.TIMEOUT)
    assert "pong" in r.detail


async def test_no_close_answer_stays_within_timeout():
    async with hostile.no_pong_server() as url:
        r = await timed_probe(target(url, timeout=0.6))
    # The server never answers our close frame: the TCP connection ends without one.
    assert_failed(r, ErrorClass.CLOSED)
    assert r.close_code == 1006


async def test_unexpected_reply_from_a_server_that_ignores_close_stays_within_timeout():
    async with hostile.no_pong_server(greeting="maintenance mode") as url:
        r = await timed_probe(target(url, send="x", expect="x", timeout=0.6))
    assert_failed(r, ErrorClass.UNEXPECTED_REPLY)
    assert "maintenance mode" in r.detail


async def test_bad_url_is_classified_not_raised():
    r = await timed_probe(target("http://127.0.0.1:1/"))
    assert_failed(r, ErrorClass.PROTOCOL)


# ---------------------------------------------------------------- TLS

@asynccontextmanager
async def tls(tmp_path):
    async with hostile.tls_echo_server(tmp_path) as server:
        yield server


async def test_tls_verify_on_rejects_self_signed(tmp_path):
    async with tls(tmp_path) as server:
        r = await timed_probe(target(server.url))
    assert_failed(r, ErrorClass.TLS)
    assert "certificate" in r.detail.lower()


async def test_tls_with_ca_file_succeeds(tmp_path):
    async with tls(tmp_path) as server:
        t = target(server.url, ca_file=server.ca_file, send="{nonce}", expect="{nonce}")
        r = await timed_probe(t, ssl_context=ssl_context_for(t))
    assert r.ok, r
    assert r.connect_ms is not None and r.connect_ms <= r.handshake_ms


async def test_tls_by_hostname_checks_the_name_not_the_address(tmp_path):
    async with tls(tmp_path) as server:
        url = server.url.replace("127.0.0.1", "localhost")
        r = await timed_probe(target(url, ca_file=server.ca_file))
    assert r.ok, r


async def test_tls_without_verification_succeeds(tmp_path):
    async with tls(tmp_path) as server:
        r = await timed_probe(target(server.url, verify_tls=False))
    assert r.ok, r


async def test_plain_ws_to_a_tls_server_is_not_ok(tmp_path):
    async with tls(tmp_path) as server:
        r = await timed_probe(target(server.url.replace("wss://", "ws://"), timeout=1.0))
    assert not r.ok and r.error_class in (ErrorClass.PROTOCOL, ErrorClass.TIMEOUT), r


# ---------------------------------------------------------------- helpers

def test_ssl_context_for_is_cached_and_none_for_ws():
    assert ssl_context_for(target("ws://127.0.0.1:1/")) is None
    a = ssl_context_for(target("wss://example.test/"))
    b = ssl_context_for(target("wss://other.test/"))
    c = ssl_context_for(target("wss://example.test/", verify_tls=False))
    assert a is b and a is not c
    assert a.verify_mode == ssl.CERT_REQUIRED and a.check_hostname
    assert c.verify_mode == ssl.CERT_NONE and not c.check_hostname
    assert tls_context(True, None) is a


def test_matcher_and_truncate():
    assert make_matcher(None, "n")("anything")
    assert make_matcher("id={nonce}", "ab12")('{"id=ab12"}')
    assert not make_matcher("id={nonce}", "ab12")("id=zz")
    assert make_matcher("re:^a.c$", "n")("abc") and not make_matcher("re:^a.c$", "n")("abcd")
    assert len(truncate("x" * 1000)) == 200 and truncate("short") == "short"
    assert is_benign_close(1000) and is_benign_close(1001) and is_benign_close(1012)
    assert not is_benign_close(1011) and not is_benign_close(1006) and not is_benign_close(None)
