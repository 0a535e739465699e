"""Fast extraction of a few metric families from a Prometheus text (0.0.4) or OpenMetrics page.

A server's ``/metrics`` page often holds thousands of series, and wsmon needs half a
dozen families of them every few seconds. Instead of parsing every line (as
``prometheus_client`` does), the page is searched in C for lines that *start with* one
of the wanted sample names (``re.finditer`` over the whole text), and only those lines
are split into labels and value. Everything else, comments and ``# HELP``/``# TYPE``
included, is never looked at, so a malformed line in a family nobody asked for does
not break the scrape.

Wanted family ``foo`` accepts the samples ``foo``, ``foo_bucket``, ``foo_sum``,
``foo_count``, ``foo_total`` and ``foo_created``. Results are keyed by sample name.

Handled: escaped label values (``\\\\``, ``\\"``, ``\\n``, as prometheus_client does),
timestamps (ignored), exemplars (`` # {...} value``, ignored), ``NaN``, ``+Inf``/``-Inf``,
OpenMetrics ``# EOF`` (nothing after it is read), CRLF line ends.
Not handled: Prometheus 3 quoted UTF-8 metric names (``{"my.metric"}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

Sample = tuple[dict[str, str], float]
Families = dict[str, list[Sample]]

SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")

_LABEL_RE = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*')
_ESCAPE_RE = re.compile(r'\\[\\n"]')
_ESCAPES = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}


class PromTextError(ValueError):
    """A wanted series' line could not be parsed."""


def accepted_names(wanted: Iterable[str]) -> frozenset[str]:
    """Every sample name the wanted families may use."""
    return frozenset(n + s for n in wanted for s in ("", *SUFFIXES))


@lru_cache(maxsize=64)
def _line_re(wanted: frozenset[str]) -> re.Pattern[str]:
    names = sorted(accepted_names(wanted), key=len, reverse=True)
    alt = "|".join(re.escape(n) for n in names)
    # A wanted name at the start of a line, followed by labels or blanks; the rest of the line.
    return re.compile(rf"^({alt})(?=[{{ \t])([^\n]*)", re.M)


def _unescape(m: re.Match[str]) -> str:
    return _ESCAPES[m.group(0)]


def _parse_rest(name: str, rest: str) -> Sample:
    """Parse ``{labels} value [timestamp] [# exemplar]`` following the sample name."""
    labels: dict[str, str] = {}
    pos = 0
    if rest.startswith("{"):
        pos = 1
        n = len(rest)
        while True:
            while pos < n and rest[pos] in " \t":
                pos += 1
            if pos < n and rest[pos] == "}":
                pos += 1
                break
            m = _LABEL_RE.match(rest, pos)
            if m is None:
                raise PromTextError(f"bad labels in {name}{rest[:200]}")
            value = m.group(2)
            if "\\" in value:
                value = _ESCAPE_RE.sub(_unescape, value)
            labels[m.group(1)] = value
            pos = m.end()
            if pos < n and rest[pos] == ",":
                pos += 1
            elif pos < n and rest[pos] == "}":
                pos += 1
                break
            else:
                raise PromTextError(f"bad labels in {name}{rest[:200]}")
    head = rest[pos:]
    hash_at = head.find("#")
    if hash_at >= 0:
        head = head[:hash_at]  # exemplar: values and timestamps never contain '#'
    parts = head.split()
    if not 1 <= len(parts) <= 2:
        raise PromTextError(f"bad sample line for {name}: expected a value and an optional timestamp")
    try:
        return labels, float(parts[0])
    except ValueError:
        raise PromTextError(f"bad value {parts[0][:50]!r} for {name}") from None


def parse(text: str, wanted: Iterable[str]) -> Families:
    """The samples of the wanted families, by sample name: ``{name: [(labels, value), ...]}``.

    Raises PromTextError (a ValueError) for a malformed line of a wanted family.
    """
    wanted = frozenset(wanted)
    if not wanted:
        return {}
    eof = 0 if text.startswith("# EOF") else text.find("\n# EOF")
    if eof >= 0:
        text = text[:eof]
    out: Families = {}
    for m in _line_re(wanted).finditer(text):
        name = m.group(1)
        try:
            sample = _parse_rest(name, m.group(2).lstrip(" \t"))
        except PromTextError as exc:
            line_no = text.count("\n", 0, m.start()) + 1
            raise PromTextError(f"line {line_no}: {exc}") from None
        bucket = out.get(name)
        if bucket is None:
            out[name] = [sample]
        else:
            bucket.append(sample)
    return out
