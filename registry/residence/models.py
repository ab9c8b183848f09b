"""Residence tables. Addresses, employers and permit numbers are sealed (`_ct`); dates,
states and bases stay plain because deadlines, worklists and statistics are computed on them."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from registry.access.policy import Role
from registry.crypto.keyring import Compartment
from registry.crypto.sealed import BlindIndex, SealedField, SealedTable, Visibility, describe
from registry.db import UTCDateTime
from registry.people.identifiers import normalise_address


class Dwelling(SQLModel, table=True):
    __tablename__ = "dwelling"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_unit_code: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    # Sealed under the dwelling's own DEK (owner = dwelling id): it belongs to no one person.
    address_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    kind: str = Field(max_length=16)  # rental | owned | dormitory | other
    landlord_person_id: uuid.UUID | None = Field(default=None, foreign_key="person.id", index=True)
    pledge_signed_on: date | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


class Employer(SQLModel, table=True):
    """An employer of registered residents (以业管人; 浙江省流动人口居住登记条例 Art. 8): a
    legal entity, held by the org unit that registered it, found by its USCC."""

    __tablename__ = "employer"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_unit_code: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    # Sealed under the employer's own DEK (owner = employer id): a sole trader's name is a
    # person's name, and the contact is one.
    name_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    uscc_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    address_ct: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    contact_name_ct: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    contact_phone_ct: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


class Registration(SQLModel, table=True):
    __tablename__ = "residence_registration"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    dwelling_id: uuid.UUID = Field(foreign_key="dwelling.id", index=True)
    org_unit_code: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    arrived_on: date
    registered_on: date
    departed_on: date | None = None
    basis: str = Field(max_length=16)
    # Sealed under the person's `residence` DEK.
    employer_name_ct: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    employer_uscc_ct: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    reported_by: str = Field(max_length=16)  # self | landlord | employer
    # The employer record the registration links to (its sealed name and code above are
    # what was reported on the day); an employer's report of a leaver unlinks it.
    employer_id: uuid.UUID | None = Field(default=None, foreign_key="employer.id", index=True)
    status: str = Field(max_length=16, index=True)  # active | moved | departed
    late: bool
    previous_id: uuid.UUID | None = Field(default=None, foreign_key="residence_registration.id")
    # Retention (departed + 5 years): the sealed fields are destroyed, the dates stay for statistics.
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    legal_hold: bool = False  # suspends retention of this record (registry.people.holds)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


# One live permit per person (issue 14), held by the database as well as the service, so
# two concurrent applications cannot both commit. A partial unique index: SQLite and
# PostgreSQL both take the WHERE clause.
LIVE_PERMIT = "status IN ('applied', 'needs_materials', 'accepted', 'issued')"


class Permit(SQLModel, table=True):
    __tablename__ = "residence_permit"
    __table_args__ = (
        sa.Index(
            "uq_residence_permit_live_person",
            "person_id",
            unique=True,
            sqlite_where=sa.text(LIVE_PERMIT),
            postgresql_where=sa.text(LIVE_PERMIT),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    registration_id: uuid.UUID = Field(foreign_key="residence_registration.id", index=True)
    org_unit_code: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    basis: str = Field(max_length=16)
    # Stored states only; `suspended` is derived from the endorsement dates, never stored.
    status: str = Field(max_length=16, index=True)
    applied_on: date
    accepted_on: date | None = None
    issued_on: date | None = None
    # Random and opaque (never derived from personal data); sealed and blind-indexed.
    permit_no_ct: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    # Free text, so sealed like the number: the Art. 9 notice's list and a decision's reason.
    materials_missing_ct: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    decision_reason_ct: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    cancelled_on: date | None = None
    rejected_on: date | None = None  # an application's end: retention counts from it (issue 14)
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    legal_hold: bool = False  # suspends retention of this record (registry.people.holds)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


class Endorsement(SQLModel, table=True):
    __tablename__ = "permit_endorsement"

    permit_id: uuid.UUID = Field(foreign_key="residence_permit.id", primary_key=True)
    endorsed_on: date = Field(primary_key=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class PersonTransfer(SQLModel, table=True):
    """A request to take over a person held by another unit (issue 13): the arriving unit's
    registration waits as `pending_transfer` until the holder (or a unit above both)
    accepts or refuses. No personal data: ids, org unit codes, dates, a reason code."""

    __tablename__ = "person_transfer"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    registration_id: uuid.UUID = Field(foreign_key="residence_registration.id", index=True)
    from_org_unit: str = Field(foreign_key="org_unit.code", max_length=15, index=True)  # the holder when asked
    to_org_unit: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    status: str = Field(max_length=16, index=True)  # requested | accepted | refused | withdrawn
    requested_by: uuid.UUID
    requested_on: date
    decided_by: uuid.UUID | None = None
    decided_on: date | None = None
    reason: str | None = Field(default=None, max_length=32)  # a refusal's reason code
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


# Residence staff see the sealed residence fields in full; no other role sees them.
_RESIDENCE = dict.fromkeys((Role.POLICE, Role.CIVIL_AFFAIRS), Visibility.FULL)
_RECORD_COLUMNS = frozenset({"id", "org_unit_code", "created_at", "version"})

DWELLING = describe(
    SealedTable(
        model=Dwelling,
        compartment=Compartment.RESIDENCE,
        # The dwelling's own DEK: an address belongs to no one person.
        owner_column="id",
        fields=(SealedField("address", _RESIDENCE),),
        plain=_RECORD_COLUMNS | {"kind", "landlord_person_id", "pledge_signed_on"},
        indexes=(
            BlindIndex(
                "address",
                ("address",),
                lambda opened: None if opened.get("address") is None else normalise_address(opened["address"]),  # type: ignore[arg-type]
            ),
        ),
    )
)

EMPLOYER = describe(
    SealedTable(
        model=Employer,
        compartment=Compartment.RESIDENCE,
        owner_column="id",  # the employer's own DEK: it belongs to no one resident
        fields=tuple(
            SealedField(name, _RESIDENCE) for name in ("name", "uscc", "address", "contact_name", "contact_phone")
        ),
        plain=_RECORD_COLUMNS,
        indexes=(BlindIndex("uscc", ("uscc",), lambda opened: opened.get("uscc")),),  # stored as parsed
    )
)

REGISTRATION = describe(
    SealedTable(
        model=Registration,
        compartment=Compartment.RESIDENCE,
        owner_column="person_id",
        fields=(SealedField("employer_name", _RESIDENCE), SealedField("employer_uscc", _RESIDENCE)),
        plain=_RECORD_COLUMNS
        | {
            "person_id",
            "dwelling_id",
            "arrived_on",
            "registered_on",
            "departed_on",
            "basis",
            "reported_by",
            "employer_id",
            "status",
            "late",
            "previous_id",
            "erased_at",
            "legal_hold",
        },
        erased_column="erased_at",
        # Who worked where outlives no erasure: the link goes with the sealed name and code.
        erased_links=frozenset({"employer_id"}),
    )
)

PERMIT = describe(
    SealedTable(
        model=Permit,
        compartment=Compartment.RESIDENCE,
        owner_column="person_id",
        fields=(
            SealedField("permit_no", _RESIDENCE),
            SealedField("materials_missing", _RESIDENCE, json=True),
            SealedField("decision_reason", _RESIDENCE),
        ),
        plain=_RECORD_COLUMNS
        | {
            "person_id",
            "registration_id",
            "basis",
            "status",
            "applied_on",
            "accepted_on",
            "issued_on",
            "cancelled_on",
            "rejected_on",
            "erased_at",
            "legal_hold",
        },
        # Stored upper-case as issued; verification normalises what it is given the same way.
        indexes=(BlindIndex("permit_no", ("permit_no",), lambda opened: opened.get("permit_no")),),
        erased_column="erased_at",
    )
)
