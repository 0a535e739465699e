"""Why it fired: the value it fired at and the value now against the threshold (in the
metric's unit), the timeline, time left to `for`, a sparkline of the metric, the runbook and
the delivery status of the episode's notifications."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Sparkline, Static

from wsmon_tui.errors import WsmonError
from wsmon_tui.metrics import OVERALL
from wsmon_tui.model import AlertView, Snapshot
from wsmon_tui.seam import RangeRequest, RuleInfo
from wsmon_tui.tui.fmt import duration, metric_value, safe
from wsmon_tui.tui.screens.popup import close_hint

if TYPE_CHECKING:
    from wsmon_tui.tui.app import WsmonApp

Parts = list[str | tuple[str, str]]
SPARK_POINTS = 60
REFETCH_S = 2.0
"""How often an open detail asks the engine again (deliveries and values move on)."""


def _ts(label: str, at: float | None, now: float) -> Parts:
    if at is None:
        return [(f"  {label:<13}", "$text-muted"), ("–\n", "$text-muted")]
    return [f"  {label:<13}{duration(now - at)} ago\n"]


def current_value(snap: Snapshot, alert: AlertView, metric: str) -> float | None:
    """The metric on the alert's target in the latest snapshot (the fleet's for ``overall``)."""
    if not metric:
        return None
    if metric == OVERALL:
        return snap.health_score
    if alert.target in ("", OVERALL):
        return snap.overall.get(metric)
    view = next((t for t in snap.targets if t.name == alert.target), None)
    return view.values.get(metric) if view is not None else None


def value_parts(alert: AlertView, rule: RuleInfo | None, now: float, current: float | None) -> Parts:
    """The value it fired at and the value now, apart, each in the metric's unit: a resolved
    alert's value is what resolved it, never a reason it fired."""
    metric = alert.metric or (rule.metric if rule is not None else "")
    op = rule.op if rule is not None else ""
    threshold = alert.threshold
    if threshold is None and rule is not None:
        threshold = rule.threshold

    def shown(value: float | None) -> str:
        return metric_value(metric, value)

    parts: Parts = [("\nValue against threshold\n", "bold")]
    if not metric and threshold is None:  # RollbackInProgress: a bare number would read as a measurement
        parts.append(("  none: this alert has no metric or threshold; its summary says what set it off\n",
                      "$text-muted"))
        return parts
    parts.append(f"  fires when {safe(metric or 'its value', 40)} {op or 'crosses'} {shown(threshold)}\n")
    if alert.firing_at is None:
        parts.append(("  fired at    not yet (pending)\n", "$text-muted"))
    else:
        parts.append("  fired at    ")
        parts.append((shown(alert.fired_value), "bold"))
        parts.append(f"  {duration(now - alert.firing_at)} ago\n" if alert.fired_value is not None
                     else "  (not recorded)\n")
    active = alert.state in ("pending", "firing")
    if active:
        parts.append("  now         ")
        parts.append((shown(alert.value), "bold"))
        parts.append("\n")
    else:
        ended = duration(now - alert.resolved_at) + " ago" if alert.resolved_at is not None else ""
        parts.append(f"  at its end  {shown(alert.value)}  {alert.state} {ended}\n")
        parts.append("  now         ")
        parts.append((shown(current), "bold") if current is not None else ("not in the latest snapshot",
                                                                             "$text-muted"))
        parts.append("\n")
    return parts


def why_content(alert: AlertView, rule: RuleInfo | None, now: float,
                deliveries: list[dict[str, Any]] | None, current: float | None = None) -> Content:
    parts: Parts = [(f"{alert.severity.upper()} ", "bold"), (safe(alert.rule, 60), "bold"),
                    "  on  ", (safe(alert.target or "overall", 60), "bold"), f"  ({alert.state})\n"]
    if alert.summary:
        parts.append(safe(alert.summary, 300) + "\n")
    if alert.description:
        parts.append((safe(alert.description, 600) + "\n", "$text-muted"))
    parts += value_parts(alert, rule, now, current)
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
    for_ = rule.for_ if rule is not None else None
    if for_ is not None:
        if alert.state == "pending" and alert.started_at is not None:
            left = max(0.0, alert.started_at + for_ - now)
            parts.append(f"  fires in {duration(left)} if it holds (for = {duration(for_)})\n")
        else:
            parts.append((f"  for = {duration(for_)}\n", "$text-muted"))
    if alert.inhibited_by:
        parts.append((f"  inhibited by {safe(alert.inhibited_by, 60)} (not notified)\n", "$text-muted"))
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
            style = ("$text-success" if status == "sent" else "$text-error"
                     if status in ("failed_permanent", "dropped") else "$text-warning")
            parts.append(f"  {safe(d.get('channel', '?'), 24):<24} {safe(d.get('kind', ''), 10):<10} ")
            parts.append((status, style))
            parts.append(f"  attempts {d.get('attempts', 0)}")
            if d.get("uncertain"):
                parts.append((f"  {d['uncertain']} may have arrived", "$text-warning"))
            if d.get("last_error"):
                parts.append("  " + safe(d["last_error"], 120))
            parts.append("\n")
    return Content.assemble(*parts)


