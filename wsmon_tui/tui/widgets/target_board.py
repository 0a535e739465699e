"""The summary's targets, worst first, in whatever room the figures and panels leave.

``plan`` decides, from the board's size, what it shows:

1. a card per target, when every card fits;
2. else a card per target that is not healthy, and the healthy ones folded into one card
   ("24 healthy"), when those fit;
3. else a line per target that is not healthy and one line for the healthy ones; when
   even those lines do not fit, the last line says how many more there are.

The board takes the rest of the screen (``height: 1fr``) below the panels, so the alerts,
rollback and host panels stay on screen however many targets there are.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from wsmon_tui.model import TargetView
from wsmon_tui.tui.fmt import last_error, ms, num, pct, safe
from wsmon_tui.tui.order import worst_first
from wsmon_tui.tui.widgets.card_grid import CARD_HEIGHT, CardGrid
from wsmon_tui.tui.widgets.header import BADGE
from wsmon_tui.tui.widgets.lines import same
from wsmon_tui.tui.widgets.target_card import Card, CardScales, FoldedCard, TargetCard

CARD_WIDTH = 40
FOLDED = "\x00folded"
"""The folded card's key among the cards' (no target name holds a NUL)."""


@dataclass(frozen=True, slots=True)
class Plan:
    shown: tuple[TargetView, ...]
    """The targets with a card (or a line) of their own, worst first."""
    folded: tuple[TargetView, ...]
    """The targets folded into one card or line (the healthy, or the rest)."""
    lines: bool
    """One line per target instead of cards."""
    columns: int


def plan(targets: tuple[TargetView, ...] | list[TargetView], width: int, height: int) -> Plan:
    ordered = worst_first(targets)
    columns = max(1, min(4, width // CARD_WIDTH))
    slots = columns * (height // CARD_HEIGHT)
    if len(ordered) <= slots:
        return Plan(tuple(ordered), (), lines=False, columns=columns)
    unhealthy = tuple(t for t in ordered if str(t.status) != "healthy")
    healthy = tuple(t for t in ordered if str(t.status) == "healthy")
    if len(unhealthy) + 1 <= slots:
        return Plan(unhealthy, healthy, lines=False, columns=columns)
    if len(ordered) <= height:
        return Plan(tuple(ordered), (), lines=True, columns=1)
    room = max(0, height - 1)  # the last line folds the rest
    shown = unhealthy[:room] if len(unhealthy) > room else unhealthy
    rest = tuple(t for t in ordered if t not in shown)
    return Plan(shown, rest, lines=True, columns=1)


def target_line(view: TargetView, name_width: int) -> Content:
    """One target on one line: badge, name, error rate, the last error, p95s, score."""
    status = str(view.status)
    parts: list[str | tuple[str, str]] = [
        (f" {status[:4].upper():<4} ", BADGE.get(status, BADGE["unknown"]) + " reverse"), " ",
        (safe(view.name, name_width).ljust(name_width), "bold"), f"  err {pct(view.error_rate):>6}",
    ]
    error = last_error(view.last_probe)
    if error:
        parts.append(("  last " + safe(error, 20), "$text-error"))
    parts.append(f"  p95 hs {ms(view.handshake_ms.p95)} rtt {ms(view.rtt_ms.p95)}"
                 f"  score {num(view.health_score, 0)}")
    return Content.assemble(*parts)


def folded_line(views: tuple[TargetView, ...]) -> Content:
    healthy = all(str(v.status) == "healthy" for v in views)
    label = f"{len(views)} healthy" if healthy else f"… {len(views)} more"
    names = ", ".join(safe(v.name, 40) for v in views)
    return Content.assemble((f" {label} ", BADGE["healthy" if healthy else "unknown"] + " reverse"), "  ",
                            (names, "$text-muted"))


def lines_content(p: Plan) -> Content:
    width = max((len(safe(t.name, 40)) for t in p.shown), default=8)
    lines = [target_line(t, width) for t in p.shown]
    if p.folded:
        lines.append(folded_line(p.folded))
    return Content("\n").join(lines)


class TargetBoard(Vertical):
    DEFAULT_CSS = """
    TargetBoard { height: 1fr; }
    TargetBoard > #board-lines { height: auto; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.targets: tuple[TargetView, ...] = ()
        self.plan: Plan | None = None
        self._cards: dict[str, TargetCard | FoldedCard] = {}
        """The cards on screen by target name (``FOLDED`` for the folded one), in order."""
        self._lines: Content | None = None
        self.scales: CardScales | None = None

    def compose(self) -> ComposeResult:
        yield CardGrid(id="board-cards")
        yield Static(id="board-lines")

    def show(self, targets: tuple[TargetView, ...], scales: CardScales | None = None) -> None:
        """Arrange ``targets``; ``scales`` (thresholds, one top per sparkline) is shared by every card."""
        self.targets = targets
        self.scales = scales
        self.fit_targets()

    def on_resize(self) -> None:
        self.fit_targets()

    def fit_targets(self) -> None:
        width, height = self.size
        if not width or not height:
            return  # not laid out yet: the first resize arranges it
        p = self.plan = plan(self.targets, width, height)
        grid = self.query_one("#board-cards", CardGrid)
        lines = self.query_one("#board-lines", Static)
        grid.display = not p.lines
        lines.display = p.lines
        if p.lines:
            if self._cards:
                self._cards = {}
                grid.show([], 1)
            content = lines_content(p)
            if self._lines is None or not same(content, self._lines):
                self._lines = content
                lines.update(content)
            return
        self._lines = None
        self._show_cards(grid, p)

    def _show_cards(self, grid: CardGrid, p: Plan) -> None:
        wanted = [t.name for t in p.shown] + ([FOLDED] if p.folded else [])
        if list(self._cards) != wanted:
            cards: dict[str, TargetCard | FoldedCard] = {t.name: TargetCard(t, self.scales) for t in p.shown}
            if p.folded:
                cards[FOLDED] = FoldedCard(list(p.folded))
            self._cards = cards
        else:
            for view in p.shown:
                card = self._cards[view.name]
                if isinstance(card, TargetCard):
                    card.show(view, self.scales)
            folded = self._cards.get(FOLDED)
            if isinstance(folded, FoldedCard):
                folded.show(list(p.folded))
        grid.show(list(self._cards.values()), p.columns)

    def cards(self) -> list[Card]:
        """The cards on screen, in order, each with its region (tests read them)."""
        return self.query_one("#board-cards", CardGrid).cards()
