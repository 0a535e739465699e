"""The TUI in tmux, side by side with glances and the headless monitor, in one run.

1. CPU (utime+stime of the process tree from /proc/<pid>/stat over the window) and bytes/s
   written to the terminal (tmux ``pipe-pane`` into a file) at 160x48 for:
   ``glances -t 1``; the wsmon TUI with 10 targets at a 1 s interval and ``--refresh 1``;
   ``wsmon-tui monitor`` on the same config (headless, stdout to the same kind of pane);
   the same monitor with its output thrown away (the engine alone); a bare websockets
   loop probing on the same schedule (the floor). All run at the same time, each in its
   own tmux server, against one local echo server in a separate process.
   Targets: TUI <= glances; TUI - headless <= glances / 2.
2. First frame: from exec to the summary painted in tmux (deployment name and the tab
   strip on screen, polled with capture-pane), against the smallest Textual app that
   paints one word. Median of several starts. Target: <= 2x.
3. RSS of the TUI after warm-up and at the end of each window (target: flat, < 10 % growth);
   in a long round (``--rounds 1 --seconds 3600``) its timeline every ``--rss-every``
   seconds, when each process levelled off, and the growth over the last third (target: < 1 %).

    .venv/bin/python benchmarks/bench_tui.py [--seconds 40] [--rounds 3] [--starts 7]

Not a test: it prints the figures and exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from echo_server import echo_server

ROOT = Path(__file__).resolve().parents[1]
COLS, ROWS = 160, 48
CLK_TCK = os.sysconf("SC_CLK_TCK")

BARE_LOOP = """
import asyncio, sys, time
from websockets.asyncio.client import connect

port, targets = int(sys.argv[1]), int(sys.argv[2])

async def probe(i, opened):
    try:
        async with connect(f"ws://127.0.0.1:{port}/t{i}", compression=None, ping_interval=None,
                           proxy=None) as ws:
            opened.set_result(None)
            await ws.send("ping x")
            await ws.recv()
    finally:
        if not opened.done():
            opened.set_result(None)

async def main():
    loop = asyncio.get_running_loop()
    slot = time.monotonic()
    while True:
        await asyncio.sleep(max(0.0, slot - time.monotonic()))
        tasks = []
        for i in range(targets):  # one endpoint: the next handshake starts when one completes
            opened = loop.create_future()
            tasks.append(asyncio.ensure_future(probe(i, opened)))
            await opened
        await asyncio.gather(*tasks)
        slot += 1.0

asyncio.run(main())
"""
"""The floor: the same probes on the same schedule with websockets and nothing else
(the targets share one endpoint, so wsmon chains them: each handshake starts when the
previous one has completed)."""

SMALLEST_APP = """
from textual.app import App
from textual.widgets import Static

class One(App):
    def compose(self):
        yield Static("ready")

One().run()
"""


def config_text(port: int, targets: int) -> str:
    parts = ["[monitor]\nlevel = \"standard\"\ninterval = \"1s\"\n",
             "[deployment]\nname = \"bench-deploy\"\nversion = \"2.0.0\"\nprevious_version = \"1.9.0\"\n",
             "[ui]\nrefresh = 1.0\n"]
    for i in range(targets):
        parts.append(f"[[targets]]\nname = \"echo-{i:02d}\"\nurl = \"ws://127.0.0.1:{port}/t{i}\"\n"
                     "send = \"ping {nonce}\"\nexpect = \"ping\"\ntimeout = \"0.8s\"\n")
    return "\n".join(parts)


@dataclass
class Pane:
    """One tmux server with one 160x48 pane whose output is piped into a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    workdir: Path
    socket: str = field(default_factory=lambda: f"wsmon-bench-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    socket_path: Path | None = None
    started_at: float = 0.0

    @property
    def output(self) -> Path:
        return self.workdir / f"{self.name}.out"

    def tmux(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10,
                             check=False)
        if check and out.returncode:
            raise RuntimeError(f"tmux {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def start(self, *, pipe: bool = True) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        # PYTHONDONTWRITEBYTECODE (set in some shells and CI images) would make every start
        # compile wsmon's modules from source, which no installed copy does: pip compiles
        # the wheel's modules, and a checkout writes __pycache__ on the first run (the
        # first-frame warm-up start).
        line = (f"exec env -u COLUMNS -u LINES -u PYTHONDONTWRITEBYTECODE {exports} "
                f"{shlex.join(self.argv)}")
        self.started_at = time.perf_counter()
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", str(COLS), "-y", str(ROWS), line)
        self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())
        if pipe:
            self.tmux("pipe-pane", "-t", "b", "-o", f"cat >> {shlex.quote(str(self.output))}")

    def pid(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", "b", "#{pane_pid}").strip())

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "b", check=False)

    def stop(self) -> None:
        self.tmux("kill-server", check=False)
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)


