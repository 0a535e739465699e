"""Why it fired: value against threshold, the timeline, time left to `for`, a sparkline of
the metric, the runbook and the delivery status of every notification."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Sparkline, Static

from wsmon_tui.model import AlertView
from wsmon_tui.tui.fmt import duration, num, safe

if TYPE_CHECKING:
    from wsmon_tui.tui.app import WsmonApp

Parts = list[str | tuple[str, str]]


def find_rule(monitor: Any, name: str) -> Any | None:
    """The rule behind an alert: the config's rules, else the alert engine's (defaults)."""
    for rule in getattr(getattr(monitor.config, "alerts", None), "rules", []) or []:
        if rule.name == name:
            return rule
    engine = getattr(monitor, "alert_engine", None)
    for rule in getattr(engine, "rules", None) or []:
        if getattr(rule, "name", None) == name:
            return rule
    return None


def _ts(label: str, at: float | None, now: float) -> Parts:
    if at is None:
        return [(f"  {label:<13}", "$text-muted"), ("–\n", "$text-muted")]
    return [f"  {label:<13}{duration(now - at)} ago\n"]


def why_content(alert: AlertView, rule: Any | None, now: float,
                deliveries: list[dict[str, Any]] | None) -> Content:
    parts: Parts = [(f"{alert.severity.upper()} ", "bold"), (safe(alert.rule, 60), "bold"),
                    "  on  ", (safe(alert.target or "overall", 60), "bold"), f"  ({alert.state})\n"]
    if alert.summary:
        parts.append(safe(alert.summary, 300) + "\n")
    if alert.description:
        parts.append((safe(alert.description, 600) + "\n", "$text-muted"))
    metric = getattr(rule, "metric", "") if rule is not None else ""
    op = getattr(rule, "op", "") if rule is not None else ""
    parts.append(("\nValue against threshold\n", "bold"))
    parts.append(f"  {safe(metric or 'value', 40)} = {num(alert.value, 3)}  {op or 'vs'}  "
                 f"threshold {num(alert.threshold, 3)}\n")
    parts.append(("\nTimeline\n", "bold"))
    parts += _ts("pending", alert.started_at, now)
    parts += _ts("firing", alert.firing_at, now)
    parts += _ts("resolved", alert.resolved_at, now)
    parts += _ts("acknowledged", alert.acknowledged_at, now)
    if alert.acknowledged_by:
        parts.append(f"  by {safe(alert.acknowledged_by, 40)}")
        if alert.ack_comment:
            parts.append(f": {safe(alert.ack_comment, 200)}")
        parts.append("\n")
    for_ = getattr(rule, "for_", None) if rule is not None else None
    if for_ is not None:
        if alert.state == "pending" and alert.started_at is not None:
            left = max(0.0, alert.started_at + for_ - now)
            parts.append(f"  fires in {duration(left)} if it holds (for = {duration(for_)})\n")
        else:
            parts.append((f"  for = {duration(for_)}\n", "$text-muted"))
    if alert.silenced:
        parts.append(("  silenced\n", "$text-warning"))
    if alert.escalated:
        parts.append(("  escalated\n", "bold $text-error"))
    if alert.labels:
        parts.append(("\nLabels\n", "bold"))
        for key, value in sorted(alert.labels.items())[:20]:
            parts.append(f"  {safe(key, 30)} = {safe(value, 80)}\n")
    parts.append(("\nRunbook\n", "bold"))
    parts.append(("  " + safe(alert.runbook, 300) + "\n") if alert.runbook else ("  none\n", "$text-muted"))
    parts.append(("\nNotifications\n", "bold"))
    if deliveries is None:
        parts.append(("  delivery status is not available in this session\n", "$text-muted"))
    elif not deliveries:
        parts.append(("  none sent\n", "$text-muted"))
    else:
        for d in deliveries[-12:]:
            status = safe(d.get("status", "?"), 20)
            style = "$text-success" if status == "sent" else "$text-warning"
            parts.append(f"  {safe(d.get('channel', '?'), 24):<24} {safe(d.get('kind', ''), 10):<10} ")
            parts.append((status, style))
            parts.append(f"  attempts {d.get('attempts', 0)}")
            if d.get("last_error"):
                parts.append("  " + safe(d["last_error"], 120))
            parts.append("\n")
    return Content.assemble(*parts)


class AlertDetailScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="detail.close", tooltip="Back to the alerts"),
    ]

    def __init__(self, alert_id: str) -> None:
        super().__init__(classes="detail-screen")
        self.alert_id = alert_id
        self._last: Content | None = None
        self._spark: tuple[float, ...] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="detail-panel") as panel:
            panel.border_title = "Why it fired"
            yield Static("", id="spark-label", classes="card-label")
            yield Sparkline([], summary_function=max, id="alert-spark")
            yield Static("", id="alert-detail")

    def on_mount(self) -> None:
        self.paint()

    def paint(self) -> None:
        app = cast("WsmonApp", self.app)
        snap = app.latest
        alert = next((a for a in snap.alerts if a.id == self.alert_id), None) if snap else None
        if alert is None or snap is None:
            content = Content(f"alert {safe(self.alert_id)} is no longer in the snapshot")
            rule = None
        else:
            monitor = app.monitor
            rule = find_rule(monitor, alert.rule)
            deliveries = None
            if hasattr(monitor, "deliveries"):
                try:
                    deliveries = list(monitor.deliveries(alert.id))
                except Exception as exc:
                    deliveries = [{"channel": "?", "status": "unknown", "last_error": str(exc)}]
            content = why_content(alert, rule, snap.taken_at, deliveries)
            metric = getattr(rule, "metric", "") if rule is not None else ""
            values: tuple[float, ...] = ()
            if metric:
                for target in (alert.target, "", "overall"):
                    series = monitor.series.get(target, metric)
                    if series is not None:
                        values = series.tail(60)
                        break
            if values != self._spark:
                self._spark = values
                label = f"{metric}: last {len(values)} values" if values else "no recent values in memory"
                self.query_one("#spark-label", Static).update(Content(safe(label)))
                self.query_one("#alert-spark", Sparkline).data = list(values)
        if content != self._last:
            self._last = content
            self.query_one("#alert-detail", Static).update(content)
