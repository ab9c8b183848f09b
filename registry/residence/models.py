"""Residence tables. Addresses, employers and permit numbers are sealed (`_ct`); dates,
states and bases stay plain because deadlines, worklists and statistics are computed on them."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from registry.db import UTCDateTime


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
    status: str = Field(max_length=16, index=True)  # active | moved | departed
    late: bool
    previous_id: uuid.UUID | None = Field(default=None, foreign_key="residence_registration.id")
    # Retention (departed + 5 years): the sealed fields are destroyed, the dates stay for statistics.
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


class Permit(SQLModel, table=True):
    __tablename__ = "residence_permit"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    registration_id: uuid.UUID = Field(foreign_key="residence_registration.id", index=True)
    org_unit_code: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    basis: str = Field(max_length=16)
    # Stored states only; `suspended` is derived from the endorsement dates, never stored.
    status: str = Field(max_length=16, index=True)
    applied_on: date
    materials_missing: list[str] | None = Field(default=None, sa_column=Column(sa.JSON, nullable=True))
    accepted_on: date | None = None
    issued_on: date | None = None
    # Random and opaque (never derived from personal data); sealed and blind-indexed.
    permit_no_ct: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    decision_reason: str | None = Field(default=None, max_length=200)
    cancelled_on: date | None = None
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


class Endorsement(SQLModel, table=True):
    __tablename__ = "permit_endorsement"

    permit_id: uuid.UUID = Field(foreign_key="residence_permit.id", primary_key=True)
    endorsed_on: date = Field(primary_key=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
