"""One alert's record (``_Alert``) and its fingerprint: what the alert engine keeps per
(rule, target), how it is shown (``AlertView``) and how it maps to an ``alert_alerts`` row.

Separate from the engine so that the record's many fields, and their round trip through
the database, can be read apart from the lifecycle that changes them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from wsmon_tui.alerts.db import column
from wsmon_tui.model import AlertView

VALUE_SAVE_S = 60.0
"""A firing alert's changing value is written at most this often (screens see it every tick)."""


def fingerprint(rule: str, target: str, deployment: str = "", site: str = "") -> str:
    """The stable id of (deployment, rule, target[, site]): 16 hex digits, the dedup key everywhere.

    The same for every monitor of one site (so PagerDuty's ``dedup_key`` merges what two
    monitors of a site send, as Alertmanager merges their identical label sets) and
    different across sites. Without a site it is what it always was, so alerts stored before
    sites existed keep their ids."""
    raw = f"{deployment}\x00{rule}\x00{target}"
    if site:
        raw += f"\x00{site}"
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(slots=True)
class _Alert:
    fingerprint: str
    rule: str
    target: str
    deployment: str
    base_severity: str
    severity: str
    state: str
    started_at: float
    metric: str = ""
    value: float | None = None
    threshold: float | None = None
    fired_value: float | None = None
    """``value`` when this occurrence started firing (kept: ``value`` moves on, and after the
    alert resolved it is the value that resolved it)."""
    summary: str = ""
    description: str = ""
    runbook: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    row_id: int | None = None
    firing_at: float | None = None
    resolved_at: float | None = None
    last_true_at: float | None = None
    ack_user: str | None = None
    ack_at: float | None = None
    ack_comment: str = ""
    acted_on: bool = False
    """Someone acknowledged this occurrence (even if later withdrawn): kept in the history when
    it ends, even if it never fired."""
    silenced: bool = False
    inhibited_by: str = ""
    escalated: bool = False
    external: bool = False
    seq: int = 0
    notified_firing: bool = False
    first_notified_at: float | None = None
    last_notified_at: float | None = None
    ack_renotified_at: float | None = None
    severity_rose: bool = False
    dirty: bool = True
    dropped: bool = False
    cached: AlertView | None = None
    stale_value: bool = False
    saved_at: float = 0.0
    evidence: tuple[int, float] | None = None
    """(probes, seconds) a rate or success rule last judged it on (its summary quotes them)."""
    session_id: str = ""
    """The monitor session that evaluates it (its occurrence ends ``stale`` with that session)."""

    @property
    def muted(self) -> bool:
        """Not notified: silenced (a silence, maintenance) or inhibited by another alert."""
        return self.silenced or bool(self.inhibited_by)

    def touch(self) -> None:
        """Something shown or stored changed: write the row, rebuild the view."""
        self.dirty = True
        self.cached = None

    def touch_value(self) -> None:
        """Only the current value (and the summary quoting it) changed: shown at once, stored
        at most every VALUE_SAVE_S (or with the next real change)."""
        self.stale_value = True
        self.cached = None

    def values(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "rule": self.rule, "target": self.target,
            "deployment": self.deployment, "severity": self.severity, "base_severity": self.base_severity,
            "state": self.state, "value": self.value, "threshold": self.threshold, "summary": self.summary,
            "description": self.description, "runbook": self.runbook,
            "labels": json.dumps(self.labels, ensure_ascii=False), "started_at": self.started_at,
            "firing_at": self.firing_at, "resolved_at": self.resolved_at, "last_true_at": self.last_true_at,
            "acknowledged_by": self.ack_user, "acknowledged_at": self.ack_at, "ack_comment": self.ack_comment,
            "silenced": int(self.silenced), "inhibited_by": self.inhibited_by,
            "escalated": int(self.escalated), "external": int(self.external),
            "seq": self.seq, "notified_firing": int(self.notified_firing),
            "first_notified_at": self.first_notified_at, "last_notified_at": self.last_notified_at,
            "ack_renotified_at": self.ack_renotified_at, "session_id": self.session_id,
            "metric": self.metric, "fired_value": self.fired_value,
        }

    def view(self) -> AlertView:
        if self.cached is None:
            self.cached = self._build_view()
        return self.cached

    def _build_view(self) -> AlertView:
        labels = dict(self.labels)
        if self.inhibited_by:
            labels["inhibited_by"] = self.inhibited_by
        return AlertView(
            id=self.fingerprint, rule=self.rule, target=self.target, severity=self.severity,
            state=self.state, value=self.value, threshold=self.threshold, summary=self.summary,
            description=self.description, runbook=self.runbook, started_at=self.started_at,
            firing_at=self.firing_at, resolved_at=self.resolved_at, acknowledged_by=self.ack_user,
            acknowledged_at=self.ack_at, ack_comment=self.ack_comment, silenced=self.silenced,
            escalated=self.escalated, labels=labels, inhibited_by=self.inhibited_by, metric=self.metric,
            fired_value=self.fired_value,
        )

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> _Alert:
        try:
            labels = json.loads(r["labels"] or "{}")
        except ValueError:
            labels = {}
        return cls(
            fingerprint=r["fingerprint"], rule=r["rule"], target=r["target"], deployment=r["deployment"],
            base_severity=r["base_severity"], severity=r["severity"], state=r["state"],
            started_at=r["started_at"], value=r["value"], threshold=r["threshold"], summary=r["summary"],
            description=r["description"], runbook=r["runbook"],
            labels=labels if isinstance(labels, dict) else {}, row_id=r["id"], firing_at=r["firing_at"],
            resolved_at=r["resolved_at"], last_true_at=r["last_true_at"], ack_user=r["acknowledged_by"],
            ack_at=r["acknowledged_at"], ack_comment=r["ack_comment"] or "", silenced=bool(r["silenced"]),
            inhibited_by=r["inhibited_by"] or "", session_id=r["session_id"] or "",
            metric=column(r, "metric") or "", fired_value=column(r, "fired_value"),
            escalated=bool(r["escalated"]), external=bool(r["external"]), seq=r["seq"],
            notified_firing=bool(r["notified_firing"]), first_notified_at=r["first_notified_at"],
            last_notified_at=r["last_notified_at"], ack_renotified_at=r["ack_renotified_at"], dirty=False,
        )
