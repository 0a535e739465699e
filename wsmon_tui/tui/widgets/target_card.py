"""A card per target on the summary view: status, score and two sparklines."""

from __future__ import annotations

from textual.content import Content

from wsmon_tui.model import TargetView
from wsmon_tui.tui.fmt import last_error, ms, num, pct, safe
from wsmon_tui.tui.widgets.header import BADGE
from wsmon_tui.tui.widgets.lines import Line, LineWidget, Spark, Text


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
        error = last_error(view.last_probe)
        line1: Line = Text(latency)
        if error:  # a target that is down has no latency to show: what it fails with instead
            line1 = Content.assemble(("last error ", "$text-muted"), (safe(error, 20), "bold $text-error"),
                                     (f"  p95 hs {ms(view.handshake_ms.p95)}", "$text-muted"))
        self.set_lines({
            0: card_title(view),
            1: line1,
            2: Spark(tuple(view.history.get("handshake_p95", ()))),
            3: Text(f"error rate {pct(view.error_rate)}  probes {view.probes}"),
            4: Spark(tuple(view.history.get("error_rate", ()))),
        })


def _worst(values: list[float | None], *, lowest: bool = False) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return min(present) if lowest else max(present)


class FoldedCard(LineWidget):
    """The healthy targets folded into one card when the summary has no room for a card
    each: how many, the worst of their figures, and their names (the detailed view has all)."""

    DEFAULT_CSS = """
    FoldedCard { height: 7; border: round $success 40%; padding: 0 1; }
    """

    def __init__(self, views: list[TargetView]) -> None:
        super().__init__(5, classes="target-card folded-card")
        self.views = views
        self.show(views)

    def show(self, views: list[TargetView]) -> None:
        self.views = views
        hs = _worst([v.handshake_ms.p95 for v in views])
        rtt = _worst([v.rtt_ms.p95 for v in views])
        score = _worst([v.health_score for v in views], lowest=True)
        names = ", ".join(safe(v.name, 40) for v in views)
        self.set_lines({
            0: Content.assemble((f"{len(views)} healthy", "bold"), "  ",
                                (" HEALTHY ", BADGE["healthy"] + " reverse")),
            1: Text(f"worst p95 hs {ms(hs)}  rtt {ms(rtt)}"),
            2: Text(f"lowest score {num(score, 0)}"),
            3: Text(names),
            4: Text("2 lists every target"),
        })
