"""The strip naming the four views and marking the current one."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

VIEWS = (("summary", "1", "Summary"), ("detailed", "2", "Detailed"), ("alerts", "3", "Alerts"),
         ("metrics", "4", "Metrics"))


def tabs_content(current: str, alert_count: int = 0) -> Content:
    parts: list[str | tuple[str, str]] = []
    for mode, key, title in VIEWS:
        label = f" {key} {title}"
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

    def show(self, alert_count: int) -> None:
        if alert_count != self._alerts:
            self._alerts = alert_count
            self.update(tabs_content(self.current, alert_count), layout=False)  # height 1
