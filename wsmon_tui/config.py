# ruff: noqa: RUF009 - doc() is a dataclasses.field() with metadata
"""The typed config: every key with its type, default and a one-line doc, in one place.

Durations are stored as float seconds. Fields whose TOML key is a Python keyword carry
``key=`` in their metadata (``for`` is ``for_``). ``doc(...)`` is the one-line
documentation that ``config init`` and error messages use.

The loader (TOML -> these dataclasses, strict, every error at once, ``${ENV}``
substitution, the seed's environment overrides and redaction) lives below the schema.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import socket
import tomllib
import types
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from wsmon_tui.durations import parse_duration
from wsmon_tui.errors import ConfigError
from wsmon_tui.paths import config_search_path

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
    metric: str = doc("canonical metric (DESIGN.md section 4) or overall", "")
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
    max_auto: int = doc("automatic rollbacks per session", 1)
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

    source: str | None = field(default=None, metadata={"internal": True})
    """The file this config was read from (None: built-in defaults)."""
    secrets: set[str] = field(default_factory=set, metadata={"internal": True})
    """Values that came from ${ENV} or secret fields: redacted wherever shown."""

    @property
    def interval(self) -> float:
        """The effective probe interval: the config's, else the level's."""
        from wsmon_tui.levels import LEVELS

        return self.monitor.interval or LEVELS[self.monitor.level].interval


# ---------------------------------------------------------------------------
# The loader: TOML -> the dataclasses above. Strict and typed, driven by the fields and
# their metadata, so that every key is defined once. Every problem of a file is
# collected and raised together as one ConfigError.

#: Canonical metric names (DESIGN.md section 4) that rules may name, plus derived ones.
CANONICAL_METRICS: frozenset[str] = frozenset({
    "probe_success_rate", "error_rate",
    "handshake_ms", "handshake_p50", "handshake_p95", "handshake_p99",
    "rtt_ms", "rtt_p50", "rtt_p95", "rtt_p99",
    "refused", "dns", "timeout", "tls", "http_status", "protocol", "closed", "unexpected_reply",
    "abnormal_closes",
    "connections", "messages_per_s", "server_error_rate", "queue_depth", "adoption",
    "server_latency_ms", "connection_utilisation", "imbalance", "scrape_errors",
    "cpu_percent", "memory_percent", "rss_mb", "open_fds", "load1",
    "tcp_connections", "process_cpu_percent", "threads", "process_connections",
    "health_score", "baseline_degradation",
})

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
    "HostCPU", "HostMemory", "BaselineDegradation", "TargetDown",
})

#: The seed's environment variables, honoured after the file is read.
ENV_LEVEL = "WEBSOCKET_MONITORING_LEVEL"
ENV_WEBHOOK_URL = "WEBSOCKET_ALERT_WEBHOOK_URL"
ENV_EMAIL_ENABLED = "WEBSOCKET_ALERT_EMAIL_ENABLED"
ENV_SMTP_SERVER = "WEBSOCKET_ALERT_SMTP_SERVER"
ENV_EMAIL_RECIPIENTS = "WEBSOCKET_ALERT_EMAIL_RECIPIENTS"
ENV_CONFIG = "WSMON_CONFIG"

_ENV_REF = re.compile(r"\$(\$?)\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RATE_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(s|m|h)\s*$")
_DURATION_EXPECTED = "a duration like 30s, 5m, 4h or 2d"
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def _show(value: Any) -> str:
    """A value as it would be written in TOML, shortened, for error messages."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "an array"
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_word(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


@dataclass
class _Loader:
    """One load: where problems go and the secrets seen so far."""

    source: str
    problems: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)
    bad_paths: set[str] = field(default_factory=set)
    """Key paths already reported: a later check of the same key stays quiet (one problem, one line)."""

    def error(self, path: str, message: str) -> None:
        if path in self.bad_paths:
            return
        self.bad_paths.add(path)
        self.problems.append(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")

    # -- ${ENV} substitution ------------------------------------------------------------

    def substitute(self, value: Any, path: str, environ: Mapping[str, str]) -> Any:
        if isinstance(value, str):
            return self._substitute_str(value, path, environ)
        if isinstance(value, dict):
            return {k: self.substitute(v, _join(path, k), environ) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v, f"{path}[{i}]", environ) for i, v in enumerate(value)]
        return value

    def _substitute_str(self, text: str, path: str, environ: Mapping[str, str]) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(1):  # "$${X}" is a literal "${X}"
                return match.group(0)[1:]
            name = match.group(2)
            if not _ENV_NAME.match(name):
                self.error(path, f"${{{name}}} is not a valid environment variable reference "
                                 "(use ${NAME}, letters, digits and _; write $${...} for a literal)")
                return match.group(0)
            if name not in environ:
                self.error(path, f"environment variable {name} is not set (referenced as ${{{name}}})")
                return match.group(0)
            value = environ[name]
            self.secrets.add(value)
            return value

        return _ENV_REF.sub(replace, text)

    # -- typed conversion ---------------------------------------------------------------

    def build(self, cls: type, data: Any, path: str) -> Any:
        """An instance of dataclass ``cls`` from the table ``data`` (defaults where absent or bad)."""
        if not isinstance(data, dict):
            self.error(path, f"expected a table, got {_show(data)}")
            return cls()
        hints = _hints(cls)
        by_key = {(f.metadata.get("key") or f.name): f for f in fields(cls) if not f.metadata.get("internal")}
        kwargs: dict[str, Any] = {}
        for key, raw in data.items():
            f = by_key.get(key)
            key_path = _join(path, key)
            if f is None:
                self.error(key_path, _unknown_key_message(key, list(by_key)))
                continue
            ok, value = self.convert(raw, hints[f.name], key_path, f.metadata)
            if ok:
                kwargs[f.name] = value
        return cls(**kwargs)

    def convert(self, raw: Any, tp: Any, path: str, meta: Mapping[str, Any]) -> tuple[bool, Any]:
        """(True, value) or (False, None) after recording a problem."""
        secret = bool(meta.get("secret"))
        got = _type_word(raw) if secret else _show(raw)
        origin = get_origin(tp)
        args = get_args(tp)
        if origin in (Union, types.UnionType):
            options = [a for a in args if a is not type(None)]
            if len(options) == 1:
                return self.convert(raw, options[0], path, meta)
            # bool | Literal["ask"]
            if isinstance(raw, bool) and bool in options:
                return True, raw
            for option in options:
                if get_origin(option) is Literal and raw in get_args(option) and not isinstance(raw, bool):
                    return True, raw
            allowed = ["true", "false"] if bool in options else []
            for option in options:
                if get_origin(option) is Literal:
                    allowed += [_show(a) for a in get_args(option)]
            self.error(path, f"expected {_or_list(allowed)}, got {got}")
            return False, None
        if meta.get("kind") == "duration":
            try:
                return True, parse_duration(raw)
            except ValueError:
                if isinstance(raw, int | float) and not isinstance(raw, bool) and raw < 0:
                    self.error(path, f"expected a duration of zero or more, got {got}")
                else:
                    self.error(path, f"expected {_DURATION_EXPECTED}, got {got}")
                return False, None
        if origin is Literal:
            if raw in args and type(raw) is type(args[0]):
                return True, raw
            self.error(path, f"expected one of {', '.join(_show(a) for a in args)}, got {got}")
            return False, None
        if tp is Any:
            return True, raw
        if tp is bool:
            if isinstance(raw, bool):
                return True, raw
            self.error(path, f"expected true or false, got {got}")
            return False, None
        if tp is int:
            if isinstance(raw, int) and not isinstance(raw, bool):
                return True, raw
            if isinstance(raw, float) and raw.is_integer():
                return True, int(raw)
            self.error(path, f"expected an integer, got {got}")
            return False, None
        if tp is float:
            if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
                return True, float(raw)
            self.error(path, f"expected a number, got {got}")
            return False, None
        if tp is str:
            if isinstance(raw, str):
                return True, raw
            if isinstance(raw, date | dt_time):  # an unquoted TOML date/time: keep its text
                return True, raw.isoformat()
            self.error(path, f"expected a string, got {got}")
            return False, None
        if origin is list:
            (item_tp,) = args
            if is_dataclass(item_tp):
                if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
                    self.error(path, f"expected an array of tables ([[{path}]]), got {got}")
                    return False, None
                return True, [self.build(item_tp, x, f"{path}[{i}]") for i, x in enumerate(raw)]
            if not isinstance(raw, list):
                if path.endswith("argv"):
                    self.error(path, 'argv must be a list, e.g. ["kubectl", "rollout", "undo"], '
                                     f"got {got}")
                else:
                    self.error(path, f"expected an array ({_type_phrase(item_tp)}), got {got}")
                return False, None
            items = []
            ok = True
            for i, item in enumerate(raw):
                item_ok, value = self.convert(item, item_tp, f"{path}[{i}]", {})
                ok = ok and item_ok
                items.append(value)
            return ok, items if ok else None
        if origin is dict:
            _key_tp, value_tp = args
            if not isinstance(raw, dict):
                self.error(path, f"expected a table ({_type_phrase(value_tp)} values), got {got}")
                return False, None
            out = {}
            ok = True
            for k, v in raw.items():
                item_ok, value = self.convert(v, value_tp, _join(path, k), meta)
                ok = ok and item_ok
                out[k] = value
            return ok, out if ok else None
        if is_dataclass(tp):
            return True, self.build(tp, raw, path)
        raise TypeError(f"config schema: unsupported type {tp!r} at {path}")  # a bug in the schema


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls, globalns=globals())
    return _HINTS[cls]


