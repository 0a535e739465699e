"""Worst first: the one order of targets on every view (summary cards, detailed rows)."""

from __future__ import annotations

from collections.abc import Iterable

from wsmon_tui.model import TargetView

STATUS_RANK = {"critical": 0, "degraded": 1, "unknown": 2, "healthy": 3}
"""Critical (down) first, then degraded, then not judged yet, then healthy."""


def status_rank(status: object) -> int:
    return STATUS_RANK.get(str(status), 2)


def worst_first(targets: Iterable[TargetView]) -> list[TargetView]:
    """Critical, degraded, unknown, healthy; by name within each."""
    return sorted(targets, key=lambda t: (status_rank(t.status), t.name))
