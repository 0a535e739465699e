"""``config check | init | show`` through the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from wsmon_tui.cli import main
from wsmon_tui.config import load_config
from wsmon_tui.config_template import TEMPLATE

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "production.toml"
EXAMPLE_VARS = ("WS_PROBE_TOKEN", "PROMETHEUS_TOKEN", "SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY",
                "SMTP_PASSWORD", "ALERTMANAGER_TOKEN", "DEPLOY_TOKEN", "FLAGS_TOKEN")
GOOD = """
[[targets]]
name = "edge"
url = "wss://edge.example.com/ws"
timeout = "5s"

[[alerts.channels]]
type = "file"
path = "alerts.jsonl"

[rollback]
auto = true
on = ["HighErrorRate"]

[[rollback.steps]]
type = "flag"
name = "ws"
enabled = false
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def statuses(out: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"PASS": [], "WARN": [], "FAIL": []}
    for line in out.splitlines():
        status, sep, text = line.partition("  ")
        if sep and status in found:
            found[status].append(text)
    return found


def write(tmp_path: Path, text: str, name: str = "wsmon.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_check_good_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    code, out, _ = run(capsys, "config", "check", str(path))
    assert code == 0
    assert out.splitlines()[0] == f"{path}: valid (1 targets, 0 rules, 1 channels)"
    result = statuses(out)
    assert result["FAIL"] == [] and result["WARN"] == []
    assert any(text.startswith("state dir writable: ") for text in result["PASS"])
    assert out.splitlines()[-1] == f"{len(result['PASS'])} passed, 0 warnings, 0 failures"


def test_check_uses_the_search_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, GOOD)  # ./wsmon.toml (the test runs in tmp_path)
    code, out, _ = run(capsys, "config", "check")
    assert code == 0
    assert out.startswith(str(tmp_path / "wsmon.toml"))


def test_check_defaults_warns(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "check")
    assert code == 0
    assert out.startswith("built-in defaults (no config file found): valid")
    warns = statuses(out)["WARN"]
    assert any("no targets" in w for w in warns)
    assert any("no alert channel" in w for w in warns)


def test_check_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, """
[monitor]
interval = "5s"

[[targets]]
name = "plain"
url = "ws://edge.example.com/ws"
timeout = "2s"

[[targets]]
name = "insecure"
url = "wss://edge.example.com/ws"
verify_tls = false
timeout = "10s"

[[alerts.channels]]
type = "webhook"
url = "https://hooks.example.com/x"
verify_tls = false

[rollback]
health_below = 95
""")
    code, out, _ = run(capsys, "config", "check", str(path))
    assert code == 0
    warns = statuses(out)["WARN"]
    assert "target plain uses ws:// (unencrypted); production endpoints should be wss://" in warns
    assert "TLS verification off: target insecure" in warns
    assert "TLS verification off: channel webhook" in warns
    assert "no [[rollback.steps]]: rollback is not available" in warns
    overrun = "target insecure: timeout 10s is not shorter than the interval 5s"
    assert any(w.startswith(overrun) for w in warns)
    assert "rollback.health_below = 95 rolls back on minor dips" in warns
    assert statuses(out)["FAIL"] == []


def test_check_auto_rollback_without_steps_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[rollback]\nauto = "ask"\n')
    code, out, _ = run(capsys, "config", "check", str(path))
    assert code == 1
    assert statuses(out)["FAIL"] == [
        'rollback.auto = ask but there are no [[rollback.steps]]: a rollback would do nothing']


def test_check_inline_secrets_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOD_TOKEN", "from-env-1234")
    path = write(tmp_path, """
[[targets]]
name = "a"
url = "wss://ws.example.com/ws?token=inline-url-token"
headers = { Authorization = "Bearer inline-header-token", "X-Ok" = "1" }

[[targets]]
name = "b"
url = "wss://ws.example.com/sessions/5f2b3c4d5e6f7a8b9c0d1e2f/ws?token=${GOOD_TOKEN}"
headers = { Authorization = "Bearer ${GOOD_TOKEN}" }

[[alerts.channels]]
type = "pagerduty"
routing_key = "inline-routing-key"

[[alerts.channels]]
type = "slack"
url = "https://hooks.slack.com/services/T0/B0/inlineslack"

[[alerts.channels]]
type = "email"
smtp_server = "smtp.example.com:587"
sender = "a@example.com"
recipients = ["b@example.com"]
password = "inline-password"
""")
    code, out, _ = run(capsys, "config", "check", str(path))
    assert code == 1
    fails = statuses(out)["FAIL"]
    where = sorted(f.split(" at ")[1].split(":")[0] for f in fails)
    assert where == ["alerts.channels[0].routing_key", "alerts.channels[1].url",
                     "alerts.channels[2].password", "targets[0].headers.Authorization", "targets[0].url"]
    assert "inline-password" not in out and "inline-header-token" not in out


def test_check_unwritable_state_dir_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    path = write(tmp_path, GOOD)
    code, out, _ = run(capsys, "--state-dir", str(blocker / "state"), "config", "check", str(path))
    assert code == 1
    assert statuses(out)["FAIL"] == [f"state dir: {blocker / 'state'} cannot be created: {blocker} is not "
                                     "a directory"]
    code, out, _ = run(capsys, "config", "check", str(path), "--state-dir", str(blocker))
    assert code == 1
    assert statuses(out)["FAIL"] == [f"state dir: {blocker} exists and is not a directory"]


