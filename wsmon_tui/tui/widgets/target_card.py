"""A card per target on the summary view: status, score and two sparklines."""

from __future__ import annotations

from textual.content import Content

from wsmon_tui.model import TargetView
from wsmon_tui.tui.fmt import ms, num, pct, safe
from wsmon_tui.tui.widgets.header import BADGE
from wsmon_tui.tui.widgets.lines import LineWidget, Spark, Text


def card_title(view: TargetView) -> Content:
    status = str(view.status)
    return Content.assemble(
        (safe(view.name, 40), "bold"), "  ",
        (f" {status.upper()} ", BADGE.get(status, BADGE["unknown"]) + " reverse"),
        f"  score {num(view.health_score, 0)}",
    )


class TargetCard(LineWidget):
    """One widget of five lines (see ``LineWidget``): each line is redrawn only when its
    value changed, and the card's height never changes, so an update needs no layout."""

    DEFAULT_CSS = """
    TargetCard { height: 7; border: round $foreground 25%; padding: 0 1; }  /* as .panel */
    TargetCard.-critical { border: round $error; }
    TargetCard.-degraded { border: round $warning; }
    """

    def __init__(self, view: TargetView) -> None:
        super().__init__(5, classes="target-card")
        self.view = view
        self._status = ""
        self.show(view)

    def show(self, view: TargetView) -> None:
        self.view = view
        status = str(view.status)
        if status != self._status:
            self._status = status
            self.set_class(status == "critical", "-critical")
            self.set_class(status == "degraded", "-degraded")
        latency = f"p95 handshake {ms(view.handshake_ms.p95)}  rtt {ms(view.rtt_ms.p95)}"
        self.set_lines({
            0: card_title(view),
            1: Text(latency),
            2: Spark(tuple(view.history.get("handshake_p95", ()))),
            3: Text(f"error rate {pct(view.error_rate)}  probes {view.probes}"),
            4: Spark(tuple(view.history.get("error_rate", ()))),
        })
