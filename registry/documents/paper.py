"""What a document says, before it is drawn: sections of labelled lines.

A line whose value the record does not hold is a blank line to complete by hand (`None`),
never an invented value; a field the caller's role may not see is no line at all (the
builder leaves it out). `source` names the stored field a line prints (`person.name`,
`casefile.details.term_ends_on`): the print's audit entry lists them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Line:
    label: str
    value: str | None  # None: a blank line, completed by hand
    source: str | None = None  # the stored field printed, for the audit entry


@dataclass(frozen=True)
class Section:
    heading: str | None
    lines: tuple[Line, ...] = ()
    text: tuple[str, ...] = ()  # fixed statements (the law's words, instructions)
    table: tuple[tuple[str, ...], ...] = ()  # a header row, then rows


@dataclass(frozen=True)
class Paper:
    title: str
    basis: str  # the legal basis printed under the title
    sections: tuple[Section, ...]
    # Blank lines for what only paper holds: signatures, seals, dates of receipt.
    signatures: tuple[str, ...] = ()
    addressee: str | None = None  # a notice's recipient, above the body
    addressee_source: str | None = None  # the stored field the addressee prints, if any

    @property
    def printed_fields(self) -> tuple[str, ...]:
        """The stored fields on the page (lines with a value and a source), sorted."""
        lines = {ln.source for s in self.sections for ln in s.lines if ln.source and ln.value is not None}
        return tuple(sorted(lines | ({self.addressee_source} if self.addressee_source else set())))


@dataclass(frozen=True)
class Imprint:
    """Who printed it, where and when, and the id the audit log resolves (`document:print`)."""

    document_id: uuid.UUID
    kind: str
    printed_by: str  # the account's username (staff, never a resident)
    unit: str  # the account's org unit: code and name
    printed_at: datetime  # local time
    notes: tuple[str, ...] = field(default=())
