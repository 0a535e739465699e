"""Faces attached to a running engine, in tmux, side by side with glances, in one run.

Two headless monitors run the engine on two state dirs (10 targets, 1 s interval, output
thrown away): A and B. Window 1: both alone. Then ``--faces`` dashboards attach to A
(``wsmon-tui --state-dir A --refresh 1``, each in its own tmux server at 160x48) and
``glances -t 1`` starts in another. Window 2: everything at once.

1. An attached TUI's CPU (its own process) against glances': target <= 0.5x.
2. The engine's added CPU per attached face: ((A2 - B2) - (A1 - B1)) / faces, i.e. what A
   gained over the control B once the faces attached, per face: target < 2 % of one core.

CPU is utime+stime from /proc/<pid>/stat over each window (bench_tui.py's way); fresh
processes every round; the figures are medians of the rounds.

    .venv/bin/python benchmarks/bench_attach.py [--seconds 30] [--rounds 2] [--faces 2]

Not a test: it prints the figures and exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_tui import CLK_TCK, ROOT, Pane, config_text, cpu_ticks, tree, wait_for
from echo_server import echo_server


def window(panes: dict[str, Pane], seconds: float) -> dict[str, float]:
    """CPU % of one core of each pane's process tree over ``seconds``."""
    pids = {name: tree(p.pid()) for name, p in panes.items()}
    ticks0 = {name: cpu_ticks(ps) for name, ps in pids.items()}
    t0 = time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - t0
    ticks1 = {name: cpu_ticks(ps) for name, ps in pids.items()}
    return {name: 100.0 * (ticks1[name] - ticks0[name]) / CLK_TCK / wall for name in pids}


def wait_socket(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} never appeared")
        time.sleep(0.05)


def one_round(args: argparse.Namespace, py: list[str], env: dict[str, str], work: Path,
              n: int) -> dict[str, float]:
    engines = {}
    for name in ("A", "B"):
        state = work / f"st-{name}{n}"
        line = f"exec {shlex.join(py)} --state-dir {shlex.quote(str(state))} monitor >/dev/null"
        engines[name] = (Pane(f"engine-{name}", ["sh", "-c", line], env, work), state)
    faces = [Pane(f"face{i}", [*py, "--state-dir", str(engines["A"][1]), "--refresh", "1"], env, work)
             for i in range(args.faces)]
    glances = Pane("glances", [shutil.which("glances") or "glances", "-t", "1"], env, work)
    panes = [p for p, _ in engines.values()]
    try:
        for pane in panes:
            pane.start(pipe=False)
        for _, state in engines.values():
            wait_socket(state / "engine.sock")
        time.sleep(args.warmup)
        alone = window({"A": engines["A"][0], "B": engines["B"][0]}, args.seconds)
        for pane in [*faces, glances]:
            pane.start(pipe=False)
            panes.append(pane)
        for face in faces:
            wait_for(face, ("attached to pid", "echo-00"))
        time.sleep(args.warmup)
        both = window({"A": engines["A"][0], "B": engines["B"][0], "glances": glances,
                       **{f.name: f for f in faces}}, args.seconds)
        if not all("attached to pid" in f.screen() for f in faces):
            print("warning: a face was not attached at the end of the window", file=sys.stderr)
    finally:
        for pane in panes:
            pane.stop()
        time.sleep(0.5)
    face_cpu = statistics.mean(both[f.name] for f in faces)
    return {"A1": alone["A"], "B1": alone["B"], "A2": both["A"], "B2": both["B"], "face": face_cpu,
            "glances": both["glances"],
            "per_face": ((both["A"] - both["B"]) - (alone["A"] - alone["B"])) / max(1, args.faces)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--faces", type=int, default=2)
    parser.add_argument("--targets", type=int, default=10)
    args = parser.parse_args(argv)
    if not shutil.which("tmux") or not shutil.which("glances"):
        print("tmux and glances are needed (apt-get install tmux glances)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="wsmon-bench-attach-") as tmp, echo_server() as port:
        work = Path(tmp)
        cfg = work / "wsmon.toml"
        cfg.write_text(config_text(port, args.targets))
        env = {"HOME": str(work), "XDG_STATE_HOME": str(work / "state"), "TERM": "tmux-256color",
               "PYTHONPATH": str(ROOT), "USER": os.environ.get("USER", "bench")}
        py = [sys.executable, "-m", "wsmon_tui", "--config", str(cfg)]
        rounds = [one_round(args, py, env, work, n) for n in range(args.rounds)]
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    print(f"\n{args.targets} targets at 1 s; {args.faces} dashboards attached (--refresh 1, tmux 160x48); "
          f"{len(rounds)} rounds of {args.seconds:.0f} s windows after {args.warmup:.0f} s warm-up; medians")
    print(f"{'figure':<40}{'CPU % of a core':>16}   each round")
    rows = [("engine A alone", "A1"), ("control engine B, window 1", "B1"),
            ("engine A with the faces", "A2"), ("control engine B, window 2", "B2"),
            ("an attached TUI (mean of the faces)", "face"), ("glances -t 1", "glances"),
            ("engine's added CPU per face", "per_face")]
    for label, key in rows:
        each = ", ".join(f"{r[key]:.2f}" for r in rounds)
        print(f"{label:<40}{med[key]:>16.2f}   {each}")
    ratio = statistics.median(r["face"] / r["glances"] if r["glances"] else float("inf") for r in rounds)
    ok1, ok2 = ratio <= 0.5, med["per_face"] < 2.0
    print(f"attached TUI vs glances: {ratio:.2f}x (target <= 0.5x)  {'OK' if ok1 else 'MISSED'}")
    print(f"engine per attached face: {med['per_face']:.2f} % of a core (target < 2 %)  "
          f"{'OK' if ok2 else 'MISSED'}")
    return 0 if ok1 and ok2 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