def episode_deliveries(deliveries: list[dict[str, Any]], alert: AlertView,
                       alerts: tuple[AlertView, ...]) -> list[dict[str, Any]]:
    """The deliveries of this episode: the engine answers for the fingerprint (every episode),
    so those made before it started, or once the next episode shown had started, are left out."""
    start = alert.started_at
    if start is None:
        return deliveries
    later = [a.started_at for a in alerts if a.id == alert.id and a.started_at is not None
             and a.started_at > start]
    end = min(later) if later else math.inf

    def within(d: dict[str, Any]) -> bool:
        at = d.get("created_at")
        return not isinstance(at, int | float) or start <= at < end

    return [d for d in deliveries if within(d)]


class AlertDetailScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="detail.close", tooltip="Back to the alerts"),
    ]

    def __init__(self, episode: str) -> None:
        super().__init__(classes="detail-screen")
        self.episode = episode
        """``AlertView.episode`` of the alert shown: the one chosen, not another episode of its rule."""
        self._last: Content | None = None
        self._spark: tuple[float, ...] | None = None
        self._rule: RuleInfo | None = None
        self._deliveries: list[dict[str, Any]] | None = None
        self._values: tuple[float, ...] = ()
        self._metric = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="detail-panel") as panel:
            panel.border_title = "Why it fired"
            panel.border_subtitle = close_hint(self, "close")
            yield Static("", id="spark-label", classes="card-label")
            yield Sparkline([], summary_function=max, id="alert-spark")
            yield Static("", id="alert-detail")

    def on_mount(self) -> None:
        self.paint()
        self.load()
        self.set_interval(REFETCH_S, self.load)

    def _alert(self) -> tuple[AlertView | None, Snapshot | None]:
        snap = cast("WsmonApp", self.app).latest
        if snap is None:
            return None, None
        return next((a for a in snap.alerts if a.episode == self.episode), None), snap

    @work(group="alert-detail", exclusive=True, exit_on_error=False, description="why it fired")
    async def load(self) -> None:
        """The rule, the deliveries and the metric's recent values, from the engine."""
        engine = cast("WsmonApp", self.app).engine
        alert, snap = self._alert()
        if alert is None or snap is None:
            return
        if self._rule is None:
            self._rule = await engine.rule_info(alert.rule)
        try:
            self._deliveries = list(await engine.deliveries(alert.id))
        except WsmonError:  # e.g. a read-only session keeps no outbox: said as "not available"
            self._deliveries = None
        metric = alert.metric or (self._rule.metric if self._rule is not None else "")
        values: tuple[float, ...] = ()
        if metric:
            since = snap.taken_at - SPARK_POINTS * max(snap.interval, 1.0)
            for target in (alert.target, ""):
                req = RangeRequest(target, "health_score" if metric == OVERALL else metric)
                points = (await engine.metric_ranges([req], since, math.inf)).get(req, [])
                if points:
                    values = tuple(v for _, v in points[-SPARK_POINTS:])
                    break
        self._metric, self._values = metric, values
        self.paint()

    def paint(self) -> None:
        alert, snap = self._alert()
        if alert is None or snap is None:
            content = Content(f"alert {safe(self.episode)} is no longer in the snapshot")
        else:
            deliveries = (None if self._deliveries is None
                          else episode_deliveries(self._deliveries, alert, snap.alerts))
            metric = alert.metric or (self._rule.metric if self._rule is not None else "")
            content = why_content(alert, self._rule, snap.taken_at, deliveries,
                                  current_value(snap, alert, metric))
            values, metric = self._values, self._metric
            if values != self._spark:
                self._spark = values
                label = f"{metric}: last {len(values)} values" if values else "no recent values in memory"
                self.query_one("#spark-label", Static).update(Content(safe(label)))
                self.query_one("#alert-spark", Sparkline).data = list(values)
        if content != self._last:
            self._last = content
            self.query_one("#alert-detail", Static).update(content)
