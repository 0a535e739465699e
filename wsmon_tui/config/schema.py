# ruff: noqa: RUF009 - doc() is a dataclasses.field() with metadata
"""The typed config: every key with its type, default and a one-line doc, in one place.

Durations are stored as float seconds. Fields whose TOML key is a Python keyword carry
``key=`` in their metadata (``for`` is ``for_``). ``doc(...)`` is the one-line
documentation that ``config init`` and error messages use.

Also here: the canonical metric names rules may name, the metrics that are shares or
percents, and the names of the built-in default rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints

from wsmon_tui.metrics import CANONICAL_METRICS as CANONICAL_METRICS  # the one list of names

Level = Literal["basic", "standard", "comprehensive", "debug"]


def doc(text: str, default: Any = None, *, key: str | None = None, kind: str | None = None,
        secret: bool = False, factory: Any = None) -> Any:
    """A dataclass field with its one-line doc and loader hints.

    ``kind`` is ``"duration"`` for durations (strings like ``5m`` or bare seconds),
    ``secret`` marks values that are always redacted when shown.
    """
    meta = {"doc": text, "key": key, "kind": kind, "secret": secret}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(slots=True)
class MonitorConfig:
    level: Level = doc("basic | standard | comprehensive | debug: interval and default thresholds",
                       "standard")
    interval: float | None = doc("seconds between probes of a target; default from the level",
                                 None, kind="duration")
    max_concurrency: int = doc("most probes in flight at once", 100)
    retention_raw: float = doc("how long raw samples are kept", 86400.0, kind="duration")
    retention: float = doc("how long 1-minute rollups are kept", 7 * 86400.0, kind="duration")
    state_dir: str | None = doc("where history lives; default $XDG_STATE_HOME/wsmon-tui", None)
    site: str = doc("this monitor's vantage point (e.g. eu-west): the site label on /metrics and on "
                    "alerts; unset: no site label", "")


@dataclass(slots=True)
class DeploymentConfig:
    name: str = doc("the deployment being watched", "websocket")
    version: str = doc("the version rolling out", "")
    previous_version: str = doc("the version a rollback returns to", "")
    connection_limit: int | None = doc("connections the fleet can hold; gives utilisation", None)


@dataclass(slots=True)
class TargetConfig:
    name: str = doc("a short unique name for the target", "")
    url: str = doc("ws:// or wss:// URL to probe", "")
    send: str | None = doc("message sent after the handshake; {nonce} is filled per probe", None)
    expect: str | None = doc('substring the reply must contain, or "re:<regex>"', None)
    ping: bool = doc("measure a protocol ping/pong round trip", False)
    hold: bool = doc("keep one long-lived connection and count its drops", False)
    timeout: float = doc("longest a probe may take", 10.0, kind="duration")
    headers: dict[str, str] = doc("extra handshake headers", factory=dict)
    subprotocols: list[str] = doc("Sec-WebSocket-Protocol values offered", factory=list)
    origin: str | None = doc("Origin header", None)
    verify_tls: bool = doc("verify the server certificate (wss)", True)
    ca_file: str | None = doc("CA bundle for wss", None)
    metrics_url: str | None = doc("the server's metrics endpoint (http:// or https://)", None)
    metrics_format: Literal["prometheus", "json"] = doc("prometheus (text/OpenMetrics) or json",
                                                         "prometheus")


@dataclass(slots=True)
class MetricsConfig:
    """Selectors into the servers' metrics: ``name{label="v"}`` summed over matches, or ``A / B``.

    For ``metrics_format = "json"`` the names are dotted paths into the document.
    """

    connections: str | None = doc("open WebSocket connections (gauge)", None)
    messages: str | None = doc("messages handled (counter; shown as a rate)", None)
    errors: str | None = doc("server errors (counter; server_error_rate = errors / messages)", None)
    queue_depth: str | None = doc("send-queue depth (gauge; backpressure)", None)
    adoption: str | None = doc("share of clients on the WebSocket path (0-1), usually A / B", None)
    latency_histogram: str | None = doc("histogram base name; gives server_latency_ms (p95)", None)
    instance_label: str = doc("label that names a server instance", "instance")


@dataclass(slots=True)
class PrometheusConfig:
    url: str | None = doc("Prometheus server URL for fleet-wide PromQL queries", None)
    queries: dict[str, str] = doc("canonical metric name = PromQL instant query", factory=dict)
    headers: dict[str, str] = doc("extra request headers (e.g. Authorization)", factory=dict)
    verify_tls: bool = doc("verify the server certificate", True)
    timeout: float = doc("query timeout", 10.0, kind="duration")


@dataclass(slots=True)
class ResourcesConfig:
    host: bool = doc("sample host CPU, memory and load", True)
    process: str | None = doc("a process to watch, by name or pid", None)
    port: int | None = doc("count TCP connections on this local port", None)


@dataclass(slots=True)
class BaselineConfig:
    window: float = doc("the first part of a session that forms the baseline", 300.0, kind="duration")
    ratio: float = doc("worse than baseline by this factor counts as degraded", 2.0)
    source: Literal["session", "previous_version"] = doc(
        "session (first minutes) or previous_version (its last session in the store)", "session")


@dataclass(slots=True)
class RuleConfig:
    name: str = doc("rule name (alertname)", "")
    metric: str = doc("canonical metric (docs/metrics.md) or overall", "")
    op: Literal[">", ">=", "<", "<=", "==", "!="] = doc("comparison", ">")
    threshold: float = doc("value compared against", 0.0)
    for_: float = doc("how long the condition holds before firing", 0.0, key="for", kind="duration")
    keep_firing_for: float = doc("how long it stays firing after the condition clears", 0.0,
                                 kind="duration")
    window: float | None = doc("judge the metric over this window", None, kind="duration")
    aggregate: Literal["last", "avg", "min", "max", "p95"] = doc("how the window is reduced", "last")
    severity: Literal["info", "warning", "critical"] = doc("info | warning | critical", "warning")
    cooldown: float = doc("least time between notifications of one alert", 300.0, kind="duration")
    summary: str = doc("one line; {target} {value} {threshold} are filled", "")
    description: str = doc("longer text, templated like summary", "")
    runbook: str = doc("runbook URL", "")
    labels: dict[str, str] = doc("extra labels", factory=dict)
    targets: list[str] = doc("only these targets (default all)", factory=list)
    channels: list[str] = doc("only these channels, by name (default all)", factory=list)


@dataclass(slots=True)
class ChannelConfig:
    type: Literal["webhook", "slack", "email", "file", "alertmanager", "pagerduty"] = doc(
        "webhook | slack | email | file | alertmanager | pagerduty", "webhook")
    name: str = doc("channel name used by rules' channels filter; default the type", "")
    min_severity: Literal["info", "warning", "critical"] = doc("least severity sent", "warning")
    rate_limit: str | None = doc('most notifications per period, like "10/m"; the rest summarised',
                                 None)
    timeout: float = doc("delivery timeout", 10.0, kind="duration")
    max_age: float = doc("give up on a notification this old", 3600.0, kind="duration")
    escalation: bool = doc("receives escalated alerts", False)
    url: str | None = doc("webhook / slack / alertmanager / pagerduty URL", None)
    headers: dict[str, str] = doc("extra request headers", factory=dict)
    verify_tls: bool = doc("verify the receiver's certificate", True)
    smtp_server: str | None = doc('email: "host:port"', None)
    sender: str | None = doc("email: From address", None)
    recipients: list[str] = doc("email: To addresses", factory=list)
    starttls: bool = doc("email: STARTTLS before login", True)
    username: str | None = doc("email: SMTP user", None)
    password: str | None = doc("email: SMTP password (use ${ENV})", None, secret=True)
    path: str | None = doc("file: JSON-lines path", None)
    routing_key: str | None = doc("pagerduty: Events v2 routing key (use ${ENV})", None, secret=True)


@dataclass(slots=True)
class MaintenanceConfig:
    start: str = doc('ISO 8601 time, or "HH:MM" with every', "")
    duration: float = doc("how long the window lasts", 3600.0, kind="duration")
    every: float | None = doc("repeat period (e.g. 1d, 7d)", None, kind="duration")
    timezone: str = doc("IANA zone for start", "UTC")
    comment: str = doc("why", "")


@dataclass(slots=True)
class AlertsConfig:
    default_rules: bool = doc("ship the level's default rules", True)
    escalate_after: float | None = doc("escalate an unacknowledged firing alert after", 900.0,
                                       kind="duration")
    ack_timeout: float | None = doc("re-notify an acknowledged alert still firing after", None,
                                    kind="duration")
    send_resolved: bool = doc("notify resolutions", True)
    rules: list[RuleConfig] = doc("alert rules", factory=list)
    channels: list[ChannelConfig] = doc("notification channels", factory=list)
    maintenance: list[MaintenanceConfig] = doc("maintenance windows", factory=list)


@dataclass(slots=True)
class StepConfig:
    type: Literal["http", "command", "flag"] = doc("http | command | flag", "http")
    name: str = doc("flag: the flag's name; others: a label for the audit", "")
    method: str = doc("http: method", "POST")
    url: str | None = doc("http: URL", None)
    headers: dict[str, str] = doc("http: headers", factory=dict)
    json: Any = doc("http: JSON body", None)
    body: str | None = doc("http: raw body", None)
    expect_status: list[int] = doc("http: accepted statuses (default any 2xx)", factory=list)
    verify_tls: bool = doc("http: verify the certificate", True)
    argv: list[str] = doc("command: program and arguments (never a shell)", factory=list)
    env: dict[str, str] = doc("command: extra environment", factory=dict)
    cwd: str | None = doc("command: working directory", None)
    enabled: bool | None = doc("flag: enabled value to set", None)
    rollout: float | None = doc("flag: rollout percent to set (0-100)", None)
    timeout: float = doc("longest the step may take", 30.0, kind="duration")
    continue_on_error: bool = doc("run the next steps even if this one fails", False)


@dataclass(slots=True)
class RollbackConfig:
    auto: bool | Literal["ask"] = doc('true | false | "ask"', False)
    on: list[str] = doc("rule names whose firing triggers a rollback", factory=list)
    health_below: float | None = doc("overall health score that triggers a rollback", None)
    for_: float = doc("how long health must stay below health_below", 60.0, key="for",
                      kind="duration")
    max_auto: int = doc("automatic rollbacks per deployment version (across processes and restarts)", 1)
    cooldown: float = doc("least time between rollbacks", 600.0, kind="duration")
    verify_window: float = doc("time allowed for health to recover", 300.0, kind="duration")
    verify_successes: int = doc("consecutive healthy evaluations that verify it", 3)
    dry_run: bool = doc("log the steps, run nothing", False)
    steps: list[StepConfig] = doc("steps run in order", factory=list)


@dataclass(slots=True)
class ThrottleConfig:
    on: list[str] = doc("rule names (typically queue depth) that trigger throttling", factory=list)
    cooldown: float = doc("least time between throttles", 300.0, kind="duration")
    steps: list[StepConfig] = doc("steps run in order", factory=list)


@dataclass(slots=True)
class FlagsConfig:
    provider: Literal["file", "http"] | None = doc("file | http", None)
    path: str | None = doc("file: JSON flag file", None)
    url: str | None = doc("http: flags endpoint (GET lists, PUT url/{name} sets)", None)
    headers: dict[str, str] = doc("http: headers", factory=dict)
    verify_tls: bool = doc("http: verify the certificate", True)
    rollout_flag: str = doc("the flag whose rollout percent is the deployment's rollout (tracked)",
                            "websocket_enabled")


@dataclass(slots=True)
class UIConfig:
    theme: str = doc("theme name", "wsmon-dark")
    refresh: float = doc("seconds between repaints", 1.0, kind="duration")
    keymap: dict[str, str] = doc("binding id = key, to remap keys", factory=dict)


@dataclass(slots=True)
class FleetConfig:
    prometheus: str | None = doc("the Prometheus scraping every site's monitor (wsmon-tui --fleet)", None)
    alertmanager: str | None = doc("the Alertmanager the monitors page: alerts, silences, acks", None)
    window: float = doc("the window rates and percentiles are taken over", 300.0, kind="duration")
    recording_rules: bool | Literal["auto"] = doc(
        'true | false | "auto": read the recorded series of examples/prometheus/wsmon-fleet-rules.yml '
        '(auto: when Prometheus holds them for the window)', "auto")
    ack_duration: float = doc("an acknowledgement is a silence this long", 900.0, kind="duration")
    headers: dict[str, str] = doc("extra request headers to both (e.g. Authorization)", factory=dict)
    timeout: float = doc("request timeout", 10.0, kind="duration")


@dataclass(slots=True)
class Config:
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    deployment: DeploymentConfig = field(default_factory=DeploymentConfig)
    targets: list[TargetConfig] = field(default_factory=list)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    rollback: RollbackConfig = field(default_factory=RollbackConfig)
    throttle: ThrottleConfig = field(default_factory=ThrottleConfig)
    flags: FlagsConfig = field(default_factory=FlagsConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)

    source: str | None = field(default=None, metadata={"internal": True})
    """The file this config was read from (None: built-in defaults)."""
    secrets: set[str] = field(default_factory=set, metadata={"internal": True})
    """Values that came from ${ENV} or secret fields: redacted wherever shown."""

    @property
    def interval(self) -> float:
        """The effective probe interval: the config's, else the level's."""
        from wsmon_tui.levels import LEVELS

        return self.monitor.interval or LEVELS[self.monitor.level].interval


#: Metrics that are shares (0-1) and metrics that are percents (0-100).
RATE_METRICS: frozenset[str] = frozenset({
    "probe_success_rate", "error_rate", "server_error_rate", "adoption", "connection_utilisation",
})
PERCENT_METRICS: frozenset[str] = frozenset({"cpu_percent", "memory_percent", "health_score"})

#: Names of the built-in default rules, accepted by ``rollback.on`` and ``throttle.on``.
#: The alerting package owns the rules themselves; keep this set in step with it.
DEFAULT_RULE_NAMES: frozenset[str] = frozenset({
    "HighErrorRate", "LowSuccessRate", "SlowHandshake", "SlowRoundTrip", "AbnormalCloses",
    "QueueBackpressure", "ConnectionUtilisation", "InstanceImbalance", "AdoptionDrop", "ScrapeFailing",
    "HostCPU", "HostMemory", "BaselineDegradation", "TargetDown", "MonitorOffline",
})

#: Type hints of each schema class, resolved once (the loader and the tests use them).
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls, globalns=globals())
    return _HINTS[cls]
