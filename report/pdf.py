"""report.pdf from the page's blocks, with fpdf2: pure Python (with Pillow and fontTools), installed
by pip alone on Linux, macOS and Windows; no LaTeX, no browser, no system library. The fonts are
matplotlib's own DejaVu files (already installed, and they hold ±, ×, →). Figures are embedded
with their captions kept on the same page; a table gets the font size its widest column needs to
fit the page (9 down to 5 pt) and wraps what still does not; pages are numbered.
"""
from __future__ import annotations

from pathlib import Path

from report.inline import lines, pieces, plain, table_rows

SANS, MONO = "dejavu", "dejavumono"
SIZES = {2: 15, 3: 12, 4: 10.5}  # heading level -> pt
TEXT_PT, CAPTION_PT, MM_PER_PT = 9.5, 8, 0.3528


def _document():
    import matplotlib
    from fpdf import FPDF

    class Document(FPDF):
        def footer(self):
            self.set_y(-12)
            self.set_font(SANS, size=8)
            self.cell(0, 6, f"{self.page_no()} / {{nb}}", align="C")

    pdf = Document(format="A4")
    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf.add_font(SANS, "", str(ttf / "DejaVuSans.ttf"))
    pdf.add_font(SANS, "B", str(ttf / "DejaVuSans-Bold.ttf"))
    pdf.add_font(SANS, "I", str(ttf / "DejaVuSans-Oblique.ttf"))
    pdf.add_font(MONO, "", str(ttf / "DejaVuSansMono.ttf"))
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_margins(16, 16, 16)
    return pdf


def render(blocks, out: Path, path: Path, title: dict[str, str]) -> Path:
    pdf = _document()
    pdf.add_page()
    pdf.set_font(SANS, "B", 18)
    pdf.multi_cell(0, 9, title["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(SANS, "", 9)
    for label in ("dataset", "date", "commit", "machine"):
        pdf.multi_cell(0, 5, f"{label}: {title[label]}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for b in blocks[1:] if blocks and blocks[0].kind == "heading" and blocks[0].level == 1 else blocks:
        {"heading": _heading, "text": _text, "table": _table, "figure": _figure, "discuss": _discuss}[b.kind](pdf, b, out)
    pdf.output(str(path))
    return path


def _room(pdf, height: float) -> None:
    """A new page unless `height` mm still fit on this one."""
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()


def _heading(pdf, b, out: Path) -> None:
    size = SIZES.get(b.level, 10)
    _room(pdf, size * MM_PER_PT * 2 + 25)  # never a heading alone at the foot of a page
    pdf.ln(2)
    pdf.set_font(SANS, "B", size)
    pdf.multi_cell(0, size * MM_PER_PT * 1.5, plain(b.text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _write(pdf, text: str, size: float, height: float) -> None:
    """Inline pieces in their styles, flowing and wrapping as one paragraph."""
    for style, piece in pieces(text):
        if style == "code":
            pdf.set_font(MONO, "", size * 0.92)
        else:
            pdf.set_font(SANS, {"bold": "B", "italic": "I"}.get(style, ""), size)
        pdf.write(height, piece)


def _text(pdf, b, out: Path, size: float = TEXT_PT) -> None:
    height = size * MM_PER_PT * 1.45
    for item, line in lines(b.text):
        pdf.set_x(pdf.l_margin + (4 if item else 0))
        if item:
            pdf.set_font(SANS, "", size)
            pdf.write(height, "• ")
        _write(pdf, line, size, height)
        pdf.ln(height)
    pdf.ln(2)


def _widths(pdf, rows: list[list[str]], size: float) -> list[float]:
    pdf.set_font(SANS, "", size)
    return [max(pdf.get_string_width(r[i]) for r in rows) * 1.08 + 2.5 for i in range(len(rows[0]))]  # bold headings


def _table(pdf, b, out: Path) -> None:
    """The largest font (9 down to 5 pt) at which every column fits; else 5 pt with the widths
    scaled to the page and long cells wrapped."""
    from fpdf.fonts import FontFace

    rows = [[plain(c) for c in r] for r in table_rows(b.text)]
    size = 9.0
    while size > 5 and sum(_widths(pdf, rows, size)) > pdf.epw:
        size -= 0.5
    widths = _widths(pdf, rows, size)
    total = sum(widths)
    if total > pdf.epw:  # shrink the widest columns first: short ones keep their one line
        cap = max(widths)
        while sum(min(w, cap) for w in widths) > pdf.epw:
            cap *= 0.95
        widths = [min(w, cap) for w in widths]
    pdf.set_font(SANS, "", size)
    with pdf.table(col_widths=widths, width=sum(widths), align="LEFT", line_height=size * MM_PER_PT * 1.3,
                   text_align="LEFT", headings_style=FontFace(emphasis="BOLD"), borders_layout="HORIZONTAL_LINES",
                   padding=0.6) as table:
        for r in rows:
            table.row(r)
    pdf.ln(3)


def _figure(pdf, b, out: Path) -> None:
    """The image at the text width (at most 45% of the page's height), its caption under it, both
    on one page."""
    from PIL import Image

    with Image.open(out / b.path) as im:
        w_px, h_px = im.size
    width = pdf.epw
    height = width * h_px / w_px
    if height > 0.45 * (pdf.h - 32):
        height = 0.45 * (pdf.h - 32)
        width = height * w_px / h_px
    caption_lines = len(pdf.multi_cell(pdf.epw, 4, plain(b.text), dry_run=True, output="LINES"))
    _room(pdf, height + caption_lines * 4 + 4)
    pdf.image(str(out / b.path), x=pdf.l_margin + (pdf.epw - width) / 2, y=pdf.get_y(), w=width, h=height)
    pdf.set_y(pdf.get_y() + height + 1)
    pdf.set_font(SANS, "I", CAPTION_PT)
    pdf.multi_cell(0, 4, plain(b.text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def _discuss(pdf, b, out: Path) -> None:
    _room(pdf, 20)
    pdf.set_fill_color(240, 240, 245)
    pdf.set_font(SANS, "I", TEXT_PT)
    pdf.multi_cell(0, 6, b.text, fill=True, new_x="LMARGIN", new_y="NEXT")
    if b.facts:
        pdf.set_font(SANS, "", 8.5)
        pdf.multi_cell(0, 4.5, "Facts from the runs (measured; the interpretation is yours):", new_x="LMARGIN", new_y="NEXT")
        from report.page import Block

        _text(pdf, Block("text", "\n".join(f"- {f}" for f in b.facts)), Path("."), size=8.5)
    pdf.ln(2)
