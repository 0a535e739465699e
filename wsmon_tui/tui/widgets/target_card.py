"""A card per target on the summary view: status, score and two sparklines.

The figures on a card are coloured by their thresholds (the alert rules' tiers), and
each sparkline's bars too; the two sparklines of every card share one scale per metric
(``CardScales``), so cards can be compared at a glance and one warm-up outlier does not
flatten a card: values above the scale are drawn as a marked top bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from textual.content import Content

from wsmon_tui.model import Snapshot, TargetView
from wsmon_tui.tui.chartmodel import robust_top
from wsmon_tui.tui.fmt import last_error, ms, num, pct, safe
from wsmon_tui.tui.thresholds import SEVERITY_LEVEL, Thresholds, worse
from wsmon_tui.tui.widgets.header import BADGE
from wsmon_tui.tui.widgets.lines import Line, LineWidget, Parts, Spark, Text

SPARKS = ("handshake_p95", "error_rate")
"""The history each card draws, by canonical metric name."""
VALUE_STYLE = {"": "lines--muted", "warning": "lines--warning", "error": "lines--error"}


@dataclass(frozen=True)
class CardScales:
    """What every card of one snapshot shares: the thresholds and one top per sparkline."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    tops: Mapping[str, float | None] = field(default_factory=dict)
    alerts: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """(target, metric) -> the level of the worst alert firing on it."""

    def level(self, metric: str, value: float | None, target: str) -> str:
        """A card figure's level: past its threshold, or an alert firing on it."""
        return worse(self.thresholds.level(metric, value, target), self.alerts.get((target, metric), ""))


def card_scales(snapshot: Snapshot, thresholds: Thresholds) -> CardScales:
    """Each sparkline's scale across every card (the robust top of its metric's history),
    and the alerts firing on a card's figures."""
    alerts: dict[tuple[str, str], str] = {}
    for a in snapshot.alerts:
        metric = thresholds.rule_metrics.get(a.rule)
        if a.state == "firing" and metric is not None:
            key = (a.target, metric)
            alerts[key] = worse(alerts.get(key, ""), SEVERITY_LEVEL.get(a.severity, ""))
    return CardScales(thresholds, {m: robust_top(t.history.get(m, ()) for t in snapshot.targets)
                                   for m in SPARKS}, alerts)


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

    def __init__(self, view: TargetView, scales: CardScales | None = None) -> None:
        super().__init__(5, classes="target-card")
        self.view = view
        self._status = ""
        self.show(view, scales)

    def show(self, view: TargetView, scales: CardScales | None = None) -> None:
        self.view = view
        status = str(view.status)
        if status != self._status:
            self._status = status
            self.set_class(status == "critical", "-critical")
            self.set_class(status == "degraded", "-degraded")
        scales = scales or CardScales()
        th, name = scales.thresholds, view.name

        def styled(metric: str, value: float | None) -> str:
            return VALUE_STYLE[scales.level(metric, value, name)]

        def spark(metric: str) -> Spark:
            return Spark(tuple(view.history.get(metric, ())), scales.tops.get(metric), th.tiers(metric, name))

        hs, rtt, errors = view.handshake_ms.p95, view.rtt_ms.p95, view.error_rate
        error = last_error(view.last_probe)
        line1: Line = Parts((("p95 handshake ", "lines--muted"), (ms(hs), styled("handshake_p95", hs)),
                             ("  rtt ", "lines--muted"), (ms(rtt), styled("rtt_p95", rtt))))
        if error:  # a target that is down has no latency to show: what it fails with instead
            line1 = Content.assemble(("last error ", "$text-muted"), (safe(error, 20), "bold $text-error"),
                                     (f"  p95 hs {ms(hs)}", "$text-muted"))
        self.set_lines({
            0: card_title(view),
            1: line1,
            2: spark("handshake_p95"),
            3: Parts((("error rate ", "lines--muted"), (pct(errors), styled("error_rate", errors)),
                      (f"  probes {view.probes}", "lines--muted"))),
            4: spark("error_rate"),
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
