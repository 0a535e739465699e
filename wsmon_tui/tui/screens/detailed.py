"""The detailed view: every target's metrics in a table, diffed by row key each repaint."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import DataTable

from wsmon_tui.model import Snapshot, TargetView
from wsmon_tui.tui.fmt import count, ms, num, pct, safe
from wsmon_tui.tui.screens.base import ViewScreen

STATUS_STYLE = {"healthy": "$text-success", "degraded": "bold $text-warning",
                "critical": "bold $text-error", "unknown": "$text-muted"}

Cell = str | Content | Text
COLUMNS: tuple[tuple[str, str, int, Callable[[TargetView], Cell]], ...] = (
    ("target", "Target", 16, lambda t: Content(safe(t.name, 40))),
    ("status", "Status", 9, lambda t: Content.styled(str(t.status), STATUS_STYLE.get(str(t.status), ""))),
    ("score", "Score", 5, lambda t: num(t.health_score, 0)),
    ("probes", "Probes", 6, lambda t: str(t.probes)),
    ("success", "Success", 7, lambda t: pct(t.success_rate)),
    ("hs_p50", "HS p50", 9, lambda t: ms(t.handshake_ms.p50)),
    ("hs_p95", "HS p95", 9, lambda t: ms(t.handshake_ms.p95)),
    ("hs_p99", "HS p99", 9, lambda t: ms(t.handshake_ms.p99)),
    ("rtt_p50", "RTT p50", 9, lambda t: ms(t.rtt_ms.p50)),
    ("rtt_p95", "RTT p95", 9, lambda t: ms(t.rtt_ms.p95)),
    ("rtt_p99", "RTT p99", 9, lambda t: ms(t.rtt_ms.p99)),
    ("errors", "Errors", 6, lambda t: count(sum(t.errors.values()))),
    ("conns", "Conns", 7, lambda t: count(t.metrics.get("connections"))),
    ("msgs", "Msg/s", 7, lambda t: num(t.metrics.get("messages_per_s"))),
    ("srv_err", "Srv err", 7, lambda t: pct(t.metrics.get("server_error_rate"))),
    ("queue", "Queue", 6, lambda t: count(t.metrics.get("queue_depth"))),
    ("adoption", "Adopt", 6, lambda t: pct(t.metrics.get("adoption"), 0)),
    ("srv_lat", "Srv p95", 9, lambda t: ms(t.metrics.get("server_latency_ms"))),
    ("imbalance", "Imbal", 6, lambda t: num(t.metrics.get("imbalance"), 2)),
    ("overruns", "Late", 4, lambda t: str(t.overruns)),
)


def sync_rows(table: DataTable, rows: dict[str, dict[str, Cell]], shown: dict[str, dict[str, Cell]]) -> None:
    """Make ``table`` show ``rows`` (key -> column -> cell), touching only changed cells.

    ``shown`` is the caller's record of what the table holds; it is updated in place.
    """
    for key in [k for k in shown if k not in rows]:
        table.remove_row(key)
        del shown[key]
    for key, cells in rows.items():
        old = shown.get(key)
        if old is None:
            table.add_row(*cells.values(), key=key)
            shown[key] = dict(cells)
            continue
        for col, value in cells.items():
            if old.get(col) != value:
                table.update_cell(key, col, value, update_width=False)
                old[col] = value


class DetailedScreen(ViewScreen):
    MODE = "detailed"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_target", "Open target", id="detailed.open",
                tooltip="Errors by class and close code, last probe, instances, hold connection"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, dict[str, Cell]] = {}

    def compose_body(self) -> ComposeResult:
        table: DataTable[Cell] = DataTable(id="targets-table", cursor_type="row", zebra_stripes=True)
        for key, label, width, _ in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table

    def show(self, snapshot: Snapshot) -> None:
        table = self.query_one("#targets-table", DataTable)
        rows = {t.name: {key: fn(t) for key, _, _, fn in COLUMNS} for t in snapshot.targets}
        with self.app.batch_update():
            sync_rows(table, rows, self._shown)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_target()

    def action_open_target(self) -> None:
        table = self.query_one("#targets-table", DataTable)
        if not table.row_count or self.wsmon.latest is None:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        from wsmon_tui.tui.screens.target_detail import TargetDetailScreen

        self.app.push_screen(TargetDetailScreen(str(key)))
