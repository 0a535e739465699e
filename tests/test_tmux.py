"""The real executable in a real terminal: tmux runs ``python -m wsmon_tui`` and we type.

The demo's fault is read off the screen too (banner, worst first, no stale episode, paused age).
Each test has its own tmux server (``-L`` socket), reads the screen with capture-pane,
and kills the server in ``finally``. After ``q`` the shell line that started the app
writes the exit code to a file, and tmux's own pane flags tell whether the terminal was
restored (alternate screen left, cursor shown, mouse reporting off).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.prom_server import free_port
from wsmon_tui.tui.driver import GRACE


@dataclass
class Tmux:
    binary: str
    socket: str
    exit_file: Path
    socket_path: Path | None = None

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run([self.binary, "-L", self.socket, *args], capture_output=True, text=True,
                             timeout=10, check=False)
        if check and out.returncode:
            raise AssertionError(f"tmux {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "wsmon")

    def keys(self, *keys: str, pause: float = 0.3) -> None:
        for key in keys:
            self.run("send-keys", "-t", "wsmon", key)
            time.sleep(pause)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "wsmon", "-l", text)

    def flag(self, name: str) -> str:
        return self.run("display-message", "-p", "-t", "wsmon", f"#{{{name}}}").strip()

    def wait(self, condition: Callable[[str], bool], what: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if condition(screen):
                return screen
            time.sleep(0.15)
        raise AssertionError(f"{what}: not on screen after {timeout}s; screen:\n{screen}")

    def wait_exit(self, timeout: float = 25.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_file.exists() and self.exit_file.read_text().strip():
                return self.exit_file.read_text().strip()
            time.sleep(0.1)
        raise AssertionError(f"the app did not exit in {timeout}s; screen:\n{self.screen()}")


@pytest.fixture
def tmux(tmp_path) -> Iterator[Callable[..., Tmux]]:
    binary = require_binary("tmux")
    started: list[Tmux] = []

    def start(argv: list[str], *, size: tuple[int, int], env: dict[str, str] | None = None) -> Tmux:
        t = Tmux(binary, f"wsmon-test-{os.getpid()}-{uuid.uuid4().hex[:8]}", tmp_path / "exit-code")
        started.append(t)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        # The pane outlives the app (sleep) so that the restored terminal can be inspected.
        # COLUMNS/LINES from the test run would override the pane's size (shutil.get_terminal_size).
        line = (f"env -u COLUMNS -u LINES {exports} {shlex.join(argv)}; "
                f"echo EXIT=$? > {shlex.quote(str(t.exit_file))}; sleep 120")
        t.run("-f", "/dev/null", "new-session", "-d", "-s", "wsmon", "-x", str(size[0]), "-y", str(size[1]),
              line)
        t.socket_path = Path(t.run("display-message", "-p", "#{socket_path}").strip())
        return t

    try:
        yield start
    finally:
        for t in started:
            t.run("kill-server", check=False)
            if t.socket_path is not None:
                t.socket_path.unlink(missing_ok=True)


def _base_env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
            "XDG_STATE_HOME": str(tmp_path / "home" / ".local" / "state"), "USER": "tester",
            "TERM": "tmux-256color", "WSMON_DEMO_FAULT_AFTER": "3600"}


def _refused_config(tmp_path: Path) -> Path:
    """One target on a port nothing listens on: a critical alert fires within a second or two."""
    marker = tmp_path / "rolled-back"
    path = tmp_path / "wsmon.toml"
    path.write_text(f"""
[monitor]
level = "debug"
interval = "1s"

[deployment]
name = "tmux-deploy"
version = "1.0.0"
previous_version = "0.9.0"

[[targets]]
name = "refused-target"
url = "ws://127.0.0.1:{free_port()}/ws"
timeout = "0.5s"

[[alerts.rules]]
name = "Unreachable"
metric = "error_rate"
op = ">"
threshold = 0.5
for = "0s"
severity = "critical"
summary = "target refuses connections"

[rollback]
auto = false

