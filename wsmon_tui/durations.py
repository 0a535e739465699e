"""Durations as users type them: ``30s``, ``5m``, ``4h``, ``2d`` (and ``1h30m``, ``250ms``)."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: str | int | float, *, bare_unit: str = "s") -> float:
    """Return seconds for ``value``.

    A bare number (an int or float, or a string of digits) is in ``bare_unit``: seconds
    in config files, hours for ``--duration`` on the command line. Raises ``ValueError``
    with a message that says what was expected; negative, NaN and infinite values are
    refused.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 5m, 4h or 2d, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value) * _UNITS[bare_unit]
    elif isinstance(value, str):
        text = value.strip().lower()
        if not text:
            raise ValueError("expected a duration like 30s, 5m, 4h or 2d, got an empty string")
        try:
            seconds = float(text) * _UNITS[bare_unit]
        except ValueError:
            pos = 0
            seconds = 0.0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNITS[match.group(2)]
                pos = match.end()
            if pos != len(text) or pos == 0:
                raise ValueError(
                    f"expected a duration like 30s, 5m, 4h or 2d, got {value!r}"
                ) from None
    else:
        raise ValueError(f"expected a duration like 30s, 5m, 4h or 2d, got {value!r}")
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"expected a finite duration, got {value!r}")
    if seconds < 0:
        raise ValueError(f"expected a duration of zero or more, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Short human form: ``45s``, ``5m``, ``1h30m``, ``2d4h``; sub-second as ``250ms``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    total = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            count, total = divmod(total, size)
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])
