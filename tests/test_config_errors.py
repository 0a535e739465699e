"""Every way a config can be wrong: exit 2, one line per problem, each naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsmon_tui.cli import main
from wsmon_tui.config import load_config
from wsmon_tui.errors import ConfigError

TARGET = '[[targets]]\nname = "a"\nurl = "wss://a.example.com/ws"\n'


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> list[str]:
    """Run ``config check`` on ``text``; assert exit 2 and return the problem lines (prefix removed)."""
    path = tmp_path / "wsmon.toml"
    path.write_text(text, encoding="utf-8")
    code = main(["config", "check", str(path)])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = [line.removeprefix("wsmon-tui: ") for line in err.splitlines()]
    assert all(line.startswith(f"{path}: ") for line in lines), lines
    return [line.removeprefix(f"{path}: ") for line in lines]


def one(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> str:
    lines = check(tmp_path, capsys, text)
    assert len(lines) == 1, lines
    return lines[0]


def test_unknown_key_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert one(tmp_path, capsys, "[monitor]\nintervall = 5\n") == (
        'monitor.intervall: unknown key; did you mean "interval"?')


def test_unknown_key_without_close_match_lists_keys(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    line = one(tmp_path, capsys, "[deployment]\nzzz = 1\n")
    assert line.startswith("deployment.zzz: unknown key; valid keys here: ")
    assert "connection_limit" in line


def test_unknown_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert one(tmp_path, capsys, "[alert]\ndefault_rules = true\n") == (
        'alert: unknown key; did you mean "alerts" or "fleet"?')


def test_for_is_the_toml_key_not_for_(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one(tmp_path, capsys, "[rollback]\nfor_ = 10\n")
    assert line == 'rollback.for_: unknown key; did you mean "for"?'


def test_three_problems_three_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = check(tmp_path, capsys, """
[monitor]
intervall = 5

[[targets]]
name = "a"
url = "wss://a.example.com/ws"

