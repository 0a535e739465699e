"""What every view shares: header, rollback banner, tab strip, footer, and painting from the
snapshot on screen (the latest, or the one frozen by pause)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from wsmon_tui.model import Snapshot
from wsmon_tui.tui.widgets.banner import RollbackBanner
from wsmon_tui.tui.widgets.header import WsmonHeader, header_content
from wsmon_tui.tui.widgets.tabs import ViewTabs

if TYPE_CHECKING:
    from wsmon_tui.tui.app import WsmonApp


def active_alerts(snapshot: Snapshot) -> int:
    return sum(1 for a in snapshot.alerts if a.state in ("pending", "firing"))


class ViewScreen(Screen[None], inherit_bindings=False):
    """A view (a Textual mode). Tab cycles views, so focus moves with arrows, not Tab."""

    MODE = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "app.next_mode", "Next view", show=False, id="mode.next",
                tooltip="Cycle through the four views"),
        Binding("shift+tab", "app.previous_mode", "Previous view", show=False, id="mode.previous",
                tooltip="Cycle back through the views"),
    ]

    def __init__(self) -> None:
        super().__init__(id=f"view-{self.MODE}")
        self.painted: Snapshot | None = None
        """The snapshot the body shows; the body is redrawn only when a newer one arrives."""
        self._texts: dict[str, object] = {}
        self.header = WsmonHeader()
        self.banner = RollbackBanner()
        """Under the header, above everything else: a rollback or throttle in progress."""

    @property
    def wsmon(self) -> WsmonApp:
        return cast("WsmonApp", self.app)

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.banner
        yield ViewTabs(self.MODE)
        yield from self.wsmon.view_extras()
        yield from self.compose_body()

    async def _mount_footer(self) -> None:
        """The footer (a widget per binding, restyled on every binding change) is the costliest
        part of the first frame and tells nothing about the deployment: it arrives one frame later."""
        if not self.query(Footer):
            await self.mount(Footer())
            self.refresh_bindings()  # a late Footer waits for this signal before drawing its keys

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self._ready = True
        self.paint(force=True)
        self.call_after_refresh(self._mount_footer)

    def on_screen_resume(self) -> None:
        if getattr(self, "_ready", False):
            self.paint(force=True)

    def paint(self, *, force: bool = False) -> None:
        """Repaint from the snapshot on screen (called at the --refresh rate)."""
        if not getattr(self, "_ready", False):
            return
        app = self.wsmon
        snapshot = app.shown
        if snapshot is None:
            self.paint_clock()
            return
        self.query_one(ViewTabs).show(active_alerts(snapshot))
        if force or snapshot is not self.painted:
            self.painted = snapshot
            with app.batch_update():  # one compositor update for the whole view
                self.show(snapshot)
        self.paint_clock()

    def paint_clock(self) -> None:
        """The header and the banner: what counts with the clock (the data's age, the time a
        rollback has been in its state), so the app calls it every second between repaints.
        The banner follows the latest snapshot even while paused: a rollback is never hidden."""
        if not getattr(self, "_ready", False):
            return
        app = self.wsmon
        now = app.clock()
        self.header.show(header_content(
            self.painted or app.shown, now=now, paused=app.paused, read_only=app.read_only,
            deployment=app.deployment_name, attached=app.attached_to, replay=app.replay_label()))
        latest = app.latest
        self.banner.show(latest.rollback if latest is not None else None, now)

    def show(self, snapshot: Snapshot) -> None:
        """Draw the body from ``snapshot``."""

    def set_text(self, selector: str, content: Content) -> None:
        """Update a Static only when its content changed (an unchanged frame costs nothing).

        A layout pass (which re-renders the whole screen) is asked for only when the new
        text wraps to a different number of lines than the old one at the same width.
        """
        old = self._texts.get(selector)
        if old == content:
            return
        self._texts[selector] = content
        widget = self.query_one(selector, Static)
        width = widget.content_region.width
        # Content.get_height's rules are "a mapping of style rules, such as the Widget's styles object"
        # (its docstring; Widget passes self.styles too), but it is annotated as the RulesMap TypedDict.
        styles = widget.styles
        layout = not isinstance(old, Content) or width <= 0 or \
            old.get_height(styles, width) != content.get_height(styles, width)  # type: ignore[arg-type]
        widget.update(content, layout=layout)
