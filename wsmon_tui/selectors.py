"""Selector and ratio expressions used by ``[metrics]``.

An expression is one operand or ``A / B``. An operand is either a Prometheus-style
selector, ``name`` or ``name{label="v",other!="x",re=~"a|b",nre!~"c.*"}`` (summed over
every matching series), or, for ``metrics_format = "json"``, a dotted path into the
document (``a.b.c``, ``items.0.value``). A bare ``name`` is both.

Matching follows Prometheus: regexes are fully anchored, and a missing label counts
as the empty string. For counters a selector ``foo`` also finds ``foo_total`` (the
OpenMetrics family name of a counter whose sample is ``foo_total``).

``parse_expression(text)`` raises ``ValueError`` with the position of the problem;
the config loader calls it to validate. ``Expression.names`` lists the metric families
an expression needs, so the exposition parser can skip the rest of the page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Labels = Mapping[str, str]
Sample = tuple[Labels, float]
Families = Mapping[str, Sequence[Sample]]
SeriesKey = frozenset[tuple[str, str]]

_SEGMENT_RE = re.compile(r"[A-Za-z0-9_:\-]+")
_METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OPS = ("=~", "!~", "!=", "=")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}
#: Suffixes a counter's samples may carry beyond the name a user writes.
COUNTER_SUFFIX = "_total"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher: ``label op "value"``."""

    label: str
    op: str
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Labels) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.regex is not None
        hit = self.regex.fullmatch(actual) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True, slots=True)
class Selector:
    """``name{matchers}`` over Prometheus samples, or a dotted path into a JSON document."""

    path: tuple[str, ...]
    matchers: tuple[Matcher, ...] = ()
    text: str = ""

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def names(self) -> frozenset[str]:
        return frozenset((self.name,))

    def samples(self, families: Families) -> list[Sample]:
        """The samples of this selector's family (``name``, else ``name_total``) that match."""
        found = families.get(self.name)
        if not found:
            found = families.get(self.name + COUNTER_SUFFIX)
        if not found:
            return []
        if not self.matchers:
            return list(found)
        return [s for s in found if all(m.matches(s[0]) for m in self.matchers)]

    def series(self, families: Families) -> dict[SeriesKey, float]:
        """Matching samples by label set (duplicates are summed)."""
        out: dict[SeriesKey, float] = {}
        for labels, value in self.samples(families):
            key = frozenset(labels.items())
            out[key] = out.get(key, 0.0) + value
        return out

    def evaluate(self, families: Families) -> float | None:
        """The sum over matching series; None when nothing matches."""
        matched = self.samples(families)
        if not matched:
            return None
        return float(sum(v for _, v in matched))

    def resolve_json(self, doc: Any) -> Any:
        """The raw JSON value at this path (lists without an index are mapped over)."""
        if self.matchers:
            raise ValueError(f"{self.text!r}: label matchers do not apply to JSON metrics")
        return _walk(doc, self.path)

    def evaluate_json(self, doc: Any) -> float | None:
        """The number at this path; a list or object of numbers is summed; None when absent."""
        return json_number(self.resolve_json(doc))


@dataclass(frozen=True, slots=True)
class Ratio:
    """``A / B``: None when either side is missing or ``B`` is zero."""

    numerator: Selector
    denominator: Selector
    text: str = ""

    @property
    def names(self) -> frozenset[str]:
        return self.numerator.names | self.denominator.names

    def evaluate(self, families: Families) -> float | None:
        return _divide(self.numerator.evaluate(families), self.denominator.evaluate(families))

    def evaluate_json(self, doc: Any) -> float | None:
        return _divide(self.numerator.evaluate_json(doc), self.denominator.evaluate_json(doc))


Expression = Selector | Ratio


def _divide(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


_MISSING = object()


def _walk(node: Any, path: Sequence[str]) -> Any:
    for i, part in enumerate(path):
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list):
            if part.isdigit():
                idx = int(part)
                node = node[idx] if idx < len(node) else _MISSING
            else:
                # ``items.value`` over a list of objects: take ``value`` of each.
                rest = path[i:]
                mapped = [_walk(item, rest) for item in node]
                return [m for m in mapped if m is not _MISSING]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def json_number(value: Any) -> float | None:
    """A JSON value as a number: numbers as is, lists and objects summed, anything else None."""
    if value is _MISSING or value is None or isinstance(value, bool | str):
        return None
    if isinstance(value, int | float):
        return float(value)
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    numbers = [n for n in (json_number(v) for v in items) if n is not None]
    return sum(numbers) if numbers else None


