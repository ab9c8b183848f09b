"""What a row of each kind of notice is, derived from the models the file it opens is
checked by, so that a column is described once.

A row is the notice's number, its subject as `SubjectIdentity` has them (a known ID number
is the registered person), the unit that opens the file (`CasefileCreate.org_unit`), and
the details of the file's kind as `details` has them, less those the kind of notice
decides (a release notice is a prison's: `source` is `prison`) and those recorded later
(the correction plan, Art. 24, is made at intake). The same row models are the published
JSON Schemas (`schemas/notice.<kind>.json`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from registry.access.policy import Purpose
from registry.casefiles.details import CorrectionDetails, DocumentNo, ResettlementDetails, error_summary
from registry.casefiles.schemas import CasefileCreate, SubjectIdentity
from registry.casefiles.workflows.common import Kind
from registry.casefiles.workflows.resettlement import Source
from registry.errors import RuleViolation
from registry.importfiles import check_keys, validation_reason

__all__ = ["FORMATS", "Notice", "NoticeFormat", "NoticeKind", "parse_notice"]

NUMBER = "document_no"
SUBJECT_COLUMNS = tuple(SubjectIdentity.model_fields)
UNIT = "org_unit"


class NoticeKind(StrEnum):
    prison_release = "prison_release"  # 刑满释放人员通知书: the prison, about 30 days ahead
    court_correction = "court_correction"  # 社区矫正法 Art. 20: the court's judgment and notice


@dataclass(frozen=True)
class Notice:
    """A row, checked as far as it can be without the database: the file it opens, but
    for whom (a new subject, or the person registered with that ID number)."""

    kind: NoticeKind
    document_no: str
    subject: SubjectIdentity
    org_unit: str
    casefile_kind: Kind
    details: dict[str, Any]

    def opening(self, person_id: uuid.UUID | None = None) -> CasefileCreate:
        """The file, for a new subject or (`person_id`) for a registered person."""
        who: dict[str, Any] = {"person_id": person_id} if person_id is not None else {"subject": self.subject}
        return CasefileCreate(kind=self.casefile_kind.value, org_unit=self.org_unit, details=self.details, **who)


@dataclass(frozen=True)
class NoticeFormat:
    kind: NoticeKind
    casefile_kind: Kind
    # The purpose the import declares: a correction file is supervised, a resettlement one assisted.
    purpose: Purpose
    details: type[BaseModel]
    fixed: Mapping[str, Any]  # details this kind of notice decides
    row: type[BaseModel]  # the row as the file has it, and its JSON Schema

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.row.model_fields)

    @property
    def required(self) -> frozenset[str]:
        return frozenset(name for name, field in self.row.model_fields.items() if field.is_required())

    @property
    def detail_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c in self.details.model_fields)


def _format(
    kind: NoticeKind,
    casefile_kind: Kind,
    purpose: Purpose,
    details: type[BaseModel],
    *,
    fixed: Mapping[str, Any],
    later: frozenset[str],
    number: str,
    doc: str,
) -> NoticeFormat:
    own = {
        name: (field.annotation, field)
        for name, field in details.model_fields.items()
        if name not in fixed and name not in later and name != NUMBER
    }
    row = create_model(  # type: ignore[call-overload]
        "".join(part.title() for part in kind.split("_")) + "Notice",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__=doc,
        **{NUMBER: (DocumentNo, Field(description=number))},
        **{name: (field.annotation, field) for name, field in SubjectIdentity.model_fields.items()},
        **{UNIT: (str, CasefileCreate.model_fields[UNIT])},
        **own,
    )
    return NoticeFormat(kind, casefile_kind, purpose, details, fixed, row)


FORMATS: dict[NoticeKind, NoticeFormat] = {
    NoticeKind.prison_release: _format(
        NoticeKind.prison_release,
        Kind.resettlement,
        Purpose.ASSISTANCE,
        ResettlementDetails,
        fixed={"source": Source.prison.value},
        later=frozenset(),
        number="The release notice's number: a second notice with it is a duplicate.",
        doc="A prison's release notice (上海市安置帮教工作规定 Art. 7): opens a resettlement file in"
        " `notified`; a key person's hand-over at the gate is due on `release_on`.",
    ),
    NoticeKind.court_correction: _format(
        NoticeKind.court_correction,
        Kind.community_correction,
        Purpose.SUPERVISION,
        CorrectionDetails,
        fixed={},
        later=frozenset({"plan"}),  # 社区矫正法 Art. 24: made at intake, by the office
        number="The court's document number (the file's `document_no`): a second notice with it is a duplicate.",
        doc="A court's notice of a community-correction subject (社区矫正法 Art. 20): opens a"
        " community-correction file in `awaiting_report`, due to report within 10 days of"
        " `judgment_effective_on` (Art. 21).",
    ),
}


def _cleaned(raw: Mapping[str, object]) -> dict[str, object]:
    """Text trimmed, and an empty cell the same as an absent one (CSV has no null)."""
    out: dict[str, object] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        out[name] = value
    return out


def parse_notice(form: NoticeFormat, raw: Mapping[str, object]) -> Notice:
    """The row's shape and the details' own rules (those that need no day of opening);
    `RuleViolation` naming columns and rules, never a value."""
    check_keys(raw, form.columns)
    try:
        row = form.row.model_validate(_cleaned(raw))
    except ValidationError as exc:
        raise RuleViolation(validation_reason(exc)) from None
    values = dict(row)
    # A court's number is the file's own `document_no` too: a detail column like the others.
    details = {**form.fixed, **{c: values[c] for c in form.detail_columns if values[c] is not None}}
    try:
        typed = form.details.model_validate(details)
    except ValidationError as exc:
        raise RuleViolation(error_summary(exc)) from None
    return Notice(
        kind=form.kind,
        document_no=values[NUMBER],
        subject=SubjectIdentity(**{c: values[c] for c in SUBJECT_COLUMNS}),
        org_unit=values[UNIT],
        casefile_kind=form.casefile_kind,
        details=typed.model_dump(mode="json"),
    )
