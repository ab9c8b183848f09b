"""Leak scanning: look for personal values in artefacts (database files, dumps, logs).

A value is found in any of the forms it could take in an artefact: its UTF-8 bytes, its
JSON escape (`\\u738b`, as the JSON log formatter and SQLAlchemy's JSON columns write
non-ASCII text by default) and the hex of its UTF-8 bytes (how pg_dump prints a bytea),
in either case. A scan returns counts of distinct values per kind, so that a failure can
be reported without printing a value.

Searching every form of thousands of values with `in` takes seconds per megabyte, so the
scan goes by shape instead: regular expressions pick out the runs a value must lie in
(digit runs, runs of three-byte UTF-8 characters, hex runs, `\\uXXXX` runs), hex and
escape runs are decoded, and every substring of a run of a wanted length is looked up in
a set. That finds exactly what a substring search over all forms would find.
"""

from __future__ import annotations

import glob
import io
import logging
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy.engine import make_url

from registry.logs import configure_logging

_NUMBER_RUN = re.compile(rb"[0-9X]{2,}")  # phone, ID number (check character X), digits only
_WIDE_RUN = re.compile(rb"(?:[\xe0-\xef][\x80-\xbf]{2})+")  # three-byte UTF-8: CJK names
_HEX_RUN = re.compile(rb"[0-9A-F]{12,}")  # a two-character name is 12 hex digits
_ESCAPE_RUN = re.compile(rb"(?:\\U[0-9A-F]{4})+")


class Needles:
    """The values to look for, by kind ("name", "id_number", "phone", ...)."""

    def __init__(self, values: Mapping[str, Iterable[str]]) -> None:
        self._index: dict[bytes, set[tuple[str, str]]] = {}
        for kind, vs in values.items():
            for value in vs:
                literals = {value}
                if kind == "id_number":
                    literals.add(re.sub(r"\D", "", value))  # digits only (without a check X)
                for literal in literals:
                    self._index.setdefault(literal.upper().encode(), set()).add((kind, value))
        self._lengths = sorted({len(k) for k in self._index})

    def found(self, artefact: bytes) -> dict[str, int]:
        """How many distinct values of each kind occur in the artefact (kinds with none omitted)."""
        hits: set[tuple[str, str]] = set()
        for view in self._views(artefact.upper()):
            for pattern, step in ((_NUMBER_RUN, 1), (_WIDE_RUN, 3)):
                for run in pattern.findall(view):
                    for length in self._lengths:
                        for start in range(0, len(run) - length + 1, step):
                            hits.update(self._index.get(run[start : start + length], ()))
        counts: dict[str, int] = {}
        for kind, _ in hits:
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    @staticmethod
    def _views(upper: bytes) -> Iterator[bytes]:
        """The artefact (upper-cased ASCII) and the decodings of its hex and escape runs."""
        yield upper
        for run in _HEX_RUN.findall(upper):
            for offset in (0, 1):
                even = run[offset : offset + (len(run) - offset) // 2 * 2]
                yield bytes.fromhex(even.decode()).upper()
        for run in _ESCAPE_RUN.findall(upper):
            yield run.replace(b"\\U", b"\\u").decode("unicode_escape").encode("utf-8", "surrogatepass").upper()


@contextmanager
def captured_logs(level: str = "DEBUG") -> Iterator[io.StringIO]:
    """Every log line written inside the block, exactly as the product formats it.

    `configure_logging` replaces the root logger's handlers, so inside the block the buffer
    is the only destination (pytest's own log capture is detached too, so nothing leaked
    is echoed in a failure report); the previous handlers, level and the uvicorn access
    flag are restored on the way out. A context manager in the test body rather than a
    fixture finaliser: pytest installs fresh capture handlers for each test phase, so a
    snapshot taken in setup and restored in teardown would re-attach setup's stale handlers.
    """
    root = logging.getLogger()
    access = logging.getLogger("uvicorn.access")
    saved_handlers, saved_level, saved_access = root.handlers[:], root.level, access.disabled
    buffer = io.StringIO()
    configure_logging(level, stream=buffer)
    ours = root.handlers[:]
    try:
        yield buffer
    finally:
        for handler in ours:
            handler.close()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        access.disabled = saved_access


def pg_dump(database_url: str) -> bytes:
    """A plain-SQL dump of the database behind a SQLAlchemy `postgresql+psycopg` URL."""
    candidates = [shutil.which("pg_dump"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)]
    binary = next((c for c in candidates if c), None)
    assert binary is not None, "pg_dump not found"
    libpq = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    result = subprocess.run(
        [binary, "--format=plain", "--no-owner", f"--dbname={libpq}"], capture_output=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout
