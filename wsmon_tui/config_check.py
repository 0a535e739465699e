"""The production-readiness checklist of ``config check``.

The loader already refuses an invalid file; these checks look at a *valid* config and
say what would hurt in production: nobody is told about alerts, TLS checks are off,
rollback cannot run, a secret is written inline, history cannot be stored.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from wsmon_tui.config import Config
from wsmon_tui.durations import format_duration
from wsmon_tui.paths import default_state_dir
from wsmon_tui.redact import is_secret_name, url_secret_parts

CheckStatus = Literal["PASS", "WARN", "FAIL"]

_SECRET_KEYS = frozenset({"password", "routing_key"})
_URL_KEYS = frozenset({"url", "metrics_url"})
PLAIN_HTTP_TYPES = frozenset({"webhook", "slack", "alertmanager", "pagerduty"})
"""Channel types that POST to a URL: ``config check`` warns when it is http://."""


@dataclass(frozen=True, slots=True)
class CheckItem:
    status: CheckStatus
    text: str

    def line(self) -> str:
        return f"{self.status}  {self.text}"


def _is_ref(value: str) -> bool:
    return "${" in value


def inline_secrets(raw: Mapping[str, Any], path: str = "") -> list[str]:
    """Key paths of secrets written literally in the file rather than as ``${NAME}``.

    ``raw`` is the file's TOML *before* substitution. Looks at password and routing_key,
    secret-bearing headers (Authorization, Cookie, X-Api-Key, ...), secret-named variables of
    command steps' env, and tokens in URLs (userinfo passwords, token query values, webhook
    path tokens).
    """
    found: list[str] = []
    for key, value in raw.items():
        key_path = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            if key in ("headers", "env"):
                found += [f"{key_path}.{name}" for name, v in value.items()
                          if isinstance(v, str) and v and is_secret_name(name) and not _is_ref(v)]
            else:
                found += inline_secrets(value, key_path)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    found += inline_secrets(item, f"{key_path}[{i}]")
        elif isinstance(value, str) and value:
            literal_secret = key in _SECRET_KEYS and not _is_ref(value)
            url_token = key in _URL_KEYS and any(
                not _is_ref(p) for p in url_secret_parts(value, heuristic=False))
            if literal_secret or url_token:
                found.append(key_path)
    return found


