"""The command line on bad input: unknown ids, empty, missing, corrupt, unreadable and
read-only state dirs and files. Each gives a clear message and the documented exit code
(2 usage/config, 1 runtime; ``status`` 3 UNKNOWN), and never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wsmon_tui.cli import main

IS_ROOT = os.geteuid() == 0


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, err
    return code, out, err


@pytest.fixture
def state_with_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A state dir holding a real database (made by the real command, not by hand)."""
    state = tmp_path / "state"
    code, _, _ = run(capsys, "--state-dir", str(state), "alerts", "silence", "--rule", "X",
                     "--duration", "1h", "--comment", "maintenance")
    assert code == 0 and (state / "wsmon.db").exists()
    return state


# ------------------------------------------------------------------ unknown ids

@pytest.mark.parametrize("argv", [["ack", "deadbeef"], ["unack", "deadbeef"],
                                  ["ack", "'; DROP TABLE alerts;--"],
                                  ["acknowledge", "--alert-id", "\x1b[31mred", "--user", "u"]])
def test_unknown_alert_ids(argv: list[str], state_with_history: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--state-dir", str(state_with_history), "alerts", *argv)
    assert code == 1 and out == ""
    assert "no alert with id" in err
    assert "\x1b" not in err  # the id is echoed, but not its escape sequence
    # The database is intact afterwards.
    code, out, _ = run(capsys, "--state-dir", str(state_with_history), "alerts", "silences")
    assert code == 0 and "rule=X" in out


# ------------------------------------------------------------------ missing and empty state dirs

def test_an_empty_alert_id(state_with_history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--state-dir", str(state_with_history), "alerts", "ack", "")
    assert code == 2 and out == "" and "alert id: required" in err  # a usage error


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_history_commands_on_a_state_dir_without_history(kind: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    if kind == "empty":
        state.mkdir()
    s = str(state)

    code, out, err = run(capsys, "--state-dir", s, "report", "--format", "json")
    assert code == 0 and json.loads(out)["targets"] == []
    assert f"no history in {state}" in err  # says where it looked

    code, out, err = run(capsys, "--state-dir", s, "status")
    assert code == 3 and out.startswith("WSMON UNKNOWN") and str(state) in out

    code, out, _ = run(capsys, "--state-dir", s, "status", "--format", "json")
    assert code == 3 and json.loads(out)["status"] == "UNKNOWN"

    for argv in (["alerts", "list"], ["alerts", "stats"], ["alerts", "silences"]):
        code, out, err = run(capsys, "--state-dir", s, *argv)
        assert code == 0, (argv, err)
    code, out, err = run(capsys, "--state-dir", s, "alerts", "list")
    assert out.strip() == "no alerts" and f"no history in {state}" in err

    code, out, err = run(capsys, "--state-dir", s, "alerts", "ack", "abc")
    assert code == 1 and "no alerts recorded" in err
    # Reading commands never create the state dir or a database.
    assert not (state / "wsmon.db").exists()
    assert state.exists() == (kind == "empty")


# ------------------------------------------------------------------ corrupt, unusable and read-only state

def test_a_corrupt_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "wsmon.db").write_bytes(os.urandom(8192))
    for argv, want_code in ((["report"], 1), (["alerts", "list"], 1), (["alerts", "stats"], 1),
                            (["alerts", "ack", "1"], 1), (["status"], 3)):
        code, out, err = run(capsys, "--state-dir", str(state), *argv)
        assert code == want_code, (argv, out, err)
        assert "wsmon.db" in (err + out) and "not a usable wsmon database" in (err + out), argv


def test_a_database_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    (state / "wsmon.db").mkdir(parents=True)
    for argv in (["report"], ["alerts", "list"]):
        code, _, err = run(capsys, "--state-dir", str(state), *argv)
        assert code == 1 and "cannot open" in err and str(state / "wsmon.db") in err, (argv, err)


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_a_state_dir_that_cannot_exist(where: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    if where == "under-a-file":
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        state = blocker / "state"
    else:
        state = Path("/proc/self/wsmon-state")
    s = str(state)
    # Writing commands fail, naming the dir.
    code, out, err = run(capsys, "--state-dir", s, "alerts", "silence", "--rule", "X", "--duration", "1h",
                         "--comment", "c")
    assert code == 1 and out == "" and s in err
    # Reading commands find no history (and create nothing).
    code, _, err = run(capsys, "--state-dir", s, "report")
    assert code == 0 and "no history" in err
    code, out, _ = run(capsys, "--state-dir", s, "status")
    assert code == 3
    # A monitor run goes on in memory and says what was not stored.
    code, out, err = run(capsys, "--state-dir", s, "monitor", "--duration", "1s")
    assert code == 0, err
    assert "not written" in err or "memory" in err, err


@pytest.mark.skipif(IS_ROOT, reason="root reads files whatever their mode: chmod 000 cannot stop it")
def test_unreadable_config_and_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "wsmon.toml"
    cfg.write_text('[deployment]\nname = "x"\n')
    cfg.chmod(0)
    state = tmp_path / "state"
    state.mkdir()
    db = state / "wsmon.db"
    db.write_bytes(b"")
    db.chmod(0)
    try:
        code, _, err = run(capsys, "config", "check", str(cfg))
        assert code == 2 and "cannot read" in err and str(cfg) in err
        code, _, err = run(capsys, "--state-dir", str(state), "alerts", "list")
        assert code == 1 and str(db) in err
    finally:
        cfg.chmod(0o600)
        db.chmod(0o600)


def test_output_files_that_cannot_be_written(state_with_history: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    s = str(state_with_history)
    code, _, err = run(capsys, "--state-dir", s, "report", "-o", "/proc/self/nope/report.md")
    assert code == 1 and "cannot write /proc/self/nope/report.md" in err
    code, _, err = run(capsys, "config", "init", "-o", str(tmp_path / "no-dir" / "c.toml"))
    assert code == 1 and "cannot write" in err
    code, _, err = run(capsys, "--state-dir", s, "--export", str(tmp_path / "no-dir" / "r.json"),
                       "--duration", "1s")
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "--state-dir", s, "--export", str(tmp_path / "r.pdf"), "--duration", "1s")
    assert code == 2 and ".md, .json or .html" in err


@pytest.mark.parametrize("argv, fragment", [
    (["alerts", "silence", "--rule", "X", "--duration", "soon", "--comment", "c"], "--duration"),
    (["alerts", "silence", "--rule", " ", "--duration", "1h", "--comment", "c"], "--rule"),
    (["report", "--hours", "-1"], "--hours"),
    (["report", "--hours", "0"], "--hours"),
    (["flags", "set", "x", "maybe"], "expected true or false"),
    (["flags", "rollout", "x", "150"], "0"),
    (["monitor", "--duration=-5m"], "--duration"),
    (["monitor", "--duration", "0"], "--duration"),
])
def test_bad_arguments_are_usage_errors(argv: list[str], fragment: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--state-dir", str(tmp_path / "state"), *argv)
    assert code == 2 and fragment in err, (code, out, err)


def test_argparse_errors_exit_2_without_a_traceback(tmp_path: Path) -> None:
    """Unknown commands, flags and choices, through the real entry point."""
    for argv in (["frobnicate"], ["alerts", "list", "--state", "weird"], ["status", "--format", "xml"],
                 ["--no-such-flag"], ["alerts", "ack"]):
        proc = subprocess.run([sys.executable, "-m", "wsmon_tui", *argv], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path)})
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr and "usage:" in proc.stderr, argv


def test_a_missing_state_dir_through_the_real_entry_point(tmp_path: Path) -> None:
    state = tmp_path / "nowhere"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSMON_", "WEBSOCKET_"))}
    env["HOME"] = str(tmp_path)
    cases = ((["report"], 0), (["status"], 3), (["alerts", "list"], 0), (["alerts", "ack", "x"], 1))
    for argv, want in cases:
        proc = subprocess.run([sys.executable, "-m", "wsmon_tui", "--state-dir", str(state), *argv],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
        assert proc.returncode == want, (argv, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert str(state) in proc.stderr + proc.stdout, argv
    assert not state.exists()
