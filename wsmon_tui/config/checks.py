"""Validation of a typed config, and the collection of its problems.

Every problem is one line, ``SOURCE: key.path: what is wrong``; a key path is reported
once. Unknown keys and names get a did-you-mean from the valid ones.
"""

from __future__ import annotations

import difflib
import json
import re
import zoneinfo
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from wsmon_tui.config.schema import (
    CANONICAL_METRICS,
    DEFAULT_RULE_NAMES,
    PERCENT_METRICS,
    RATE_METRICS,
    ChannelConfig,
    Config,
    MaintenanceConfig,
    MetricsConfig,
    RuleConfig,
    StepConfig,
)
from wsmon_tui.config.templates import template_problem

_RATE_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(s|m|h)\s*$")
#: ``[monitor] site``: a label value that is safe unquoted in PromQL, URLs and file names.
SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")
#: Where the canonical metric names are described, for error messages.
METRICS_DOC = "docs/metrics.md"


@dataclass
class Problems:
    """One load's problems: where they go, and which key paths were already reported."""

    source: str
    problems: list[str] = field(default_factory=list)
    bad_paths: set[str] = field(default_factory=set)
    """Key paths already reported: a later check of the same key stays quiet (one problem, one line)."""

    def error(self, path: str, message: str) -> None:
        if path in self.bad_paths:
            return
        self.bad_paths.add(path)
        self.problems.append(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")


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


def _join(path: str, key: str) -> str:
    key_text = key if re.match(r"^[A-Za-z0-9_-]+$", key) else json.dumps(key)
    return f"{path}.{key_text}" if path else key_text


def _or_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


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


def _check_url(ld: Problems, path: str, url: str | None, schemes: tuple[str, ...] = ("http", "https"),
               required: str | None = None) -> None:
    if not url:
        if required:
            ld.error(path, required)
        return
    problem = _url_problem(url, schemes)
    if problem:
        ld.error(path, problem)


def _check_rule(ld: Problems, path: str, rule: RuleConfig, targets: set[str], channels: set[str]) -> None:
    if not rule.name:
        ld.error(f"{path}.name", "required: every rule needs a name")
    if not rule.metric:
        ld.error(f"{path}.metric", "required: a canonical metric name or overall")
    elif rule.metric != "overall" and rule.metric not in CANONICAL_METRICS:
        close = _close_metrics(rule.metric)
        hint = (f"did you mean {_or_list([json.dumps(c) for c in close])}?" if close
                else f"valid names (see {METRICS_DOC}): {', '.join(sorted(CANONICAL_METRICS))}, or overall")
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
    for key in ("summary", "description", "runbook"):
        problem = template_problem(getattr(rule, key))
        if problem:
            ld.error(f"{path}.{key}", f"invalid template {_show(getattr(rule, key))}: {problem}")


def _close_metrics(name: str) -> list[str]:
    """Up to three canonical metric names close to ``name`` (for a did-you-mean)."""
    return difflib.get_close_matches(name, sorted(CANONICAL_METRICS), n=3, cutoff=0.6)


def _check_channel(ld: Problems, path: str, ch: ChannelConfig) -> None:
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


def _check_step(ld: Problems, path: str, step: StepConfig) -> None:
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


def _check_maintenance(ld: Problems, path: str, window: MaintenanceConfig) -> None:
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


def _check_semantics(ld: Problems, config: Config) -> None:
    mon = config.monitor
    if mon.interval is not None and mon.interval <= 0:
        ld.error("monitor.interval", "expected a duration greater than zero")
    if mon.max_concurrency < 1:
        ld.error("monitor.max_concurrency", f"expected 1 or more, got {mon.max_concurrency}")
    if mon.site and not SITE_NAME.match(mon.site):
        ld.error("monitor.site", "expected a site name (1-64 letters, digits, '_', '.', ':' or '-', "
                                 f"starting with a letter or digit), got {_show(mon.site)}")
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
    from wsmon_tui.selectors import check_metrics

    for name, problem in check_metrics(config.metrics).items():
        ld.error(f"metrics.{name}", problem)

    _check_url(ld, "prometheus.url", config.prometheus.url)
    _check_url(ld, "fleet.prometheus", config.fleet.prometheus)
    _check_url(ld, "fleet.alertmanager", config.fleet.alertmanager)
    if config.fleet.window < 1:
        ld.error("fleet.window", "expected a duration of 1s or more")
    if config.fleet.ack_duration <= 0:
        ld.error("fleet.ack_duration", "expected a duration greater than zero")
    for name in config.prometheus.queries:
        if name not in CANONICAL_METRICS:
            close = _close_metrics(name)
            hint = f"; did you mean {_or_list([json.dumps(c) for c in close])}?" if close else ""
            ld.error(_join("prometheus.queries", name),
                     f"expected a canonical metric name (see {METRICS_DOC}){hint}")
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