def argv_secrets(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(key path, argument)`` of each command step argument that takes a ``${NAME}`` secret
    (``$${X}`` is a literal, not a secret): the expanded value is visible in ``ps``."""
    found: list[tuple[str, str]] = []
    for section in ("rollback", "throttle"):
        steps = (raw.get(section) or {}).get("steps") if isinstance(raw.get(section), Mapping) else None
        for i, step in enumerate(steps if isinstance(steps, list) else []):
            if not isinstance(step, Mapping) or step.get("type") != "command":
                continue
            argv = step.get("argv")
            for j, arg in enumerate(argv if isinstance(argv, list) else []):
                if isinstance(arg, str) and _is_ref(arg.replace("$${", "")):
                    found.append((f"{section}.steps[{i}].argv[{j}]", arg))
    return found


def resolve_state_dir(config: Config, cli_state_dir: str | None) -> Path:
    """--state-dir, else [monitor] state_dir, else the XDG default."""
    if cli_state_dir:
        return Path(cli_state_dir).expanduser()
    if config.monitor.state_dir:
        return Path(config.monitor.state_dir).expanduser()
    return default_state_dir()


def state_dir_problem(path: Path) -> str | None:
    """Why history could not be written under ``path`` (None when it can), creating nothing."""
    if path.exists():
        if not path.is_dir():
            return f"{path} exists and is not a directory"
        try:
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError as exc:
            return f"{path} is not writable: {exc.strerror or exc}"
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{path} cannot be created: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{path} cannot be created: {parent} is not writable"
    return None


def _channels(config: Config) -> list[CheckItem]:
    channels = config.alerts.channels
    if not channels:
        return [CheckItem("WARN", "no alert channel: alerts are shown here but nobody is notified "
                                  "(add [[alerts.channels]])")]
    names = ", ".join(f"{c.name or c.type} ({c.type})" for c in channels)
    items = [CheckItem("PASS", f"alert channels configured: {names}")]
    items += [CheckItem("WARN", f"channel {c.name or c.type} ({c.type}) posts to http:// (unencrypted): "
                                "alert text and any token in its URL or headers travel in plain text; "
                                "use https://")
              for c in channels if c.type in PLAIN_HTTP_TYPES and (c.url or "").lower().startswith("http://")]
    if not config.alerts.rules and not config.alerts.default_rules:
        items.append(CheckItem("WARN", "no alert rules: default_rules = false and no [[alerts.rules]]"))
    return items


def _targets(config: Config) -> list[CheckItem]:
    if not config.targets:
        return [CheckItem("WARN", "no targets: nothing will be probed (add [[targets]])")]
    plain = [t.name for t in config.targets if t.url.lower().startswith("ws://")]
    if plain:
        return [CheckItem("WARN", f"target {name} uses ws:// (unencrypted); production endpoints "
                                  "should be wss://") for name in plain]
    return [CheckItem("PASS", f"all {len(config.targets)} targets use wss://")]


def _tls(config: Config) -> list[CheckItem]:
    off: list[str] = []
    off += [f"target {t.name}" for t in config.targets
            if t.url.lower().startswith("wss://") and not t.verify_tls]
    off += [f"channel {c.name}" for c in config.alerts.channels
            if not c.verify_tls and (c.url or "").lower().startswith("https://")]
    off += [f"channel {c.name} (email: starttls = false)" for c in config.alerts.channels
            if c.type == "email" and not c.starttls]
    if config.prometheus.url and config.prometheus.url.lower().startswith("https://") \
            and not config.prometheus.verify_tls:
        off.append("prometheus")
    if config.flags.url and config.flags.url.lower().startswith("https://") and not config.flags.verify_tls:
        off.append("flags")
    for section, steps in (("rollback", config.rollback.steps), ("throttle", config.throttle.steps)):
        off += [f"{section}.steps[{i}]" for i, s in enumerate(steps)
                if s.type == "http" and (s.url or "").lower().startswith("https://") and not s.verify_tls]
    if off:
        return [CheckItem("WARN", f"TLS verification off: {what}") for what in off]
    return [CheckItem("PASS", "TLS verification on for every wss/https endpoint")]


def _rollback(config: Config) -> list[CheckItem]:
    rb = config.rollback
    items: list[CheckItem] = []
    if rb.auto is not False and not rb.steps:
        return [CheckItem("FAIL", f"rollback.auto = {str(rb.auto).lower()} but there are no "
                                  "[[rollback.steps]]: a rollback would do nothing")]
    if not rb.steps:
        items.append(CheckItem("WARN", "no [[rollback.steps]]: rollback is not available"))
    else:
        items.append(CheckItem("PASS", f"rollback: {len(rb.steps)} steps, verified over "
                                       f"{format_duration(rb.verify_window)} ({rb.verify_successes} "
                                       "healthy evaluations)"))
        if rb.verify_window <= 0:
            items.append(CheckItem("WARN", "rollback.verify_window is 0: a rollback is never verified"))
        if rb.auto is True and not rb.on and rb.health_below is None:
            items.append(CheckItem("WARN", "rollback.auto = true with no trigger "
                                           "(rollback.on or health_below)"))
        if rb.dry_run:
            items.append(CheckItem("WARN", "rollback.dry_run = true: rollback steps are logged, not run"))
    if config.throttle.on and not config.throttle.steps:
        items.append(CheckItem("WARN", "throttle.on names rules but there are no [[throttle.steps]]"))
    return items


def _thresholds(config: Config) -> list[CheckItem]:
    items: list[CheckItem] = []
    interval = config.interval
    for t in config.targets:
        if t.timeout >= interval:
            items.append(CheckItem("WARN", f"target {t.name}: timeout {format_duration(t.timeout)} is not "
                                           f"shorter than the interval {format_duration(interval)}; "
                                           "probes will overrun"))
    rb = config.rollback
    if rb.health_below is not None and rb.health_below >= 90:
        items.append(CheckItem("WARN", f"rollback.health_below = {rb.health_below:g} "
                                       "rolls back on minor dips"))
    if rb.auto is True and rb.health_below is not None and rb.for_ == 0:
        items.append(CheckItem("WARN", "rollback.for = 0: one bad evaluation rolls back"))
    if not items:
        items.append(CheckItem("PASS", f"thresholds within range ({len(config.alerts.rules)} rules, "
                                       f"level {config.monitor.level})"))
    return items


def _secrets(raw: Mapping[str, Any] | None) -> list[CheckItem]:
    if raw is None:
        return [CheckItem("PASS", "no secrets in the config (built-in defaults)")]
    in_argv = [CheckItem("WARN", f"secret in a command's argv at {where} ({arg}): every user on the host "
                                 "sees it in `ps` while the step runs; pass it in the step's `env` table "
                                 "instead (env = { NAME = \"${NAME}\" }) and read it from the environment")
               for where, arg in argv_secrets(raw)]
    inline = inline_secrets(raw)
    if inline:
        return [CheckItem("FAIL", f"secret written inline at {where}: use \"${{NAME}}\" and set it in the "
                                  "environment") for where in inline] + in_argv
    return [CheckItem("PASS", "no secret written inline (secrets come from ${...})"), *in_argv]


def _state_dir(config: Config, cli_state_dir: str | None) -> list[CheckItem]:
    path = resolve_state_dir(config, cli_state_dir)
    problem = state_dir_problem(path)
    if problem:
        return [CheckItem("FAIL", f"state dir: {problem}")]
    return [CheckItem("PASS", f"state dir writable: {path}")]


def readiness_checks(config: Config, *, raw: Mapping[str, Any] | None = None,
                     state_dir: str | None = None) -> list[CheckItem]:
    """Every checklist item, in a stable order. ``raw`` is the file before ``${}`` substitution."""
    return [
        *_targets(config), *_channels(config), *_tls(config), *_rollback(config),
        *_secrets(raw), *_thresholds(config), *_state_dir(config, state_dir),
    ]