def test_check_state_dir_from_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    path = write(tmp_path, GOOD + f'\n[monitor]\nstate_dir = "{blocker}"\n')
    code, out, _ = run(capsys, "config", "check", str(path))
    assert code == 1
    code, out, _ = run(capsys, "config", "check", str(path), "--state-dir", str(tmp_path / "st"))
    assert code == 0
    assert f"PASS  state dir writable: {tmp_path / 'st'}" in out.splitlines()


def test_init_to_stdout_is_the_template(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "init")
    assert code == 0 and out == TEMPLATE


def test_init_check_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new.toml"
    code, out, _ = run(capsys, "config", "init", "-o", str(path))
    assert code == 0 and path.read_text(encoding="utf-8") == TEMPLATE
    code, out, err = run(capsys, "config", "check", str(path))
    assert code == 0, err
    assert statuses(out)["FAIL"] == []
    code, _, err = run(capsys, "config", "init", "-o", str(path))
    assert code == 2
    assert "already exists" in err
    assert path.read_text(encoding="utf-8") == TEMPLATE


def test_template_documents_every_key() -> None:
    """Every key of the schema appears in the template (set or commented), so init is a reference."""
    from dataclasses import fields, is_dataclass

    from wsmon_tui import config as cfgmod

    missing = []

    def visit(cls: type, where: str) -> None:
        hints = cfgmod._hints(cls)
        for f in fields(cls):
            if f.metadata.get("internal"):
                continue
            key = f.metadata.get("key") or f.name
            tp = hints[f.name]
            args = getattr(tp, "__args__", ())
            if is_dataclass(tp):
                visit(tp, f"{where}{key}.")
            elif args and is_dataclass(args[0]):
                visit(args[0], f"{where}{key}.")
            elif f"{key} = " not in TEMPLATE:
                missing.append(where + key)

    visit(cfgmod.Config, "")
    assert missing == []


def test_show_redacts_and_names_the_source(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "CANARY-9f3a-never-shown"
    monkeypatch.setenv("PD", canary)
    monkeypatch.setenv("WEBSOCKET_ALERT_WEBHOOK_URL", f"https://hooks.example.com/in?key={canary}x")
    path = write(tmp_path, """
[[targets]]
name = "a"
url = "wss://user:CANARY-9f3a-never-shown@ws.example.com/ws"
headers = { Authorization = "Bearer ${PD}" }

[[alerts.channels]]
type = "pagerduty"
routing_key = "${PD}"
""", "cfg.toml")
    code, out, _ = run(capsys, "--config", str(path), "config", "show")
    assert code == 0
    assert canary not in out
    assert out.splitlines()[0].startswith(f"# wsmon-tui effective config from {path}")
    shown = tomllib.loads(out)
    assert shown["alerts"]["channels"][0]["routing_key"] == "***"
    assert shown["alerts"]["channels"][1]["name"] == "env-webhook"
    assert shown["alerts"]["channels"][1]["url"].startswith("https://hooks.example.com/")
    # The shown config is itself a valid config (with the masks as literal values).
    again = write(tmp_path, out, "again.toml")
    assert load_config(again, environ={}).targets[0].name == "a"


def test_show_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "show")
    assert code == 0
    assert out.splitlines()[0].startswith("# wsmon-tui effective config from built-in defaults")
    assert tomllib.loads(out)["monitor"]["level"] == "standard"


def test_production_example_passes_with_its_variables(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EXAMPLE_VARS:
        value = f"https://hooks.slack.com/services/T1/B2/{name}" if name.endswith("_URL") else f"{name}-v4lue"
        monkeypatch.setenv(name, value)
    code, out, err = run(capsys, "--state-dir", str(tmp_path / "state"), "config", "check", str(EXAMPLE))
    assert code == 0, out + err
    result = statuses(out)
    assert result["FAIL"] == [] and result["WARN"] == [], out
    code, out, _ = run(capsys, "--config", str(EXAMPLE), "config", "show")
    assert code == 0
    for name in EXAMPLE_VARS:
        assert name not in out.split("\n", 1)[1]  # no secret value (each holds its variable's name)


def test_production_example_without_variables_names_them(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "config", "check", str(EXAMPLE))
    assert code == 2
    for name in EXAMPLE_VARS:
        assert f"environment variable {name} is not set" in err


def _subprocess_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBSOCKET_", "WSMON_"))}
    env["PYTHONPATH"] = str(REPO)
    return env


def test_subprocess_invalid_config_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, '[monitor]\nintervall = 5\n[[targets]]\nname = "a"\nurl = "http://x"\n')
    proc = subprocess.run([sys.executable, "-m", "wsmon_tui", "config", "check", str(path)],
                          capture_output=True, text=True, timeout=60, env=_subprocess_env(tmp_path),
                          cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f'wsmon-tui: {path}: monitor.intervall: unknown key; did you mean "interval"?',
        f'wsmon-tui: {path}: targets[0].url: expected a ws:// or wss:// URL, got "http://x"',
    ]


def test_subprocess_malformed_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[monitor\n")
    proc = subprocess.run([sys.executable, "-m", "wsmon_tui", "--config", str(path), "config", "show"],
                          capture_output=True, text=True, timeout=60, env=_subprocess_env(tmp_path),
                          cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"wsmon-tui: {path}: line 1, column ")
