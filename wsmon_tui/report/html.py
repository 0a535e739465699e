"""The report as one self-contained HTML page: inline CSS, no scripts, no external resources.

A Content-Security-Policy meta tag forbids scripts and remote loads outright, so even a
bug in escaping could not make the page run code or call home when opened.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .document import Document, Para, Table, build
from .sanitize import html_text

_CSS = """
:root {
  --bg: #ffffff; --fg: #1f2328; --muted: #656d76; --border: #d0d7de; --head: #f6f8fa;
  --stripe: #fafbfc; --code: #eff1f3;
  --ok: #1a7f37; --ok-bg: #dafbe1; --warn: #9a6700; --warn-bg: #fff8c5;
  --bad: #cf222e; --bad-bg: #ffebe9; --info: #0969da; --info-bg: #ddf4ff;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #8d96a0; --border: #30363d; --head: #161b22;
    --stripe: #11161d; --code: #1f242c;
    --ok: #3fb950; --ok-bg: #12261e; --warn: #d29922; --warn-bg: #272115; --bad: #f85149;
    --bad-bg: #2d1214; --info: #58a6ff; --info-bg: #121d2f;
  }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1280px; padding: 24px; background: var(--bg); color: var(--fg);
  font: 14px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Helvetica, Arial, sans-serif; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--border); }
h3 { font-size: 15px; margin: 20px 0 6px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 4px 12px; border-radius: 999px; font-weight: 600;
  border: 1px solid currentColor; }
.scroll { overflow-x: auto; margin: 8px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border: 1px solid var(--border); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: var(--stripe); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
  overflow-wrap: anywhere; }
td { overflow-wrap: anywhere; }
.muted { color: var(--muted); }
p.note { border-left: 3px solid var(--info); padding: 4px 10px; background: var(--info-bg); }
.status-healthy, .state-resolved, .outcome-verified, .outcome-ok, .outcome-succeeded, .delivery-sent,
.delivery-delivered, .ok { color: var(--ok); background: var(--ok-bg); }
.status-degraded, .sev-warning, .state-pending, .outcome-dry_run, .outcome-running,
.outcome-verifying, .delivery-pending, .delivery-retrying, .delivery-suppressed, .delivery-uncertain
{ color: var(--warn); background: var(--warn-bg); }
.status-critical, .sev-critical, .state-firing, .outcome-failed, .outcome-failed_verification,
.delivery-failed, .delivery-failed_permanent, .delivery-dropped, .bad
{ color: var(--bad); background: var(--bad-bg); }
.sev-info, .state-acknowledged, .state-silenced { color: var(--info); background: var(--info-bg); }
.status-unknown { color: var(--muted); }
td.sev-critical, td.sev-warning, td.sev-info, td.state-firing, td.ok, td.bad { font-weight: 600; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
#: Style hints become class names only if they are plain identifiers (they may carry
#: server-provided words such as an alert state).
_CLASS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")


def _cls(style: str, extra: str = "") -> str:
    names = [n for n in (style.lower(), extra) if n and _CLASS_RE.match(n)]
    return f' class="{" ".join(names)}"' if names else ""


def _table(table: Table) -> list[str]:
    out = ['<div class="scroll"><table>', "<thead><tr>"]
    out += [f"<th{_cls('num' if i in table.numeric else '')}>{html_text(h)}</th>"
            for i, h in enumerate(table.headers)]
    out += ["</tr></thead>", "<tbody>"]
    for row in table.rows:
        cells = "".join(f"<td{_cls(cell.style, 'num' if i in table.numeric and cell.style != 'num' else '')}>"
                        f"{html_text(cell.text)}</td>" for i, cell in enumerate(row))
        out.append(f"<tr>{cells}</tr>")
    out += ["</tbody>", "</table></div>"]
    return out


def _para(para: Para) -> str:
    body = html_text(para.text)
    if para.style == "subhead":
        return f"<h3>{body}</h3>"
    return f"<p{_cls(para.style)}>{body}</p>"


def render_document(doc: Document) -> str:
    status = doc.status.lower()
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f"<title>{html_text(doc.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{html_text(doc.title)}</h1>",
        f"<p>Health <span{_cls('badge', 'status-' + status)}>{html_text(doc.status.upper())}"
        f" · {html_text(doc.score)} / 100</span></p>",
        '<dl class="facts">',
    ]
    out += [f"<dt>{html_text(label)}</dt><dd>{html_text(value)}</dd>" for label, value in doc.facts]
    out.append("</dl>")
    for section in doc.sections:
        level = min(max(section.level, 2), 6)
        out.append(f"<section><h{level}>{html_text(section.title)}</h{level}>")
        for block in section.blocks:
            out += _table(block) if isinstance(block, Table) else [_para(block)]
        out.append("</section>")
    out += ["<footer>Generated by wsmon-tui.</footer>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def render(data: Mapping[str, Any]) -> str:
    """The report dict (docs/report.md) as a self-contained HTML page."""
    return render_document(build(data))
