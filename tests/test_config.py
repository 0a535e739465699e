"""Loading valid configs: types, durations, ${ENV}, the WEBSOCKET_* overrides and the search path."""

from __future__ import annotations

import socket
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from wsmon_tui import config as cfgmod
from wsmon_tui.config import (
    CANONICAL_METRICS,
    DEFAULT_RULE_NAMES,
    Config,
    find_and_load,
    load_config,
)
from wsmon_tui.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "production.toml"
EXAMPLE_ENV = {
    "WS_PROBE_TOKEN": "probe-token-canary-1",
    "PROMETHEUS_TOKEN": "prom-token-canary-2",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0001/B0001/slackcanary3",
    "PAGERDUTY_ROUTING_KEY": "pd-routing-canary-4",
    "SMTP_PASSWORD": "smtp-password-canary-5",
    "ALERTMANAGER_TOKEN": "am-token-canary-6",
    "DEPLOY_TOKEN": "deploy-token-canary-7",
    "FLAGS_TOKEN": "flags-token-canary-8",
}


def write(tmp_path: Path, text: str, name: str = "wsmon.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    config = load_config(None, environ={})
    assert config == Config()
    assert config.source is None
    assert config.interval == 30.0  # the standard level's


def test_full_typed_load(tmp_path: Path) -> None:
    path = write(tmp_path, """
[monitor]
level = "debug"
interval = "2s"
max_concurrency = 7
retention_raw = 3600
retention = "2d"

[deployment]
name = "chat"
connection_limit = 100

[[targets]]
name = "a"
url = "wss://a.example.com/ws"
send = "hello {nonce}"
expect = "re:^hello [0-9a-f]+$"
timeout = "1500ms"
headers = { "X-Probe" = "wsmon" }
subprotocols = ["chat.v1"]
verify_tls = false

[[targets]]
name = "b"
url = "ws://[::1]:8765/ws"
metrics_url = "http://127.0.0.1:9100/metrics"
metrics_format = "json"

[[alerts.rules]]
name = "Slow"
metric = "rtt_p95"
op = ">="
threshold = 250
for = "1m"
window = "5m"
aggregate = "p95"
severity = "critical"

[[alerts.channels]]
type = "file"
path = "alerts.jsonl"
rate_limit = "5/m"

[rollback]
auto = "ask"
on = ["Slow", "HighErrorRate"]
health_below = 40

[[rollback.steps]]
type = "http"
url = "https://deploy.example.com/rollback"
json = { to = "1.2.3", force = true, steps = [1, 2] }
expect_status = [200, 202]

[[rollback.steps]]
type = "command"
argv = ["kubectl", "rollout", "undo"]
env = { KUBECONFIG = "/k" }

[[rollback.steps]]
type = "flag"
name = "ws"
rollout = 0
""")
    config = load_config(path, environ={})
    assert config.source == str(path)
    assert config.monitor.level == "debug"
    assert config.monitor.interval == 2.0
    assert config.interval == 2.0
    assert config.monitor.max_concurrency == 7
    assert config.monitor.retention_raw == 3600.0  # bare number = seconds
    assert config.monitor.retention == 2 * 86400.0
    a, b = config.targets
    assert a.timeout == 1.5
    assert a.headers == {"X-Probe": "wsmon"}
    assert a.verify_tls is False
    assert b.url == "ws://[::1]:8765/ws" and b.metrics_format == "json"
    assert b.timeout == 10.0  # default
    rule = config.alerts.rules[0]
    assert rule.for_ == 60.0 and rule.window == 300.0 and rule.threshold == 250.0
    assert isinstance(rule.threshold, float)
    channel = config.alerts.channels[0]
    assert channel.name == "file"  # default: the type
    assert config.rollback.auto == "ask"
    http, command, flag = config.rollback.steps
    assert http.json == {"to": "1.2.3", "force": True, "steps": [1, 2]}
    assert command.argv == ["kubectl", "rollout", "undo"]
    assert flag.rollout == 0.0 and flag.enabled is None


@pytest.mark.parametrize(("text", "seconds"), [
    ("30", 30.0), ("30s", 30.0), ("5m", 300.0), ("4h", 14400.0), ("2d", 172800.0),
    ("1h30m", 5400.0), ("250ms", 0.25), ("0", 0.0),
])
def test_durations(tmp_path: Path, text: str, seconds: float) -> None:
    path = write(tmp_path, f'[[alerts.rules]]\nname = "r"\nmetric = "error_rate"\nthreshold = 0.1\n'
                           f'for = "{text}"\n')
    assert load_config(path, environ={}).alerts.rules[0].for_ == seconds


def test_bare_number_duration_is_seconds(tmp_path: Path) -> None:
    path = write(tmp_path, "[rollback]\nverify_window = 90\ncooldown = 1.5\n")
    config = load_config(path, environ={})
    assert config.rollback.verify_window == 90.0
    assert config.rollback.cooldown == 1.5


@pytest.mark.parametrize("auto", ["true", "false", '"ask"'])
def test_rollback_auto_values(tmp_path: Path, auto: str) -> None:
    path = write(tmp_path, f'[rollback]\nauto = {auto}\n[[rollback.steps]]\ntype = "flag"\nname = "f"\n'
                           "enabled = false\n")
    value = load_config(path, environ={}).rollback.auto
    assert value == {"true": True, "false": False, '"ask"': "ask"}[auto]


def test_env_substitution_everywhere_and_secrets_recorded(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[targets]]
name = "a"
url = "wss://${WS_HOST}/ws"
headers = { Authorization = "Bearer ${TOKEN}" }
subprotocols = ["${PROTO}"]

[[alerts.channels]]
type = "pagerduty"
routing_key = "${PD_KEY}"

[[rollback.steps]]
type = "command"
argv = ["deploy", "--token", "${DEPLOY}"]
timeout = "${STEP_TIMEOUT}"

[deployment]
name = "literal $${NOT_A_VAR}"
""")
    env = {"WS_HOST": "ws.example.com", "TOKEN": "tok-aaaa-1111", "PROTO": "chat.v9",
           "PD_KEY": "pd-key-2222", "DEPLOY": "deploy-3333", "STEP_TIMEOUT": "45s"}
    config = load_config(path, environ=env)
    target = config.targets[0]
    assert target.url == "wss://ws.example.com/ws"
    assert target.headers == {"Authorization": "Bearer tok-aaaa-1111"}
    assert target.subprotocols == ["chat.v9"]
    assert config.alerts.channels[0].routing_key == "pd-key-2222"
    assert config.rollback.steps[0].argv == ["deploy", "--token", "deploy-3333"]
    assert config.rollback.steps[0].timeout == 45.0
    assert config.deployment.name == "literal ${NOT_A_VAR}"
    for value in env.values():
        assert value in config.secrets
    assert "Bearer tok-aaaa-1111" in config.secrets


def test_literal_secret_fields_and_url_tokens_are_recorded(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[targets]]
name = "a"
url = "wss://bot:hunter22@ws.example.com/ws?access_token=urltoken-777&room=lobby"
headers = { Cookie = "session=cookie-888" }

[[alerts.channels]]
type = "email"
smtp_server = "smtp.example.com:587"
sender = "a@example.com"
recipients = ["b@example.com"]
password = "smtp-999"
""")
    secrets = load_config(path, environ={}).secrets
    assert {"hunter22", "urltoken-777", "session=cookie-888", "smtp-999"} <= secrets
    assert "lobby" not in secrets


def test_level_override(tmp_path: Path) -> None:
    path = write(tmp_path, '[monitor]\nlevel = "basic"\n')
    config = load_config(path, environ={"WEBSOCKET_MONITORING_LEVEL": "Comprehensive"})
    assert config.monitor.level == "comprehensive"
    assert config.interval == 10.0


def test_webhook_override_adds_channel(tmp_path: Path) -> None:
    url = "https://hooks.example.com/incoming/abc123def456ghi789"
    config = load_config(None, environ={"WEBSOCKET_ALERT_WEBHOOK_URL": url})
    (channel,) = config.alerts.channels
    assert (channel.type, channel.name, channel.url) == ("webhook", "env-webhook", url)
    assert url in config.secrets


def test_rules_may_name_the_env_webhook_channel(tmp_path: Path) -> None:
    path = write(tmp_path, '[[alerts.rules]]\nname = "r"\nmetric = "error_rate"\nthreshold = 0.1\n'
                           'channels = ["env-webhook"]\n')
    config = load_config(path, environ={"WEBSOCKET_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook"})
    assert config.alerts.rules[0].channels == ["env-webhook"]


@pytest.mark.parametrize("enabled", ["true", "1", "yes", "TRUE"])
def test_email_override_adds_channel(enabled: str) -> None:
    env = {"WEBSOCKET_ALERT_EMAIL_ENABLED": enabled, "WEBSOCKET_ALERT_SMTP_SERVER": "mail.example.com:587",
           "WEBSOCKET_ALERT_EMAIL_RECIPIENTS": "a@example.com, b@example.com"}
    (channel,) = load_config(None, environ=env).alerts.channels
    assert channel.type == "email" and channel.name == "env-email"
    assert channel.smtp_server == "mail.example.com:587"
    assert channel.recipients == ["a@example.com", "b@example.com"]
    assert channel.sender == f"wsmon-tui@{socket.gethostname()}"