[[rollback.steps]]
type = "command"
argv = ["touch", {str(marker)!r}]
""", encoding="utf-8")
    return path


def _assert_restored(t: Tmux) -> None:
    """The app left the alternate screen, showed the cursor again and stopped mouse reporting."""
    t.wait(lambda s: "ended" in s, "the shell's output after the app")
    assert t.flag("alternate_on") == "0"
    assert t.flag("cursor_flag") == "1"
    assert t.flag("mouse_any_flag") == "0"
    screen = t.screen()
    assert "1 Summary" not in screen and "Quit" not in screen, screen


def _row(screen: str, word: str) -> str:
    return next((line for line in screen.splitlines() if word in line), "")


def test_real_executable_views_ack_rollback_cancel_quit(tmux, tmp_path):
    config = _refused_config(tmp_path)
    state = tmp_path / "state"
    t = tmux([sys.executable, "-m", "wsmon_tui", "--config", str(config), "--state-dir", str(state)],
             size=(120, 40), env=_base_env(tmp_path))
    t.wait(lambda s: "tmux-deploy" in s and "1 Summary" in s and "refused-target" in s, "the summary")

    t.keys("2")
    t.wait(lambda s: "HS p95" in s and "RTT p95" in s, "the detailed table")
    t.keys("4")
    t.wait(lambda s: "Range" in s and "5m" in s, "the metrics view")
    t.keys("Tab")  # metrics -> summary
    t.wait(lambda s: "Connections" in s and "score" in s, "the summary after Tab")
    t.keys("Tab")  # summary -> detailed
    t.wait(lambda s: "HS p95" in s, "the detailed table after Tab")

    t.keys("3")
    screen = t.wait(lambda s: "Acknowledged" in s and "Unreachable" in s and "firing" in s,
                    "the firing alert in the alerts view")
    t.keys("a")
    t.wait(lambda s: "comment (optional)" in s, "the acknowledge dialog")
    dialog = t.screen()
    acked_rule = next(r for r in ("Unreachable", "TargetDown", "HighErrorRate", "LowSuccessRate", "HostCPU")
                      if f"Acknowledge {r} on" in dialog)
    t.type("looking into it")
    t.keys("Enter")
    screen = t.wait(lambda s: "tester" in _row(s, f" {acked_rule} "), f"{acked_rule} acknowledged by tester")
    assert "Acknowledged" in screen

    t.keys("R")
    t.wait(lambda s: "Confirm rollback" in s and "touch" in s, "the rollback dialog")
    t.keys("Escape")
    t.wait(lambda s: "Confirm rollback" not in s, "the dialog closed by Escape")
    time.sleep(0.5)
    assert not (tmp_path / "rolled-back").exists(), "Escape must not run the rollback"

    t.keys("q")  # this dashboard runs the acting engine: leaving is asked
    t.wait(lambda s: "Quit? y/N" in s, "the quit question")
    t.keys("y", pause=0)
    assert t.wait_exit() == "EXIT=0"
    _assert_restored(t)
    assert not (tmp_path / "rolled-back").exists()

    # The acknowledgement reached the engine and its store, not just the screen.
    out = subprocess.run([sys.executable, "-m", "wsmon_tui", "--config", str(config), "--state-dir",
                          str(state), "alerts", "list", "--state", "all"], capture_output=True, text=True,
                         timeout=30, env={**os.environ, **_base_env(tmp_path)})
    assert "tester" in _row(out.stdout, acked_rule), out.stdout + out.stderr


def test_demo_at_80x24(tmux, tmp_path):
    t = tmux([sys.executable, "-m", "wsmon_tui", "--demo", "--state-dir", str(tmp_path / "state")],
             size=(80, 24), env=_base_env(tmp_path))
    screen = t.wait(lambda s: "demo-chat" in s and "1 Summary" in s and "chat-ws" in s, "the demo summary")
    assert len(screen.splitlines()[0]) <= 80
    for key, marker in (("2", "HS p95"), ("3", "Severity"), ("4", "Range"), ("1", "Connections")):
        t.keys(key)
        t.wait(lambda s, m=marker: m in s, f"view {key} at 80x24")
    t.keys("R")
    t.wait(lambda s: "Confirm rollback" in s, "the rollback dialog at 80x24")
    t.keys("Escape")
    t.wait(lambda s: "Confirm rollback" not in s, "the dialog closed by Escape")
    t.keys("q")
    t.wait(lambda s: "Quit? y/N" in s, "the quit question at 80x24")
    t.keys("y", pause=0)
    assert t.wait_exit() == "EXIT=0"
    _assert_restored(t)


@pytest.mark.parametrize("sig,name", [(signal.SIGTERM, "sigterm"), (signal.SIGHUP, "sighup"),
                                      (signal.SIGINT, "sigint")])
def test_signals_close_the_session_and_restore_the_terminal(tmux, tmp_path, sig, name):
    """A dropped SSH session (SIGHUP), a service manager (SIGTERM) or kill -INT: the engine
    closes its session with how it ended, within 5 s, and the terminal is given back."""
    state = tmp_path / "state"
    t = tmux([sys.executable, "-m", "wsmon_tui", "--demo", "--state-dir", str(state)],
             size=(120, 40), env=_base_env(tmp_path))
    t.wait(lambda s: "demo-chat" in s and "chat-ws" in s, "the demo summary")
    pid = int(t.run("display-message", "-p", "-t", "wsmon", "#{pane_pid}").strip())
    app = next(child for child in _children(pid) if "wsmon_tui" in _cmdline(child))
    sent = time.monotonic()
    os.kill(app, sig)
    assert t.wait_exit(timeout=10) == "EXIT=0"
    assert time.monotonic() - sent < 5
    _assert_restored(t)
    from wsmon_tui.store import Store

    with Store.open(state, create=False) as store:
        assert store.latest_session()["ended_by"] == name


def _children(pid: int) -> list[int]:
    """Processes under ``pid`` (the pane's shell), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry))
    return found


def _wait_state(pid: int, state: str, timeout: float = 5.0) -> None:
    """Until ``pid``'s /proc state letter is ``state`` (T stopped, S sleeping)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(rf"^State:\s+{state}", Path(f"/proc/{pid}/status").read_text(), re.M):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never reached state {state}")


def _wakeups(pid: int) -> int:
    """Voluntary context switches of every thread of ``pid`` so far (each one a wake-up)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:
            continue
        total += int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
    return total


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_a_dropped_session_closes_the_session_and_exits(tmux, tmp_path):
    """Like an SSH connection dying: the pty hangs up under the app. Nothing can be drawn,
    but the engine still closes its session as ``sighup`` and the process goes away."""
    state = tmp_path / "state"
    t = tmux([sys.executable, "-m", "wsmon_tui", "--demo", "--state-dir", str(state)],
             size=(120, 40), env=_base_env(tmp_path))
    t.wait(lambda s: "demo-chat" in s and "chat-ws" in s, "the demo summary")
    pid = int(t.run("display-message", "-p", "-t", "wsmon", "#{pane_pid}").strip())
    app = next(child for child in _children(pid) if "wsmon_tui" in _cmdline(child))
    t.run("kill-server")
    deadline = time.monotonic() + 10
    while Path(f"/proc/{app}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    gone = not Path(f"/proc/{app}").exists()
    if not gone:
        os.kill(app, signal.SIGKILL)
    assert gone, "the app outlived its terminal"
    from wsmon_tui.store import Store

    with Store.open(state, create=False) as store:
        assert store.latest_session()["ended_by"] == "sighup"


INPUT_PROBE = """
import sys
from textual.app import App
from textual.widgets import Static
from wsmon_tui.tui.driver import GRACE, WsmonLinuxDriver

out = open(sys.argv[1], "w", buffering=1)
drivers = []

class Recording(WsmonLinuxDriver):
    def __init__(self, app, **kwargs):
        super().__init__(app, **kwargs)
        drivers.append(self)

class Probe(App):
    def get_driver_class(self):
        return Recording

    def compose(self):
        yield Static("input-probe ready")

    def on_mount(self):
        self.set_timer(GRACE + 0.5, lambda: out.write(f"quiet-from {drivers[0].input_wakeups}\\n"))
        self.set_timer(GRACE + 3.5, lambda: out.write(f"quiet-to {drivers[0].input_wakeups}\\n"))

    def on_key(self, event):
        out.write(f"key {event.key}\\n")
        if event.key == "q":
            self.exit()

Probe().run()
"""


def test_the_input_thread_sleeps_until_a_key_and_still_times_out_a_lone_escape(tmux, tmp_path):
    """``tui/driver.py``: with no input the input thread does not wake (Textual's polls 10 times
    a second); a key wakes it at once; a lone Escape still arrives (the parser's timeout, ticked
    while input may be arriving); and quitting joins the thread (the app exits)."""
    script, log = tmp_path / "probe.py", tmp_path / "probe.log"
    script.write_text(INPUT_PROBE, encoding="utf-8")
    t = tmux([sys.executable, str(script), str(log)], size=(80, 24), env={**_base_env(tmp_path),
                                                                          "PYTHONPATH": str(Path.cwd())})
    t.wait(lambda s: "input-probe ready" in s, "the probe app")

    def logged(prefix: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = log.read_text().splitlines() if log.exists() else []
            found = [line for line in lines if line.startswith(prefix)]
            if found:
                return found[-1]
            time.sleep(0.1)
        text = log.read_text() if log.exists() else ""
        raise AssertionError(f"{prefix!r} not logged in {timeout}s: {text}")

    pid = int(t.run("display-message", "-p", "-t", "wsmon", "#{pane_pid}").strip())
    app = next(child for child in _children(pid) if "probe.py" in _cmdline(child))
    logged("quiet-from")
    before = _wakeups(app)
    time.sleep(3.0)
    woke = _wakeups(app) - before
    # Textual's own loop wakes 30 times in these 3 s; the app's main thread may wake a few times.
    assert woke <= 6, f"the app's threads woke {woke} times in 3 s of no input"
    quiet_from = int(logged("quiet-from").split()[1])
    quiet_to = int(logged("quiet-to").split()[1])
    assert quiet_to - quiet_from <= 1, f"the input loop ran {quiet_to - quiet_from} times in 3 quiet seconds"
    t.keys("x", pause=0)
    assert logged("key x", timeout=2.0)
    time.sleep(2.0)  # quiet again: the Escape lands on a blocked thread
    t.keys("Escape", pause=0)
    assert logged("key escape", timeout=2.0)
    # Suspended and resumed (kill -TSTP / -CONT): the thread stopped through its wake-up pipe
    # and a new one, with a new pipe, reads keys and sleeps again.
    os.kill(app, signal.SIGTSTP)
    _wait_state(app, "T")
    os.kill(app, signal.SIGCONT)
    _wait_state(app, "S")
    time.sleep(GRACE + 0.5)
    before = _wakeups(app)
    time.sleep(3.0)
    assert _wakeups(app) - before <= 6, "the input thread polls again after a resume"
    t.keys("y", pause=0)
    assert logged("key y", timeout=2.0)
    t.keys("q", pause=0)
    assert t.wait_exit(timeout=10) == "EXIT=0"


EARLIER_RULE = "EarlierIncident"
"""A rule only the seeded previous session fired: on screen it would be a stale episode."""

SEVERITY_RANK = {"critical": 3, "degraded": 2, "unknown": 1, "healthy": 0}


def _seed_crashed_session(state: Path) -> None:
    """A previous run of the demo that died (kill -9) with an alert firing: its row is still
    active in the state dir's SQLite, as a crash leaves it."""
    from wsmon_tui.alerts.engine import AlertEngine
    from wsmon_tui.demo.config import demo_config
    from wsmon_tui.store import Store

    with Store.open(state) as store:
        db_path = Path(store.path)
    engine = AlertEngine(demo_config("http://127.0.0.1:9", str(state)), db_path)
    engine.begin_session("20250101-000000-earlier")
    engine.raise_alert(rule=EARLIER_RULE, target="chat-ws", severity="critical",
                       summary="an incident of an earlier run")
    engine.close()  # no end_session: the process died
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT state FROM alert_alerts WHERE rule = ?", (EARLIER_RULE,)).fetchall() == [
            ("firing",)]
    finally:
        conn.close()


def _latest_rollback(db: Path) -> tuple[int, float, float] | None:
    """(id, started_at, the session's interval) of the newest rollback in the state dir, if any."""
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
    try:
        row = conn.execute("SELECT a.id, a.started_at, s.interval FROM rollback_actions a JOIN sessions s "
                           "ON s.id = a.session_id WHERE a.kind = 'rollback' ORDER BY a.id DESC "
                           "LIMIT 1").fetchone()
    except sqlite3.OperationalError:  # the engine has not created its tables yet
        return None
    finally:
        conn.close()
    return (int(row[0]), float(row[1]), float(row[2])) if row else None


def _table_rows(screen: str) -> list[str]:
    """The detailed view's target rows: the lines under its header line, up to the first blank."""
    lines = screen.splitlines()
    start = next(i for i, line in enumerate(lines) if "Target" in line and "Status" in line)
    rows = []
    for line in lines[start + 1:]:
        if not line.strip() or not line.split()[0].endswith("-ws"):
            break
        rows.append(line)
    return rows


def test_demo_fault_banner_worst_first_and_age_counts_while_paused(tmux, tmp_path):
    """The demo's fault, read off the real executable's screen: the banner is on screen within
    one interval of the rollback starting (as recorded in the state dir), the worst target is
    the first row, nothing of an earlier run's incident shows, and paused, the data's age counts."""
    state = tmp_path / "state"
    _seed_crashed_session(state)
    env = {**_base_env(tmp_path), "WSMON_DEMO_FAULT_AFTER": "1"}
    t = tmux([sys.executable, "-m", "wsmon_tui", "--demo", "--state-dir", str(state)],
             size=(120, 40), env=env)
    t.wait(lambda s: "demo-chat" in s and "chat-ws" in s, "the demo summary")
    t.keys("2")
    t.wait(lambda s: "HS p95" in s, "the detailed table")

    db = state / "wsmon.db"
    deadline = time.monotonic() + 45
    started: tuple[int, float, float] | None = None
    last_without = float("-inf")
    """When the last capture that did not show the banner was taken (its start)."""
    screen = ""
    while time.monotonic() < deadline:
        taken = time.time()
        screen = t.screen()
        if "ROLLBACK RUNNING" in screen or "ROLLBACK VERIFYING" in screen:
            if started is None:
                started = _latest_rollback(db)
            if started is not None:
                break
        else:
            last_without = taken
        if started is None:
            started = _latest_rollback(db)
        time.sleep(0.1)
    assert started is not None and ("ROLLBACK RUNNING" in screen or "ROLLBACK VERIFYING" in screen), (
        f"no rollback banner within 45 s of the fault; recorded rollback: {_latest_rollback(db)}; "
        f"screen:\n{screen}")
    rollback_id, started_at, interval = started
    banner = "\n".join(line for line in screen.splitlines()[1:3])
    assert f"#{rollback_id} automatic" in banner, screen  # this rollback, not an earlier one
    assert last_without <= started_at + interval, (
        f"the screen had no banner {last_without - started_at:.2f}s after the rollback started "
        f"(interval {interval}s)")

    rows = [row.split()[:2] for row in _table_rows(screen)]
    assert len(rows) == 2, screen
    # Worst first: down (critical) before degraded before healthy, by name within one status.
    assert rows == sorted(rows, key=lambda r: (-SEVERITY_RANK[r[1]], r[0])), screen
    assert SEVERITY_RANK[rows[0][1]] >= SEVERITY_RANK["degraded"], screen
    assert EARLIER_RULE not in screen

    t.keys("3")
    alerts = t.wait(lambda s: "Severity" in s and "Acknowledged" in s, "the alerts view")
    assert EARLIER_RULE not in alerts and " stale " not in alerts, alerts

    t.keys("p")
    first = t.wait(lambda s: "PAUSED" in s and re.search(r"\((\d+)s ago\)", s) is not None, "PAUSED")
    age = int(re.search(r"\((\d+)s ago\)", first).group(1))  # type: ignore[union-attr]
    later = t.wait(lambda s: (m := re.search(r"\((\d+)s ago\)", s)) is not None and int(m.group(1)) > age + 1,
                   "the paused data's age counting", timeout=10)
    assert "PAUSED" in later.splitlines()[0]

    # The earlier run's alert was this deployment's (the engine took it up) and ended stale.
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
    try:
        assert conn.execute("SELECT state FROM alert_alerts WHERE rule = ?", (EARLIER_RULE,)).fetchall() == [
            ("stale",)]
    finally:
        conn.close()


BANNER_STATES = ("ROLLBACK RUNNING", "ROLLBACK VERIFYING", "ROLLBACK VERIFIED")


def _banner(screen: str) -> str:
    return next((word for word in BANNER_STATES if word in screen), "")


def _settled(t: Tmux) -> str:
    """The screen once two reads 0.2 s apart agree (a frame is painted in more than one write)."""
    screen = t.screen()
    for _ in range(25):
        time.sleep(0.2)
        again = t.screen()
        if again == screen:
            return screen
        screen = again
    return screen


def _recorded_order(state: Path) -> list[tuple[float, str]]:
    """The recorded session's alert, ack and rollback times, straight from its database."""
    with sqlite3.connect(f"file:{state / 'wsmon.db'}?mode=ro", uri=True) as db:
        fired = db.execute("SELECT firing_at FROM alert_alerts WHERE rule = 'SlowRoundTrip'").fetchone()[0]
        acked = db.execute("SELECT at FROM alert_acks").fetchone()[0]
        started, finished = db.execute("SELECT started_at, finished_at FROM rollback_actions "
                                       "WHERE kind = 'rollback'").fetchone()
    return sorted([(fired, "fired"), (acked, "acknowledged"), (started, "rollback started"),
                   (finished, "rollback finished")])


def test_replay_shows_the_banner_and_alerts_in_recorded_order(tmux, tmp_path, recorded_session):
    """``wsmon-tui replay`` of a recorded demo fault, read off the real executable's screen: jumping
    event by event (``]``) meets the alert, the ack and the rollback in the order the database
    recorded them, the banner runs, verifies and ends in that order, and at speed 50 the whole
    recording plays to its last frame with the rollback verified and no alert left firing."""
    state, sid = str(recorded_session.state), recorded_session.session_id
    argv = [sys.executable, "-m", "wsmon_tui", "replay", sid, "--state-dir", state, "--speed", "50"]
    t = tmux([*argv, "--paused"], size=(120, 40), env=_base_env(tmp_path))
    t.wait(lambda s: "REPLAY" in s and "frame 1/" in s, "the paused replay's first frame")
    seen: list[str] = []  # what each jump landed on: the event, then what the screen shows
    banners: list[str] = []
    for _ in range(40):  # bounded: the recording has a dozen events at most
        before = t.screen()
        if "next " not in before:
            break
        t.keys("]", pause=0.1)
        t.wait(lambda s, b=before: s != b and "last " in s, "the next event's frame")
        screen = _settled(t)
        seen.append(_row(screen, "frame ").split("last ", 1)[1].split(" · next ", 1)[0])
        if _banner(screen) == "ROLLBACK RUNNING" and not banners:  # its time counts in recorded time
            running_for = re.search(r"ROLLBACK RUNNING\s+for (\d+)s", screen)
            assert running_for is not None and int(running_for.group(1)) <= 2, screen
        if _banner(screen):
            banners.append(_banner(screen))
        if "fired" in seen[-1] and "SlowRoundTrip" in seen[-1]:
            assert "SlowRoundTrip · chat-ws · firing" in screen, screen
    kinds = [kind for _, kind in _recorded_order(recorded_session.state)]
    markers = (("fired", "SlowRoundTrip on chat-ws fired"), ("acknowledged", "alice acknowledged"),
               ("rollback started", " started ("), ("rollback finished", " verified"))
    firsts = {kind: next(i for i, label in enumerate(seen) if marker in label) for kind, marker in markers}
    assert sorted(firsts, key=firsts.__getitem__) == kinds, seen
    assert [b for i, b in enumerate(banners) if i == 0 or banners[i - 1] != b] == list(BANNER_STATES), banners
    t.run("kill-server", check=False)

    fast = tmux(argv, size=(120, 40), env=_base_env(tmp_path))
    end = fast.wait(lambda s: re.search(r"frame (\d+)/\1\b", s) is not None, "the replay's last frame",
                    timeout=30)
    assert "ROLLBACK VERIFIED" in end and "no active alerts" in end, end
