"""A report's content as JSON, CSV or a spreadsheet (XLSX): the same metadata and cells."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from openpyxl import Workbook

JSON, CSV, XLSX = (
    "application/json",
    "text/csv; charset=utf-8",
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
)
FORMATS = {"json": JSON, "csv": CSV, "xlsx": XLSX}
META = ("id", "org_unit", "period", "department", "version", "supersedes", "reason_code", "reference", "as_of")
COLUMNS = ("name", "value", "suppressed")


def render(document: dict[str, Any], fmt: str) -> tuple[bytes, str]:
    """`document`: the metadata of META and `cells`; suppressed values stay empty."""
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, default=str).encode("utf-8"), JSON
    rows = [[key, _text(document.get(key))] for key in META if key in document]
    cells = [[c["name"], "" if c["value"] is None else c["value"], c["suppressed"]] for c in document["cells"]]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows(rows)
        writer.writerow([])
        writer.writerow(COLUMNS)
        writer.writerows(cells)
        return out.getvalue().encode("utf-8"), CSV
    book = Workbook(write_only=True)
    sheet = book.create_sheet("report")
    for row in rows:
        sheet.append(row)
    sheet.append([])
    sheet.append(list(COLUMNS))
    for row in cells:
        sheet.append(row)
    out_bytes = io.BytesIO()
    book.save(out_bytes)
    return out_bytes.getvalue(), XLSX


def _text(value: object) -> str:
    return "" if value is None else str(value)
