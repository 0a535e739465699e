"""The strip naming the four views, each with the key that shows it, and marking the current one.

The strip is where the view keys are said: the footer leaves them out (its room goes to the
view's own actions, rollback and pause), and after a ``[ui] keymap`` remap of ``mode.summary``
and the others the strip names the keys that work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static

from wsmon_tui.tui.keys import shown_keys

VIEWS = (("summary", "1", "Summary"), ("detailed", "2", "Detailed"), ("alerts", "3", "Alerts"),
         ("metrics", "4", "Metrics"))


def view_keys(app: Any) -> dict[str, str]:
    """Each view's key as the app displays it, after any remap of its ``mode.<view>`` binding."""
    keys = {}
    for mode, default, _ in VIEWS:
        shown = shown_keys(app, Binding(default, f"mode('{mode}')", id=f"mode.{mode}"))
        keys[mode] = shown[0] if shown else default
    return keys


def tabs_content(current: str, alert_count: int = 0, keys: Mapping[str, str] | None = None) -> Content:
    parts: list[str | tuple[str, str]] = []
    for mode, key, title in VIEWS:
        label = f" {(keys or {}).get(mode, key)} {title}"
        if mode == "alerts" and alert_count:
            label += f" ({alert_count})"
        label += " "
        if mode == current:
            parts.append((label, "bold reverse $primary"))
        else:
            parts.append((label, "$text-muted"))
        parts.append(" ")
    return Content.assemble(*parts)


class ViewTabs(Static):
    DEFAULT_CSS = """
    ViewTabs { height: 1; background: $surface; padding: 0 1; }
    """

    def __init__(self, current: str) -> None:
        super().__init__(tabs_content(current), id="tabs")
        self.current = current
        self._alerts = 0
        self.keys: dict[str, str] = {}

    def on_mount(self) -> None:
        self.keys = view_keys(self.app)
        self.update(tabs_content(self.current, self._alerts, self.keys), layout=False)

    def show(self, alert_count: int) -> None:
        if alert_count != self._alerts:
            self._alerts = alert_count
            self.update(tabs_content(self.current, alert_count, self.keys), layout=False)  # height 1
