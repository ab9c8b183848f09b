"""Reading a printed PDF back as a reader would: its text (pypdf), its fonts (poppler's
pdffonts) and a page drawn to PNG (pdftoppm). Poppler comes from scripts/system-deps."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader


def text(pdf: bytes) -> str:
    """Every page's text, whitespace removed (a line may wrap anywhere)."""
    reader = PdfReader(io.BytesIO(pdf))
    return "".join("".join(page.extract_text().split()) for page in reader.pages)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: scripts/system-deps installs poppler-utils")
    return path


def fonts(pdf: bytes, tmp_path: Path) -> list[list[str]]:
    """pdffonts' rows: name, type, encoding, emb, sub, uni, object, generation."""
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([_tool("pdffonts"), str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines()[2:]]


def first_page_png(pdf: bytes, out: Path) -> Path:
    source = out.with_suffix(".pdf")
    source.write_bytes(pdf)
    subprocess.run(
        [_tool("pdftoppm"), "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(source), str(out)], check=True
    )
    return out.with_suffix(".png")