# --------------------------------------------------------------------------- parsing


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> ValueError:
        return ValueError(f"bad metric expression {self.text!r}: {what} at position {self.pos + 1}")

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def operand(self) -> Selector:
        self.skip_ws()
        start = self.pos
        path: list[str] = []
        while True:
            m = _SEGMENT_RE.match(self.text, self.pos)
            if not m:
                raise self.fail("expected a metric name" if not path else "expected a path segment after '.'")
            path.append(m.group())
            self.pos = m.end()
            if self.peek() != ".":
                break
            self.pos += 1
        matchers: tuple[Matcher, ...] = ()
        self.skip_ws()
        if self.peek() == "{":
            name = ".".join(path)
            if not _METRIC_NAME_RE.match(name):
                raise self.fail(f"label matchers need a Prometheus metric name, not {name!r}")
            matchers = self.matchers()
        return Selector(tuple(path), matchers, self.text[start:self.pos].strip())

    def matchers(self) -> tuple[Matcher, ...]:
        self.pos += 1  # "{"
        out: list[Matcher] = []
        while True:
            self.skip_ws()
            if self.peek() == "}":
                self.pos += 1
                return tuple(out)
            m = _LABEL_NAME_RE.match(self.text, self.pos)
            if not m:
                raise self.fail("expected a label name or '}'")
            label = m.group()
            self.pos = m.end()
            self.skip_ws()
            op = next((o for o in _OPS if self.text.startswith(o, self.pos)), None)
            if op is None:
                raise self.fail(f"expected one of = != =~ !~ after label {label!r}")
            self.pos += len(op)
            self.skip_ws()
            value = self.quoted()
            regex = None
            if op in ("=~", "!~"):
                try:
                    regex = re.compile(value)
                except (re.error, OverflowError, RecursionError) as exc:  # "a{9999999999}", deep nesting
                    raise self.fail(f"invalid regex {value!r} for label {label!r} ({exc})") from None
            out.append(Matcher(label, op, value, regex))
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}":
                raise self.fail("expected ',' or '}' after a label matcher")

    def quoted(self) -> str:
        quote = self.peek()
        if quote not in ('"', "'"):
            raise self.fail("expected a quoted label value")
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == quote:
                self.pos += 1
                return "".join(chars)
            if c == "\\" and self.pos + 1 < len(self.text):
                nxt = self.text[self.pos + 1]
                chars.append(_ESCAPES.get(nxt, "\\" + nxt))
                self.pos += 2
                continue
            chars.append(c)
            self.pos += 1
        raise self.fail("unterminated label value")


def parse_expression(text: str) -> Expression:
    """Parse ``name{...}``, a dotted JSON path, or ``A / B``; ValueError says what and where."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("bad metric expression: empty")
    p = _Parser(text)
    first = p.operand()
    p.skip_ws()
    if p.peek() == "/":
        p.pos += 1
        second = p.operand()
        p.skip_ws()
        if p.peek() == "/":
            raise p.fail("only one '/' is allowed (A / B)")
        if p.pos != len(text):
            raise p.fail(f"unexpected {text[p.pos:]!r}")
        return Ratio(first, second, text.strip())
    if p.pos != len(text):
        raise p.fail(f"unexpected {text[p.pos:]!r}")
    return first


def series_key(labels: Labels) -> SeriesKey:
    return frozenset(labels.items())


METRIC_KEYS = ("connections", "messages", "errors", "queue_depth", "adoption", "latency_histogram")


def check_metrics(metrics: Any) -> dict[str, str]:
    """Problems of a ``[metrics]`` section (a MetricsConfig), by key; empty when all is well."""
    problems: dict[str, str] = {}
    for key in METRIC_KEYS:
        text = getattr(metrics, key, None)
        if text is None:
            continue
        try:
            expr = parse_expression(text)
        except ValueError as exc:
            problems[key] = str(exc)
            continue
        if key == "latency_histogram" and isinstance(expr, Ratio):
            problems[key] = f"needs a histogram name (with optional label matchers), not a ratio: {text!r}"
    return problems
