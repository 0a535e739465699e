"""A state dir whose path holds ``#``, ``?`` or ``%``: every reader opens ``wsmon.db`` in it.

Read-only connections go through an SQLite URI. Spelled by hand (``f"file:{path}?mode=ro"``),
``#`` starts the fragment and ``?`` the query, so ``we#ird/wsmon.db`` opened (and created)
``we``, and ``%20`` was decoded to a space: ``alerts list`` and the report showed nothing.
Written with the real store, alert engine, outbox and rollback audit; read back by the real
executable.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_alert_engine import Clock, World, err_rule, make_config
from wsmon_tui.alerts.engine import AlertEngine
from wsmon_tui.alerts.outbox import Outbox
from wsmon_tui.config import ChannelConfig
from wsmon_tui.rollback.audit import AuditDB
from wsmon_tui.store import DB_NAME, Store, connect, read_only_uri

REPO = Path(__file__).resolve().parents[1]
NAMES = ["we#ird", "a?b%20c", "x%20y"]


def wsmon(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real executable, as a user runs it (no config file in ``cwd``)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "wsmon_tui", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def record_history(state: Path) -> str:
    """A monitor's session, a firing alert, its pending notification and a rollback; the session id."""
    now = time.time()
    with Store.open(state) as store:
        sid = store.begin_session(deployment="chat", version="2.1.0", level="standard", config_digest="d",
                                  interval=10.0, targets=[("edge-1", "ws://127.0.0.1:1/edge-1")],
                                  started_at=now - 60)
        store.heartbeat(sid, at=now - 1, status="degraded", health_score=61.0,
                        summary={"alerts": [{"rule": "Errors", "target": "edge-1", "state": "firing"}]})
        assert store.flush()
        store.end_session(sid, "duration", ended_at=now)
    db = state / DB_NAME
    clock = Clock(now - 30)
    engine = AlertEngine(make_config(err_rule(cooldown=60.0)), db, clock=clock)
    try:
        _, notes = World(clock).run(engine, error_rate=0.5)
    finally:
        engine.close()
    assert notes, "the alert fired and asked to notify"
    box = Outbox(db, [ChannelConfig(type="file", path=str(state / "notes.jsonl"))], deployment="chat")
    try:
        assert box.enqueue(notes)
    finally:
        box.close()
    audit = AuditDB(db)
    try:
        audit.begin(kind="rollback", deployment="chat", version="2.1.0", session_id=sid, automatic=True,
                    user="oncall", trigger="Errors", trigger_value=0.5, reason="error rate", dry_run=False,
                    started_at=now - 20, outcome="done")
    finally:
        audit.close()
    return sid


@pytest.mark.parametrize("name", NAMES)
def test_status_alerts_and_report_read_the_state_dir_they_are_given(tmp_path: Path, name: str):
    base = tmp_path / "dirs"
    base.mkdir()
    state = base / name
    sid = record_history(state)
    before = sorted(os.listdir(base))

    listed = wsmon("alerts", "list", "--format", "json", "--state-dir", str(state), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    alerts = json.loads(listed.stdout)
    assert [(a["rule"], a["target"], a["state"]) for a in alerts] == [("Errors", "edge-1", "firing")]

    stats = wsmon("alerts", "stats", "--state-dir", str(state), cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert re.search(r"^deliveries: .*\bpending [1-9]", stats.stdout, re.M), stats.stdout

    status = wsmon("status", "--format", "json", "--state-dir", str(state), cwd=tmp_path)
    assert status.returncode == 1, status.stdout + status.stderr  # degraded: WARNING
    assert json.loads(status.stdout)["session"]["id"] == sid

    report = wsmon("report", "--format", "json", "--hours", "1", "--state-dir", str(state), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["session"]["id"] == sid
    assert [(a["rule"], a["target"]) for a in data["alerts"]] == [("Errors", "edge-1")]
    assert data["notifications"] and {n["channel"] for n in data["notifications"]} == {"file"}
    assert [r["trigger"] for r in data["rollbacks"]] == ["Errors"]

    # no reader created a file next to the state dir (the old URI opened ``we``, ``a``, ...)
    assert sorted(os.listdir(base)) == before


@pytest.mark.parametrize("name", [*NAMES, "100%", "sp ace&x=1", "..#"])
def test_read_only_connect_opens_that_file_and_never_creates_one(tmp_path: Path, name: str):
    base = tmp_path / "dirs"
    base.mkdir()
    db = base / name / DB_NAME
    with pytest.raises(sqlite3.OperationalError):
        connect(db, read_only=True)
    assert sorted(os.listdir(base)) == []
    db.parent.mkdir()
    writer = connect(db)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("INSERT INTO t VALUES (42)")
    reader = connect(db, read_only=True)
    try:
        assert reader.execute("SELECT x FROM t").fetchone() == (42,)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.execute("INSERT INTO t VALUES (1)")
        file_name = reader.execute("PRAGMA database_list").fetchone()[2]
        assert Path(file_name) == db.resolve()
    finally:
        reader.close()
        writer.close()
    assert sorted(os.listdir(base)) == [name]


def test_read_only_uri_is_absolute_and_percent_encoded(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = read_only_uri(Path("we#ird") / DB_NAME)
    assert uri == f"{(tmp_path / 'we#ird' / DB_NAME).as_uri()}?mode=ro"
    assert "#" not in uri and uri.count("?") == 1 and "%23" in uri


def test_one_file_name_for_the_state_database():
    """``"wsmon.db"`` is spelled once, in ``store/connect.py``; everyone else imports ``DB_NAME``."""
    assert DB_NAME == "wsmon.db"
    spelled = []
    for path in sorted((REPO / "wsmon_tui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value == DB_NAME:
                spelled.append(path.relative_to(REPO).as_posix())
    assert spelled == ["wsmon_tui/store/connect.py"]


def test_the_store_imports_no_other_layer():
    code = ("import sys, wsmon_tui.store\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') or m.startswith(("
            "'wsmon_tui.engine', 'wsmon_tui.alerts', 'wsmon_tui.rollback', 'wsmon_tui.tui',"
            " 'wsmon_tui.report'))]\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip() == "[]"
