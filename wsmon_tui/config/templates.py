"""What an alert template (a rule's ``summary``, ``description``, ``runbook``) may ask for.

Templates fill ``{target}``, ``{value}``, ``{threshold}``, ``{rule}``, ``{severity}``,
``{metric}``, ``{deployment}`` and ``{site}`` (``[monitor] site``, empty when unset), each
with an optional format spec (``{value:.1%}``). A spec is checked when the config loads
(``template_problem``) and again before each fill: width at most ``MAX_WIDTH``, precision
at most ``MAX_PRECISION``, and it must fit the field (a number or a text). Whatever a
template renders is cut at ``MAX_RENDERED`` characters. ``summary = "{value:>99999999999}"``
is a config error instead of a ``MemoryError`` when the alert fires.
"""

from __future__ import annotations

import re
import string

TEMPLATE_FIELDS = frozenset({"target", "value", "threshold", "rule", "severity", "metric", "deployment",
                             "site", "probes", "span"})
"""``probes`` and ``span``: the evidence a rate or success rule was judged on (how many probes
over how many seconds); ``n/a`` for other rules."""
NUMBER_FIELDS = frozenset({"value", "threshold"})
MAX_WIDTH = 200
MAX_PRECISION = 20
MAX_RENDERED = 2000
"""Characters a rendered template may have; longer is cut, ending in "…"."""

_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<precision>\d+))?[a-zA-Z%]?\Z",
                   re.DOTALL)
_FORMATTER = string.Formatter()


def spec_limit_problem(spec: str) -> str | None:
    """Why ``spec`` is refused before any value is formatted with it (None: within the limits)."""
    if "{" in spec or "}" in spec:
        return "nested fields in a format spec are not supported"
    match = _SPEC.match(spec)
    if match is None:
        return f"invalid format spec {spec!r}"
    width, precision = match.group("width"), match.group("precision")
    if width and (len(width) > 6 or int(width) > MAX_WIDTH):
        return f"width {width} is over the limit of {MAX_WIDTH}"
    if precision and (len(precision) > 6 or int(precision) > MAX_PRECISION):
        return f"precision {precision} is over the limit of {MAX_PRECISION}"
    return None


def spec_problem(name: str, spec: str) -> str | None:
    """Why field ``name`` cannot be filled with ``spec`` (None when it can)."""
    problem = spec_limit_problem(spec)
    if problem:
        return problem
    samples: tuple[object, ...] = (1.5, 1) if name in NUMBER_FIELDS else ("text",)
    errors = []
    for sample in samples:
        try:
            format(sample, spec)
        except (ValueError, TypeError) as exc:
            errors.append(str(exc))
    if len(errors) == len(samples):
        kind = "a number" if name in NUMBER_FIELDS else "a text"
        return f"format spec {spec!r} does not fit {name} ({kind}): {errors[0]}"
    return None


def template_problem(template: str) -> str | None:
    """Why ``template`` would not render (None when it will): braces that do not parse, or a
    field's format spec out of the limits or not fitting the field. Names outside
    ``TEMPLATE_FIELDS`` stay as written and are no problem."""
    if "{" not in template and "}" not in template:
        return None
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        return f"{exc} (write {{{{ and }}}} for literal braces)"
    for _literal, name, spec, conv in parsed:
        if name in TEMPLATE_FIELDS and conv is None and spec:
            problem = spec_problem(name, spec)
            if problem:
                return f"{{{name}:{spec}}}: {problem}"
    return None


def cut(text: str, limit: int = MAX_RENDERED) -> str:
    """``text`` at most ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
