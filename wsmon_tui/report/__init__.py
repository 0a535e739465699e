"""Report writers: Markdown for people, JSON for scripts, one self-contained HTML page.

``build.build_report`` gathers the dict (docs/report.md) from the store; the
writers here only render it. Imports neither textual nor rich.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FORMATS: tuple[str, ...] = ("md", "json", "html")

_ALIASES = {"md": "md", "markdown": "md", "json": "json", "html": "html", "htm": "html"}
_SUFFIXES = {".md": "md", ".markdown": "md", ".json": "json", ".html": "html", ".htm": "html"}


def format_for_path(path: str | os.PathLike[str]) -> str:
    """"md", "json" or "html" from the file's suffix (case-insensitive); ValueError otherwise."""
    suffix = Path(path).suffix.lower()
    try:
        return _SUFFIXES[suffix]
    except KeyError:
        shown = suffix or "no suffix"
        raise ValueError(
            f"cannot tell the report format of {os.fspath(path)!r} ({shown}): "
            "name it .md, .json or .html"
        ) from None


def render(data: Mapping[str, Any], fmt: str) -> str:
    """The report dict rendered as ``fmt`` ("md", "json" or "html"; "markdown"/"htm" accepted)."""
    kind = _ALIASES.get(str(fmt).lower())
    if kind == "md":
        from .markdown import render as render_md

        return render_md(data)
    if kind == "json":
        from .jsonfmt import render as render_json

        return render_json(data)
    if kind == "html":
        from .html import render as render_html

        return render_html(data)
    raise ValueError(f"unknown report format {fmt!r}: use md, json or html")


def write(path: str | os.PathLike[str], data: Mapping[str, Any], fmt: str | None = None) -> str:
    """Render and write atomically (temp file + rename, UTF-8); returns the format used.

    ``fmt`` defaults to ``format_for_path(path)``. A half-written report never replaces
    a good one. Raises ValueError for an unknown format, OSError when it cannot write.
    """
    kind = format_for_path(path) if fmt is None else _ALIASES.get(str(fmt).lower(), str(fmt))
    write_text(path, render(data, kind))
    return kind


def write_text(path: str | os.PathLike[str], content: str) -> None:
    """Write a rendered report atomically (temp file + rename, UTF-8), readable by its owner only
    (0600: reports carry alert text, targets and errors). A symlink at ``path`` is replaced,
    never followed."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(content)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


__all__ = ["FORMATS", "format_for_path", "render", "write", "write_text"]
