"""Formatting of numbers, durations and states for the views (plain strings, no markup)."""

from __future__ import annotations

import re

from rich.text import Text

DASH = "–"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: object, limit: int = 200) -> str:
    """Untrusted text as a single plain line: control characters (ANSI escapes) removed."""
    value = _CONTROL.sub("", str(text)).replace("\n", " ")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def plain(text: object, style: str = "", limit: int = 200) -> Text:
    """Untrusted text as a Rich ``Text``: never parsed as markup."""
    return Text(safe(text, limit), style=style, no_wrap=True, overflow="ellipsis")


def num(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return DASH
    if abs(value) >= 10_000:
        return f"{value / 1000:.1f}k{unit}"
    return f"{value:.{digits}f}{unit}"


def ms(value: float | None) -> str:
    return num(value, 1, " ms")


def pct(value: float | None, digits: int = 1) -> str:
    """A 0..1 ratio as a percentage."""
    return DASH if value is None else f"{value * 100:.{digits}f}%"


def pct100(value: float | None) -> str:
    """A value already in percent."""
    return DASH if value is None else f"{value:.0f}%"


def count(value: float | None) -> str:
    if value is None:
        return DASH
    if value >= 1_000_000:
        return f"{value / 1e6:.1f}M"
    if value >= 10_000:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600:02d}h"


STATUS_STYLE = {"healthy": "success", "degraded": "warning", "critical": "error", "unknown": "muted"}
SEVERITY_STYLE = {"critical": "error", "warning": "warning", "info": "primary"}


def status_class(status: str) -> str:
    """A CSS class for a status or severity (styled with theme variables in app.tcss)."""
    return f"-{STATUS_STYLE.get(status, SEVERITY_STYLE.get(status, 'muted'))}"
