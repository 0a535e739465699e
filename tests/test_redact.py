"""Redaction: known secrets in text, secret-shaped parts of URLs and headers, the shown config."""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from wsmon_tui.config import load_config
from wsmon_tui.redact import (
    redact_headers,
    redact_text,
    redact_url,
    redacted_config_dict,
    url_secret_parts,
)


def test_redact_text_replaces_every_occurrence_longest_first() -> None:
    text = "token=abcd1234 again abcd1234 and abcd12345678"
    assert redact_text(text, {"abcd1234", "abcd12345678"}) == "token=*** again *** and ***"


def test_redact_text_ignores_empty_and_tiny_values() -> None:
    assert redact_text("ws 443 ok", {"", "ws", "443"}) == "ws 443 ok"


@given(st.text(min_size=4, max_size=30).filter(lambda s: "*" not in s), st.text(max_size=40),
       st.text(max_size=40))
def test_redact_text_never_leaves_the_secret(secret: str, before: str, after: str) -> None:
    out = redact_text(before + secret + after, [secret])
    assert secret not in out


def test_redact_url_userinfo_password() -> None:
    assert redact_url("wss://bot:hunter22@ws.example.com:8443/ws") == "wss://bot:***@ws.example.com:8443/ws"


def test_redact_url_query_tokens() -> None:
    url = "wss://h.example.com/ws?room=lobby&access_token=abc&api_key=k&sig=zz&X-Amz-Signature=s&page=2"
    assert redact_url(url) == (
        "wss://h.example.com/ws?room=lobby&access_token=***&api_key=***&sig=***&X-Amz-Signature=***&page=2")


def test_redact_url_slack_and_discord_paths_keep_the_host() -> None:
    assert redact_url("https://hooks.slack.com/services/T000/B000/XXXX") == (
        "https://hooks.slack.com/services/***/***/***")
    assert redact_url("https://discord.com/api/webhooks/123/tok") == "https://discord.com/api/webhooks/***/***"


def test_redact_url_long_token_segments_but_not_words() -> None:
    assert redact_url("https://hooks.example.com/hook/9f8e7d6c5b4a39281706f5e4") == (
        "https://hooks.example.com/hook/***")
    plain = "https://deploy.example.com/api/v1/services/chat-gateway/rollback"
    assert redact_url(plain) == plain


def test_redact_url_plain_and_non_urls_unchanged() -> None:
    assert redact_url("ws://127.0.0.1:8765/ws") == "ws://127.0.0.1:8765/ws"
    assert redact_url("not a url") == "not a url"


def test_redact_url_mask_path() -> None:
    assert redact_url("https://h.example.com/a/b?c=d", mask_path=True) == "https://h.example.com/***"


def test_url_secret_parts() -> None:
    parts = url_secret_parts("https://u:p%40ss@h.example.com/x?token=t%2Bv&q=1")
    assert {"p%40ss", "p@ss", "t%2Bv", "t+v"} <= set(parts)
    assert "1" not in parts and "u" not in parts


def test_redact_headers() -> None:
    headers = {"Authorization": "Bearer abc.def", "Cookie": "s=1", "Set-Cookie": "s=2", "X-Api-Key": "k",
               "X-Auth-Token": "t", "X-Client-Secret": "c", "Accept": "text/plain", "User-Agent": "wsmon"}
    assert redact_headers(headers) == {
        "Authorization": "Bearer ***", "Cookie": "***", "Set-Cookie": "***", "X-Api-Key": "***",
        "X-Auth-Token": "***", "X-Client-Secret": "***", "Accept": "text/plain", "User-Agent": "wsmon"}


def test_redacted_config_dict_masks_every_secret_and_round_trips(tmp_path: Path) -> None:
    canary = "CANARY-s3cr3t-value-0042"
    path = tmp_path / "wsmon.toml"
    path.write_text("""
[[targets]]
name = "a"
url = "wss://ws.example.com/ws?token=${CANARY}"
headers = { Authorization = "Bearer ${CANARY}", "X-Trace" = "on" }
send = "auth ${CANARY}"

[[alerts.channels]]
type = "email"
smtp_server = "smtp.example.com:587"
sender = "a@example.com"
recipients = ["b@example.com"]
password = "literal-pass-1234"

[[alerts.channels]]
type = "webhook"
url = "${HOOK}"

[[rollback.steps]]
type = "command"
argv = ["deploy", "--key", "${CANARY}"]
env = { DEPLOY_TOKEN = "literal-env-tok", REGION = "eu" }
""", encoding="utf-8")
    config = load_config(path, environ={"CANARY": canary, "HOOK": "https://hooks.example.com/in/plainpath"})
    shown = redacted_config_dict(config)
    text = tomli_w.dumps(shown)
    for secret in (canary, "literal-pass-1234", "literal-env-tok", "plainpath"):
        assert secret not in text
    target = shown["targets"][0]
    assert target["url"] == "wss://ws.example.com/ws?token=***"
    assert target["headers"] == {"Authorization": "Bearer ***", "X-Trace": "on"}
    assert target["send"] == "auth ***"
    assert target["timeout"] == "10s"
    assert shown["alerts"]["channels"][0]["password"] == "***"
    assert shown["alerts"]["channels"][1]["url"] == "https://hooks.example.com/***"
    step = shown["rollback"]["steps"][0]
    assert step["argv"] == ["deploy", "--key", "***"]
    assert step["env"] == {"DEPLOY_TOKEN": "***", "REGION": "eu"}
    assert "source" not in shown and "secrets" not in shown
    # What config show prints is TOML the loader reads back (durations as text, no nulls).
    again = tomllib.loads(text)
    assert again["rollback"]["for"] == "1m"
    assert again["monitor"]["retention"] == "7d"
