"""The summary view: big figures; the alerts, rollout and host panels; the targets, worst first.

The panels come right under the figures and the targets take what is left
(``widgets/target_board.py``: a card each, or the healthy folded into one card, or a line
each), so the panels are on screen at any size and with any number of targets.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static

from wsmon_tui.model import Snapshot, TargetView
from wsmon_tui.tui.fmt import count, duration, ms, num, pct, pct100, safe
from wsmon_tui.tui.screens.alerts import ordered, shown_state
from wsmon_tui.tui.screens.base import ViewScreen
from wsmon_tui.tui.thresholds import Thresholds, worse
from wsmon_tui.tui.widgets.figures import Figure
from wsmon_tui.tui.widgets.target_board import TargetBoard
from wsmon_tui.tui.widgets.target_card import card_scales

FIGURES = (("connections", "Connections"), ("messages", "Messages/s"), ("errors", "Error rate"),
           ("handshake", "p95 handshake"), ("rtt", "p95 round-trip"), ("adoption", "Adoption"),
           ("queue", "Queue depth"))
FLEET = "fleet"
"""The scope line of a figure over the whole deployment (summed or from the servers' own)."""
SEV_STYLE = {"critical": "bold $text-error", "warning": "bold $text-warning", "info": "$text-primary"}


def _worst(snap: Snapshot, value: Callable[[TargetView], float | None]) -> tuple[float | None, str]:
    """The highest value among the targets, and whose it is ("" when none has one)."""
    found = [(v, t.name) for t in snap.targets if (v := value(t)) is not None]
    if not found:
        return None, ""
    best = max(found, key=lambda pair: pair[0])
    return best[0], best[1]


def worst_scope(name: str) -> str:
    """The third line of a worst-target figure: whose figure it is."""
    return f"worst: {safe(name, 40)}" if name else "worst target"


def figure_values(snap: Snapshot, thresholds: Thresholds | None = None) -> dict[str, tuple[str, str, str]]:
    """Each big figure's value, level and scope. The level is "warning" or "error" when a
    target's value is past its rule's threshold (the rules' tiers), or an alert on that metric
    is firing; fleet-wide figures say "fleet", the worst target's say whose they are (an error
    rate of 100 % on one target is not the fleet's)."""
    ov = snap.overall
    targets = snap.targets
    th = thresholds or Thresholds()
    errs, errs_on = _worst(snap, lambda t: t.error_rate)
    hs, hs_on = _worst(snap, lambda t: t.handshake_ms.p95)
    rtt, rtt_on = _worst(snap, lambda t: t.rtt_ms.p95)

    def level(metric: str) -> str:
        return worse(th.worst(metric, ((t.name, t.values.get(metric)) for t in targets)),
                     th.alert_level(snap.alerts, metric))

    return {
        "connections": (count(ov.get("connections")), th.alert_level(snap.alerts, "connection_utilisation"),
                        FLEET),
        "messages": (num(ov.get("messages_per_s")), "", FLEET),
        "errors": (pct(errs), level("error_rate"), worst_scope(errs_on)),
        "handshake": (ms(hs), level("handshake_p95"), worst_scope(hs_on)),
        "rtt": (ms(rtt), level("rtt_p95"), worst_scope(rtt_on)),
        "adoption": (pct(ov.get("adoption")), th.alert_level(snap.alerts, "adoption"), FLEET),
        "queue": (count(ov.get("queue_depth")), level("queue_depth"), FLEET),
    }


def alerts_content(snap: Snapshot, limit: int = 6) -> Content:
    """The active alerts, most severe first, one line each (the panel cuts, never wraps, them)."""
    active = [a for a in snap.alerts if a.state in ("pending", "firing")]
    by_sev = {s: sum(1 for a in active if a.severity == s) for s in ("critical", "warning", "info")}
    parts: list[str | tuple[str, str]] = [("Alerts  ", "bold")]
    for sev, n in by_sev.items():
        if n:
            parts.append((f"{n} {sev}  ", SEV_STYLE[sev]))
    active = ordered(active)  # the alerts view's order: firing, pending, acknowledged, muted
    for alert in active[:limit]:
        parts.append("\n")
        parts.append((f"{alert.severity[:4].upper():<5}", SEV_STYLE.get(alert.severity, "")))
        mark = " ✓" if alert.acknowledged_by else ""
        parts.append(f"{safe(alert.rule, 30)} · {safe(alert.target, 24)} · {shown_state(alert)}{mark}")
    if not active:
        parts.append(("\nno active alerts", "$text-success"))
    elif len(active) > limit:
        parts.append((f"\n… {len(active) - limit} more (3 for the alerts view)", "$text-muted"))
    return Content.assemble(*parts)


def rollout_content(snap: Snapshot) -> Content:
    parts: list[str | tuple[str, str]] = [("Rollout  ", "bold")]
    dep = snap.deployment
    parts.append(f"{pct100(dep.rollout_percent)} on {safe(dep.version or '?', 24)}")
    rb = snap.rollback
    parts.append(("\nRollback ", "bold"))
    if rb is None:
        parts.append(("not configured", "$text-muted"))
    else:
        style = {"failed": "bold $text-error", "failed_verification": "bold $text-error",
                 "running": "bold $text-warning", "verifying": "bold $text-warning",
                 "verified": "$text-success"}.get(rb.state, "")
        parts.append((rb.state, style))
        if rb.trigger:
            parts.append(f" ({safe(rb.trigger, 30)})")
        if rb.recommended:
            parts.append(("\nrollback recommended: press R", "bold $text-error"))
        if rb.reason:
            parts.append(("\n" + safe(rb.reason, 80), "$text-muted"))
        if rb.auto_count:
            parts.append(f"\nautomatic rollbacks of this version: {rb.auto_count}")
        if rb.started_at is not None:
            if rb.finished_at is not None:
                parts.append(f"\ntook {duration(rb.finished_at - rb.started_at)}")
            else:  # still running or verifying: "took" would say it is over
                parts.append(f"\nunder way for {duration(max(0.0, snap.taken_at - rb.started_at))}")
    return Content.assemble(*parts)


def resources_content(snap: Snapshot) -> Content:
    res = snap.resources
    parts: list[str | tuple[str, str]] = [("Host  ", "bold")]
    if res is None:
        parts.append(("not sampled", "$text-muted"))
        _notes(parts, snap)  # a snapshot without host figures (the fleet view's) still says its notes
        return Content.assemble(*parts)
    parts.append(f"cpu {pct100(res.cpu_percent)}  mem {pct100(res.memory_percent)}  "
                 f"load {num(res.load1, 2)}  tcp {count(res.tcp_connections)}")
    if res.process:
        p = res.process
        parts.append(("\nProcess  ", "bold"))
        parts.append(f"cpu {pct100(p.get('cpu_percent'))}  rss {num(p.get('rss_mb'), 0)} MB  "
                     f"fds {count(p.get('open_fds'))}  threads {count(p.get('threads'))}")
    if res.error:
        parts.append(("\n" + safe(res.error, 100), "$text-warning"))
    _notes(parts, snap)
    return Content.assemble(*parts)


def _notes(parts: list[str | tuple[str, str]], snap: Snapshot) -> None:
    for note in snap.notes[:3]:
        parts.append(("\n" + safe(note, 100), "$text-warning"))


class SummaryScreen(ViewScreen):
    MODE = "summary"

    def __init__(self) -> None:
        super().__init__()
        self._figures: dict[str, Figure] = {}

    def compose_body(self) -> ComposeResult:
        with Vertical(id="summary-body"):
            with Grid(id="figures"):
                for key, label in FIGURES:
                    yield Figure(key, label)
            with Horizontal(id="summary-panels"):
                yield Static("", id="alerts-panel", classes="panel")
                yield Static("", id="rollout-panel", classes="panel")
                yield Static("", id="resources-panel", classes="panel")
            yield TargetBoard(id="targets")

    def on_resize(self) -> None:
        self.query_one("#figures", Grid).styles.grid_size_columns = 7 if self.size.width >= 110 else 4
        # On a short screen the blank rows between the figures, the panels and the targets
        # go to the targets: at 80x24 that is two more target lines (the degraded ones).
        self.set_class(self.size.height < 30, "-compact")

    def alert_lines(self) -> int:
        """How many alerts the panel lists: fewer on a short screen, so the targets keep room."""
        height = self.size.height
        return 6 if height >= 40 else 4 if height >= 30 else 3

    def show(self, snapshot: Snapshot) -> None:
        if not self._figures:
            self._figures = {key: self.query_one(f"#figure-{key}", Figure) for key, _ in FIGURES}
        thresholds = self.wsmon.thresholds
        for key, (value, level, scope) in figure_values(snapshot, thresholds).items():
            self._figures[key].show(value, level, scope)
        self.set_text("#alerts-panel", alerts_content(snapshot, self.alert_lines()))
        self.set_text("#rollout-panel", rollout_content(snapshot))
        self.set_text("#resources-panel", resources_content(snapshot))
        self.query_one(TargetBoard).show(snapshot.targets, card_scales(snapshot, thresholds))
