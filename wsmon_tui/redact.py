"""Redaction: secrets never reach a screen, a log line, a report or ``config show``.

Two complementary tools. ``redact_text`` masks known secret values (every ``${ENV}``
substitution and secret field the config loader recorded in ``Config.secrets``) wherever
they appear in free text. ``redact_url`` and ``redact_headers`` mask what *looks* secret
by shape (URL passwords, token query parameters, webhook path tokens, auth headers), so a
literal secret the loader never saw is still hidden.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"

#: Secrets shorter than this are not replaced inside free text: masking every "ws" or
#: "443" in a log line would destroy it. Whole values are still masked by the structural
#: redaction of ``redacted_config_dict``.
MIN_TEXT_SECRET_LEN = 4

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
                             "x-auth-token", "api-key"})
_SECRET_NAME_WORDS = ("token", "secret", "key", "password", "passwd", "auth", "signature", "session",
                      "credential")
_SECRET_QUERY_WORDS = ("token", "key", "secret", "password", "passwd", "pwd", "auth", "signature",
                       "credential", "session")
_SECRET_QUERY_EXACT = frozenset({"sig", "code", "jwt", "ticket"})
_AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "apikey", "bot"})

#: Hosts whose webhook URLs carry the secret in the path, with how many leading path
#: segments are public (``/services/T000/B000/XXXX`` on Slack: ``services`` is public).
_WEBHOOK_PATHS: dict[str, tuple[str, int]] = {
    "hooks.slack.com": ("/services/", 1),
    "hooks.slack-gov.com": ("/services/", 1),
    "discord.com": ("/api/webhooks/", 2),
    "discordapp.com": ("/api/webhooks/", 2),
}
_TOKENISH = re.compile(r"^[A-Za-z0-9_\-.~+=]{16,}$")


def is_secret_name(name: str) -> bool:
    """A header, query parameter or env variable name that suggests a secret value."""
    lowered = name.lower()
    return lowered in _SECRET_HEADERS or any(word in lowered for word in _SECRET_NAME_WORDS)


def _is_secret_query_key(key: str) -> bool:
    lowered = unquote(key).lower()
    return lowered in _SECRET_QUERY_EXACT or any(word in lowered for word in _SECRET_QUERY_WORDS)


def _looks_like_token(segment: str) -> bool:
    """Long, random-looking path segments (API keys in webhook URLs), not words like ``rollback``."""
    if not _TOKENISH.match(segment):
        return False
    has_digit = any(c.isdigit() for c in segment)
    has_alpha = any(c.isalpha() for c in segment)
    has_upper_lower = any(c.isupper() for c in segment) and any(c.islower() for c in segment)
    return (has_digit and has_alpha) or (has_upper_lower and len(segment) >= 24)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in ``text`` with ``***`` (longest first)."""
    ordered = sorted({s for s in secrets if s and len(s) >= MIN_TEXT_SECRET_LEN}, key=len, reverse=True)
    for secret in ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_argv(argv: Iterable[object], secrets: Iterable[str] = ()) -> list[str]:
    """A command's arguments for display: every known secret (``config.secrets``, from
    ``${NAME}``) masked, the value of a secret-named option (``--token=X``, ``--password X``)
    masked, and credentials in URLs masked."""
    known = list(secrets)
    out: list[str] = []
    hide_next = False
    for raw in argv:
        arg = str(raw)
        if hide_next:
            hide_next = False
            out.append(MASK)
            continue
        if arg.startswith("-") and "=" in arg:
            key, _, value = arg.partition("=")
            if value and is_secret_name(key.lstrip("-")):
                out.append(f"{key}={MASK}")
                continue
        elif arg.startswith("-") and len(arg) > 2 and is_secret_name(arg.lstrip("-")):
            hide_next = True
        if "://" in arg:
            arg = redact_url(arg)
        out.append(redact_text(arg, known))
    return out


def _split_path(host: str, path: str, *, heuristic: bool = True) -> list[tuple[str, bool]]:
    """Path segments, each with whether it is secret (by shape too, unless ``heuristic`` is off)."""
    segments = path.split("/")
    public_prefix = None
    for webhook_host, (prefix, keep) in _WEBHOOK_PATHS.items():
        if host == webhook_host and path.startswith(prefix):
            public_prefix = keep
    out: list[tuple[str, bool]] = []
    # segments[0] is "" for an absolute path.
    for index, segment in enumerate(segments):
        if not segment:
            out.append((segment, False))
        elif public_prefix is not None and index > public_prefix:
            out.append((segment, True))
        else:
            out.append((segment, heuristic and _looks_like_token(segment)))
    return out


def _split_query(query: str, *, heuristic: bool = True) -> list[tuple[str, str | None, bool]]:
    """Query pieces as (key, value or None, is_secret), preserving the original encoding."""
    pieces: list[tuple[str, str | None, bool]] = []
    for piece in query.split("&"):
        key, sep, value = piece.partition("=")
        if not sep:
            pieces.append((key, None, False))
        else:
            secret = bool(value) and (_is_secret_query_key(key) or (heuristic and _looks_like_token(value)))
            pieces.append((key, value, secret))
    return pieces


