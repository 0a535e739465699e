"""What the alert lifecycle hands to the delivery outbox.

One ``Notification`` is one thing people must be told about one alert: it fired, it
was escalated, it is still firing after an acknowledgement timed out, it was
acknowledged (PagerDuty mirrors acks), or it resolved. The outbox stores it before
sending and delivers it at least once to every channel that wants it; the pair
(fingerprint, seq) is the idempotency key receivers can dedup on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from wsmon_tui.model import AlertView

NotificationKind = Literal["firing", "escalated", "reminder", "acknowledged", "resolved"]


@dataclass(frozen=True, slots=True)
class Notification:
    fingerprint: str
    """The alert's stable id (rule + target): the dedup key everywhere."""
    seq: int
    """Increases with every notification of the same alert; with the fingerprint, the idempotency key."""
    kind: NotificationKind
    alert: AlertView
    """The alert as it was when the notification was made (severity already escalated if so)."""
    created_at: float
    deployment: str = ""
    channels: tuple[str, ...] = ()
    """Channel names this must go to (empty: every channel whose filters accept it)."""
    escalation: bool = False
    """True for escalations: channels with ``escalation = true`` receive it too."""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        return f"{self.fingerprint}:{self.seq}"