def tree(pid: int) -> list[int]:
    try:
        proc = psutil.Process(pid)
        return [pid, *(c.pid for c in proc.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def cpu_ticks(pids: list[int]) -> int:
    """utime + stime of each process, from /proc/<pid>/stat (fields 14 and 15)."""
    total = 0
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def wait_for(pane: Pane, words: tuple[str, ...], timeout: float = 30.0, poll: float = 0.01) -> float:
    """Seconds from the pane's exec until every word is on screen."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        screen = pane.screen()
        if all(w in screen for w in words):
            return time.perf_counter() - pane.started_at
        time.sleep(poll)
    raise RuntimeError(f"{pane.name}: {words} not on screen after {timeout}s:\n{pane.screen()}")


def first_frame(name: str, argv: list[str], words: tuple[str, ...], env: dict[str, str], work: Path) -> float:
    pane = Pane(name, argv, env, work)
    try:
        pane.start(pipe=False)
        return wait_for(pane, words)
    finally:
        pane.stop()
        time.sleep(0.2)


@dataclass
class Round:
    """One round's figures per process: CPU %, bytes/s to the tty, RSS over the window."""

    cpu: dict[str, float]
    bps: dict[str, float]
    wall: float
    screen_ok: bool
    trace: dict[str, list[float]]
    """RSS (MB) of each process every ``--rss-every`` seconds of the window, from its start
    to its end."""

    @property
    def rss0(self) -> dict[str, float]:
        return {name: mb[0] for name, mb in self.trace.items()}

    @property
    def rss1(self) -> dict[str, float]:
        return {name: mb[-1] for name, mb in self.trace.items()}


def cpu_round(args: argparse.Namespace, py: list[str], env: dict[str, str], work: Path, port: int,
              n: int) -> Round:
    """Start every process afresh, warm up, measure one window, stop them all."""
    tui = Pane("tui", [*py, "--state-dir", str(work / f"st-tui{n}"), "--refresh", "1"], env, work)
    headless = Pane("headless", [*py, "--state-dir", str(work / f"st-headless{n}"), "monitor"], env, work)
    # the engine alone: the same headless monitor with its output thrown away
    engine_dir = shlex.quote(str(work / f"st-engine{n}"))
    engine_line = f"exec {shlex.join(py)} --state-dir {engine_dir} monitor >/dev/null"
    engine = Pane("engine-only", ["sh", "-c", engine_line], env, work)
    bare = Pane("bare-loop", [sys.executable, "-c", BARE_LOOP, str(port), str(args.targets)], env, work)
    panes = [tui, headless, engine, bare]
    glances = shutil.which("glances")
    if glances:
        panes.append(Pane("glances", [glances, "-t", "1"], env, work))
    try:
        for pane in panes:
            pane.start()
        wait_for(tui, ("bench-deploy", "1 Summary", "echo-00"))
        time.sleep(args.warmup)
        pids = {p.name: tree(p.pid()) for p in panes}
        ticks0 = {name: cpu_ticks(ps) for name, ps in pids.items()}
        bytes0 = {p.name: p.output.stat().st_size if p.output.exists() else 0 for p in panes}
        trace = {name: [rss_mb(ps)] for name, ps in pids.items()}
        t0 = time.perf_counter()
        end = t0 + args.seconds
        while (now := time.perf_counter()) < end:
            time.sleep(min(args.rss_every, end - now))
            if time.perf_counter() < end - 1.0:
                for name, ps in pids.items():
                    trace[name].append(rss_mb(ps))
        wall = time.perf_counter() - t0
        pids = {p.name: tree(p.pid()) for p in panes}
        ticks1 = {name: cpu_ticks(ps) for name, ps in pids.items()}
        bytes1 = {p.name: p.output.stat().st_size if p.output.exists() else 0 for p in panes}
        for name, ps in pids.items():
            trace[name].append(rss_mb(ps))
        screen_ok = "echo-00" in tui.screen()
    finally:
        for pane in panes:
            pane.stop()
        time.sleep(0.5)
    return Round(cpu={n: 100.0 * (ticks1[n] - ticks0[n]) / CLK_TCK / wall for n in ticks0},
                 bps={n: (bytes1[n] - bytes0[n]) / wall for n in bytes0}, wall=wall,
                 screen_ok=screen_ok, trace=trace)


def measure_cpu(args: argparse.Namespace, py: list[str], env: dict[str, str], work: Path,
                port: int) -> list[str]:
    """CPU, bytes/s and RSS of glances, the TUI, the headless monitor, the engine alone and the
    bare probe loop, over ``--rounds`` rounds of fresh processes; the figures are medians.

    Fresh processes each round because on a small VM what a process pays for a wake-up
    depends on whether the CPU was idle, i.e. on how its timers happen to fall against
    the other processes': two identical monitors started together measured 1.4 % and 2.5 %.
    """
    if not shutil.which("glances"):
        print("glances is not installed (apt-get install glances): no baseline", file=sys.stderr)
    rounds = [cpu_round(args, py, env, work, port, n) for n in range(args.rounds)]
    names = [n for n in ("glances", "tui", "headless", "engine-only", "bare-loop") if n in rounds[0].cpu]
    cpu = {n: statistics.median(r.cpu[n] for r in rounds) for n in names}
    bps = {n: statistics.median(r.bps[n] for r in rounds) for n in names}

    print(f"\n{args.targets} targets at 1 s, --refresh 1, tmux {COLS}x{ROWS}, all at once; "
          f"{len(rounds)} rounds of fresh processes, {args.seconds:.0f} s each after {args.warmup:.0f} s "
          "warm-up; medians")
    print(f"{'process':<24}{'CPU % of a core':>16}{'bytes/s to tty':>16}   CPU in each round")
    for name in names:
        each = ", ".join(f"{r.cpu[name]:.2f}" for r in rounds)
        print(f"{name:<24}{cpu[name]:>16.2f}{bps[name]:>16.0f}   {each}")
    ui_share = cpu["tui"] - cpu["headless"]
    print(f"{'UI share (tui-headless)':<24}{ui_share:>16.2f}")
    print(f"{'TUI over the engine':<24}{cpu['tui'] - cpu['engine-only']:>16.2f}"
          "   (the TUI minus the headless monitor writing nowhere: Textual's whole cost)")
    print(f"{'TUI over the floor':<24}{cpu['tui'] - cpu['bare-loop']:>16.2f}"
          "   (the TUI minus a bare websockets loop probing on the same schedule)")
    if not all(r.screen_ok for r in rounds):
        print("warning: the TUI's screen did not show the targets at the end of a window")
    failed: list[str] = []
    if "glances" in cpu:
        ratios = [r.cpu["tui"] / r.cpu["glances"] if r.cpu["glances"] else float("inf") for r in rounds]
        ratio = statistics.median(ratios)
        g = cpu["glances"]
        ok1, ok2 = ratio <= 1.0, ui_share <= g / 2
        print(f"TUI vs glances:       median of the rounds' ratios {ratio:.2f}x ("
              + ", ".join(f"{x:.2f}" for x in ratios) + f"); target <= 1x  {'OK' if ok1 else 'MISSED'}")
        print(f"UI share vs glances:  {ui_share:.2f} % vs {g:.2f} %  ({ui_share / g:.2f}x; "
              f"target <= 0.5x)  {'OK' if ok2 else 'MISSED'}")
        failed += [] if ok1 else ["TUI CPU"]
        failed += [] if ok2 else ["UI share"]
    first = rounds[0]
    if len(first.trace["tui"]) >= 4:  # a long round: judge the plateau, not the warm-up
        ok3 = long_run_rss(first, args.rss_every)
    else:
        growth = max((r.rss1["tui"] - r.rss0["tui"]) / r.rss0["tui"] for r in rounds if r.rss0["tui"])
        ok3 = growth < 0.10
        print(f"TUI RSS:              {first.rss0['tui']:.1f} -> {first.rss1['tui']:.1f} MB in the first "
              f"round; largest growth in a round {growth:+.1%} (target flat, < +10 %; --rounds 1 "
              f"--seconds 3600 for a long run)  {'OK' if ok3 else 'MISSED'}")
    return failed + ([] if ok3 else ["RSS"])


def long_run_rss(first: Round, every: float) -> bool:
    """Print the RSS timeline of a long round; flat means the last third grew < 1 %.

    Before that, memory warms up: what is bounded but fills slowly (SQLite's page caches
    fill as the database grows and are dropped whenever another connection writes; the
    series' ring buffers; Textual's and Rich's LRU caches; malloc's arenas). glances
    does the same. The timeline says when each process levelled off.
    """
    print(f"RSS over the round, MB every {every:.0f} s (levelled off: within 1 % of the end from then on):")
    for name in ("tui", "engine-only", "headless", "glances"):
        trace = first.trace.get(name)
        if trace:
            end = trace[-1]
            level = next(i for i in range(len(trace)) if all(abs(v - end) <= 0.01 * end for v in trace[i:]))
            print(f"  {name:<12} " + " ".join(f"{mb:.1f}" for mb in trace)
                  + f"   levelled off after {level * every / 60:.0f} min")
    trace = first.trace["tui"]
    start = trace[(2 * len(trace)) // 3]
    growth = (trace[-1] - start) / start
    ok = growth < 0.01
    print(f"TUI RSS over the last third of the round: {start:.1f} -> {trace[-1]:.1f} MB ({growth:+.1%}; "
          f"target flat, < +1 %)  {'OK' if ok else 'MISSED'}")
    return ok


def measure_first_frame(args: argparse.Namespace, py: list[str], env: dict[str, str],
                        work: Path) -> list[str]:
    """Exec to first paint in tmux, wsmon's summary against the smallest Textual app, interleaved."""
    smallest = [sys.executable, str(work / "smallest.py")]
    (work / "smallest.py").write_text(SMALLEST_APP, encoding="utf-8")
    ours = [*py, "--state-dir", str(work / "st-ff"), "--refresh", "1"]
    frame = ("bench-deploy", "1 Summary")
    cards = ("bench-deploy", "echo-00", "score")
    first_frame("warm-up", ours, frame, env, work)  # creates the store, warms the page cache
    base: list[float] = []
    mine: list[float] = []
    data: list[float] = []
    for i in range(args.starts):  # interleaved, so both see the same machine noise
        base.append(first_frame(f"smallest{i}", smallest, ("ready",), env, work))
        mine.append(first_frame(f"wsmon{i}", ours, frame, env, work))
        if i < 2:
            data.append(first_frame(f"wsmon-data{i}", ours, cards, env, work))
    b, o, d = statistics.median(base), statistics.median(mine), statistics.median(data)
    ok = o <= 2 * b
    print(f"\nfirst frame (exec -> on screen in tmux, median of {args.starts}, interleaved):")
    print(f"  smallest Textual app, one word   {b * 1000:7.0f} ms  "
          f"[{min(base) * 1000:.0f}-{max(base) * 1000:.0f}]")
    print(f"  wsmon summary (header, tabs)     {o * 1000:7.0f} ms  "
          f"[{min(mine) * 1000:.0f}-{max(mine) * 1000:.0f}]  {o / b:.2f}x (target <= 2x)  "
          f"{'OK' if ok else 'MISSED'}")
    print(f"  wsmon summary with target cards  {d * 1000:7.0f} ms  (after the first probes; for scale)")
    return [] if ok else ["first frame"]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=40.0, help="measuring window of each round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of fresh processes (medians are reported)")
    ap.add_argument("--warmup", type=float, default=6.0)
    ap.add_argument("--rss-every", type=float, default=60.0, help="RSS sampling period within a round")
    ap.add_argument("--targets", type=int, default=10)
    ap.add_argument("--starts", type=int, default=7, help="starts per first-frame measurement")
    ap.add_argument("--only", choices=("cpu", "first-frame"), help="run one part only")
    args = ap.parse_args(argv)
    if not shutil.which("tmux"):
        print("tmux is not installed (apt-get install tmux)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="wsmon-bench-tui-"))
    env = {"HOME": str(work / "home"), "XDG_CONFIG_HOME": str(work / "home" / ".config"),
           "XDG_STATE_HOME": str(work / "home" / ".local" / "state"), "TERM": "tmux-256color",
           "USER": os.environ.get("USER", "bench"), "PYTHONPATH": str(ROOT)}
    failed: list[str] = []
    try:
        with echo_server() as port:
            config = work / "wsmon.toml"
            config.write_text(config_text(port, args.targets), encoding="utf-8")
            py = [sys.executable, "-m", "wsmon_tui", "--config", str(config)]
            if args.only != "first-frame":
                failed += measure_cpu(args, py, env, work, port)
            if args.only != "cpu":
                failed += measure_first_frame(args, py, env, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nmissed: " + ", ".join(failed) if failed else "\nevery target met")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
