"""The report as JSON (docs/report.md): for scripts, so stable and strictly valid.

- NaN and infinities become ``null`` (JSON has no such numbers; ``allow_nan=False``
  proves none slipped through).
- Every top-level key is present, in the documented order; nested objects have sorted keys,
  so two reports of the same facts are byte-identical.
- Strings lose control characters and ANSI sequences (newlines are kept; JSON escapes
  them) and lone surrogates become U+FFFD, so the output is always valid UTF-8. Other
  text (``[bold]``, ``|``, backticks) is kept verbatim: in JSON it is data, and the
  consumer escapes it for wherever it shows it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .document import OPTIONAL_KEYS, REQUIRED_KEYS
from .sanitize import strip_control

_DEFAULTS: dict[str, Any] = {
    "generated_at": None,
    "window": {"start": None, "end": None},
    "deployment": {},
    "session": {},
    "health": {"score": None, "status": "unknown"},
    "targets": [],
    "resources": {},
    "alerts": [],
    "rollbacks": [],
    "notifications": [],
}
_MAX_DEPTH = 32


def _key(key: Any) -> str:
    if isinstance(key, str):
        return strip_control(key)
    if isinstance(key, float) and not math.isfinite(key):
        return "null"
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    return strip_control(str(key))


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` with only JSON types left: NaN/inf to ``None``, tuples to lists,
    mappings to dicts with sorted string keys, strings cleaned, anything else ``str()``."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return strip_control(value, keep_newlines=True)
    if depth >= _MAX_DEPTH:
        return None
    if isinstance(value, Mapping):
        items = {_key(k): to_jsonable(v, depth + 1) for k, v in value.items()}
        return dict(sorted(items.items()))
    if isinstance(value, list | tuple | set | frozenset):
        seq = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [to_jsonable(v, depth + 1) for v in seq]
    return strip_control(str(value), keep_newlines=True)


def report_object(data: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-ready report: required keys first (defaulted when missing), then optional ones."""
    data = data if isinstance(data, Mapping) else {}
    out: dict[str, Any] = {}
    for key in REQUIRED_KEYS:
        out[key] = to_jsonable(data.get(key, _DEFAULTS[key]))
    for key in OPTIONAL_KEYS:
        if key in data:
            out[key] = to_jsonable(data[key])
    extra = {k: v for k, v in data.items() if k not in out and isinstance(k, str)}
    for key in sorted(extra):
        out[_key(key)] = to_jsonable(extra[key])
    return out


def render(data: Mapping[str, Any]) -> str:
    """The report dict as indented JSON text (ending in a newline).

    ``<`` is written as ``\\u003c`` (it can only occur inside strings), so the JSON can be
    pasted into an HTML page or a ``<script type="application/json">`` block as it is.
    """
    text = json.dumps(report_object(data), indent=2, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c") + "\n"
