"""The report as Markdown: readable with ``cat`` in a terminal and rendered on GitHub."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .document import Document, Para, Table, build
from .sanitize import md_cell

_BADGES = {"healthy": "🟢", "degraded": "🟡", "critical": "🔴", "unknown": "⚪"}


def _table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(md_cell(h) for h in table.headers) + " |",
             "| " + " | ".join("---:" if i in table.numeric else "---" for i in range(len(table.headers)))
             + " |"]
    for row in table.rows:
        lines.append("| " + " | ".join(md_cell(cell.text) or " " for cell in row) + " |")
    return lines


def _para(para: Para) -> str:
    body = md_cell(para.text)
    if para.style == "muted":
        return f"*{body}*"
    if para.style == "note":
        return f"> {body}"
    if para.style == "subhead":
        return f"### {body}"
    return body


def render_document(doc: Document) -> str:
    status = doc.status.lower()
    badge = _BADGES.get(status, "⚪")
    out = [f"# {md_cell(doc.title)}", "",
           f"**Health: {badge} {md_cell(doc.status.upper())}** · score {md_cell(doc.score)} / 100", ""]
    out += [f"- **{md_cell(label)}:** {md_cell(value)}" for label, value in doc.facts]
    for section in doc.sections:
        out += ["", f"{'#' * section.level} {md_cell(section.title)}"]
        for block in section.blocks:
            out.append("")
            out += _table(block) if isinstance(block, Table) else [_para(block)]
    return "\n".join(out) + "\n"


def render(data: Mapping[str, Any]) -> str:
    """The report dict (docs/report.md) as Markdown."""
    return render_document(build(data))
