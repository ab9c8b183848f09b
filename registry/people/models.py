"""The person: identity shared by all records, every personal field sealed (`_ct`)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from registry.db import UTCDateTime


class Person(SQLModel, table=True):
    __tablename__ = "person"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # The capturing org unit: jurisdiction scope is decided on it, inside the query.
    org_unit_code: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    name_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    id_number_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    sex_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    birth_date_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    phone_ct: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    hukou_address_ct: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    # Set when the identity keys were shredded: the row stays, unreadable, and lists skip it.
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


SEALED_COLUMNS = ("name", "id_number", "sex", "birth_date", "phone", "hukou_address")
