"""A reader for the YAML the example manifests are written in, so tests can take their queries
out without a YAML library (the test environment has none, and the examples need no more).

The subset: ``---`` between documents, ``#`` comments (a whole line, or after a space in a
plain value, as YAML has it), block mappings, block sequences of mappings or scalars, plain,
single- and double-quoted scalars, and ``|`` literal blocks (kept verbatim, one final
newline). Anything else — flow collections (``[a]``, ``{a: b}``), anchors, aliases, tags,
folded blocks, a tab for indentation — is a ``ValueError`` naming the line, so an example
that grows past the subset fails its test instead of being misread.
"""

from __future__ import annotations

import json
import re
from typing import Any

_KEY = re.compile(r"^(?P<key>[A-Za-z0-9_.\-/]+):(?:\s+(?P<rest>.*)|)$")


def _strip_comment(text: str) -> str:
    """A plain value without its comment: ``#`` at the start or after whitespace."""
    match = re.search(r"(^|\s)#", text)
    return (text[: match.start()] if match else text).rstrip()


class _Reader:
    def __init__(self, text: str) -> None:
        self.lines: list[tuple[int, int, str]] = []  # (line number, indent, text without indent)
        for no, raw in enumerate(text.splitlines(), 1):
            if "\t" in raw[: len(raw) - len(raw.lstrip())]:
                raise ValueError(f"line {no}: a tab in the indentation")
            body = raw.lstrip(" ")
            self.lines.append((no, len(raw) - len(body), body))
        self.i = 0

    def _skip_blank(self) -> None:
        while self.i < len(self.lines):
            body = self.lines[self.i][2]
            if body and not body.startswith("#"):
                return
            self.i += 1

    def peek(self) -> tuple[int, int, str] | None:
        self._skip_blank()
        return self.lines[self.i] if self.i < len(self.lines) else None

    def node(self, indent: int) -> Any:
        line = self.peek()
        if line is None or line[1] < indent:
            return None
        if line[2].startswith("- ") or line[2] == "-":
            return self.sequence(line[1])
        return self.mapping(line[1])

    def mapping(self, indent: int, first: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = first if first is not None else {}
        while (line := self.peek()) is not None and line[1] == indent and line[2] != "---":
            no, _, body = line
            if body.startswith("- "):
                break
            match = _KEY.match(body)
            if match is None:
                raise ValueError(f"line {no}: expected 'key: value', got {body!r}")
            key, rest = match.group("key"), match.group("rest")
            if key in out:
                raise ValueError(f"line {no}: duplicate key {key!r}")
            self.i += 1
            out[key] = self.value(no, indent, rest)
        line = self.peek()
        if line is not None and line[1] > indent and line[2] != "---":
            raise ValueError(f"line {line[0]}: unexpected indentation")
        return out

    def sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while (line := self.peek()) is not None and line[1] == indent and (
                line[2].startswith("- ") or line[2] == "-"):
            no, _, body = line
            item = body[2:].lstrip(" ")
            inner = indent + 2 + (len(body[2:]) - len(item))
            if _KEY.match(item):  # "- key: value" opens a mapping at the item's column
                self.lines[self.i] = (no, inner, item)
                out.append(self.mapping(inner))
            else:
                self.i += 1
                out.append(self.value(no, indent, item or None))
        return out

    def value(self, no: int, indent: int, rest: str | None) -> Any:
        if rest is None or _strip_comment(rest) == "":
            line = self.peek()
            if line is not None and line[1] == indent and (line[2].startswith("- ") or line[2] == "-"):
                return self.sequence(indent)  # "key:" then "- item" at the key's own column
            child = self.node(indent + 1)
            return child if child is not None else ""
        if rest.startswith("|"):
            if _strip_comment(rest) != "|":
                raise ValueError(f"line {no}: only a plain '|' block is read, got {rest!r}")
            return self.block(indent)
        return scalar(no, rest)

    def block(self, indent: int) -> str:
        lines: list[str] = []
        depth: int | None = None
        while self.i < len(self.lines):
            _, ind, body = self.lines[self.i]
            if body and ind <= indent:
                break
            if body:
                depth = ind if depth is None else depth
                if ind < depth:
                    raise ValueError(f"line {self.lines[self.i][0]}: block less indented than its first line")
                lines.append(" " * (ind - depth) + body)
            else:
                lines.append("")
            self.i += 1
        while lines and lines[-1] == "":
            lines.pop()
        return "\n".join(lines) + "\n"


def scalar(no: int, text: str) -> str:
    """A scalar value as a string (no type guessing: the tests compare what they mean)."""
    if text.startswith('"'):
        end = re.match(r'"(?:[^"\\]|\\.)*"', text)
        if end is None or _strip_comment(text[end.end():]):
            raise ValueError(f"line {no}: bad double-quoted value {text!r}")
        return str(json.loads(end.group(0)))
    if text.startswith("'"):
        end = re.match(r"'(?:[^']|'')*'", text)
        if end is None or _strip_comment(text[end.end():]):
            raise ValueError(f"line {no}: bad single-quoted value {text!r}")
        return end.group(0)[1:-1].replace("''", "'")
    if text[0] in "[{&*!>%@`":
        raise ValueError(f"line {no}: {text[0]!r} starts YAML this reader does not take: {text!r}")
    return _strip_comment(text)


def load_all(text: str) -> list[dict[str, Any]]:
    """Every document of ``text`` (separated by ``---`` lines), each a mapping."""
    reader = _Reader(text)
    docs: list[dict[str, Any]] = []
    while (line := reader.peek()) is not None:
        if line[2] == "---":
            reader.i += 1
            continue
        if line[1] != 0:
            raise ValueError(f"line {line[0]}: a document must start at column 0")
        docs.append(reader.mapping(0))
        after = reader.peek()
        if after is not None and after[2] != "---":
            raise ValueError(f"line {after[0]}: expected '---' or the end, got {after[2]!r}")
    return docs
