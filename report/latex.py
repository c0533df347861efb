"""report.tex from the page's blocks: a file that `pdflatex report.tex` compiles as it is (Overleaf's
default), with its figures/ beside it. Packages: only TeX Live's base and recommended sets
(geometry, graphicx, booktabs, longtable, array, float, caption). Each assignment item is a \\section, each task a
\\part; tables are booktabs (a wide one scaled to the text width, a long one a longtable that breaks
across pages); figures are floats with captions and labels; each discussion place is a `% TODO`
paragraph with the measured facts beside it. Everything that comes from a run is escaped.
"""
from __future__ import annotations

import re

from report.inline import lines, pieces, table_rows

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            "±": r"\ensuremath{\pm}", "×": r"\ensuremath{\times}", "→": r"\ensuremath{\rightarrow}",
            "≥": r"\ensuremath{\geq}", "≤": r"\ensuremath{\leq}", "–": "--", "—": "---", "…": r"\ldots{}",
            "’": "'", "‘": "`", "“": "``", "”": "''", "•": r"\textbullet{}", "<": r"\textless{}", ">": r"\textgreater{}"}
LONG_TABLE_ROWS = 25  # more rows than this: a longtable, which may break across pages

PREAMBLE = r"""\documentclass[10pt,a4paper]{article}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage[margin=2cm]{geometry}
\usepackage{graphicx}
\usepackage{booktabs}
\usepackage{longtable}
\usepackage{array}
\usepackage{float}
\usepackage[font=small]{caption}
\setlength{\parindent}{0pt}
\setlength{\parskip}{4pt}
"""


def escape(text: str) -> str:
    """Text from a run (a name, a path, a command) as LaTeX that prints it unchanged; a character
    outside the fonts' reach becomes '?'."""
    out = []
    for ch in text:
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def _code(text: str) -> str:
    """Monospace, breakable after / _ - = , so long paths and commands wrap."""
    return r"\texttt{" + re.sub(r"(/|\\_|-|=|,)", r"\1\\allowbreak{}", escape(text)) + "}"


def inline(text: str) -> str:
    style = {"code": _code, "bold": lambda t: r"\textbf{" + escape(t) + "}",
             "italic": lambda t: r"\emph{" + escape(t) + "}", "": escape}
    return "".join(style[s](t) for s, t in pieces(text))


def _heading(b) -> str:
    command = {2: r"\part*", 3: r"\section*", 4: r"\subsection*"}.get(b.level, r"\paragraph")
    return f"{command}{{{inline(b.text)}}}\n"


def _text(b) -> str:
    out, in_list = [], False
    for item, line in lines(b.text):
        if item and not in_list:
            out.append(r"\begin{itemize}")
        if not item and in_list:
            out.append(r"\end{itemize}")
        in_list = item
        out.append((r"\item " if item else "") + inline(line) + ("" if item else "\n"))
    if in_list:
        out.append(r"\end{itemize}")
    return "\n".join(out) + "\n"


def _table(b) -> str:
    """booktabs; columns with long cells wrap (ragged right), and a table still wider than the text
    is scaled down to it; a long one is a longtable, which breaks across pages."""
    raw = table_rows(b.text)
    rows = [[inline(c) for c in r] for r in raw]
    longest = [max(len(r[i]) for r in raw[1:] or raw) for i in range(len(raw[0]))]
    spec = "".join(r">{\raggedright\arraybackslash}p{2.4cm}" if n > 22 else "l" for n in longest)
    head, body = " & ".join(rows[0]) + r" \\", "\n".join(" & ".join(r) + r" \\" for r in rows[1:])
    if len(rows) > LONG_TABLE_ROWS:
        return (f"{{\\footnotesize\n\\begin{{longtable}}{{{spec}}}\n\\toprule\n{head}\n\\midrule\n\\endhead\n"
                f"{body}\n\\bottomrule\n\\end{{longtable}}}}\n")
    size = "\\scriptsize\\setlength{\\tabcolsep}{3pt}" if len(rows[0]) > 6 else "\\small"
    return (f"\\begin{{table}}[H]\n\\centering{size}\n"
            f"\\resizebox{{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}}{{!}}{{%\n"
            f"\\begin{{tabular}}{{{spec}}}\n\\toprule\n{head}\n\\midrule\n{body}\n\\bottomrule\n\\end{{tabular}}}}\n"
            f"\\end{{table}}\n")


def _figure(b, number: int) -> str:
    return (f"\\begin{{figure}}[H]\n\\centering\n"
            f"\\includegraphics[width=\\linewidth,height=0.42\\textheight,keepaspectratio]{{{b.path}}}\n"
            f"\\caption{{{inline(b.text)}}}\n\\label{{fig:{number}}}\n\\end{{figure}}\n")


def _discuss(b) -> str:
    facts = "".join(f"\\item {inline(f)}\n" for f in b.facts)
    return ("% TODO: your discussion of this item goes in the paragraph below.\n"
            f"\\paragraph{{Discussion.}} \\emph{{{escape(b.text)}}}\n"
            + (f"\n\\emph{{Facts from the runs (measured; the interpretation is yours):}}\n"
               f"\\begin{{itemize}}\n{facts}\\end{{itemize}}\n" if facts else ""))


def render(blocks, title: dict[str, str]) -> str:
    body, figures = [], 0
    for b in blocks:
        if b.kind == "heading" and b.level == 1:
            continue  # the title block
        if b.kind == "figure":
            figures += 1
            body.append(_figure(b, figures))
        else:
            body.append({"heading": _heading, "text": _text, "table": _table, "discuss": _discuss}[b.kind](b))
    details = r" \\ ".join(escape(f"{k}: {title[k]}") for k in ("dataset", "commit", "machine"))
    return (PREAMBLE + f"\\title{{{escape(title['title'])}}}\n\\author{{{details}}}\n\\date{{{escape(title['date'])}}}\n"
            "\\begin{document}\n\\maketitle\n\n" + "\n".join(body) + "\n\\end{document}\n")