def test_email_override_host_without_port_defaults_to_25() -> None:
    env = {"WEBSOCKET_ALERT_EMAIL_ENABLED": "yes", "WEBSOCKET_ALERT_SMTP_SERVER": "relay.internal",
           "WEBSOCKET_ALERT_EMAIL_RECIPIENTS": "ops@example.com"}
    assert load_config(None, environ=env).alerts.channels[0].smtp_server == "relay.internal:25"


@pytest.mark.parametrize("enabled", ["false", "0", "no", ""])
def test_email_override_disabled(enabled: str) -> None:
    config = load_config(None, environ={"WEBSOCKET_ALERT_EMAIL_ENABLED": enabled})
    assert config.alerts.channels == []


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: Path) -> None:
    xdg = isolated_env / ".config" / "wsmon-tui"
    xdg.mkdir(parents=True)
    write(xdg, '[deployment]\nname = "from-xdg"\n', "config.toml")
    assert find_and_load(None).deployment.name == "from-xdg"
    write(tmp_path, '[deployment]\nname = "from-cwd"\n')
    assert find_and_load(None).deployment.name == "from-cwd"
    env_file = write(tmp_path, '[deployment]\nname = "from-env"\n', "env.toml")
    monkeypatch.setenv("WSMON_CONFIG", str(env_file))
    assert find_and_load(None).deployment.name == "from-env"
    explicit = write(tmp_path, '[deployment]\nname = "explicit"\n', "explicit.toml")
    assert find_and_load(str(explicit)).deployment.name == "explicit"


def test_no_file_anywhere_gives_defaults() -> None:
    config = find_and_load(None)
    assert config.source is None and config.targets == []


def test_missing_explicit_or_env_config_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: no such file"):
        find_and_load(str(tmp_path / "nope.toml"))
    monkeypatch.setenv("WSMON_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match=r"gone.toml: no such file \(named by \$WSMON_CONFIG\)"):
        find_and_load(None)


def test_production_example_loads_with_its_variables() -> None:
    config = load_config(EXAMPLE, environ=EXAMPLE_ENV)
    assert len(config.targets) == 3
    assert all(t.url.startswith("wss://") for t in config.targets)
    assert {c.type for c in config.alerts.channels} == {"slack", "pagerduty", "email", "alertmanager"}
    assert {s.type for s in config.rollback.steps} == {"http", "command", "flag"}
    assert set(EXAMPLE_ENV.values()) <= config.secrets


def test_constants_for_other_modules() -> None:
    wanted = {"probe_success_rate", "handshake_p95", "rtt_p99", "health_score", "queue_depth"}
    assert wanted <= CANONICAL_METRICS
    assert "HighErrorRate" in DEFAULT_RULE_NAMES and "TargetDown" in DEFAULT_RULE_NAMES


def test_every_schema_type_is_supported_by_the_loader() -> None:
    """A new field with a type the loader cannot read must fail here, not in a user's hands."""
    loader = cfgmod._Loader("schema")

    def visit(cls: type) -> None:
        hints = cfgmod._hints(cls)
        for f in fields(cls):
            if f.metadata.get("internal"):
                continue
            tp = hints[f.name]
            if is_dataclass(tp):
                visit(tp)
                continue
            args = getattr(tp, "__args__", ())
            if args and is_dataclass(args[0]):
                visit(args[0])
                continue
            assert f.metadata.get("doc"), f"{cls.__name__}.{f.name} has no doc"
            # A value of the wrong shape must be refused cleanly, never raise TypeError.
            ok, _ = loader.convert(object(), tp, f.name, f.metadata)
            assert not ok or tp is cfgmod.Any

    visit(Config)


def test_unquoted_toml_datetime_for_a_text_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[[alerts.maintenance]]\nstart = 2026-11-27T02:00:00Z\nduration = \"1h\"\n")
    window = load_config(path, environ={}).alerts.maintenance[0]
    assert window.start == "2026-11-27T02:00:00+00:00"
    assert window.duration == 3600.0
