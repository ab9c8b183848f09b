"""A `Paper` drawn as a PDF with fpdf2, its Chinese text in an embedded TrueType font.

The font is a subset embedded in the file (`pdffonts` shows `emb yes`): a viewer needs no
font of its own, and the page prints the same everywhere. Every page carries the imprint
(document id, printing account and unit, time) in its footer.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from registry.documents.paper import Imprint, Paper
from registry.errors import Unavailable

FAMILY = "registry-cjk"
BLANK = "＿" * 14  # a blank line to complete by hand
# fontTools reports each table it drops while subsetting: noise, never an error.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)


class _Page(FPDF):
    def __init__(self, imprint: Imprint) -> None:
        super().__init__(format="A4")
        self.imprint = imprint

    def footer(self) -> None:
        i = self.imprint
        self.set_y(-14)
        self.set_font(FAMILY, size=7.5)
        self.multi_cell(
            0,
            4,
            f"文书编号 {i.document_id}　打印 {i.printed_by}　单位 {i.unit}　"
            f"时间 {i.printed_at:%Y-%m-%d %H:%M}　第 {self.page_no()}/{{nb}} 页",
            align="C",
        )


def render(paper: Paper, imprint: Imprint, *, font: Path) -> bytes:
    if not font.is_file():
        raise Unavailable("document.font: the document font is not installed (scripts/system-deps)")
    pdf = _Page(imprint)
    pdf.set_title(paper.title)
    pdf.set_creator("registry")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_font(FAMILY, fname=str(font))
    pdf.add_font(FAMILY, style="B", fname=str(font))  # table headings ask for bold: the same face
    pdf.add_page()
    width = pdf.epw
    pdf.set_font(FAMILY, size=16)
    pdf.multi_cell(width, 10, paper.title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, size=8.5)
    pdf.multi_cell(width, 5, paper.basis, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    if paper.addressee:
        pdf.set_font(FAMILY, size=11)
        pdf.multi_cell(width, 7, f"{paper.addressee}：", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for section in paper.sections:
        if section.heading:
            pdf.ln(2)
            pdf.set_font(FAMILY, size=12)
            pdf.multi_cell(width, 7, section.heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FAMILY, size=10.5)
        for line in section.lines:
            value = BLANK if line.value is None else line.value
            pdf.multi_cell(width, 6.5, f"{line.label}：{value}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for text in section.text:
            pdf.multi_cell(width, 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if section.table:
            pdf.set_font(FAMILY, size=8)
            with pdf.table(text_align="LEFT", line_height=4.5) as table:
                for cells in section.table:
                    row = table.row()
                    for cell in cells:
                        row.cell(cell)
    if paper.signatures:
        pdf.ln(6)
        pdf.set_font(FAMILY, size=10.5)
        for label in paper.signatures:
            pdf.multi_cell(width, 8, f"{label}：{BLANK}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