[[targets]]
name = "b"
url = "http://x"
timeout = "fast"
""")
    assert lines == [
        'monitor.intervall: unknown key; did you mean "interval"?',
        'targets[1].timeout: expected a duration like 30s, 5m, 4h or 2d, got "fast"',
        'targets[1].url: expected a ws:// or wss:// URL, got "http://x"',
    ]


@pytest.mark.parametrize(("text", "expected"), [
    ('[monitor]\nlevel = "extreme"\n',
     'monitor.level: expected one of "basic", "standard", "comprehensive", "debug", got "extreme"'),
    ('[monitor]\nmax_concurrency = "ten"\n', 'monitor.max_concurrency: expected an integer, got "ten"'),
    ("[monitor]\nmax_concurrency = 1.5\n", "monitor.max_concurrency: expected an integer, got 1.5"),
    ('[resources]\nhost = "yes"\n', 'resources.host: expected true or false, got "yes"'),
    ("[deployment]\nname = 3\n", "deployment.name: expected a string, got 3"),
    ('[baseline]\nratio = "x"\n', 'baseline.ratio: expected a number, got "x"'),
    ("monitor = 3\n", "monitor: expected a table, got 3"),
    ('targets = "a"\n', 'targets: expected an array of tables ([[targets]]), got "a"'),
    (TARGET + 'subprotocols = "chat"\n', 'targets[0].subprotocols: expected an array (strings), got "chat"'),
    (TARGET + "subprotocols = [1]\n", "targets[0].subprotocols[0]: expected a string, got 1"),
    (TARGET + 'headers = "x"\n', 'targets[0].headers: expected a table (strings values), got "x"'),
    (TARGET + "headers = { X-A = 1 }\n", "targets[0].headers.X-A: expected a string, got 1"),
    ('[rollback]\nauto = "maybe"\n', 'rollback.auto: expected true, false or "ask", got "maybe"'),
    ("[rollback]\ncooldown = -5\n", "rollback.cooldown: expected a duration of zero or more, got -5"),
    ('[rollback]\ncooldown = "-5m"\n',
     'rollback.cooldown: expected a duration like 30s, 5m, 4h or 2d, got "-5m"'),
    ("[rollback]\ncooldown = true\n",
     "rollback.cooldown: expected a duration like 30s, 5m, 4h or 2d, got true"),
])
def test_type_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str) -> None:
    assert one(tmp_path, capsys, text) == expected


def test_secret_field_type_error_does_not_echo_the_value(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    line = one(tmp_path, capsys, '[[alerts.channels]]\ntype = "pagerduty"\nrouting_key = 123456789\n')
    assert line == "alerts.channels[0].routing_key: expected a string, got an integer"


@pytest.mark.parametrize(("text", "expected"), [
    ('[[targets]]\nname = "a"\nurl = "http://x"\n', 'targets[0].url: expected a ws:// or wss:// URL, got "http://x"'),
    ('[[targets]]\nname = "a"\nurl = "wss://"\n', 'targets[0].url: expected a ws:// or wss:// URL, got "wss://"'),
    ('[[targets]]\nname = "a"\n', "targets[0].url: required: a ws:// or wss:// URL"),
    ('[[targets]]\nurl = "ws://h/"\n', "targets[0].name: required: a short unique name"),
    (TARGET + 'metrics_url = "ftp://h/m"\n',
     'targets[0].metrics_url: expected a http:// or https:// URL, got "ftp://h/m"'),
    (TARGET + 'expect = "re:("\n', "targets[0].expect: invalid regular expression: missing ), "
                                   "unterminated subpattern at position 0"),
    (TARGET + TARGET, 'targets[1].name: duplicate target name "a" (also targets[0])'),
    ('[prometheus]\nurl = "prom:9090"\n',
     'prometheus.url: expected a http:// or https:// URL, got "prom:9090"'),
    ('[prometheus]\nurl = "http://p:9090"\nqueries = { latency = "x" }\n',
     "prometheus.queries.latency: expected a canonical metric name (see docs/metrics.md)"),
    ('[monitor]\ninterval = 0\n', "monitor.interval: expected a duration greater than zero"),
    ("[monitor]\nmax_concurrency = 0\n", "monitor.max_concurrency: expected 1 or more, got 0"),
    ("[resources]\nport = 70000\n", "resources.port: expected a port 1-65535, got 70000"),
])
def test_target_and_monitor_semantics(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                      expected: str) -> None:
    assert one(tmp_path, capsys, text) == expected


RULE = '[[alerts.rules]]\nname = "r"\n'


@pytest.mark.parametrize(("text", "expected"), [
    (RULE + 'metric = "eror_rate"\n',
     'alerts.rules[0].metric: unknown metric "eror_rate"; did you mean "error_rate" or "server_error_rate"?'),
    (RULE + 'metric = "error_rate"\nthreshold = 5\n',
     "alerts.rules[0].threshold: error_rate is a share between 0 and 1 (5% is 0.05), got 5.0"),
    (RULE + 'metric = "adoption"\nthreshold = 1.5\n',
     "alerts.rules[0].threshold: adoption is a share between 0 and 1 (5% is 0.05), got 1.5"),
    (RULE + 'metric = "cpu_percent"\nthreshold = 150\n',
     "alerts.rules[0].threshold: cpu_percent is between 0 and 100, got 150.0"),
    (RULE + 'metric = "handshake_p95"\nthreshold = -1\n',
     "alerts.rules[0].threshold: handshake_p95 is never negative, got -1.0"),
    (RULE + 'metric = "rtt_ms"\nop = "=>"\n',
     'alerts.rules[0].op: expected one of ">", ">=", "<", "<=", "==", "!=", got "=>"'),
    (RULE + 'metric = "rtt_ms"\nseverity = "page"\n',
     'alerts.rules[0].severity: expected one of "info", "warning", "critical", got "page"'),
    (RULE + 'metric = "rtt_ms"\ntargets = ["nope"]\n', 'alerts.rules[0].targets[0]: no target named "nope"'),
    (RULE + 'metric = "rtt_ms"\nchannels = ["nope"]\n',
     'alerts.rules[0].channels[0]: no channel named "nope"'),
    (RULE + 'metric = "rtt_ms"\n' + RULE + 'metric = "rtt_ms"\n',
     'alerts.rules[1].name: duplicate rule name "r" (also alerts.rules[0])'),
    ('[[alerts.rules]]\nmetric = "rtt_ms"\n', "alerts.rules[0].name: required: every rule needs a name"),
    ('[rollback]\non = ["HighErrorRte"]\n',
     'rollback.on[0]: no rule named "HighErrorRte" (configured or default); did you mean "HighErrorRate"?'),
    ('[throttle]\non = ["Mine"]\n', 'throttle.on[0]: no rule named "Mine" (configured or default)'),
    ("[rollback]\nhealth_below = 120\n", "rollback.health_below: expected a health score 0-100, got 120.0"),
    ("[rollback]\nverify_successes = 0\n", "rollback.verify_successes: expected 1 or more"),
])
def test_rule_semantics(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str) -> None:
    assert one(tmp_path, capsys, text) == expected


def test_unknown_metric_without_a_close_name_lists_every_name(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    line = one(tmp_path, capsys, RULE + 'metric = "cpu"\n')
    prefix = 'alerts.rules[0].metric: unknown metric "cpu"; valid names (see docs/metrics.md): '
    assert line.startswith(prefix), line
    names = line.removeprefix(prefix).removesuffix(", or overall").split(", ")
    assert names == sorted(names)
    assert {"cpu_percent", "probe_success_rate", "health_score", "baseline_degradation"} <= set(names)
    assert line.endswith(", or overall")


def test_prometheus_query_name_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert one(tmp_path, capsys, '[prometheus]\nurl = "http://p:9090"\nqueries = { conections = "x" }\n') == (
        'prometheus.queries.conections: expected a canonical metric name (see docs/metrics.md); '
        'did you mean "connections", "tcp_connections" or "process_connections"?')


def test_every_canonical_metric_is_documented() -> None:
    """The config errors point at docs/metrics.md, so every name they accept is described there."""
    import re

    from wsmon_tui.config import CANONICAL_METRICS

    text = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z0-9_]+)`", text))
    assert sorted(CANONICAL_METRICS - documented) == []


def test_rollback_on_accepts_configured_and_default_rules(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(RULE + 'metric = "rtt_ms"\n[rollback]\non = ["r", "HighErrorRate"]\n'
                    '[throttle]\non = ["QueueBackpressure"]\n', encoding="utf-8")
    assert load_config(path, environ={}).rollback.on == ["r", "HighErrorRate"]


CH = '[[alerts.channels]]\ntype = "{t}"\n'


@pytest.mark.parametrize(("text", "expected"), [
    (CH.format(t="slack"), ["alerts.channels[0].url: required for a slack channel"]),
    (CH.format(t="webhook") + 'url = "hooks.example.com/x"\n',
     ['alerts.channels[0].url: expected a http:// or https:// URL, got "hooks.example.com/x"']),
    (CH.format(t="alertmanager"), ["alerts.channels[0].url: required for an alertmanager channel"]),
    (CH.format(t="file"), ["alerts.channels[0].path: required for a file channel"]),
    (CH.format(t="pagerduty"),
     ['alerts.channels[0].routing_key: required for a pagerduty channel (use "${PAGERDUTY_ROUTING_KEY}")']),
    (CH.format(t="email"), [
        'alerts.channels[0].smtp_server: required for an email channel, like "smtp.example.com:587"',
        "alerts.channels[0].sender: required for an email channel (the From address)",
        "alerts.channels[0].recipients: required for an email channel: at least one address"]),
    (CH.format(t="email") + 'smtp_server = "smtp.example.com"\nsender = "a@b.c"\nrecipients = ["x"]\n', [
        'alerts.channels[0].smtp_server: expected "host:port", like "smtp.example.com:587", '
        'got "smtp.example.com"',
        'alerts.channels[0].recipients[0]: expected an email address, got "x"']),
    (CH.format(t="file") + 'path = "a"\nrate_limit = "10 per minute"\n',
     ['alerts.channels[0].rate_limit: expected "N/s", "N/m" or "N/h" with N >= 1, got "10 per minute"']),
    (CH.format(t="file") + 'path = "a"\n' + CH.format(t="file") + 'path = "b"\n',
     ['alerts.channels[1].name: duplicate channel name "file" (also alerts.channels[0]); '
      "give each channel of a type its own name"]),
    (CH.format(t="sms"), ['alerts.channels[0].type: expected one of "webhook", "slack", "email", "file", '
                          '"alertmanager", "pagerduty", got "sms"']),
])
def test_channel_semantics(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                           expected: list[str]) -> None:
    assert check(tmp_path, capsys, text) == expected


STEP = '[[rollback.steps]]\ntype = "{t}"\n'


@pytest.mark.parametrize(("text", "expected"), [
    (STEP.format(t="http"), ["rollback.steps[0].url: required for an http step"]),
    (STEP.format(t="http") + 'url = "https://d/x"\nmethod = "FETCH"\n',
     ['rollback.steps[0].method: expected GET, POST, PUT, PATCH, DELETE or HEAD, got "FETCH"']),
    (STEP.format(t="http") + 'url = "https://d/x"\nexpect_status = [99]\n',
     ["rollback.steps[0].expect_status[0]: expected an HTTP status 100-599, got 99"]),
    (STEP.format(t="command") + 'argv = "kubectl rollout undo"\n',
     ['rollback.steps[0].argv: argv must be a list, e.g. ["kubectl", "rollout", "undo"], '
      'got "kubectl rollout undo"']),
    (STEP.format(t="command"),
     ['rollback.steps[0].argv: required for a command step: a list, e.g. ["kubectl", "rollout", "undo"]']),
    (STEP.format(t="flag") + "enabled = false\n",
     ["rollback.steps[0].name: required for a flag step: the flag's name"]),
    (STEP.format(t="flag") + 'name = "f"\n', ["rollback.steps[0]: a flag step needs enabled and/or rollout"]),
    (STEP.format(t="flag") + 'name = "f"\nrollout = 150\n',
     ["rollback.steps[0].rollout: expected a percent 0-100, got 150.0"]),
    (STEP.format(t="shell"),
     ['rollback.steps[0].type: expected one of "http", "command", "flag", got "shell"']),
    ('[[throttle.steps]]\ntype = "flag"\nname = "f"\nrollout = -1\n',
     ["throttle.steps[0].rollout: expected a percent 0-100, got -1.0"]),
    ('[flags]\nprovider = "http"\n', ['flags.url: required when provider = "http"']),
    ('[flags]\nprovider = "file"\n', ['flags.path: required when provider = "file"']),
    ('[flags]\nprovider = "redis"\n', ['flags.provider: expected one of "file", "http", got "redis"']),
    ('[[alerts.maintenance]]\nstart = "25:00"\nevery = "1d"\n',
     ['alerts.maintenance[0].start: expected HH:MM, got "25:00"']),
    ('[[alerts.maintenance]]\nstart = "02:00"\n',
     ['alerts.maintenance[0].every: required when start is "HH:MM" (e.g. every = "1d")']),
    ('[[alerts.maintenance]]\nstart = "2026-11-27T02:00:00+00:00"\ntimezone = "Mars/Olympus"\n',
     ['alerts.maintenance[0].timezone: unknown time zone "Mars/Olympus"']),
])
def test_step_flag_and_maintenance_semantics(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                             expected: list[str]) -> None:
    assert check(tmp_path, capsys, text) == expected


def test_malformed_toml_names_line_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one(tmp_path, capsys, '[monitor]\nlevel = "basic"\ninterval = \n')
    assert line == "line 3, column 12: invalid TOML: Invalid value"


def test_duplicate_toml_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one(tmp_path, capsys, '[monitor]\nlevel = "basic"\nlevel = "debug"\n')
    assert line.startswith("line 3, column ") and "invalid TOML" in line


def test_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wsmon.toml"
    path.write_bytes(b'[deployment]\nname = "\xff"\n')
    assert main(["config", "check", str(path)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_undefined_variable_names_variable_and_key(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    lines = check(tmp_path, capsys, TARGET + 'headers = { Authorization = "Bearer ${NOPE_TOKEN}" }\n'
                                             '[[alerts.channels]]\ntype = "slack"\nurl = "${NOPE_SLACK}"\n')
    assert lines == [
        "targets[0].headers.Authorization: environment variable NOPE_TOKEN is not set "
        "(referenced as ${NOPE_TOKEN})",
        "alerts.channels[0].url: environment variable NOPE_SLACK is not set (referenced as ${NOPE_SLACK})",
    ]


def test_bad_variable_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one(tmp_path, capsys, '[deployment]\nname = "${1BAD}"\n')
    assert line.startswith("deployment.name: ${1BAD} is not a valid environment variable reference")


def test_substituted_secret_is_not_echoed_in_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK", "hxxp://secret-canary-hook-4242")
    line = one(tmp_path, capsys, '[[alerts.channels]]\ntype = "webhook"\nurl = "${HOOK}"\n')
    assert "secret-canary-hook-4242" not in line
    assert line == 'alerts.channels[0].url: expected a http:// or https:// URL, got "***"'


@pytest.mark.parametrize(("env", "expected"), [
    ({"WEBSOCKET_MONITORING_LEVEL": "loud"},
     ['environment: WEBSOCKET_MONITORING_LEVEL: expected one of basic, standard, comprehensive, debug, '
      'got "loud"']),
    ({"WEBSOCKET_ALERT_WEBHOOK_URL": "not a url"},
     ["environment: WEBSOCKET_ALERT_WEBHOOK_URL: expected a http:// or https:// URL, got a value that is "
      "not one"]),
    ({"WEBSOCKET_ALERT_EMAIL_ENABLED": "true"},
     ['environment: WEBSOCKET_ALERT_SMTP_SERVER: required when WEBSOCKET_ALERT_EMAIL_ENABLED is set: '
      '"host:port"',
      "environment: WEBSOCKET_ALERT_EMAIL_RECIPIENTS: required when WEBSOCKET_ALERT_EMAIL_ENABLED is set: "
      "comma-separated addresses"]),
    ({"WEBSOCKET_ALERT_EMAIL_ENABLED": "true", "WEBSOCKET_ALERT_SMTP_SERVER": "m:25"},
     ["environment: WEBSOCKET_ALERT_EMAIL_RECIPIENTS: required when WEBSOCKET_ALERT_EMAIL_ENABLED is set: "
      "comma-separated addresses"]),
    ({"WEBSOCKET_ALERT_EMAIL_ENABLED": "sometimes"},
     ['environment: WEBSOCKET_ALERT_EMAIL_ENABLED: expected true or false (1/0, yes/no), got "sometimes"']),
])
def test_environment_override_errors(env: dict[str, str], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ=env)
    assert info.value.problems == expected


def test_environment_override_error_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSOCKET_MONITORING_LEVEL", "loud")
    assert main(["config", "show"]) == 2
    assert "WEBSOCKET_MONITORING_LEVEL" in capsys.readouterr().err


def test_missing_file_for_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(tmp_path / "absent.toml")]) == 2
    assert capsys.readouterr().err.strip() == f"wsmon-tui: {tmp_path / 'absent.toml'}: no such file"


def test_missing_explicit_config_for_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "absent.toml"), "config", "show"]) == 2
    assert "absent.toml: no such file (given with --config)" in capsys.readouterr().err


def test_directory_as_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
