"""Casefile request and response models (API.md, Casefiles)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

OrgUnitCode = Annotated[str, StringConstraints(pattern=r"^\d{6}(\d{3}){0,3}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CasefileCreate(Strict):
    person_id: uuid.UUID
    kind: Literal["community_correction", "resettlement", "drug_rehabilitation"]
    org_unit: OrgUnitCode
    opened_on: date | None = None
    details: dict[str, Any] = Field(description="Validated by the JSON Schema of the kind in schemas/.")


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
    minor: bool
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
    type: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,32}$")]
    occurred_on: date
    body: dict[str, Any] = Field(default_factory=dict)


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
    facts: dict[str, Any] = Field(default_factory=dict, description="Checklist items the transition requires.")


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
