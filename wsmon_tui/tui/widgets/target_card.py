"""A card per target on the summary view: status, score and two sparklines.

The figures on a card are coloured by their thresholds (the alert rules' tiers), and
each sparkline's bars too; the two sparklines of every card share one scale per metric
(``CardScales``), so cards can be compared at a glance and one warm-up outlier does not
flatten a card: values above the scale are drawn as a marked top bar.

A card is not a widget: ``TargetCard`` and ``FoldedCard`` hold a card's five lines and its
border's colour, and one ``CardGrid`` (``widgets/card_grid.py``) draws every card, each line
redrawn only when it changed: the compositor has one widget to render for the whole board,
not one per card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from textual.content import Content
from textual.geometry import Region

from wsmon_tui.model import Snapshot, TargetView
from wsmon_tui.tui.chartmodel import robust_top
from wsmon_tui.tui.fmt import last_error, ms, num, pct, safe
from wsmon_tui.tui.thresholds import SEVERITY_LEVEL, Thresholds, worse
from wsmon_tui.tui.widgets.header import BADGE
from wsmon_tui.tui.widgets.lines import Line, Parts, Spark, Text

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


class Card:
    """What ``CardGrid`` draws of one card: five lines and the border's colour (``border``:
    a ``card-grid--border-*`` component class's last word). ``region``: where it is on screen,
    set by ``CardGrid.cards`` (tests read it)."""

    border = "plain"

    def __init__(self) -> None:
        self.lines: tuple[Line, ...] = (Content(""),) * 5
        self.region = Region()


class TargetCard(Card):
    """One target: its name, status and score, its p95s (or its last error), its error rate,
    and two sparklines; the border in its status's colour."""

    def __init__(self, view: TargetView, scales: CardScales | None = None) -> None:
        super().__init__()
        self.view = view
        self.show(view, scales)

    def show(self, view: TargetView, scales: CardScales | None = None) -> None:
        self.view = view
        status = str(view.status)
        self.border = status if status in ("critical", "degraded") else "plain"
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
        self.lines = (
            card_title(view),
            line1,
            spark("handshake_p95"),
            Parts((("error rate ", "lines--muted"), (pct(errors), styled("error_rate", errors)),
                   (f"  probes {view.probes}", "lines--muted"))),
            spark("error_rate"),
        )


def _worst(values: list[float | None], *, lowest: bool = False) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return min(present) if lowest else max(present)


class FoldedCard(Card):
    """The healthy targets folded into one card when the summary has no room for a card
    each: how many, the worst of their figures, and their names (the detailed view has all)."""

    border = "folded"

    def __init__(self, views: list[TargetView]) -> None:
        super().__init__()
        self.views = views
        self.show(views)

    def show(self, views: list[TargetView]) -> None:
        self.views = views
        hs = _worst([v.handshake_ms.p95 for v in views])
        rtt = _worst([v.rtt_ms.p95 for v in views])
        score = _worst([v.health_score for v in views], lowest=True)
        names = ", ".join(safe(v.name, 40) for v in views)
        self.lines = (
            Content.assemble((f"{len(views)} healthy", "bold"), "  ",
                             (" HEALTHY ", BADGE["healthy"] + " reverse")),
            Text(f"worst p95 hs {ms(hs)}  rtt {ms(rtt)}"),
            Text(f"lowest score {num(score, 0)}"),
            Text(names),
            Text("2 lists every target"),
        )