def _join(path: str, key: str) -> str:
    key_text = key if re.match(r"^[A-Za-z0-9_-]+$", key) else json.dumps(key)
    return f"{path}.{key_text}" if path else key_text


def _or_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _type_phrase(tp: Any) -> str:
    return {str: "strings", int: "integers", float: "numbers", bool: "booleans"}.get(tp, "values")


def _unknown_key_message(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {_or_list([json.dumps(c) for c in close])}?"
    return f"unknown key; valid keys here: {', '.join(sorted(valid))}"


# -- semantic checks ------------------------------------------------------------------


def _url_problem(url: str, schemes: tuple[str, ...]) -> str | None:
    """Why ``url`` is not an acceptable URL with one of ``schemes``, or None."""
    want = " or ".join(f"{s}://" for s in schemes)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return f"expected a {want} URL, got {_show(url)}"
    if parts.scheme.lower() not in schemes or not parts.hostname:
        return f"expected a {want} URL, got {_show(url)}"
    return None


def _check_url(ld: _Loader, path: str, url: str | None, schemes: tuple[str, ...] = ("http", "https"),
               required: str | None = None) -> None:
    if not url:
        if required:
            ld.error(path, required)
        return
    problem = _url_problem(url, schemes)
    if problem:
        ld.error(path, problem)


def _check_rule(ld: _Loader, path: str, rule: RuleConfig, targets: set[str], channels: set[str]) -> None:
    if not rule.name:
        ld.error(f"{path}.name", "required: every rule needs a name")
    if not rule.metric:
        ld.error(f"{path}.metric", "required: a canonical metric name or overall")
    elif rule.metric != "overall" and rule.metric not in CANONICAL_METRICS:
        close = difflib.get_close_matches(rule.metric, sorted(CANONICAL_METRICS), n=3, cutoff=0.6)
        hint = (f"did you mean {_or_list([json.dumps(c) for c in close])}?" if close
                else "see DESIGN.md section 4 for the names")
        ld.error(f"{path}.metric", f"unknown metric {_show(rule.metric)}; {hint}")
    if rule.metric in RATE_METRICS and not 0 <= rule.threshold <= 1:
        ld.error(f"{path}.threshold", f"{rule.metric} is a share between 0 and 1 (5% is 0.05), "
                                      f"got {_show(rule.threshold)}")
    elif rule.metric in PERCENT_METRICS and not 0 <= rule.threshold <= 100:
        ld.error(f"{path}.threshold", f"{rule.metric} is between 0 and 100, got {_show(rule.threshold)}")
    elif rule.threshold < 0 and rule.metric != "overall":
        ld.error(f"{path}.threshold", f"{rule.metric} is never negative, got {_show(rule.threshold)}")
    if rule.window is not None and rule.window <= 0:
        ld.error(f"{path}.window", "expected a duration greater than zero")
    for i, name in enumerate(rule.targets):
        if name not in targets:
            ld.error(f"{path}.targets[{i}]", f"no target named {_show(name)}")
    for i, name in enumerate(rule.channels):
        if name not in channels:
            ld.error(f"{path}.channels[{i}]", f"no channel named {_show(name)}")


def _check_channel(ld: _Loader, path: str, ch: ChannelConfig) -> None:
    if f"{path}.type" in ld.bad_paths:  # already reported; its type-specific keys are unknown
        return
    if ch.type in ("webhook", "slack", "alertmanager"):
        _check_url(ld, f"{path}.url", ch.url, required=f"required for {_article(ch.type)} {ch.type} channel")
    elif ch.type == "pagerduty":
        _check_url(ld, f"{path}.url", ch.url)
        if not ch.routing_key:
            ld.error(f"{path}.routing_key",
                     'required for a pagerduty channel (use "${PAGERDUTY_ROUTING_KEY}")')
    elif ch.type == "file":
        if not ch.path:
            ld.error(f"{path}.path", "required for a file channel")
    elif ch.type == "email":
        if not ch.smtp_server:
            ld.error(f"{path}.smtp_server", 'required for an email channel, like "smtp.example.com:587"')
        else:
            problem = smtp_server_problem(ch.smtp_server)
            if problem:
                ld.error(f"{path}.smtp_server", problem)
        if not ch.sender:
            ld.error(f"{path}.sender", "required for an email channel (the From address)")
        elif "@" not in ch.sender:
            ld.error(f"{path}.sender", f"expected an email address, got {_show(ch.sender)}")
        if not ch.recipients:
            ld.error(f"{path}.recipients", "required for an email channel: at least one address")
        for i, rcpt in enumerate(ch.recipients):
            if "@" not in rcpt:
                ld.error(f"{path}.recipients[{i}]", f"expected an email address, got {_show(rcpt)}")
    if ch.rate_limit is not None:
        match = _RATE_LIMIT.match(ch.rate_limit)
        if not match or int(match.group(1)) < 1:
            ld.error(f"{path}.rate_limit",
                     f'expected "N/s", "N/m" or "N/h" with N >= 1, got {_show(ch.rate_limit)}')


def smtp_server_problem(value: str) -> str | None:
    """Why ``value`` is not a ``host:port`` SMTP server, or None."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return f'expected "host:port", like "smtp.example.com:587", got {_show(value)}'
    return None


def _check_step(ld: _Loader, path: str, step: StepConfig) -> None:
    if f"{path}.type" in ld.bad_paths:
        return
    if step.type == "http":
        _check_url(ld, f"{path}.url", step.url, required="required for an http step")
        if step.method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
            ld.error(f"{path}.method",
                     f"expected GET, POST, PUT, PATCH, DELETE or HEAD, got {_show(step.method)}")
        if step.json is not None and step.body is not None:
            ld.error(path, "give json or body, not both")
        for i, status in enumerate(step.expect_status):
            if not 100 <= status <= 599:
                ld.error(f"{path}.expect_status[{i}]", f"expected an HTTP status 100-599, got {status}")
    elif step.type == "command":
        if not step.argv:
            ld.error(f"{path}.argv",
                     'required for a command step: a list, e.g. ["kubectl", "rollout", "undo"]')
    elif step.type == "flag":
        if not step.name:
            ld.error(f"{path}.name", "required for a flag step: the flag's name")
        if step.enabled is None and step.rollout is None:
            ld.error(path, "a flag step needs enabled and/or rollout")
    if step.rollout is not None and not 0 <= step.rollout <= 100:
        ld.error(f"{path}.rollout", f"expected a percent 0-100, got {_show(step.rollout)}")
    if step.timeout <= 0:
        ld.error(f"{path}.timeout", "expected a duration greater than zero")


def _check_maintenance(ld: _Loader, path: str, window: MaintenanceConfig) -> None:
    if not window.start:
        ld.error(f"{path}.start", 'required: an ISO 8601 time, or "HH:MM" with every')
    elif re.match(r"^\d{1,2}:\d{2}$", window.start):
        hours, minutes = (int(x) for x in window.start.split(":"))
        if hours > 23 or minutes > 59:
            ld.error(f"{path}.start", f"expected HH:MM, got {_show(window.start)}")
        elif window.every is None:
            ld.error(f"{path}.every", 'required when start is "HH:MM" (e.g. every = "1d")')
    else:
        try:
            datetime.fromisoformat(window.start)
        except ValueError:
            ld.error(f"{path}.start", f'expected an ISO 8601 time or "HH:MM", got {_show(window.start)}')
    try:
        zoneinfo.ZoneInfo(window.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        if window.timezone != "UTC":
            ld.error(f"{path}.timezone", f"unknown time zone {_show(window.timezone)}")
    if window.every is not None and window.every <= 0:
        ld.error(f"{path}.every", "expected a duration greater than zero")


def _check_semantics(ld: _Loader, config: Config) -> None:
    mon = config.monitor
    if mon.interval is not None and mon.interval <= 0:
        ld.error("monitor.interval", "expected a duration greater than zero")
    if mon.max_concurrency < 1:
        ld.error("monitor.max_concurrency", f"expected 1 or more, got {mon.max_concurrency}")
    if config.deployment.connection_limit is not None and config.deployment.connection_limit < 1:
        ld.error("deployment.connection_limit", "expected 1 or more")
    if config.resources.port is not None and not 0 < config.resources.port < 65536:
        ld.error("resources.port", f"expected a port 1-65535, got {config.resources.port}")
    if config.baseline.ratio <= 1:
        ld.error("baseline.ratio",
                 f"expected a factor greater than 1 (2 = twice as bad), got {config.baseline.ratio}")

    seen: dict[str, int] = {}
    for i, target in enumerate(config.targets):
        path = f"targets[{i}]"
        if not target.name:
            ld.error(f"{path}.name", "required: a short unique name")
        elif target.name in seen:
            ld.error(f"{path}.name",
                     f"duplicate target name {_show(target.name)} (also targets[{seen[target.name]}])")
        else:
            seen[target.name] = i
        _check_url(ld, f"{path}.url", target.url, ("ws", "wss"), required="required: a ws:// or wss:// URL")
        _check_url(ld, f"{path}.metrics_url", target.metrics_url)
        if target.timeout <= 0:
            ld.error(f"{path}.timeout", "expected a duration greater than zero")
        if target.expect and target.expect.startswith("re:"):
            try:
                re.compile(target.expect[3:])
            except (re.error, OverflowError, RecursionError) as exc:  # "a{9999999999}", deep nesting
                ld.error(f"{path}.expect", f"invalid regular expression: {exc}")

    for name, selector in _metric_selectors(config.metrics):
        if selector is not None and not selector.strip():
            ld.error(f"metrics.{name}", "empty selector; leave the key out instead")
    from wsmon_tui.engine.selectors import check_metrics

    for name, problem in check_metrics(config.metrics).items():
        ld.error(f"metrics.{name}", problem)

    _check_url(ld, "prometheus.url", config.prometheus.url)
    for name in config.prometheus.queries:
        if name not in CANONICAL_METRICS:
            ld.error(_join("prometheus.queries", name),
                     "expected a canonical metric name (DESIGN.md section 4)")
    if config.prometheus.queries and not config.prometheus.url:
        ld.error("prometheus.url", "required when prometheus.queries are given")

    channel_names: dict[str, int] = {}
    for i, ch in enumerate(config.alerts.channels):
        path = f"alerts.channels[{i}]"
        if not ch.name:
            ch.name = ch.type
        if ch.name in channel_names:
            ld.error(f"{path}.name", f"duplicate channel name {_show(ch.name)} (also alerts.channels"
                                     f"[{channel_names[ch.name]}]); give each channel of a type its own name")
        else:
            channel_names[ch.name] = i
        _check_channel(ld, path, ch)

    rule_names: dict[str, int] = {}
    for i, rule in enumerate(config.alerts.rules):
        path = f"alerts.rules[{i}]"
        if rule.name in rule_names:
            ld.error(f"{path}.name", f"duplicate rule name {_show(rule.name)} "
                                     f"(also alerts.rules[{rule_names[rule.name]}])")
        elif rule.name:
            rule_names[rule.name] = i
        _check_rule(ld, path, rule, set(seen), set(channel_names))
    for i, window in enumerate(config.alerts.maintenance):
        _check_maintenance(ld, f"alerts.maintenance[{i}]", window)

    known_rules = set(rule_names) | DEFAULT_RULE_NAMES
    for section, names in (("rollback", config.rollback.on), ("throttle", config.throttle.on)):
        for i, name in enumerate(names):
            if name not in known_rules:
                close = difflib.get_close_matches(name, sorted(known_rules), n=3, cutoff=0.6)
                hint = f"; did you mean {_or_list([json.dumps(c) for c in close])}?" if close else ""
                ld.error(f"{section}.on[{i}]", f"no rule named {_show(name)} (configured or default){hint}")
    rb = config.rollback
    if rb.health_below is not None and not 0 <= rb.health_below <= 100:
        ld.error("rollback.health_below", f"expected a health score 0-100, got {_show(rb.health_below)}")
    if rb.max_auto < 0:
        ld.error("rollback.max_auto", "expected 0 or more")
    if rb.verify_successes < 1:
        ld.error("rollback.verify_successes", "expected 1 or more")
    for section, steps in (("rollback", rb.steps), ("throttle", config.throttle.steps)):
        for i, step in enumerate(steps):
            _check_step(ld, f"{section}.steps[{i}]", step)

    flags = config.flags
    if flags.provider == "file" and not flags.path:
        ld.error("flags.path", 'required when provider = "file"')
    if flags.provider == "http":
        _check_url(ld, "flags.url", flags.url, required='required when provider = "http"')
    elif flags.url:
        _check_url(ld, "flags.url", flags.url)
    if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", flags.rollout_flag):
        ld.error("flags.rollout_flag", f"expected a flag name (1-64 letters, digits, '_', '.' or '-'), "
                                       f"got {_show(flags.rollout_flag)}")
    if config.ui.refresh <= 0:
        ld.error("ui.refresh", "expected a duration greater than zero")


def _metric_selectors(metrics: MetricsConfig) -> list[tuple[str, str | None]]:
    return [(f.name, getattr(metrics, f.name)) for f in fields(metrics) if f.name != "instance_label"]


# -- secrets --------------------------------------------------------------------------


def _collect_secrets(config: Config) -> set[str]:
    """Secret-field values, auth header values and URL tokens: redacted wherever shown."""
    from wsmon_tui.redact import header_secret_parts, url_secret_parts

    found: set[str] = set()
    for ch in config.alerts.channels:
        found.update(v for v in (ch.password, ch.routing_key) if v)
    header_maps = [t.headers for t in config.targets] + [c.headers for c in config.alerts.channels]
    header_maps += [s.headers for s in config.rollback.steps + config.throttle.steps]
    header_maps += [config.prometheus.headers, config.flags.headers]
    for headers in header_maps:
        found.update(header_secret_parts(headers))
    urls = [t.url for t in config.targets] + [t.metrics_url for t in config.targets]
    urls += [c.url for c in config.alerts.channels]
    urls += [s.url for s in config.rollback.steps + config.throttle.steps]
    urls += [config.prometheus.url, config.flags.url]
    for url in urls:
        if url:
            found.update(url_secret_parts(url))
    return {s for s in found if "${" not in s}


# -- environment overrides ------------------------------------------------------------


def _apply_env_overrides(config: Config, environ: Mapping[str, str], problems: list[str]) -> None:
    """The seed's WEBSOCKET_* variables, applied after the file."""

    def error(name: str, message: str) -> None:
        problems.append(f"environment: {name}: {message}")

    level = environ.get(ENV_LEVEL)
    if level is not None and level.strip():
        wanted = level.strip().lower()
        allowed = get_args(Level)
        if wanted in allowed:
            config.monitor.level = wanted  # type: ignore[assignment]
        else:
            error(ENV_LEVEL, f"expected one of {', '.join(allowed)}, got {_show(level)}")

    webhook = environ.get(ENV_WEBHOOK_URL, "").strip()
    if webhook:
        problem = _url_problem(webhook, ("http", "https"))
        if problem:
            error(ENV_WEBHOOK_URL, problem.replace(_show(webhook), "a value that is not one"))
        else:
            _put_channel(config, ChannelConfig(type="webhook", name="env-webhook", url=webhook))
            config.secrets.add(webhook)

    enabled = environ.get(ENV_EMAIL_ENABLED)
    if enabled is None:
        return
    word = enabled.strip().lower()
    if word not in _TRUE_WORDS:
        if word not in _FALSE_WORDS:
            error(ENV_EMAIL_ENABLED, f"expected true or false (1/0, yes/no), got {_show(enabled)}")
        return
    server = environ.get(ENV_SMTP_SERVER, "").strip()
    recipients = [r.strip() for r in environ.get(ENV_EMAIL_RECIPIENTS, "").split(",") if r.strip()]
    if not server:
        error(ENV_SMTP_SERVER, f'required when {ENV_EMAIL_ENABLED} is set: "host:port"')
    elif ":" not in server:
        server += ":25"
    if server and smtp_server_problem(server):
        error(ENV_SMTP_SERVER, smtp_server_problem(server) or "")
    if not recipients:
        error(ENV_EMAIL_RECIPIENTS, f"required when {ENV_EMAIL_ENABLED} is set: comma-separated addresses")
    for rcpt in recipients:
        if "@" not in rcpt:
            error(ENV_EMAIL_RECIPIENTS, f"expected email addresses, got {_show(rcpt)}")
    if server and recipients:
        # STARTTLS on the submission port; a seed-era relay on port 25 is often plain.
        _put_channel(config, ChannelConfig(type="email", name="env-email", smtp_server=server,
                                           sender=f"wsmon-tui@{socket.gethostname()}",
                                           recipients=recipients, starttls=server.endswith(":587")))


def _put_channel(config: Config, channel: ChannelConfig) -> None:
    channels = [c for c in config.alerts.channels if c.name != channel.name]
    config.alerts.channels = [*channels, channel]


# -- entry points ---------------------------------------------------------------------


def _toml_error_message(exc: tomllib.TOMLDecodeError) -> str:
    text = str(exc)
    match = re.search(r"^(.*?)\s*\(at line (\d+), column (\d+)\)$", text)
    if match:
        return f"line {match.group(2)}, column {match.group(3)}: invalid TOML: {match.group(1)}"
    match = re.search(r"^(.*?)\s*\(at end of document\)$", text)
    if match:
        return f"at the end of the file: invalid TOML: {match.group(1)}"
    return f"invalid TOML: {text}"


def read_toml(path: Path) -> dict[str, Any]:
    """The file's TOML as a dict; ConfigError (with line and column) when it cannot be read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {_toml_error_message(exc)}") from None


def load_config(path: str | Path | None, *, explicit: bool = False,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read, substitute ``${ENV}``, type-check and validate one config file.

    ``path=None`` gives the built-in defaults. The seed's environment variables are applied
    after the file. Every problem is collected and raised together as one ``ConfigError``
    (one line per problem: ``FILE: key.path: what is wrong``). ``explicit`` is accepted for
    symmetry with ``find_and_load``; a missing file is always an error here.
    """
    env = os.environ if environ is None else environ
    if path is None:
        ld = _Loader("built-in defaults")
        config = Config()
    else:
        file = Path(path)
        ld = _Loader(str(file))
        raw = read_toml(file)
        data = ld.substitute(raw, "", env)
        config = ld.build(Config, data, "")
        config.source = str(file)
    _apply_env_overrides(config, env, ld.problems)
    _check_semantics(ld, config)
    problems = ld.problems
    config.secrets |= ld.secrets | _collect_secrets(config)
    if problems:
        from wsmon_tui.redact import redact_text

        raise ConfigError([redact_text(line, config.secrets) for line in problems])
    return config


def find_and_load(explicit_path: str | None, *, environ: Mapping[str, str] | None = None) -> Config:
    """The config from the search path (--config, $WSMON_CONFIG, ./wsmon.toml, XDG), else defaults.

    A ``--config`` or ``$WSMON_CONFIG`` that does not exist is an error; the other places are
    simply skipped when absent.
    """
    env = os.environ if environ is None else environ
    if explicit_path:
        file = Path(explicit_path)
        if not file.exists():
            raise ConfigError(f"{file}: no such file (given with --config)")
        return load_config(file, explicit=True, environ=env)
    if env.get(ENV_CONFIG):
        file = Path(env[ENV_CONFIG])
        if not file.exists():
            raise ConfigError(f"{file}: no such file (named by ${ENV_CONFIG})")
        return load_config(file, explicit=True, environ=env)
    for candidate in config_search_path(None):
        if candidate.is_file():
            return load_config(candidate, environ=env)
    return load_config(None, environ=env)
