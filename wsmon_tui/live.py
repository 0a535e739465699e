"""The headless monitor's output: a rich Live table on a terminal, plain lines otherwise.

Strings that came from servers (names, error details) are passed to rich as ``Text``
objects, never as markup, and stripped of control characters first. Numbers are
formatted by ``wsmon_tui.fmt``, as on the TUI's screens and in reports.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from typing import Any

from wsmon_tui.config import Config
from wsmon_tui.fmt import MISSING, count, ms, num, pct, rate, timestamp
from wsmon_tui.model import Snapshot, TargetView
from wsmon_tui.report.sanitize import strip_control

STATUS_STYLE = {"healthy": "green", "degraded": "yellow", "critical": "bold red", "unknown": "dim"}


def _ms(value: float | None) -> str:
    """Milliseconds in a ``key=value`` log field: "12.3ms" (no space, so the line splits on spaces)."""
    shown = ms(value, unit=False)
    return shown if shown == MISSING else f"{shown}ms"


LINE_TARGETS = 20
"""Beyond this many targets the plain line gives counts by status and the worst few."""
LINE_WORST = 5
LINE_FIRING = 10
"""Firing alerts named on the plain line; the rest are counted."""
_WORST_FIRST = {"critical": 0, "degraded": 1, "unknown": 2, "healthy": 3}


def _target_item(t: TargetView) -> str:
    item = f"{strip_control(t.name)}: {t.status} ok={pct(t.success_rate)} hs_p95={_ms(t.handshake_ms.p95)}"
    if t.rtt_ms.p95 is not None:
        item += f" rtt_p95={_ms(t.rtt_ms.p95)}"
    if t.last_probe is not None and not t.last_probe.ok:
        item += f" last_error={t.last_probe.error_class}"
    if t.hold is not None:
        item += f" hold={'up' if t.hold.connected else 'down'}"
        if t.hold.disconnects:
            item += " hold_drops=" + ",".join(f"{strip_control(c)}:{n}"
                                              for c, n in sorted(t.hold.disconnects.items()))
    return item


def _fleet_items(targets: tuple[TargetView, ...]) -> list[str]:
    """``5000 targets: 4990 healthy, 8 degraded, 2 critical`` and the worst few, each as in a short line."""
    by_status = Counter(t.status for t in targets)
    order = sorted(by_status, key=lambda s: (-_WORST_FIRST.get(s, 2), s))
    items = [f"{len(targets)} targets: " + ", ".join(f"{by_status[s]} {s}" for s in order)]
    bad = [t for t in targets if t.status != "healthy"]
    bad.sort(key=lambda t: (_WORST_FIRST.get(t.status, 2),
                            t.health_score if t.health_score is not None else 101.0, t.name))
    if bad:
        items.append("worst: " + ", ".join(_target_item(t) for t in bad[:LINE_WORST]))
    return items


def status_line(snap: Snapshot) -> str:
    """One plain line per interval for logs and pipes: each target, or beyond ``LINE_TARGETS``
    the counts by status and the worst ``LINE_WORST`` (5000 targets made a 184 KB line)."""
    parts = [f"{timestamp(snap.taken_at)} {snap.status.upper()} health={num(snap.health_score, 0)}"]
    if len(snap.targets) <= LINE_TARGETS:
        parts += [_target_item(t) for t in snap.targets]
    else:
        parts += _fleet_items(snap.targets)
    firing = [a for a in snap.alerts if a.state == "firing"]
    if firing:
        named = ", ".join(strip_control(f"{a.rule}/{a.target}") for a in firing[:LINE_FIRING])
        more = len(firing) - LINE_FIRING
        parts.append(f"firing: {named}" + (f" and {more} more" if more > 0 else ""))
    if snap.rollback is not None and snap.rollback.state not in ("idle", ""):
        parts.append(f"rollback: {snap.rollback.state}")
    return " | ".join(parts)


class PlainPrinter:
    """One line per probe interval on stdout (not a terminal: logs, pipes, CI)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._last = 0.0
        self._told: set[str] = set()

    def start(self, monitor: Any, metrics_url: str | None) -> None:
        print(f"session {monitor.session_id} started: {self.config.deployment.name} "
              f"{self.config.deployment.version} level={self.config.monitor.level} "
              f"interval={monitor.interval:g}s targets={len(self.config.targets)}", flush=True)
        if metrics_url is not None:
            print(f"metrics at {metrics_url}", flush=True)

    def update(self, snap: Snapshot) -> None:
        for note in snap.notes:  # what is not stored, sources that fail: said once, on stderr
            key = re.sub(r"\d+", "#", note)
            if key not in self._told:
                self._told.add(key)
                print(f"wsmon-tui: note: {strip_control(note)}", file=sys.stderr, flush=True)
        if snap.taken_at - self._last < snap.interval:
            return
        self._last = snap.taken_at
        print(status_line(snap), flush=True)

    def stop(self) -> None:
        sys.stdout.flush()


class LivePrinter:
    """A status table redrawn in place (rich Live) at most once a second."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._live: Any = None

    def start(self, monitor: Any, metrics_url: str | None) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console()
        console.print(f"session {monitor.session_id} started", markup=False, highlight=False)
        if metrics_url is not None:
            console.print(f"metrics at {metrics_url}", markup=False)
        # Redrawn once per snapshot, not by Live's own refresh thread: nothing changes between.
        self._live = Live(console=console, auto_refresh=False, transient=False)
        self._live.start()

    def update(self, snap: Snapshot) -> None:
        if self._live is not None:
            self._live.update(self.render(snap), refresh=True)

    def render(self, snap: Snapshot) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        title = Text()
        title.append(strip_control(f"{snap.deployment.name} {snap.deployment.version}  "), style="bold")
        title.append(snap.status.upper(), style=STATUS_STYLE.get(snap.status, ""))
        if snap.health_score is not None:
            title.append(f"  health {num(snap.health_score, 0)}/100")
        table = Table(expand=False)
        for col in ("target", "status", "health", "ok", "hs p95 ms", "rtt p95 ms", "conns",
                    "msg/s", "queue", "last error"):
            table.add_column(col, no_wrap=True)
        for t in snap.targets:
            last = ""
            if t.last_probe is not None and not t.last_probe.ok:
                last = f"{t.last_probe.error_class}: {t.last_probe.detail}"[:60]
            elif t.hold is not None and t.hold.disconnects:
                drops = ", ".join(f"{c}×{n}" for c, n in sorted(t.hold.disconnects.items()))
                last = f"held connection dropped: {drops}"[:60]
            table.add_row(
                Text(strip_control(t.name)), Text(t.status, style=STATUS_STYLE.get(t.status, "")),
                Text(num(t.health_score, 0)),
                Text(pct(t.success_rate)), Text(ms(t.handshake_ms.p95, unit=False)),
                Text(ms(t.rtt_ms.p95, unit=False)), Text(count(t.metrics.get("connections"))),
                Text(rate(t.metrics.get("messages_per_s"), unit=False)),
                Text(count(t.metrics.get("queue_depth"))), Text(strip_control(last)),
            )
        parts: list[Any] = [title, table]
        for alert in snap.alerts:
            if alert.state == "firing":
                parts.append(Text(strip_control(f"FIRING {alert.severity} {alert.rule} on {alert.target}: "
                                                f"{alert.summary}"), style="red"))
        if snap.rollback is not None and snap.rollback.state not in ("idle", ""):
            parts.append(Text(f"rollback: {snap.rollback.state}", style="bold"))
        for note in snap.notes:
            parts.append(Text(strip_control(note), style="yellow"))
        return Group(*parts)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
