"""Alert toasts that do not bury the screen.

A toast announces critical alerts that start firing, at most one per snapshot however many
start together ("TargetDown on 6 targets: a, b, c +3"), each target named once. A silenced
or inhibited alert is never announced (it is not paged either; the alerts view shows it).
While a dialog is open or the user types in a filter, new ones are held and shown together
once that ends, minus those that stopped firing or were muted meanwhile.
"""

from __future__ import annotations

from wsmon_tui.model import AlertView, Snapshot
from wsmon_tui.tui.fmt import safe

NAMED = 3
"""Targets (and rules) named in a toast before "+N"."""


def announced(alert: AlertView) -> bool:
    """Whether an alert is worth a toast: critical, firing, neither silenced nor inhibited."""
    return (alert.severity == "critical" and alert.state == "firing"
            and not alert.silenced and not alert.inhibited_by)


def _names(names: list[str], limit: int = NAMED) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" +{len(names) - limit}" if len(names) > limit else "")


def toast_text(alerts: list[AlertView]) -> tuple[str, str]:
    """The title and message of one toast for ``alerts`` (at least one)."""
    if len(alerts) == 1:
        alert = alerts[0]
        text = f"{alert.rule} on {alert.target or 'overall'}"
        if alert.summary.startswith(text):  # the default summary names them already
            text = ""
        text = safe(text, 120)
        if alert.summary:
            text += f"{': ' if text else ''}{safe(alert.summary, 200)}"
        return "CRITICAL alert", text
    rules: dict[str, int] = {}
    targets: dict[str, None] = {}
    for alert in alerts:
        rule = safe(alert.rule, 40)
        rules[rule] = rules.get(rule, 0) + 1
        targets[safe(alert.target or "overall", 40)] = None
    what = _names([f"{rule} ×{n}" if n > 1 else rule for rule, n in rules.items()])
    if len(rules) == 1:
        what = next(iter(rules))
    where = list(targets)
    on = f"on {where[0]}" if len(where) == 1 else f"on {len(where)} targets: {_names(where)}"
    return f"CRITICAL: {len(alerts)} alerts firing", f"{what} {on}"


class AlertToasts:
    """Which alerts are due a toast: ``observe`` each snapshot, ``take`` when one may be shown."""

    def __init__(self) -> None:
        self._firing: set[str] = set()
        """Alerts announced (or held) that still fire unmuted: not announced again."""
        self._held: dict[str, AlertView] = {}

    def observe(self, snapshot: Snapshot) -> None:
        current = {a.id: a for a in snapshot.alerts if announced(a)}
        held = {i: current[i] for i in self._held if i in current}  # still due, as they are now
        for alert_id, alert in current.items():
            if alert_id not in self._firing:
                held[alert_id] = alert
        self._held = held
        self._firing = set(current)

    def take(self) -> list[AlertView]:
        """The alerts due a toast, once: in the order they started firing."""
        out = list(self._held.values())
        self._held = {}
        return out

    @property
    def held(self) -> int:
        return len(self._held)
