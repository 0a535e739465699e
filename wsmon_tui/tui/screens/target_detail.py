"""One target in depth: errors by class and close code, last probe, instances, hold connection."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from wsmon_tui.model import TargetView
from wsmon_tui.tui.fmt import DASH, count, duration, ms, num, pct, safe
from wsmon_tui.tui.screens.popup import close_hint

if TYPE_CHECKING:
    from wsmon_tui.tui.app import WsmonApp

Parts = list[str | tuple[str, str]]
NOT_RECORDED = "not recorded"


def _counts(title: str, counts: Mapping[str, int]) -> Parts:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    parts: Parts = [(f"\n{title}\n", "bold")]
    if not items:
        return [*parts, ("  none\n", "$text-muted")]
    for key, n in items[:12]:
        parts.append(f"  {safe(key, 30):<24}{n:>8}\n")
    return parts


def target_content(view: TargetView, now: float, not_recorded: Collection[str] = ()) -> Content:
    """``not_recorded``: figures the snapshot could not have (a replay), said so, not shown empty."""
    parts: Parts = [(safe(view.name, 60), "bold"), "  ", (safe(view.url, 100), "$text-muted"), "\n"]
    performance = NOT_RECORDED if "performance_score" in not_recorded else num(view.performance_score, 0)
    parts.append(f"status {view.status}  score {num(view.health_score, 0)}  "
                 f"performance {performance}  probes {view.probes}  "
                 f"success {pct(view.success_rate)}  late probes {view.overruns}\n")
    parts.append(f"handshake p50/p95/p99 {ms(view.handshake_ms.p50)} / {ms(view.handshake_ms.p95)} / "
                 f"{ms(view.handshake_ms.p99)}\n")
    parts.append(f"round-trip p50/p95/p99 {ms(view.rtt_ms.p50)} / {ms(view.rtt_ms.p95)} / "
                 f"{ms(view.rtt_ms.p99)}\n")
    if view.degraded_vs_baseline:
        parts.append(("degraded against the baseline\n", "bold $text-warning"))
    parts += _counts("Errors by class", view.errors)
    parts += _counts("Close codes", view.close_codes)
    parts += _counts("HTTP statuses (upgrade rejected)", view.http_statuses)
    parts.append(("\nLast probe\n", "bold"))
    probe = view.last_probe
    if probe is None:
        parts.append(("  none yet\n", "$text-muted"))
    else:
        result = ("ok", "$text-success") if probe.ok else (f"failed: {probe.error_class}", "$text-error")
        parts.append("  ")
        parts.append(result)
        parts.append(f"  {duration(now - probe.started_at)} ago  handshake {ms(probe.handshake_ms)}  "
                     f"rtt {ms(probe.rtt_ms)}")
        if probe.close_code is not None:
            parts.append(f"  close {probe.close_code}")
        if probe.http_status is not None:
            parts.append(f"  http {probe.http_status}")
        parts.append("\n")
        if probe.detail:
            parts.append("  " + safe(probe.detail, 300) + "\n")
        if probe.close_reason:
            parts.append("  close reason: " + safe(probe.close_reason, 200) + "\n")
    parts.append(("\nInstances (open connections)\n", "bold"))
    if "instances" in not_recorded:
        parts.append((f"  {NOT_RECORDED}\n", "$text-muted"))
    elif not view.instances:
        parts.append(("  not reported\n", "$text-muted"))
    else:
        for name, conns in sorted(view.instances.items())[:20]:
            parts.append(f"  {safe(name, 40):<40}{count(conns):>10}\n")
        parts.append(f"  imbalance {num(view.metrics.get('imbalance'), 2)}\n")
    if view.scrape_errors:
        parts.append((f"\nscrape errors {view.scrape_errors}: {safe(view.last_scrape_error, 200)}\n",
                      "$text-warning"))
    parts.append(("\nHold connection\n", "bold"))
    hold = view.hold
    if "hold" in not_recorded:
        parts.append((f"  {NOT_RECORDED}\n", "$text-muted"))
    elif hold is None:
        parts.append(("  not held (hold = false)\n", "$text-muted"))
    else:
        since = duration(now - hold.connected_since) if hold.connected_since else DASH
        parts.append(f"  {'connected' if hold.connected else 'disconnected'} for {since}  "
                     f"reconnects {hold.reconnects}  longest gap {num(hold.max_gap_s)} s\n")
        for code, n in sorted(hold.disconnects.items()):
            parts.append(f"  disconnects with close {safe(code, 12)}: {n}\n")
        if hold.last_error:
            parts.append("  last error: " + safe(hold.last_error, 200) + "\n")
    return Content.assemble(*parts)


class TargetDetailScreen(ModalScreen[None]):
    """Live: repainted from each new snapshot while open. Escape closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="detail.close", tooltip="Back to the view"),
    ]

    def __init__(self, target: str) -> None:
        super().__init__(classes="detail-screen")
        self.target = target
        self._last: Content | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="detail-panel") as panel:
            panel.border_title = "Target"
            panel.border_subtitle = close_hint(self, "close")
            yield Static("", id="target-detail")

    def on_mount(self) -> None:
        self.paint()

    def paint(self) -> None:
        app = cast("WsmonApp", self.app)
        snap = app.latest
        view = next((t for t in snap.targets if t.name == self.target), None) if snap else None
        if view is None:
            content = Content(f"target {safe(self.target)} is not in the latest snapshot")
        else:
            content = target_content(view, snap.taken_at if snap else app.clock(),
                                     snap.not_recorded if snap else ())
        if content != self._last:
            self._last = content
            self.query_one("#target-detail", Static).update(content)
