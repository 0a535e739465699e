"""A card per target on the summary view: status, score and two sparklines."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Sparkline, Static

from wsmon_tui.model import TargetView
from wsmon_tui.tui.fmt import ms, num, pct, safe
from wsmon_tui.tui.widgets.header import BADGE


def card_title(view: TargetView) -> Content:
    status = str(view.status)
    return Content.assemble(
        (safe(view.name, 40), "bold"), "  ",
        (f" {status.upper()} ", BADGE.get(status, BADGE["unknown"]) + " reverse"),
        f"  score {num(view.health_score, 0)}",
    )


class TargetCard(Vertical):
    """Updated in place: each part is touched only when its value changed."""

    DEFAULT_CSS = """
    TargetCard { height: 7; border: round $panel; padding: 0 1; }
    TargetCard.-critical { border: round $error; }
    TargetCard.-degraded { border: round $warning; }
    TargetCard .card-label { color: $text-muted; height: 1; }
    TargetCard Sparkline { height: 1; }
    TargetCard Sparkline > .sparkline--max-color { color: $warning; }
    TargetCard Sparkline > .sparkline--min-color { color: $success; }
    """

    def __init__(self, view: TargetView) -> None:
        super().__init__(classes="target-card")
        self.view = view
        self._shown: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        yield Static(card_title(self.view), classes="card-title")
        yield Static("", classes="card-label hs-label")
        yield Sparkline([], summary_function=max, classes="hs-spark")
        yield Static("", classes="card-label err-label")
        yield Sparkline([], summary_function=max, classes="err-spark")

    def on_mount(self) -> None:
        self.show(self.view, force=True)

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
            self.query_one(".card-title", Static).update(title)
        hs_label = f"p95 handshake {ms(view.handshake_ms.p95)}  rtt {ms(view.rtt_ms.p95)}"
        if self._set("hs_label", hs_label):
            self.query_one(".hs-label", Static).update(hs_label)
        err_label = f"error rate {pct(view.error_rate)}  probes {view.probes}"
        if self._set("err_label", err_label):
            self.query_one(".err-label", Static).update(err_label)
        hs = tuple(view.history.get("handshake_p95", ()))
        if self._set("hs", hs):
            self.query_one(".hs-spark", Sparkline).data = list(hs)
        err = tuple(view.history.get("error_rate", ()))
        if self._set("err", err):
            self.query_one(".err-spark", Sparkline).data = list(err)
