"""Casefile request and response models (API.md, Casefiles)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from registry.fields import OrgUnitCode
from registry.people.schemas import PersonCreate


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubjectIdentity(Strict):
    """A subject not yet registered, registered with the file (社区矫正法 Art. 22: 核实身份、
    办理接收登记): held by the file's org unit. A known ID number is a 409 naming the person."""

    id_number: Annotated[str, StringConstraints(min_length=15, max_length=24)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    phone: Annotated[str, StringConstraints(max_length=24)] | None = None
    hukou_address: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = None
    sex: Literal["male", "female"] | None = None
    birth_date: date | None = None

    def as_person(self, org_unit: str) -> PersonCreate:
        return PersonCreate(**self.model_dump(), org_unit=org_unit)


class CasefileCreate(Strict):
    """Exactly one of `person_id` (a registered person) and `subject` (registered here)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "person_id": "6f1c1a52-2d0e-4f43-9d57-0a4f3a3c0b11",
                    "kind": "community_correction",
                    "org_unit": "320571",
                    "opened_on": "2026-01-05",
                    "details": {
                        "category": "probation",
                        "deciding_authority": "测试区人民法院",
                        "document_no": "(2025)测刑初5号",
                        "judgment_effective_on": "2025-12-20",
                        "term_starts_on": "2025-12-20",
                        "term_ends_on": "2026-12-19",
                    },
                }
            ]
        },
    )

    person_id: uuid.UUID | None = None
    subject: SubjectIdentity | None = None
    kind: Literal["community_correction", "resettlement", "drug_rehabilitation"]
    org_unit: OrgUnitCode
    opened_on: date | None = None
    details: dict[str, Any] = Field(description="Validated by the JSON Schema of the kind in schemas/.")

    @model_validator(mode="after")
    def _one_subject(self) -> CasefileCreate:
        if (self.person_id is None) == (self.subject is None):
            raise ValueError("person_id or subject: exactly one is required")
        return self


class PendingClosure(Strict):
    """A transition that ends the file, awaiting the supervising level's approval."""

    id: uuid.UUID
    to: str
    declared_on: date
    requested_by: uuid.UUID
    requested_at: datetime


class ClosureDecision(Strict):
    approve: bool
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None = None


class ClosureRead(Strict):
    id: uuid.UUID
    casefile_id: uuid.UUID
    status: Literal["pending", "approved", "refused"]
    from_status: str
    to: str
    declared_on: date
    decided_on: date | None
    version: int


class CasefileRead(Strict):
    id: uuid.UUID
    person_id: uuid.UUID
    kind: str
    status: str
    org_unit: str
    opened_on: date
    closed_on: date | None = Field(description="The date the closure was approved (DOMAIN.md).")
    pending_closure: PendingClosure | None = Field(
        default=None, description="A transition that ends the file, awaiting approval; the status stays until then."
    )
    minor: bool = Field(description="Under 18 at the offence when its date is recorded, else at opening (derived).")
    report_due_on: date | None = Field(default=None, description="Derived: the last day to report.")
    term_ends_on: date | None = Field(
        default=None, description="Derived: the term's last day (drug: from the report; resettlement: assistance)."
    )
    handover_due_on: date | None = Field(default=None, description="Derived: release day of a key person.")
    sealed: bool
    legal_hold: bool
    details: dict[str, Any]
    assigned_user_ids: list[uuid.UUID]
    hints: list[str] = Field(
        default_factory=list,
        description="Counting hints, e.g. revocation_may_be_proposed after two warnings; a person decides.",
    )
    version: int


class CasefileRow(Strict):
    id: uuid.UUID
    person_id: uuid.UUID
    kind: str
    status: str
    org_unit: str
    opened_on: date


class EventCreate(Strict):
    type: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,32}$")] = Field(
        description="A type of the file's kind in the event catalogue; unknown types are a 422."
    )
    occurred_on: date
    body: dict[str, Any] = Field(
        default_factory=dict,
        description="Validated by schemas/casefile.<kind>.event.<type>.json; unknown keys are a 422.",
    )


class EventRead(Strict):
    id: uuid.UUID
    type: str
    occurred_on: date
    body: dict[str, Any]
    recorded_by: str
    created_at: datetime


class Transition(Strict):
    to: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,32}$")]
    on: date
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None
    certificate_no: Annotated[str, StringConstraints(max_length=64)] | None = None
    facts: dict[str, Any] = Field(
        default_factory=dict,
        description="Only the checklist items of this transition (e.g. intake: documents_checked, identity_verified,"
        " rules_read; agreement: agreement_signed), each a boolean. Anything the file records or the service derives"
        " (terms, deadlines, key_person) is never taken from here: other keys are a 422.",
    )


class TermChange(Strict):
    """A court's ruling that changes the term (社区矫正法 Art. 33: 减刑裁定), with its document
    number. The old and new term end go to the sealed timeline; the audit names fields only.
    The law names one such ruling, the reduction: no free "other" change of a term."""

    term_ends_on: date
    document_no: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    decided_on: date
    ruling: Literal["reduction"] = "reduction"


class TermChanged(Strict):
    casefile_id: uuid.UUID
    term_ends_on: date
    previous_term_ends_on: date
    version: int


class Assignments(Strict):
    user_ids: list[uuid.UUID] = Field(max_length=50)


class Restrictions(Strict):
    excluded_user_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)
    restricted_to_user_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)


class BreakGlassRequest(Strict):
    reason_code: Literal["emergency", "court_request", "investigation", "data_subject_request"]
    justification: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=1000)]


class BreakGlassGranted(Strict):
    grant_id: uuid.UUID
    expires_at: datetime
