"""Import files, whatever they import: CSV with a header row or NDJSON, read a numbered row
at a time, and the rejects file that goes with them.

A rejection carries the row number and the error's `detail`, which names a rule and never a
value (`registry.errors`), so the rejects file holds no personal data; nor does any error
here echo a header or a key, which can hold anything."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from itertools import islice
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from registry.errors import RegistryError, RuleViolation

__all__ = [
    "ImportFileError",
    "Progress",
    "Rejection",
    "batches",
    "count_rows",
    "date_field",
    "import_path",
    "read_rows",
    "rejects_writer",
    "text_field",
    "check_keys",
    "unusable",
    "validation_reason",
]

CSV_SUFFIXES = (".csv",)
NDJSON_SUFFIXES = (".ndjson", ".jsonl")

T = TypeVar("T")
Progress = Callable[[int, int], None]  # (rows done, rows in all)


class ImportFileError(RegistryError):
    """The file as a whole cannot be imported (format, encoding, header); nothing was written."""

    status = 400
    title = "Unusable import file"


@dataclass(frozen=True)
class Rejection:
    row_number: int
    reason: str  # the error's `detail`: names a rule, never a value


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in NDJSON_SUFFIXES:
        return "ndjson"
    raise ImportFileError("the file must end in .csv, .ndjson or .jsonl")


def _check_header(header: list[str] | None, columns: tuple[str, ...], required: frozenset[str]) -> None:
    if header is None:
        raise ImportFileError("the file is empty: a header row is required")
    names = [h.strip() for h in header]
    missing = sorted(required - set(names))
    if missing:
        raise ImportFileError(f"the header lacks required columns: {', '.join(missing)}")
    # Not echoed: a mangled header can hold anything, including a personal value.
    if set(names) - set(columns) or len(set(names)) != len(names):
        raise ImportFileError(f"the header has unknown or repeated columns; the columns are: {', '.join(columns)}")


def unusable(reason: str) -> Mapping[str, object]:
    """The row the reader could not use at all: the key `None` holds the reason."""
    return {None: reason}  # type: ignore[dict-item]


def read_rows(
    path: Path, columns: tuple[str, ...], required: frozenset[str]
) -> Iterator[tuple[int, Mapping[str, object]]]:
    """(row number, raw fields) per data row. Rows are numbered from 1 after the CSV
    header (an NDJSON row's number is its line number); blank rows are skipped but
    counted. A row the reader cannot use at all is `unusable(reason)`."""
    kind = _kind(path)
    try:
        # utf-8-sig: spreadsheets often save a byte-order mark first.
        with path.open(encoding="utf-8-sig", newline="") as handle:
            if kind == "csv":
                reader = csv.reader(handle)
                header = next(reader, None)
                _check_header(header, columns, required)
                assert header is not None
                names = [h.strip() for h in header]
                for number, values in enumerate(reader, start=1):
                    if not any(v.strip() for v in values):
                        continue  # a blank row: skipped, but counted so numbers match the file
                    if len(values) > len(names):
                        yield number, unusable("row: more fields than the header")
                        continue
                    yield number, dict(zip(names, values, strict=False))
                return
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                except ValueError:
                    yield number, unusable("row: not valid JSON")
                    continue
                if not isinstance(raw, dict):
                    yield number, unusable("row: not a JSON object")
                    continue
                yield number, raw
    except UnicodeDecodeError:
        raise ImportFileError("the file is not valid UTF-8") from None
    except csv.Error:
        raise ImportFileError("the file is not valid CSV") from None


def count_rows(path: Path, columns: tuple[str, ...], required: frozenset[str]) -> int:
    """Rows in the file; reads it once, so encoding and header problems surface before
    anything is written."""
    return sum(1 for _ in read_rows(path, columns, required))


def check_keys(raw: Mapping[str, object], columns: tuple[str, ...]) -> None:
    if None in raw:
        raise RuleViolation(str(raw[None]))  # type: ignore[index]
    if set(raw) - set(columns):
        raise RuleViolation("row: unknown fields")  # not named: a key can hold anything


def text_field(raw: Mapping[str, object], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RuleViolation(f"{name}: must be text")
    text = str(value).strip()
    return text or None


def date_field(raw: Mapping[str, object], name: str) -> date | None:
    text = text_field(raw, name)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RuleViolation(f"{name}: not a date (YYYY-MM-DD)") from None


def validation_reason(exc: ValidationError, column_of: Mapping[str, str] | None = None) -> str:
    """A row model's refusal as a rejection reason: field and message of each error, the
    field named as the file's column (`column_of` maps a model's field to it where they
    differ). pydantic keeps the input out of `msg`; a message that quotes it anyway falls
    back to the error's type."""
    columns = column_of or {}
    parts = []
    for error in exc.errors(include_url=False, include_context=False):
        loc = ".".join(columns.get(str(p), str(p)) for p in error["loc"]) or "row"
        msg, given = error["msg"], error.get("input")
        if isinstance(given, str) and given and given in msg:
            msg = error["type"]
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def batches(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def import_path(
    path: Path,
    columns: tuple[str, ...],
    required: frozenset[str],
    run: Callable[[Iterator[tuple[int, Mapping[str, object]]], int, Callable[[Rejection], None] | None], T],
    *,
    rejects: Path | None,
    progress: Progress | None,
    on_reject: Callable[[Rejection], None] | None,
    before: Callable[[], None] = lambda: None,
) -> T:
    """A file imported by `run(rows, total, on_reject)`: read once first (a bad header or
    encoding writes nothing), then `before` (an import's own checks of the whole), then the
    rows, with the rejections going to `rejects` and `on_reject`."""
    total = count_rows(path, columns, required)
    before()
    if progress is not None:
        progress(0, total)
    with rejects_writer(rejects, on_reject) as write:
        return run(read_rows(path, columns, required), total, write)


@contextmanager
def rejects_writer(
    rejects: Path | None, on_reject: Callable[[Rejection], None] | None
) -> Iterator[Callable[[Rejection], None] | None]:
    """The callback an import calls per rejected row: written to `rejects` (CSV: row_number,
    reason) when given, and passed on to `on_reject`."""
    if rejects is None:
        yield on_reject
        return
    with rejects.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("row_number", "reason"))

        def write(rejection: Rejection) -> None:
            writer.writerow((rejection.row_number, rejection.reason))
            if on_reject is not None:
                on_reject(rejection)

        yield write
