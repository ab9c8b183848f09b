"""The baseline's tables: the registry's shape (same tables, keys, indexes and foreign
keys) with every sealed `_ct` column stored as plain text, and a plain unique index on the
ID number where the registry keeps a blind index.

Their own SQLAlchemy registry (metadata), so the load harness can import them next to the
registry's models in one process without the table names clashing.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import registry as orm_registry
from sqlmodel import Column, Field, SQLModel


class Base(SQLModel, registry=orm_registry()):
    pass


class OrgUnit(Base, table=True):
    __tablename__ = "org_unit"

    code: str = Field(primary_key=True, max_length=15)
    name: str = Field(max_length=100)
    parent_code: str | None = Field(default=None, foreign_key="org_unit.code", max_length=15)


class Person(Base, table=True):
    __tablename__ = "person"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_unit_code: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    name: str = Field(max_length=100)
    id_number: str = Field(max_length=18, unique=True, index=True)
    sex: str = Field(max_length=8)
    birth_date: date
    phone: str | None = Field(default=None, max_length=24)
    hukou_address: str | None = Field(default=None, max_length=300)
    created_at: datetime
    updated_at: datetime
    version: int = 1


class Dwelling(Base, table=True):
    __tablename__ = "dwelling"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_unit_code: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    address: str = Field(max_length=300)
    kind: str = Field(max_length=16)
    landlord_person_id: uuid.UUID | None = Field(default=None, foreign_key="person.id", index=True)
    pledge_signed_on: date | None = None
    created_at: datetime
    version: int = 1


class Registration(Base, table=True):
    __tablename__ = "residence_registration"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    dwelling_id: uuid.UUID = Field(foreign_key="dwelling.id", index=True)
    org_unit_code: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    arrived_on: date
    registered_on: date
    departed_on: date | None = None
    basis: str = Field(max_length=16)
    employer_name: str | None = Field(default=None, max_length=200)
    employer_uscc: str | None = Field(default=None, max_length=24)
    reported_by: str = Field(max_length=16)
    status: str = Field(max_length=16, index=True)
    late: bool
    previous_id: uuid.UUID | None = Field(default=None, foreign_key="residence_registration.id")
    created_at: datetime
    version: int = 1


class Casefile(Base, table=True):
    __tablename__ = "casefile"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    kind: str = Field(max_length=32, index=True)
    org_unit_code: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    status: str = Field(max_length=32, index=True)
    opened_on: date
    details: dict[str, Any] = Field(sa_column=Column(sa.JSON, nullable=False))
    created_at: datetime
    version: int = 1


class CasefileEvent(Base, table=True):
    __tablename__ = "casefile_event"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    casefile_id: uuid.UUID = Field(foreign_key="casefile.id", index=True)
    type: str = Field(max_length=32)
    occurred_on: date
    body: dict[str, Any] = Field(sa_column=Column(sa.JSON, nullable=False))
    recorded_by: str = Field(max_length=64)
    created_at: datetime
