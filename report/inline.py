"""The few Markdown marks the report's text uses, split into styled pieces for the PDF and LaTeX
writers: `code`, **bold**, *italic*; a line starting "- " is a list item; a Markdown table's rows."""
from __future__ import annotations

import re

_MARK = re.compile(r"(`[^`]+`|\*\*[^*]+\*\*|\*[^*\s][^*]*\*)")


def pieces(text: str) -> list[tuple[str, str]]:
    """[(style, text)]: style is "", "code", "bold" or "italic"."""
    out = []
    for part in _MARK.split(text):
        if not part:
            continue
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(("code", part[1:-1]))
        elif part.startswith("**") and part.endswith("**") and len(part) > 4:
            out.append(("bold", part[2:-2]))
        elif part.startswith("*") and part.endswith("*") and len(part) > 2:
            out.append(("italic", part[1:-1]))
        else:
            out.append(("", part))
    return out


def plain(text: str) -> str:
    """The text without its marks (table cells, titles)."""
    return "".join(t for _, t in pieces(text))


def table_rows(table: str) -> list[list[str]]:
    """A Markdown table -> rows of cells (the first is the header); the |---| rule is dropped."""
    rows = []
    for line in table.strip().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c):
            continue
        rows.append(cells)
    width = max(len(r) for r in rows)
    return [r + [""] * (width - len(r)) for r in rows]


def lines(text: str) -> list[tuple[bool, str]]:
    """(is a list item, its text) per line of a text block."""
    return [(ln.startswith("- "), ln[2:] if ln.startswith("- ") else ln) for ln in text.splitlines() if ln.strip()]
