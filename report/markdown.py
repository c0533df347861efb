"""report.md from the page's blocks: a blank line after each, so a table never touches a paragraph."""
from __future__ import annotations


def render(blocks) -> str:
    lines: list[str] = []
    for b in blocks:
        if b.kind == "heading":
            lines += ["#" * b.level + " " + b.text, ""]
        elif b.kind == "figure":
            lines += [f"![{b.text}]({b.path})", "", f"*{b.text}*", ""]
        elif b.kind == "discuss":
            lines += [f"> *{b.text}*", ""]
            if b.facts:
                lines += ["> Facts from the runs (measured; the interpretation is yours):", ">"]
                lines += [f"> - {f}" for f in b.facts] + [""]
        else:
            lines += [b.text, ""]
    return "\n".join(lines)
