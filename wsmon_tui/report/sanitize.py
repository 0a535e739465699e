"""Make untrusted text safe to print, to put in a Markdown table or in HTML.

Target names, URLs, close reasons, error details, label values and alert summaries
come from servers or from config written by other people. They are data: a close
reason must not be able to move the cursor of the terminal that ``cat``s a report,
break a Markdown table, open an HTML tag or smuggle console markup. Every string a
report writer prints goes through one of the functions below.
"""

from __future__ import annotations

import html
import re

#: ANSI/ECMA-48 sequences, 7-bit and 8-bit forms. Removed whole, so that the
#: parameters of a sequence (``[31m``) do not survive as visible junk.
_ANSI_RE = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]?                  # CSI ... final byte
    | \x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?  # OSC ... BEL or ST
    | \x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?    # DCS, SOS, PM, APC ... ST
    | \x1b[ -/]*[0-~]?                          # other escapes (charset, keypad, RIS, ...)
    | \x9b[0-?]*[ -/]*[@-~]?                    # 8-bit CSI
    | [\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?  # 8-bit OSC/DCS/SOS/PM/APC
    """,
    re.VERBOSE,
)

#: Characters that end a line, in any encoding's idea of a line.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

#: Invisible formatting that can reorder what a reader sees ("Trojan source").
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _table(keep_newlines: bool) -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]:
        table[code] = None
    for ch in _LINE_BREAKS:
        table[ord(ch)] = " "
    table[ord("\t")] = " "
    if keep_newlines:
        table[ord("\n")] = "\n"
    for ch in _BIDI:
        table[ord(ch)] = None
    return table


_FLAT = _table(keep_newlines=False)
_MULTILINE = _table(keep_newlines=True)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def strip_control(s: object, *, keep_newlines: bool = False) -> str:
    """``s`` as a single line of printable text.

    Removes ANSI escape sequences, C0 and C1 control characters, DEL and bidi
    overrides; turns tabs and line breaks into spaces (``keep_newlines`` keeps
    ``\\n``, and turns ``\\r\\n`` and ``\\r`` into it); replaces lone surrogates
    (which cannot be encoded as UTF-8) with U+FFFD.
    """
    text = s if isinstance(s, str) else str(s)
    text = _SURROGATE_RE.sub("\ufffd", text)
    text = _ANSI_RE.sub("", text)
    if keep_newlines:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text.translate(_MULTILINE)
    return text.translate(_FLAT)


def clip(s: str, limit: int = 300) -> str:
    """At most ``limit`` characters, with an ellipsis when cut (error details can be huge)."""
    return s if len(s) <= limit else s[: max(limit - 1, 0)] + "…"


#: Characters with a meaning somewhere in CommonMark/GFM inline syntax (and
#: GitHub's ``$`` maths). Escaped everywhere; a backslash escape of ASCII
#: punctuation is always valid and shows the character itself.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$&!{}])")
#: Block syntax only matters at the start of a line/cell: a heading, a list item,
#: a thematic break or a setext underline.
_MD_LEADING = re.compile(r"^(?:(#{1,6}|[-+])(?=[\s#-]|$)|>|(=+)$|\d{1,9}(?=[.)](?:\s|$)))")


def md_cell(s: object) -> str:
    """``s`` for a Markdown table cell (or any inline Markdown): one line, literal text.

    Escapes pipes, backticks, emphasis, brackets, entity ampersands, a leading
    ``#``/``-``/``+``/``>``/``1.``, and writes ``<`` as ``&lt;``: not every Markdown
    renderer honours ``\\<``, and an HTML tag or autolink must stay text in all of them.
    ``None`` becomes an em dash.
    """
    if s is None:
        return "—"
    text = strip_control(s).strip()
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("<", "&lt;")
    m = _MD_LEADING.match(text)
    if m:
        # Escape the marker itself, or for "1." the delimiter after the digits.
        at = m.end() if m.group(0)[0].isdigit() else 0
        text = text[:at] + "\\" + text[at:]
    return text


def html_text(s: object) -> str:
    """``s`` as HTML text or attribute content: control characters stripped, then escaped.

    Square brackets become character references too, so console markup such as
    ``[bold]`` cannot be interpreted by a tool that renders the HTML source.
    ``None`` becomes an em dash.
    """
    if s is None:
        return "—"
    text = html.escape(strip_control(s), quote=True)
    return text.replace("[", "&#91;").replace("]", "&#93;")
