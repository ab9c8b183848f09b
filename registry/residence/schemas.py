"""Residence request and response models (API.md, Residence)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from registry.fields import OrgUnitCode
from registry.people.schemas import IdNumberText, PersonMatch

Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DwellingCreate(Strict):
    org_unit: OrgUnitCode
    address: Address
    kind: Literal["rental", "owned", "dormitory", "other"]
    landlord_person_id: uuid.UUID | None = None
    pledge_signed_on: date | None = None


class DwellingUpdate(Strict):
    """`PATCH /dwellings/{id}` with `If-Match`: only the fields sent change. A landlord is
    named by `landlord_person_id` (a person in the caller's scope) or, for a landlord held
    by another unit, by `landlord_id_number` (an exact match, answered as a masked hit)."""

    address: Address | None = None
    kind: Literal["rental", "owned", "dormitory", "other"] | None = None
    landlord_person_id: uuid.UUID | None = None
    landlord_id_number: IdNumberText | None = None
    pledge_signed_on: date | None = None


class DwellingRead(Strict):
    id: uuid.UUID
    org_unit: str
    address: str | None = None
    kind: str
    landlord_person_id: uuid.UUID | None
    pledge_signed_on: date | None
    version: int
    # Only in the answer to a PATCH that named the landlord by ID number: the exact-search
    # hit (masked name, birth year, whether in scope), nothing more.
    landlord_match: PersonMatch | None = None


class Occupant(Strict):
    registration_id: uuid.UUID
    person_id: uuid.UUID
    arrived_on: date


NAME_MAX = 200  # an employer's name (as a registration reports it)
EmployerName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX)]


class EmployerCreate(Strict):
    """An employer (以业管人), held by `org_unit`; the USCC is checked per GB 32100."""

    org_unit: OrgUnitCode
    name: EmployerName
    uscc: Annotated[str, StringConstraints(min_length=18, max_length=24)]
    address: Address | None = None
    contact_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    contact_phone: Annotated[str, StringConstraints(max_length=24)] | None = None


class EmployerRead(Strict):
    id: uuid.UUID
    org_unit: str
    name: str | None = None
    uscc: str | None = None
    address: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    version: int


class EmployerSearch(Strict):
    uscc: Annotated[str, StringConstraints(min_length=18, max_length=24)] = Field(
        description="the exact unified social credit code"
    )


class EmployerMatch(Strict):
    """The exact USCC lookup's answer, wherever the employer is held: nothing sealed, and
    the holding unit only when the caller's scope covers it."""

    id: uuid.UUID
    org_unit: str | None


class Worker(Strict):
    """An active registration linked to the employer, in the caller's scope: ids and dates."""

    registration_id: uuid.UUID
    person_id: uuid.UUID
    dwelling_id: uuid.UUID
    org_unit: str
    arrived_on: date


class RegistrationCreate(Strict):
    person_id: uuid.UUID
    dwelling_id: uuid.UUID
    arrived_on: date
    registered_on: date | None = None
    basis: Literal["employment", "study", "family", "business", "other"]
    employer_name: EmployerName | None = None
    employer_uscc: Annotated[str, StringConstraints(min_length=18, max_length=24)] | None = None
    reported_by: Literal["self", "landlord", "employer"] = "self"


class PersonTransferRead(Strict):
    """A request to take over a person held by another unit (plain fields only). The
    requesting side sees `from_org_unit` and `escalated_to` as null: which unit holds a
    person is not its to know."""

    id: uuid.UUID
    person_id: uuid.UUID
    registration_id: uuid.UUID
    status: Literal["requested", "accepted", "refused", "withdrawn"]
    from_org_unit: str | None
    to_org_unit: str
    requested_on: date
    escalates_on: date
    escalated: bool
    escalated_to: str | None
    decided_on: date | None
    reason: str | None
    version: int


class TransferRefusal(Strict):
    # A closed list, so no free text (and no personal value) is stored with the refusal.
    reason: Literal["still_resident", "identity_doubt", "duplicate", "other"]


class RegistrationRead(Strict):
    id: uuid.UUID
    person_id: uuid.UUID
    dwelling_id: uuid.UUID
    org_unit: str
    status: str
    arrived_on: date
    registered_on: date
    departed_on: date | None
    basis: str
    employer_name: str | None = None
    employer_uscc: str | None = None
    # The employer record linked (`GET /employers/{id}`); the name and code above are what
    # was reported with the registration.
    employer_id: uuid.UUID | None = None
    reported_by: str
    late: bool
    previous_id: uuid.UUID | None
    # Derived, never sent: the registration the six-month clock counts from is the first
    # in the city, moves included (居住证暂行条例 Art. 2).
    resident_since: date | None = None
    version: int
    # Set on a `pending_transfer` registration (answered 202): the request to the holder.
    transfer: PersonTransferRead | None = None


class DwellingRow(Strict):
    """A worklist row: no address, no landlord."""

    id: uuid.UUID
    org_unit: str
    kind: str


class RegistrationRow(Strict):
    """A list row: no sealed fields."""

    id: uuid.UUID
    person_id: uuid.UUID
    org_unit: str
    status: str
    arrived_on: date
    registered_on: date
    late: bool


class Move(Strict):
    dwelling_id: uuid.UUID
    moved_on: date


class Depart(Strict):
    departed_on: date


class PermitCreate(Strict):
    person_id: uuid.UUID
    registration_id: uuid.UUID
    basis: Literal["employment", "residence", "study"]


class MaterialsRequest(Strict):
    missing: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(min_length=1, max_length=20)


class Reason(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class EndorseRequest(Strict):
    endorsed_on: date | None = None


class Window(Strict):
    opens_on: date
    closes_on: date


class PermitRead(Strict):
    id: uuid.UUID
    person_id: uuid.UUID
    registration_id: uuid.UUID
    org_unit: str
    basis: str
    status: str
    applied_on: date
    materials_missing: list[str] | None
    accepted_on: date | None
    issue_due_on: date | None
    issued_on: date | None
    permit_no: str | None = None
    valid_until_next_endorsement: date | None
    endorsement_window: Window | None
    continuous_since: date | None
    endorsements: list[date]
    decision_reason: str | None
    cancelled_on: date | None
    rejected_on: date | None
    version: int


class PermitRow(Strict):
    id: uuid.UUID
    person_id: uuid.UUID
    org_unit: str
    status: str
    applied_on: date
    issue_due_on: date | None
    valid_until_next_endorsement: date | None


class VerificationRequest(Strict):
    permit_no: Annotated[str, StringConstraints(min_length=4, max_length=40)]
    holder_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class VerificationResult(Strict):
    valid: bool
    checked_at: datetime
