"""A table of broken config files: each exits 2 with one clear line per problem naming
the key path, and never a traceback.

Most cases run through ``wsmon_tui.cli.main`` in-process (fast); a handful run the real
``python -m wsmon_tui config check F`` in a subprocess, as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from wsmon_tui.cli import main

TARGET = '[[targets]]\nname = "a"\nurl = "ws://127.0.0.1:9/"\n'
RULE = '[[alerts.rules]]\nname = "r"\nmetric = "error_rate"\nthreshold = 0.1\n'


@dataclass(frozen=True)
class Broken:
    id: str
    toml: str | bytes
    problems: tuple[tuple[str, str], ...]
    """One (key path, message fragment) per problem the file has; nothing else may be reported."""


CASES: list[Broken] = [
    # -- typos, with suggestions
    Broken("typo-section", TARGET + '[monitr]\nlevel = "basic"\n',
           (("monitr", 'did you mean "monitor"?'),)),
    Broken("typo-target-key", '[[targets]]\nname = "a"\nurl = "ws://127.0.0.1:9/"\ntimout = "5s"\n',
           (("targets[0].timout", 'did you mean "timeout"?'),)),
    Broken("typo-rule-key", TARGET + RULE + "treshold = 0.2\n",
           (("alerts.rules[0].treshold", 'did you mean "threshold"?'),)),
    Broken("typo-rollback-on", TARGET + '[rollback]\non = ["HighErrRate"]\n',
           (("rollback.on[0]", 'did you mean "HighErrorRate"?'),)),
    Broken("typo-metric", TARGET + '[[alerts.rules]]\nname = "r"\nmetric = "error_rat"\nthreshold = 0.1\n',
           (("alerts.rules[0].metric", 'did you mean "error_rate"'),)),
    # -- wrong types
    Broken("int-as-string", TARGET + '[monitor]\nmax_concurrency = "ten"\n',
           (("monitor.max_concurrency", 'expected an integer, got "ten"'),)),
    Broken("bool-as-string", '[[targets]]\nname = "a"\nurl = "ws://127.0.0.1:9/"\nping = "yes"\n',
           (("targets[0].ping", "expected true or false"),)),
    Broken("targets-as-table", '[targets]\nname = "a"\nurl = "ws://127.0.0.1:9/"\n',
           (("targets", "expected an array of tables"),)),
    Broken("headers-as-list", '[[targets]]\nname = "a"\nurl = "ws://127.0.0.1:9/"\nheaders = ["X-A: 1"]\n',
           (("targets[0].headers", "expected a table"),)),
    Broken("argv-as-string",
           TARGET + '[[rollback.steps]]\ntype = "command"\nargv = "kubectl rollout undo deploy/ws"\n',
           (("rollback.steps[0].argv", "argv must be a list"),)),
    # -- bad values of known kinds
    Broken("unknown-level", TARGET + '[monitor]\nlevel = "verbose"\n',
           (("monitor.level", "expected one of"),)),
    Broken("unknown-op", TARGET + RULE + 'op = "=>"\n', (("alerts.rules[0].op", "expected one of"),)),
    Broken("unknown-severity", TARGET + RULE + 'severity = "fatal"\n',
           (("alerts.rules[0].severity", "expected one of"),)),
    Broken("unknown-step-type", TARGET + '[[rollback.steps]]\ntype = "shell"\nargv = ["true"]\n',
           (("rollback.steps[0].type", "expected one of"),)),
    Broken("unknown-channel-type", TARGET + '[[alerts.channels]]\ntype = "teams"\nurl = "http://x.test/"\n',
           (("alerts.channels[0].type", "expected one of"),)),
    Broken("unknown-prom-query", TARGET + '[prometheus]\nurl = "http://127.0.0.1:9090"\n'
                                          '[prometheus.queries]\nconections = "sum(x)"\n',
           (("prometheus.queries.conections", "canonical metric name"),)),
    # -- URLs
    Broken("http-target-url", '[[targets]]\nname = "a"\nurl = "http://127.0.0.1:9/"\n',
           (("targets[0].url", "expected a ws:// or wss:// URL"),)),
    Broken("url-without-host", '[[targets]]\nname = "a"\nurl = "ws:///path"\n',
           (("targets[0].url", "expected a ws:// or wss:// URL"),)),
    Broken("url-bad-port", '[[targets]]\nname = "a"\nurl = "ws://127.0.0.1:99999/"\n',
           (("targets[0].url", "expected a ws:// or wss:// URL"),)),
    Broken("metrics-url-no-scheme",
           '[[targets]]\nname = "a"\nurl = "ws://127.0.0.1:9/"\nmetrics_url = "localhost:9090/metrics"\n',
           (("targets[0].metrics_url", "expected a http:// or https:// URL"),)),
    Broken("missing-url", '[[targets]]\nname = "a"\n', (("targets[0].url", "required"),)),
    Broken("webhook-without-url", TARGET + '[[alerts.channels]]\ntype = "webhook"\n',
           (("alerts.channels[0].url", "required"),)),
    Broken("http-flags-without-url", TARGET + '[flags]\nprovider = "http"\n', (("flags.url", "required"),)),
    # -- duplicates and dangling references
    Broken("duplicate-targets", TARGET + TARGET, (("targets[1].name", 'duplicate target name "a"'),)),
    Broken("duplicate-rules", TARGET + RULE + RULE, (("alerts.rules[1].name", 'duplicate rule name "r"'),)),
    Broken("duplicate-channels", TARGET + '[[alerts.channels]]\ntype = "file"\npath = "a.jsonl"\n' * 2,
           (("alerts.channels[1].name", 'duplicate channel name "file"'),)),
    Broken("rule-unknown-target", TARGET + RULE + 'targets = ["b"]\n',
           (("alerts.rules[0].targets[0]", 'no target named "b"'),)),
    Broken("rule-unknown-channel", TARGET + RULE + 'channels = ["pager"]\n',
           (("alerts.rules[0].channels[0]", 'no channel named "pager"'),)),
    # -- ${ENV}
    Broken("undefined-env", '[[targets]]\nname = "a"\nurl = "ws://127.0.0.1:9/"\n'
                            'headers = { Authorization = "Bearer ${WSMON_FAULT_UNSET_TOKEN}" }\n',
           (("targets[0].headers.Authorization", "WSMON_FAULT_UNSET_TOKEN is not set"),)),
    Broken("bad-env-reference", '[[targets]]\nname = "a"\nurl = "ws://${1HOST}/"\n',
           (("targets[0].url", "not a valid environment variable reference"),)),
    # -- durations
    Broken("negative-timeout", '[[targets]]\nname = "a"\nurl = "ws://127.0.0.1:9/"\ntimeout = -5\n',
           (("targets[0].timeout", "zero or more"),)),
    Broken("duration-words", TARGET + '[monitor]\ninterval = "5 minutes"\n',
           (("monitor.interval", "expected a duration like 30s"),)),
    Broken("zero-interval", TARGET + '[monitor]\ninterval = "0s"\n',
           (("monitor.interval", "greater than zero"),)),
    Broken("negative-for", TARGET + RULE + 'for = "-1m"\n',
           (("alerts.rules[0].for", "expected a duration like 30s"),)),
    # -- thresholds and ranges
    Broken("share-as-percent",
           TARGET + '[[alerts.rules]]\nname = "r"\nmetric = "error_rate"\nthreshold = 5\n',
           (("alerts.rules[0].threshold", "a share between 0 and 1"),)),
    Broken("cpu-over-100", TARGET + '[[alerts.rules]]\nname = "r"\nmetric = "cpu_percent"\nthreshold = 150\n',
           (("alerts.rules[0].threshold", "between 0 and 100"),)),
    Broken("negative-latency", TARGET + '[[alerts.rules]]\nname = "r"\nmetric = "rtt_p95"\nthreshold = -1\n',
           (("alerts.rules[0].threshold", "never negative"),)),
    Broken("health-below-120", TARGET + "[rollback]\nhealth_below = 120\n",
           (("rollback.health_below", "0-100"),)),
    Broken("rollout-150", TARGET + '[[rollback.steps]]\ntype = "flag"\nname = "ws"\nrollout = 150\n',
           (("rollback.steps[0].rollout", "0-100"),)),
    Broken("expect-status-700",
           TARGET + '[[rollback.steps]]\ntype = "http"\nurl = "http://127.0.0.1:9/"\nexpect_status = [700]\n',
           (("rollback.steps[0].expect_status[0]", "100-599"),)),
    Broken("port-70000", TARGET + "[resources]\nport = 70000\n", (("resources.port", "1-65535"),)),
    Broken("baseline-ratio", TARGET + "[baseline]\nratio = 0.5\n", (("baseline.ratio", "greater than 1"),)),
    # -- expressions
    Broken("bad-regex-expect", '[[targets]]\nname = "a"\nurl = "ws://127.0.0.1:9/"\nexpect = "re:(("\n',
           (("targets[0].expect", "invalid regular expression"),)),
    # Regression: re.compile raises OverflowError (not re.error) for a huge repeat count.
    Broken("huge-repeat-expect",
           '[[targets]]\nname = "a"\nurl = "ws://127.0.0.1:9/"\nexpect = "re:a{4294967296}"\n',
           (("targets[0].expect", "invalid regular expression"),)),
    Broken("huge-repeat-selector", TARGET + '[metrics]\nconnections = \'ws{pod=~"a{4294967296}"}\'\n',
           (("metrics.connections", "invalid regex"),)),
    Broken("bad-selector", TARGET + '[metrics]\nconnections = \'ws_connections{pod="a"\'\n',
           (("metrics.connections", "bad metric expression"),)),
    Broken("histogram-ratio", TARGET + '[metrics]\nlatency_histogram = "a / b"\n',
           (("metrics.latency_histogram", "not a ratio"),)),
    Broken("bad-rate-limit", TARGET + '[[alerts.channels]]\ntype = "file"\npath = "a.jsonl"\n'
                                      'rate_limit = "ten per minute"\n',
           (("alerts.channels[0].rate_limit", '"N/s", "N/m" or "N/h"'),)),
    Broken("bad-maintenance", TARGET + '[[alerts.maintenance]]\nstart = "25:00"\nevery = "1d"\n'
                                       'timezone = "Mars/Olympus"\n',
           (("alerts.maintenance[0].start", "HH:MM"),
            ("alerts.maintenance[0].timezone", "unknown time zone"))),
    Broken("bad-email", TARGET + '[[alerts.channels]]\ntype = "email"\nsmtp_server = "mail"\nsender = "me"\n',
           (("alerts.channels[0].smtp_server", "host:port"), ("alerts.channels[0].sender", "email address"),
            ("alerts.channels[0].recipients", "required"))),
    # -- several problems in one file: every one reported, each once
    Broken("many-at-once",
           '[monitor]\nlevel = "loud"\nmax_concurrency = 0\n'
           '[[targets]]\nname = "a"\nurl = "http://x/"\ntimeout = -1\n'
           '[[targets]]\nname = "a"\nurl = "ws://127.0.0.1:9/"\n'
           '[[alerts.rules]]\nname = "r"\nmetric = "nope"\nop = "~"\n',
           (("monitor.level", "expected one of"), ("monitor.max_concurrency", "1 or more"),
            ("targets[0].url", "ws://"), ("targets[0].timeout", "zero or more"),
            ("targets[1].name", "duplicate"), ("alerts.rules[0].metric", "unknown metric"),
            ("alerts.rules[0].op", "expected one of"))),
    # -- files that are not TOML at all
    Broken("invalid-toml", '[[targets]]\nname = "a\nurl = "ws://x/"\n', (("line 2", "invalid TOML"),)),
    Broken("not-utf8", b'[deployment]\nname = "caf\xe9"\n', (("", "not UTF-8"),)),
]

SUBPROCESS_IDS = {"typo-section", "huge-repeat-expect", "argv-as-string", "undefined-env", "many-at-once",
                  "invalid-toml"}


def _write(tmp_path: Path, case: Broken) -> Path:
    path = tmp_path / f"{case.id}.toml"
    if isinstance(case.toml, bytes):
        path.write_bytes(case.toml)
    else:
        path.write_text(case.toml, encoding="utf-8")
    return path


def _check_output(case: Broken, path: Path, code: int, stderr: str) -> None:
    assert code == 2, f"{case.id}: exit {code}\n{stderr}"
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if str(path) in line]
    assert len(lines) == len(case.problems), f"{case.id}: want {len(case.problems)} problem lines:\n{stderr}"
    for key, fragment in case.problems:
        hits = [line for line in lines if f": {key}: " in line or (not key) or key.startswith("line ")]
        assert any(fragment in line for line in hits), f"{case.id}: {key!r} {fragment!r}:\n{stderr}"


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [c for c in CASES if c.id not in SUBPROCESS_IDS], ids=lambda c: c.id)
def test_broken_config_in_process(case: Broken, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, case)
    code = main(["config", "check", str(path)])
    out, err = capsys.readouterr()
    _check_output(case, path, code, err)
    assert "valid" not in out


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SUBPROCESS_IDS], ids=lambda c: c.id)
def test_broken_config_in_a_subprocess(case: Broken, tmp_path: Path) -> None:
    path = _write(tmp_path, case)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSMON_", "WEBSOCKET_"))}
    proc = subprocess.run([sys.executable, "-m", "wsmon_tui", "config", "check", str(path)],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    _check_output(case, path, proc.returncode, proc.stderr)


@pytest.mark.parametrize("command", [["config", "show"], ["status"], ["alerts", "list"], ["report"],
                                     ["monitor", "--duration", "1s"]])
def test_every_command_refuses_a_broken_config_the_same_way(command: list[str], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    case = next(c for c in CASES if c.id == "many-at-once")
    path = _write(tmp_path, case)
    code = main(["--config", str(path), "--state-dir", str(tmp_path / "state"), *command])
    _out, err = capsys.readouterr()
    if command == ["status"]:
        # Nagios: a status that cannot be read is UNKNOWN (3), with the reason on stdout.
        assert code == 3
        return
    _check_output(case, path, code, err)


def test_a_directory_or_missing_file_as_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for arg, want in ((str(tmp_path), "is a directory"), (str(tmp_path / "nope.toml"), "no such file")):
        code = main(["config", "check", arg])
        err = capsys.readouterr().err
        assert code == 2 and want in err and "Traceback" not in err, err
