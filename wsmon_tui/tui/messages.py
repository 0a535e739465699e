"""Messages the app posts to itself."""

from __future__ import annotations

from textual.message import Message

from wsmon_tui.model import Snapshot


class SnapshotArrived(Message):
    """A new snapshot from the engine.

    Snapshots coalesce: when the app is busy, a queued one is replaced by the newer one,
    so a burst of ticks becomes one repaint.
    """

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot
        """The engine's picture of one tick."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotArrived)
