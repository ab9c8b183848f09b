"""A `Paper` drawn as a PDF with fpdf2, its Chinese text in an embedded TrueType font.

The font is a subset embedded in the file (`pdffonts` shows `emb yes`): a viewer needs no
font of its own, and the page prints the same everywhere. Every page carries the imprint
(document id, printing account and unit, time) in its footer. A character the font lacks
(a rare character of a name) is printed as 〓 with a note to complete it by hand: a
statutory paper never silently drops part of a name, and no character is logged.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from registry.documents.paper import Imprint, Paper
from registry.errors import Unavailable

FAMILY = "registry-cjk"
BLANK = "＿" * 14  # a blank line to complete by hand
MISSING = "〓"  # the typesetter's mark for a character the font lacks
# fontTools reports each table it drops while subsetting, and fpdf2 names the characters a
# font lacks: noise at best, a personal value at worst. Neither reaches the log.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
logging.getLogger("fpdf").setLevel(logging.ERROR)


class _Page(FPDF):
    def __init__(self, imprint: Imprint) -> None:
        super().__init__(format="A4")
        self.imprint = imprint
        self.cmap: Mapping[int, object] = {}
        self.lacking = False

    def fit(self, text: str) -> str:
        """`text` with line ends and tabs made plain, other control characters dropped, and
        each character the font lacks replaced by 〓 (noted on the paper)."""
        out = []
        for ch in text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " "):
            if ch in "\n " or ord(ch) in self.cmap:
                out.append(ch)
            elif unicodedata.category(ch) in ("Cc", "Cf"):  # controls and invisible formatting
                continue
            else:
                out.append(MISSING)
                self.lacking = True
        return "".join(out)

    def footer(self) -> None:
        i = self.imprint
        self.set_y(-14)
        self.set_font(FAMILY, size=7.5)
        self.multi_cell(
            0,
            4,
            self.fit(
                f"文书编号 {i.document_id}　打印 {i.printed_by}　单位 {i.unit}　"
                f"时间 {i.printed_at:%Y-%m-%d %H:%M}　第 {self.page_no()}/{{nb}} 页"
            ),
            align="C",
        )


@functools.lru_cache(maxsize=4)
def _font_problem(font: Path, mtime: float) -> str | None:
    if mtime < 0:
        return "the document font is not installed (scripts/system-deps)"
    try:
        with TTCollection(font) if font.suffix.lower() == ".ttc" else nullcontext(None) as collection:
            face = collection.fonts[0] if collection is not None else TTFont(font)
            cmap = face.getBestCmap() or {}
            if "glyf" not in face:
                return "the document font has no TrueType outlines (CFF outlines cannot be embedded)"
    except Exception:  # any unreadable file: the operator's setting, not the request's fault
        return "the document font cannot be read"
    if not all(ord(ch) in cmap for ch in MISSING + BLANK[0] + "的"):
        return "the document font lacks Chinese text or the marks a paper needs (〓, ＿)"
    return None


def check_font(font: Path) -> None:
    """503 unless `font` is a TrueType-outline font with Chinese text and the marks a paper
    uses: checked before anything of a document is sent."""
    mtime = font.stat().st_mtime if font.is_file() else -1.0
    problem = _font_problem(font, mtime)
    if problem is not None:
        raise Unavailable(f"document.font: {problem} (REGISTRY_DOCUMENT_FONT)")


def render(paper: Paper, imprint: Imprint, *, font: Path) -> bytes:
    check_font(font)
    pdf = _Page(imprint)
    pdf.set_title(paper.title)
    pdf.set_creator("registry")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_font(FAMILY, fname=str(font))
    pdf.add_font(FAMILY, style="B", fname=str(font))  # table headings ask for bold: the same face
    face = pdf.fonts[FAMILY]
    assert isinstance(face, TTFFont)
    pdf.cmap = face.cmap
    i = imprint
    pdf.fit(f"{i.printed_by}{i.unit}")  # the footer's own text, noted like the rest
    pdf.add_page()
    width = pdf.epw

    def write(size: float, height: float, text: str, align: str = "L") -> None:
        pdf.set_font(FAMILY, size=size)
        pdf.multi_cell(width, height, pdf.fit(text), align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    write(16, 10, paper.title, "C")
    write(8.5, 5, paper.basis, "C")
    pdf.ln(4)
    if paper.addressee:
        write(11, 7, f"{paper.addressee}：")
    for section in paper.sections:
        if section.heading:
            pdf.ln(2)
            write(12, 7, section.heading)
        for line in section.lines:
            write(10.5, 6.5, f"{line.label}：{BLANK if line.value is None else line.value}")
        for text in section.text:
            write(10.5, 6, text)
        for cells in section.table:  # one line per row: fast, and wraps like the text
            write(8, 4.5, "　".join(cells))
    if paper.signatures:
        pdf.ln(6)
        for label in paper.signatures:
            write(10.5, 8, f"{label}：{BLANK}")
    if pdf.lacking:
        pdf.ln(2)
        write(9, 5, f"注：标有{MISSING}处为字库所缺的字，请按证件手写补正。")
    return bytes(pdf.output())