def redact_url(url: str, *, mask_path: bool = False) -> str:
    """The URL with its secrets masked: scheme, host, port and ordinary path stay visible.

    Masks the userinfo password, query values whose key looks like a token (token, key,
    secret, password, auth, signature, sig, ...) or whose value looks like one, webhook
    path tokens (Slack ``/services/***/***/***``) and other long random path segments.
    ``mask_path`` masks the whole path and query (for a URL that was itself a secret).
    A string that is not a URL is returned unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if colon else f"{MASK}@{hostport}" if _looks_like_token(
            user) else f"{user}@{hostport}"
    if mask_path:
        has_more = parts.path not in ("", "/") or parts.query or parts.fragment
        return urlunsplit((parts.scheme, netloc, "/" + MASK if has_more else parts.path, "", ""))
    host = (parts.hostname or "").lower()
    path = "/".join(MASK if secret else seg for seg, secret in _split_path(host, parts.path))
    query = ""
    if parts.query:
        query = "&".join(
            key if value is None else f"{key}={MASK if secret else value}"
            for key, value, secret in _split_query(parts.query)
        )
    fragment = MASK if parts.fragment and len(parts.fragment) >= 16 else parts.fragment
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def url_secret_parts(url: str, *, heuristic: bool = True) -> list[str]:
    """The pieces of ``url`` that ``redact_url`` masks (raw and percent-decoded).

    With ``heuristic=False`` only what is secret by position counts (a userinfo password, a
    token-named query parameter, a known webhook path), not long random-looking segments:
    ``config check`` uses that, so a deployment id in a URL is not called a leaked secret.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    if not parts.scheme or not parts.netloc:
        return []
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, colon, password = userinfo.partition(":")
        if colon and password:
            found.append(password)
        elif not colon and heuristic and _looks_like_token(user):
            found.append(user)
    host = (parts.hostname or "").lower()
    found.extend(seg for seg, secret in _split_path(host, parts.path, heuristic=heuristic) if secret)
    if parts.query:
        found.extend(value for _key, value, secret in _split_query(parts.query, heuristic=heuristic)
                     if secret and value)
    if heuristic and parts.fragment and len(parts.fragment) >= 16:
        found.append(parts.fragment)
    decoded = [unquote(piece) for piece in found]
    return [piece for piece in dict.fromkeys(found + decoded) if piece]


def _mask_header_value(value: str) -> str:
    scheme, space, _rest = value.partition(" ")
    if space and scheme.lower() in _AUTH_SCHEMES:
        return f"{scheme} {MASK}"
    return MASK


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy with secret-bearing headers masked (Authorization keeps its scheme: ``Bearer ***``)."""
    return {
        name: _mask_header_value(str(value)) if is_secret_name(name) else value
        for name, value in headers.items()
    }


def header_secret_parts(headers: Mapping[str, str]) -> list[str]:
    """The values (and the credentials after an auth scheme) of secret-bearing headers."""
    found: list[str] = []
    for name, value in headers.items():
        if not is_secret_name(name) or not isinstance(value, str) or not value:
            continue
        found.append(value)
        scheme, space, rest = value.partition(" ")
        if space and scheme.lower() in _AUTH_SCHEMES and rest.strip():
            found.append(rest.strip())
    return found


# ---------------------------------------------------------------------------
# The effective config as a plain, redacted dict (``config show``)

_URL_FIELDS = frozenset({"url", "metrics_url"})
_HEADER_FIELDS = frozenset({"headers"})
_SECRET_DICT_FIELDS = frozenset({"env"})


def _duration_text(seconds: float) -> str | float:
    """Exact duration text (``90s`` -> ``1m30s``); a bare number when not whole milliseconds."""
    millis = round(seconds * 1000)
    if abs(millis - seconds * 1000) > 1e-6:
        return seconds
    if millis == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if millis >= size:
            count, millis = divmod(millis, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, Mapping | list | tuple) and not value)


def _plain(value: Any) -> Any:
    """Drop None (TOML has no null) and, in tables, empty tables and arrays (they are the defaults)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if not _empty(v)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value if v is not None]
    return value


def _redact_strings(value: Any, secrets: set[str]) -> Any:
    if isinstance(value, str):
        return MASK if value in secrets else redact_text(value, secrets)
    if isinstance(value, Mapping):
        return {k: _redact_strings(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_strings(v, secrets) for v in value]
    return value


def _redact_field(name: str, meta: Mapping[str, Any], value: Any, secrets: set[str]) -> Any:
    if meta.get("secret") and value:
        return MASK
    if name in _URL_FIELDS and isinstance(value, str) and value:
        shown = redact_url(value, mask_path=value in secrets)
        return redact_text(shown, secrets - {value})
    if name in _HEADER_FIELDS and isinstance(value, Mapping):
        return _redact_strings(redact_headers(value), secrets)
    if name in _SECRET_DICT_FIELDS and isinstance(value, Mapping):
        masked = {k: MASK if is_secret_name(k) else v for k, v in value.items()}
        return _redact_strings(masked, secrets)
    if meta.get("kind") == "duration" and isinstance(value, int | float) and not isinstance(value, bool):
        return _duration_text(float(value))
    return _redact_strings(value, secrets)


def _dataclass_dict(obj: Any, secrets: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        meta = f.metadata
        if meta.get("internal"):
            continue
        value = getattr(obj, f.name)
        key = meta.get("key") or f.name
        if is_dataclass(value):
            out[key] = _dataclass_dict(value, secrets)
        elif isinstance(value, list) and value and is_dataclass(value[0]):
            out[key] = [_dataclass_dict(item, secrets) for item in value]
        else:
            out[key] = _redact_field(f.name, meta, value, secrets)
    return _plain(out)


def redacted_config_dict(config: Any) -> dict[str, Any]:
    """The effective config as a plain dict (TOML keys, durations as text), secrets masked.

    Ready for ``tomli_w.dumps``: no None values; internal fields (source, secrets) left out.
    """
    secrets = {s for s in getattr(config, "secrets", set()) if s}
    return _dataclass_dict(config, secrets)
