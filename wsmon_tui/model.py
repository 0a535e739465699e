"""Frozen dataclasses that every layer shares.

The engine builds these; the faces (TUI, headless monitor, reports, CLI) only read
them. Nothing here holds a reference to mutable engine state: a ``Snapshot`` is a
picture of one tick, safe to hand to another task or thread.

Times are POSIX timestamps (float seconds, UTC) unless a name says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

EMPTY: Mapping = MappingProxyType({})


class ErrorClass(StrEnum):
    """Every probe failure lands in exactly one of these (docs/metrics.md lists them)."""

    REFUSED = "refused"
    DNS = "dns"
    TIMEOUT = "timeout"
    TLS = "tls"
    HTTP_STATUS = "http_status"
    PROTOCOL = "protocol"
    CLOSED = "closed"
    UNEXPECTED_REPLY = "unexpected_reply"


ERROR_CLASSES: tuple[str, ...] = tuple(c.value for c in ErrorClass)

#: Close codes that are normal during a rolling deploy (going away, service restart).
BENIGN_CLOSE_CODES = frozenset({1000, 1001, 1012})


def counts_close_code(ok: bool, code: int | None) -> bool:
    """Whether a probe's close code is counted under ``close_codes``: the code of a failed
    probe. The one rule for the live figures and the reports alike."""
    return code is not None and not ok


HOLD_DROPS_KEPT = 256


def abnormal_hold_drop(code: str) -> bool:
    """Whether a held connection's disconnect (its close code as a string, "1006" for a drop
    without a close frame) is abnormal: any code but 1000, 1001 and 1012, as for probes."""
    return not (code.isdigit() and int(code) in BENIGN_CLOSE_CODES)


def counts_http_status(ok: bool, status: int | None) -> bool:
    """Whether a probe's HTTP status is counted under ``http_statuses`` (a rejected upgrade)."""
    return status is not None and not ok


