"""Text for the views: untrusted strings made safe, and states mapped to CSS classes.

Numbers, durations and the missing-value mark come from ``wsmon_tui.fmt`` (the one
convention shared with the live table and the reports) and are re-exported here under
the names the views use; this module defines no number formatting of its own.
"""

from __future__ import annotations

import re

from rich.text import Text

from wsmon_tui.fmt import DASH, count, duration, metric_value, ms, num, pct
from wsmon_tui.fmt import percent as pct100
from wsmon_tui.model import ProbeResult

__all__ = ["DASH", "SEVERITY_STYLE", "STATUS_STYLE", "count", "duration", "last_error", "metric_value", "ms",
           "num", "pct",
           "pct100", "plain", "safe", "status_class"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: object, limit: int = 200) -> str:
    """Untrusted text as a single plain line: control characters (ANSI escapes) removed."""
    value = _CONTROL.sub("", str(text)).replace("\n", " ")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def plain(text: object, style: str = "", limit: int = 200) -> Text:
    """Untrusted text as a Rich ``Text``: never parsed as markup."""
    return Text(safe(text, limit), style=style, no_wrap=True, overflow="ellipsis")


STATUS_STYLE = {"healthy": "success", "degraded": "warning", "critical": "error", "unknown": "muted"}
SEVERITY_STYLE = {"critical": "error", "warning": "warning", "info": "primary"}


def status_class(status: str) -> str:
    """A CSS class for a status or severity (styled with theme variables in app.tcss)."""
    return f"-{STATUS_STYLE.get(status, SEVERITY_STYLE.get(status, 'muted'))}"


SHORT_ERROR = {"unexpected_reply": "bad reply", "http_status": "http"}


def last_error(probe: ProbeResult | None) -> str:
    """What the last probe failed with, as an on-call reads it: the HTTP status of a refused
    upgrade (``503``), the close code of a closed connection (``1011``), else the error class
    (``refused``, ``timeout``, ``dns``, ``tls``…); empty when it succeeded."""
    if probe is None or probe.ok:
        return ""
    if probe.http_status is not None:
        return str(probe.http_status)
    if probe.close_code is not None:
        return str(probe.close_code)
    cls = probe.error_class or "failed"
    return SHORT_ERROR.get(cls, cls)
