"""The detailed view: every target's metrics in a table, worst first, diffed by row key.

The columns that matter come first (name, status, success, p95s, the last error), so at
80 columns they are the ones on screen; the rest are to the right (scroll or sort by
them). Filtering and sorting are the table's (``widgets/table.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import DataTable

from wsmon_tui.model import Snapshot, TargetView
from wsmon_tui.tui.fmt import DASH, count, last_error, ms, num, pct, safe
from wsmon_tui.tui.order import status_rank, worst_first
from wsmon_tui.tui.screens.base import ViewScreen
from wsmon_tui.tui.widgets.table import Cell, Column, Row, SortFilterTable, SortValue

STATUS_STYLE = {"healthy": "$text-success", "degraded": "bold $text-warning",
                "critical": "bold $text-error", "unknown": "$text-muted"}
NAME_CAP = 40
"""The widest the name column grows to fit the longest target name."""
def _last_error_cell(t: TargetView) -> Content:
    text = last_error(t.last_probe)
    return Content.styled(safe(text, 20), "$text-error") if text else Content(DASH)


Getter = Callable[[TargetView], Cell]
COLUMNS: tuple[tuple[str, str, int, Getter], ...] = (
    ("target", "Target", 16, lambda t: Content(safe(t.name, NAME_CAP))),
    ("status", "Status", 8, lambda t: Content.styled(str(t.status), STATUS_STYLE.get(str(t.status), ""))),
    ("success", "Success", 7, lambda t: pct(t.success_rate)),
    ("hs_p95", "HS p95", 9, lambda t: ms(t.handshake_ms.p95)),
    ("rtt_p95", "RTT p95", 9, lambda t: ms(t.rtt_ms.p95)),
    ("last_error", "Last error", 10, _last_error_cell),
    ("score", "Score", 5, lambda t: num(t.health_score, 0)),
    ("probes", "Probes", 6, lambda t: str(t.probes)),
    ("errors", "Errors", 6, lambda t: count(sum(t.errors.values()))),
    ("hs_p50", "HS p50", 9, lambda t: ms(t.handshake_ms.p50)),
    ("hs_p99", "HS p99", 9, lambda t: ms(t.handshake_ms.p99)),
    ("rtt_p50", "RTT p50", 9, lambda t: ms(t.rtt_ms.p50)),
    ("rtt_p99", "RTT p99", 9, lambda t: ms(t.rtt_ms.p99)),
    ("conns", "Conns", 7, lambda t: count(t.metrics.get("connections"))),
    ("msgs", "Msg/s", 7, lambda t: num(t.metrics.get("messages_per_s"))),
    ("srv_err", "Srv err", 7, lambda t: pct(t.metrics.get("server_error_rate"))),
    ("queue", "Queue", 6, lambda t: count(t.metrics.get("queue_depth"))),
    ("adoption", "Adopt", 6, lambda t: pct(t.metrics.get("adoption"), 0)),
    ("srv_lat", "Srv p95", 9, lambda t: ms(t.metrics.get("server_latency_ms"))),
    ("imbalance", "Imbal", 6, lambda t: num(t.metrics.get("imbalance"), 2)),
    ("overruns", "Late", 4, lambda t: str(t.overruns)),
)
"""(key, label, width, cell) in screen order: what matters on an 80-column screen first."""

ESSENTIAL = frozenset({"status", "success", "hs_p95", "rtt_p95", "last_error"})
SORT: dict[str, Callable[[TargetView], SortValue]] = {
    "status": lambda t: status_rank(t.status),
    "success": lambda t: t.success_rate,
    "hs_p95": lambda t: t.handshake_ms.p95,
    "rtt_p95": lambda t: t.rtt_ms.p95,
    "score": lambda t: t.health_score,
    "probes": lambda t: t.probes,
    "errors": lambda t: sum(t.errors.values()),
    "hs_p50": lambda t: t.handshake_ms.p50,
    "hs_p99": lambda t: t.handshake_ms.p99,
    "rtt_p50": lambda t: t.rtt_ms.p50,
    "rtt_p99": lambda t: t.rtt_ms.p99,
    "conns": lambda t: t.metrics.get("connections"),
    "msgs": lambda t: t.metrics.get("messages_per_s"),
    "srv_err": lambda t: t.metrics.get("server_error_rate"),
    "queue": lambda t: t.metrics.get("queue_depth"),
    "adoption": lambda t: t.metrics.get("adoption"),
    "srv_lat": lambda t: t.metrics.get("server_latency_ms"),
    "imbalance": lambda t: t.metrics.get("imbalance"),
    "overruns": lambda t: t.overruns,
}
"""Typed sort values (the text "12.0 ms" would sort by its characters); the rest sort by text."""

TABLE_COLUMNS = tuple(Column(key, label, width, fit=NAME_CAP if key == "target" else 0,
                             essential=key in ESSENTIAL) for key, label, width, _ in COLUMNS)


def target_row(t: TargetView) -> Row:
    return Row(t.name, {key: get(t) for key, _, _, get in COLUMNS},
               sort={key: fn(t) for key, fn in SORT.items()})


class DetailedScreen(ViewScreen):
    MODE = "detailed"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_target", "Open target", id="detailed.open",
                tooltip="Errors by class and close code, last probe, instances, hold connection"),
    ]

    def compose_body(self) -> ComposeResult:
        yield SortFilterTable(TABLE_COLUMNS, table_id="targets-table", filter_id="targets-filter")

    def show(self, snapshot: Snapshot) -> None:
        self.query_one(SortFilterTable).show([target_row(t) for t in worst_first(snapshot.targets)])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_target()

    def action_open_target(self) -> None:
        key = self.query_one(SortFilterTable).selected_key()
        if key is None or self.wsmon.latest is None:
            return
        from wsmon_tui.tui.screens.target_detail import TargetDetailScreen

        self.app.push_screen(TargetDetailScreen(key))
