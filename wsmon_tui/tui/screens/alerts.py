"""The alerts view: a table of alerts; a acknowledges, s silences, Enter explains.

Filtering (``/``) and sorting (``o``, ``O``, a header click) are the table's (``widgets/table.py``).
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import DataTable

from wsmon_tui.model import SEVERITY_ORDER, AlertView, Snapshot
from wsmon_tui.tui.fmt import DASH, duration, num, safe
from wsmon_tui.tui.screens.base import ViewScreen
from wsmon_tui.tui.widgets.table import Cell, Column, Row, SortFilterTable, SortValue

SEV_STYLE = {"critical": "bold $text-error", "warning": "bold $text-warning", "info": "$text-primary"}
STATE_STYLE = {"firing": "bold", "pending": "$text-warning", "resolved": "$text-muted",
               "stale": "$text-muted"}
COLUMNS = (("severity", "Severity", 9), ("rule", "Rule", 24), ("target", "Target", 16),
           ("state", "State", 9), ("since", "Since", 9), ("value", "Value / Threshold", 19),
           ("ack", "Acknowledged", 14))


def alert_cells(alert: AlertView, now: float) -> dict[str, Cell]:
    since_ts = alert.firing_at or alert.started_at
    end = alert.resolved_at or now
    # A muted alert is pending or firing; "silenced" or "inhibited" is what the on-call needs
    # to see, and it fits the column at 80 columns ("firing (silenced)" did not). Enter shows
    # both. Inhibited (held back by TargetDown) is not silenced: nobody chose to mute it.
    active = alert.state in ("pending", "firing")
    silenced = active and (alert.silenced or bool(alert.inhibited_by))
    state = ("inhibited" if alert.inhibited_by else "silenced") if silenced else alert.state
    return {
        "severity": Content.styled(alert.severity, SEV_STYLE.get(alert.severity, "")),
        "rule": Content(safe(alert.rule, 60)),
        "target": Content(safe(alert.target or "overall", 40)),
        "state": Content.styled(state, "$text-muted" if silenced else STATE_STYLE.get(alert.state, "")),
        "since": duration(end - since_ts) if since_ts else DASH,
        "value": f"{num(alert.value, 2)} / {num(alert.threshold, 2)}",
        "ack": Content(safe(alert.acknowledged_by, 30)) if alert.acknowledged_by else Content("no"),
    }


def search_text(alert: AlertView) -> str:
    """What the filter finds an alert by besides its visible cells."""
    return " ".join((alert.severity, alert.rule, alert.target, alert.state,
                     "silenced" if alert.silenced else "", "inhibited" if alert.inhibited_by else "",
                     alert.summary, alert.acknowledged_by or "", *alert.labels.values()))


def sort_values(alert: AlertView, now: float) -> dict[str, SortValue]:
    """Typed sort values: severity by rank (critical first), since in seconds, value by number."""
    since_ts = alert.firing_at or alert.started_at
    return {"severity": -SEVERITY_ORDER.get(alert.severity, 0),
            "since": (alert.resolved_at or now) - since_ts if since_ts else None,
            "value": alert.value}


def alert_row(alert: AlertView, now: float) -> Row:
    return Row(alert.id, alert_cells(alert, now), sort=sort_values(alert, now), text=search_text(alert))


def ordered(alerts: tuple[AlertView, ...]) -> list[AlertView]:
    """Active first, then by severity, then newest."""
    return sorted(alerts, key=lambda a: (a.state in ("resolved", "stale"), -SEVERITY_ORDER.get(a.severity, 0),
                                         -(a.firing_at or a.started_at or 0.0), a.id))


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
        yield SortFilterTable([Column(key, label, width) for key, label, width in COLUMNS],
                              table_id="alerts-table", filter_id="alerts-filter")

    def selected_alert(self) -> AlertView | None:
        table = self.query_one("#alerts-table", DataTable)
        snap = self.wsmon.latest
        if not table.row_count or snap is None:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((a for a in snap.alerts if a.id == key), None)

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

        self.app.push_screen(AlertDetailScreen(alert.id))
