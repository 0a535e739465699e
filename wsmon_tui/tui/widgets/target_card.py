"""A card per target on the summary view: status, score and two sparklines."""

from __future__ import annotations

from typing import TypeVar

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from wsmon_tui.model import TargetView
from wsmon_tui.tui.fmt import ms, num, pct, safe
from wsmon_tui.tui.widgets.header import BADGE
from wsmon_tui.tui.widgets.sparkline import CachedSparkline

W = TypeVar("W", bound=Widget)


def card_title(view: TargetView) -> Content:
    status = str(view.status)
    return Content.assemble(
        (safe(view.name, 40), "bold"), "  ",
        (f" {status.upper()} ", BADGE.get(status, BADGE["unknown"]) + " reverse"),
        f"  score {num(view.health_score, 0)}",
    )


class TargetCard(Vertical):
    """Updated in place: each part is touched only when its value changed.

    Every part is one line high, so text updates skip the layout pass (``layout=False``):
    a relayout re-renders the whole screen, which at one card per target each tick was
    most of the UI's CPU.
    """

    DEFAULT_CSS = """
    TargetCard { height: 7; border: round $panel; padding: 0 1; }
    TargetCard.-critical { border: round $error; }
    TargetCard.-degraded { border: round $warning; }
    TargetCard .card-title { height: 1; }
    TargetCard .card-label { color: $text-muted; height: 1; }
    TargetCard Sparkline { height: 1; }
    TargetCard Sparkline > .sparkline--max-color { color: $warning; }
    TargetCard Sparkline > .sparkline--min-color { color: $success; }
    """

    def __init__(self, view: TargetView) -> None:
        super().__init__(classes="target-card")
        self.view = view
        self._shown: dict[str, object] = {}
        self._parts: dict[str, Widget] = {}

    def compose(self) -> ComposeResult:
        yield Static(card_title(self.view), classes="card-title")
        yield Static("", classes="card-label hs-label")
        yield CachedSparkline([], summary_function=max, classes="hs-spark")
        yield Static("", classes="card-label err-label")
        yield CachedSparkline([], summary_function=max, classes="err-spark")

    def on_mount(self) -> None:
        self.show(self.view, force=True)

    def _part(self, selector: str, kind: type[W]) -> W:
        """A child by selector, looked up once (a DOM query per part per tick adds up)."""
        widget = self._parts.get(selector)
        if widget is None:
            widget = self._parts[selector] = self.query_one(selector, kind)
        return widget  # type: ignore[return-value]

    def _set(self, key: str, value: object) -> bool:
        if self._shown.get(key) == value:
            return False
        self._shown[key] = value
        return True

    def show(self, view: TargetView, *, force: bool = False) -> None:
        self.view = view
        if not self.is_mounted:
            return
        if force:
            self._shown.clear()
        status = str(view.status)
        if self._set("status", status):
            self.set_class(status == "critical", "-critical")
            self.set_class(status == "degraded", "-degraded")
        title = card_title(view)
        if self._set("title", title):
            self._part(".card-title", Static).update(title, layout=False)
        hs_label = f"p95 handshake {ms(view.handshake_ms.p95)}  rtt {ms(view.rtt_ms.p95)}"
        if self._set("hs_label", hs_label):
            self._part(".hs-label", Static).update(hs_label, layout=False)
        err_label = f"error rate {pct(view.error_rate)}  probes {view.probes}"
        if self._set("err_label", err_label):
            self._part(".err-label", Static).update(err_label, layout=False)
        hs = tuple(view.history.get("handshake_p95", ()))
        if self._set("hs", hs):
            self._part(".hs-spark", CachedSparkline).data = list(hs)
        err = tuple(view.history.get("error_rate", ()))
        if self._set("err", err):
            self._part(".err-spark", CachedSparkline).data = list(err)