class Status(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one probe of one target."""

    target: str
    started_at: float
    ok: bool
    error_class: str | None = None
    """One of ``ERROR_CLASSES`` when ``ok`` is false."""
    detail: str = ""
    """What went wrong, for people: exception text, close reason, unexpected reply (untrusted)."""
    connect_ms: float | None = None
    """TCP (+TLS) connect time."""
    handshake_ms: float | None = None
    """From the start of the probe to the 101 Switching Protocols."""
    rtt_ms: float | None = None
    """From sending ``send`` to receiving the matching reply."""
    ping_ms: float | None = None
    """Protocol ping/pong round trip, when ``ping = true``."""
    duration_ms: float | None = None
    close_code: int | None = None
    close_reason: str = ""
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"p50": self.p50, "p95": self.p95, "p99": self.p99}


@dataclass(frozen=True, slots=True)
class HoldView:
    """The long-lived connection of a ``hold = true`` target."""

    connected: bool
    connected_since: float | None
    disconnects: Mapping[str, int] = field(default_factory=lambda: EMPTY)
    """Disconnects by close code, as a string ("1006": the TCP connection dropped with no close frame)."""
    reconnects: int = 0
    max_gap_s: float | None = None
    """Longest gap between server messages seen on the held connection."""
    last_error: str = ""
    drops: tuple[tuple[float, str], ...] = ()
    """The latest disconnects (wall time, close code), oldest first, at most ``HOLD_DROPS_KEPT``:
    what the read model counts in the evaluation window (``hold_drops``)."""


@dataclass(frozen=True, slots=True)
class TargetView:
    """Everything known about one target at one tick."""

    name: str
    url: str
    status: str = Status.UNKNOWN
    health_score: float | None = None
    performance_score: float | None = None
    probes: int = 0
    """Probes in the evaluation window."""
    success_rate: float | None = None
    error_rate: float | None = None
    handshake_ms: Percentiles = Percentiles()
    rtt_ms: Percentiles = Percentiles()
    errors: Mapping[str, int] = field(default_factory=lambda: EMPTY)
    """Counts by error class over the session."""
    close_codes: Mapping[str, int] = field(default_factory=lambda: EMPTY)
    http_statuses: Mapping[str, int] = field(default_factory=lambda: EMPTY)
    overruns: int = 0
    last_probe: ProbeResult | None = None
    metrics: Mapping[str, float | None] = field(default_factory=lambda: EMPTY)
    """Server metrics by canonical name: connections, messages_per_s, server_error_rate,
    queue_depth, adoption, server_latency_ms, connection_utilisation, imbalance."""
    instances: Mapping[str, float] = field(default_factory=lambda: EMPTY)
    """Open connections per server instance."""
    scrape_errors: int = 0
    last_scrape_error: str = ""
    hold: HoldView | None = None
    degraded_vs_baseline: bool = False
    history: Mapping[str, tuple[float, ...]] = field(default_factory=lambda: EMPTY)
    """Recent values for sparklines, oldest first (e.g. "handshake_p95", "error_rate")."""
    values: Mapping[str, float | None] = field(default_factory=lambda: EMPTY)
    """This tick's figures by canonical metric name (``wsmon_tui.metrics``): what rules
    judge, what is stored and exported. The read model fills it; a view built by hand
    (tests, replays) gets it derived from the fields above."""

    def __post_init__(self) -> None:
        if not self.values:
            object.__setattr__(self, "values", MappingProxyType(_values_of(self)))


def _values_of(tv: TargetView) -> dict[str, float | None]:
    """The canonical values a hand-built ``TargetView``'s fields hold."""
    last = tv.last_probe
    values: dict[str, float | None] = {
        "probe_success_rate": tv.success_rate, "error_rate": tv.error_rate,
        "handshake_p50": tv.handshake_ms.p50, "handshake_p95": tv.handshake_ms.p95,
        "handshake_p99": tv.handshake_ms.p99,
        "rtt_p50": tv.rtt_ms.p50, "rtt_p95": tv.rtt_ms.p95, "rtt_p99": tv.rtt_ms.p99,
        "handshake_ms": last.handshake_ms if last is not None else None,
        "rtt_ms": last.rtt_ms if last is not None else None,
        "health_score": tv.health_score,
    }
    if tv.probes:
        values["baseline_degradation"] = 1.0 if tv.degraded_vs_baseline else 0.0
    values.update(tv.metrics)
    return values


@dataclass(frozen=True, slots=True)
class ResourceView:
    cpu_percent: float | None = None
    memory_percent: float | None = None
    load1: float | None = None
    tcp_connections: int | None = None
    process: Mapping[str, float | None] = field(default_factory=lambda: EMPTY)
    """cpu_percent, rss_mb, open_fds, threads, connections of the watched process."""
    error: str = ""

    def values(self) -> dict[str, float | None]:
        """Host and process figures under their canonical names.

        The watched process's CPU and connections are ``process_cpu_percent`` and
        ``process_connections``, so they never mix with the host's ``cpu_percent``.
        """
        proc = self.process
        return {
            "cpu_percent": self.cpu_percent,
            "memory_percent": self.memory_percent,
            "load1": self.load1,
            "tcp_connections": None if self.tcp_connections is None else float(self.tcp_connections),
            "process_cpu_percent": proc.get("cpu_percent"),
            "rss_mb": proc.get("rss_mb"),
            "open_fds": proc.get("open_fds"),
            "threads": proc.get("threads"),
            "process_connections": proc.get("connections"),
        }


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert, as stored and shown (the alert fields of docs/report.md)."""

    id: str
    """The stable fingerprint of (rule, target)."""
    rule: str
    target: str
    severity: str
    state: str
    """pending | firing | resolved | stale (acknowledged, silenced and inhibited are flags, see
    below). ``stale``: its session ended while it was active; it is no longer evaluated, which
    says nothing about whether its cause was fixed."""
    value: float | None = None
    threshold: float | None = None
    summary: str = ""
    description: str = ""
    runbook: str = ""
    started_at: float | None = None
    firing_at: float | None = None
    resolved_at: float | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    ack_comment: str = ""
    silenced: bool = False
    """Muted by a matching silence or an open maintenance window (not notified)."""
    escalated: bool = False
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    inhibited_by: str = ""
    """The rule whose alert on the same target holds this one back (e.g. ``TargetDown``): shown
    as inhibited, never notified, no toast. Not a silence: nobody chose to mute it."""
    metric: str = ""
    """The canonical metric its rule judges (``overall``: the fleet's health score), in whose
    unit ``value`` and ``threshold`` are shown; "" for an alert another part raised (rollback)."""
    fired_value: float | None = None
    """``value`` when this episode started firing (None while pending). ``value`` moves on with
    the metric while it fires, and once resolved it is the value that resolved it."""

    @property
    def episode(self) -> str:
        """This occurrence of the alert. ``id`` (the fingerprint) is shared by every episode of one
        (rule, target), and a resolved episode is still shown beside the next one: screens key
        their rows by this (one fingerprint has one episode active, started at its own time)."""
        return f"{self.id}@{self.started_at!r}"


@dataclass(frozen=True, slots=True)
class RollbackView:
    """The latest rollback (or, as ``throttle``, the latest throttle) and what a face shows of
    it while it runs: what set it off, the step it is at, how long it has been in its state."""

    id: int | None
    state: str
    """A rollback: idle | running | verifying | verified | failed_verification | failed |
    dry_run. A throttle: running | done | failed | dry_run."""
    trigger: str = ""
    """The rule that set it off, ``health_below``, or ``manual``."""
    reason: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    steps: tuple[Mapping[str, object], ...] = ()
    """The steps done so far, in order: {type, name, ok, duration_ms, detail}."""
    auto_count: int = 0
    recommended: bool = False
    kind: str = "rollback"
    """rollback | throttle"""
    automatic: bool = False
    user: str = ""
    trigger_target: str = ""
    """The target of the alert that set it off (the deployment for ``health_below``)."""
    trigger_value: float | None = None
    trigger_threshold: float | None = None
    trigger_summary: str = ""
    """The triggering alert's summary, as its rule wrote it (untrusted text)."""
    planned: tuple[str, ...] = ()
    """Every configured step's name, in order: ``steps`` holds those done, so while it runs
    ``planned[len(steps)]`` is the step in flight."""
    state_since: float | None = None
    """When it entered ``state`` (started, steps done and verifying, finished)."""
    verify_deadline: float | None = None
    verify_streak: int = 0
    """Healthy evaluations in a row so far while verifying."""
    verify_needed: int = 0
    """Healthy evaluations in a row that verify it (``verify_successes``)."""
    detail: str = ""
    """How it ended, or what its steps left behind (failed steps it continued past)."""
    throttle: RollbackView | None = None
    """The latest throttle of this session (on a rollback's view only)."""
    stored: RollbackView | None = None
    """While this engine has run none (``state`` idle): the latest rollback of the deployment
    in the state dir's audit, by an earlier run or another process, so "last rollback" stays
    true after a restart. Only the faces that say when the last one ran read it."""


@dataclass(frozen=True, slots=True)
class DeploymentView:
    name: str
    version: str = ""
    previous_version: str = ""
    rollout_percent: float | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One picture of the whole deployment, published by the Monitor every tick."""

    taken_at: float
    tick: int
    session_id: str
    deployment: DeploymentView
    level: str
    interval: float
    status: str = Status.UNKNOWN
    health_score: float | None = None
    targets: tuple[TargetView, ...] = ()
    resources: ResourceView | None = None
    alerts: tuple[AlertView, ...] = ()
    rollback: RollbackView | None = None
    notes: tuple[str, ...] = ()
    """Things the user must know about the monitor itself (e.g. "history not stored: disk full")."""
    overall: Mapping[str, float | None] = field(default_factory=lambda: EMPTY)
    """Fleet-wide figures by canonical name: the servers' metrics (connections,
    messages_per_s, ...) summed or maxed, the host's and process's resources, and
    ``health_score``."""
    not_recorded: tuple[str, ...] = ()
    """Figures left empty because they were never stored (a replay of a recorded session):
    ``performance_score``, ``instances``, ``hold``, ``scrape_errors``, ``baseline``,
    ``pending_alerts`` (pending alerts that never fired are not kept). A face says
    "not recorded" for these rather than showing the empty value as a fact."""


class Windows(Protocol):
    """Recent values over time, read within one tick (the alert rules' windows).

    ``target`` is a target's name, or ``""`` for fleet-wide series. ``handshake_ms`` and
    ``rtt_ms`` are per probe; every other name holds the read model's value of each tick.
    """

    def values_since(self, target: str, metric: str, since: float) -> Sequence[float]:
        """Values stamped at or after ``since``, oldest first."""
        ...

    def last(self, target: str, metric: str) -> tuple[float, float] | None:
        """The newest (ts, value), or None."""
        ...

    def first(self, target: str, metric: str) -> tuple[float, float] | None:
        """The oldest (ts, value) still held, or None."""
        ...

    def points_since(self, target: str, metric: str, since: float) -> Sequence[tuple[float, float]]:
        """(ts, value) pairs stamped at or after ``since``, oldest first."""
        ...
