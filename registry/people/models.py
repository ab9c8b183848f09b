"""The person: identity shared by all records, every personal field sealed (`_ct`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from registry.access.policy import Role
from registry.crypto.keyring import Compartment
from registry.crypto.sealed import BlindIndex, Mask, SealedField, SealedTable, Visibility, describe
from registry.db import UTCDateTime
from registry.people.identifiers import name_key


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
    legal_hold: bool = False  # suspends retention of this record (registry.people.holds)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


FULL, MASKED = Visibility.FULL, Visibility.MASKED
_RESIDENCE_ROLES = (Role.POLICE, Role.CIVIL_AFFAIRS)


def _identity_field(name: str, *, corrections: Visibility = FULL, mask: Mask = Mask.TEXT) -> SealedField:
    # Residence staff see the identity in full; corrections recognise and reach the persons
    # of their scope (PRIVACY.md §3: a masked ID number), and read the full ID number of a
    # subject of a casefile they hold, which intake verifies and home visits need (社区矫正法
    # Art. 22, 26; issue 14). Holding a file gives that file's staff the identity reads the
    # file needs, never the person (issue 13). Every other role sees none of it.
    return SealedField(
        name,
        {**dict.fromkeys(_RESIDENCE_ROLES, FULL), Role.CORRECTIONS: corrections},
        mask=mask,
        holder={Role.CORRECTIONS: FULL},
    )


def _name_birth(opened: Mapping[str, str | None]) -> str | None:
    name, birth = opened.get("name"), opened.get("birth_date")
    return None if name is None or birth is None else name_key(name, date.fromisoformat(birth))


PERSON = describe(
    SealedTable(
        model=Person,
        compartment=Compartment.IDENTITY,
        owner_column="id",
        fields=(
            _identity_field("name", mask=Mask.NAME),
            _identity_field("id_number", corrections=MASKED, mask=Mask.ID_NUMBER),
            _identity_field("sex"),
            _identity_field("birth_date"),
            _identity_field("phone", mask=Mask.PHONE),
            _identity_field("hukou_address"),
        ),
        plain=frozenset({"id", "org_unit_code", "erased_at", "legal_hold", "created_at", "updated_at", "version"}),
        indexes=(
            BlindIndex("id_number", ("id_number",), lambda opened: opened.get("id_number")),
            BlindIndex("phone", ("phone",), lambda opened: opened.get("phone")),  # stored normalised
            BlindIndex("name_birth", ("name", "birth_date"), _name_birth),
        ),
        erased_column="erased_at",
        # Enough to tell a duplicate from a namesake, never who it is (PRIVACY.md §3).
        search_hit={"name": Mask.NAME, "birth_date": Mask.YEAR},
    )
)
