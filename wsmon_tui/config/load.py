"""The loader: TOML -> the typed config, strict, every error at once.

Driven by the dataclasses' fields and their metadata, so that every key is defined once.
Also ``${ENV}`` substitution, the WEBSOCKET_* environment overrides, the collection of
secrets for redaction, and the search for a config file (``find_and_load``).
"""

from __future__ import annotations

import math
import os
import re
import socket
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date
from datetime import time as dt_time
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from wsmon_tui.config.checks import (
    Problems,
    _check_semantics,
    _join,
    _or_list,
    _show,
    _unknown_key_message,
    _url_problem,
    smtp_server_problem,
)
from wsmon_tui.config.schema import ChannelConfig, Config, Level, _hints
from wsmon_tui.durations import parse_duration
from wsmon_tui.errors import ConfigError
from wsmon_tui.paths import config_search_path

#: The WEBSOCKET_* environment variables that existing deployments set, honoured after the file is read.
ENV_LEVEL = "WEBSOCKET_MONITORING_LEVEL"
ENV_WEBHOOK_URL = "WEBSOCKET_ALERT_WEBHOOK_URL"
ENV_EMAIL_ENABLED = "WEBSOCKET_ALERT_EMAIL_ENABLED"
ENV_SMTP_SERVER = "WEBSOCKET_ALERT_SMTP_SERVER"
ENV_EMAIL_RECIPIENTS = "WEBSOCKET_ALERT_EMAIL_RECIPIENTS"
ENV_CONFIG = "WSMON_CONFIG"

_ENV_REF = re.compile(r"\$(\$?)\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION_EXPECTED = "a duration like 30s, 5m, 4h or 2d"
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


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


def _type_phrase(tp: Any) -> str:
    return {str: "strings", int: "integers", float: "numbers", bool: "booleans"}.get(tp, "values")


@dataclass
class _Loader(Problems):
    """One load: where problems go and the secrets seen so far."""

    secrets: set[str] = field(default_factory=set)

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
            if isinstance(item_tp, type) and is_dataclass(item_tp):
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
        if isinstance(tp, type) and is_dataclass(tp):
            return True, self.build(tp, raw, path)
        raise TypeError(f"config schema: unsupported type {tp!r} at {path}")  # a bug in the schema


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
    """The WEBSOCKET_* variables that existing deployments set, applied after the file."""

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
        # STARTTLS on the submission port; an older relay on port 25 is often plain.
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

    ``path=None`` gives the built-in defaults. The WEBSOCKET_* environment variables are
    applied after the file. Every problem is collected and raised together as one ``ConfigError``
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
