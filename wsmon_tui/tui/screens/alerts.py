"""The alerts view: a table of alert episodes; a acknowledges, s silences, Enter explains, / filters.

One row per episode (``AlertView.episode``), never per fingerprint: an episode that resolved a
minute ago and the one firing now are the same (rule, target) and both are shown, each with
its own state, value and acknowledgement.

Filtering (``/``) and sorting (``o``, ``O``, a header click) are the table's (``widgets/table.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import DataTable

from wsmon_tui.model import SEVERITY_ORDER, AlertView, Snapshot
from wsmon_tui.tui.fmt import DASH, duration, metric_value, safe
from wsmon_tui.tui.screens.base import ViewScreen
from wsmon_tui.tui.widgets.table import Cell, Column, Row, SortFilterTable, SortValue

SEV_STYLE = {"critical": "bold $text-error", "warning": "bold $text-warning", "info": "$text-primary"}
STATE_STYLE = {"firing": "bold", "pending": "$text-warning", "resolved": "$text-muted",
               "stale": "$text-muted"}
ACTIVE_STATES = ("pending", "firing")
COLUMNS = (("severity", "Severity", 8), ("rule", "Rule", 10), ("target", "Target", 12),
           ("state", "State", 9), ("value", "Value / Threshold", 17), ("since", "Since", 8),
           ("ack", "Acknowledged", 12), ("comment", "Ack comment", 30))
FIT = {"rule": 40, "target": 40, "value": 30, "comment": 80}
"""Columns as wide as their longest text (up to this) where the terminal has room: a fixed
width cut target names at 12 columns even at 160 (and a fleet alert's "chat@eu-west,us-east").
Value / Threshold fits "fired 2450.7 ms / 1000.0 ms" and is never cut (it is essential): a
cell cut short would hide the threshold; sized to its text, it leaves a name its room at 80."""
ESSENTIAL = frozenset({"severity", "rule", "state", "value"})
"""Kept on screen at any width: a long target name gives up its room first."""


def value_text(alert: AlertView) -> str:
    """Value / threshold in the metric's unit. A resolved or stale episode shows the value it
    fired at ("fired 12.0% / 5.0%"): the value that resolved it is no reason it fired. An alert
    with neither metric nor threshold (RollbackInProgress, raised with its trigger's value) shows
    a dash: a bare "0.00 / —" says nothing true; its summary says what set it off."""
    if not alert.metric and alert.threshold is None:
        return DASH
    threshold = metric_value(alert.metric, alert.threshold)
    if alert.state in ACTIVE_STATES:
        return f"{metric_value(alert.metric, alert.value)} / {threshold}"
    return f"fired {metric_value(alert.metric, alert.fired_value)} / {threshold}"


def shown_state(alert: AlertView) -> str:
    """The state as the views show it: a muted alert (pending or firing) reads "silenced" or
    "inhibited", which is what the on-call needs to see, and it fits the column at 80 columns
    ("firing (silenced)" did not); Enter shows both. Inhibited (held back by TargetDown) is not
    silenced: nobody chose to mute it."""
    if alert.state in ACTIVE_STATES and alert.inhibited_by:
        return "inhibited"
    if alert.state in ACTIVE_STATES and alert.silenced:
        return "silenced"
    return alert.state


def alert_cells(alert: AlertView, now: float) -> dict[str, Cell]:
    since_ts = alert.firing_at or alert.started_at
    end = alert.resolved_at or now
    state = shown_state(alert)
    silenced = state != alert.state
    if not silenced and alert.state in ACTIVE_STATES and alert.acknowledged_by:
        state = "acked"  # the Ack and Comment columns are off screen at 80 columns; the state says it
    cells: dict[str, Cell] = {
        "severity": Content.styled(alert.severity, SEV_STYLE.get(alert.severity, "")),
        "rule": Content(safe(alert.rule, 60)),
        "target": Content(safe(alert.target or "overall", 40)),
        "state": Content.styled(state, "$text-muted" if silenced else STATE_STYLE.get(alert.state, "")),
        "value": Content(value_text(alert)),
        "since": duration(end - since_ts) if since_ts else DASH,
        "ack": Content(safe(alert.acknowledged_by, 30)) if alert.acknowledged_by else Content("no"),
        "comment": Content(safe(alert.ack_comment, 120)) if alert.acknowledged_by else Content(""),
    }
    return {key: cells[key] for key, _, _ in COLUMNS}  # a new row takes its cells in column order


def search_text(alert: AlertView) -> str:
    """What the filter finds an alert by besides its visible cells."""
    return " ".join((alert.severity, alert.rule, alert.target, alert.state,
                     "acked" if alert.acknowledged_by else "", "silenced" if alert.silenced else "",
                     "inhibited" if alert.inhibited_by else "",
                     alert.summary, alert.acknowledged_by or "", alert.ack_comment, *alert.labels.values()))


def sort_values(alert: AlertView, now: float) -> dict[str, SortValue]:
    """Typed sort values: severity by rank (critical first), since in seconds, value by number."""
    since_ts = alert.firing_at or alert.started_at
    return {"severity": -SEVERITY_ORDER.get(alert.severity, 0),
            "since": (alert.resolved_at or now) - since_ts if since_ts else None,
            "value": alert.value}


def alert_row(alert: AlertView, now: float) -> Row:
    return Row(alert.episode, alert_cells(alert, now), sort=sort_values(alert, now), text=search_text(alert))


def rank(alert: AlertView) -> int:
    """Where an episode sorts: 0 firing, 1 pending, 2 acknowledged, 3 silenced or inhibited
    (someone is on it, or nobody is to be told), 4 resolved or stale."""
    if alert.state not in ACTIVE_STATES:
        return 4
    if alert.silenced or alert.inhibited_by:
        return 3
    if alert.acknowledged_by:
        return 2
    return 0 if alert.state == "firing" else 1


def ordered(alerts: Iterable[AlertView]) -> list[AlertView]:
    """What needs someone first: firing (critical before warning, then newest), pending,
    acknowledged, silenced or inhibited, then resolved and stale (newest first)."""
    def newest(a: AlertView) -> float:
        at = a.resolved_at if a.state not in ACTIVE_STATES else None
        return at or a.firing_at or a.started_at or 0.0

    return sorted(alerts, key=lambda a: (rank(a), -SEVERITY_ORDER.get(a.severity, 0), -newest(a), a.episode))


class AlertsScreen(ViewScreen):
    MODE = "alerts"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "app.acknowledge", "Ack", id="alerts.ack",
                tooltip="Acknowledge the selected alert (optional comment)"),
        Binding("s", "app.silence", "Silence", id="alerts.silence",
                tooltip="Silence the selected alert's rule and target for a while"),
        Binding("enter", "open_alert", "Why", id="alerts.open", tooltip="Why it fired"),
    ]

    def compose_body(self) -> ComposeResult:
        yield SortFilterTable([Column(key, label, width, fit=FIT.get(key, 0), essential=key in ESSENTIAL)
                               for key, label, width in COLUMNS],
                              table_id="alerts-table", filter_id="alerts-filter")

    def selected_alert(self) -> AlertView | None:
        table = self.query_one("#alerts-table", DataTable)
        snap = self.wsmon.latest
        if not table.row_count or snap is None:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((a for a in snap.alerts if a.episode == key), None)

    def show(self, snapshot: Snapshot) -> None:
        now = snapshot.taken_at
        self.query_one(SortFilterTable).show([alert_row(a, now) for a in ordered(snapshot.alerts)])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_alert()

    def action_open_alert(self) -> None:
        alert = self.selected_alert()
        if alert is None:
            self.notify("No alert selected.", severity="warning")
            return
        from wsmon_tui.tui.screens.alert_detail import AlertDetailScreen

        self.app.push_screen(AlertDetailScreen(alert.episode))
