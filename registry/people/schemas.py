"""Person request and response models."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

IdNumberText = Annotated[str, StringConstraints(min_length=15, max_length=24)]
NameText = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonCreate(Strict):
    id_number: IdNumberText = Field(examples=["11010519491231002X"])
    name: NameText = Field(examples=["测试人"])
    phone: Annotated[str, StringConstraints(max_length=24)] | None = Field(default=None, examples=["13800000000"])
    hukou_address: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = None
    sex: Literal["male", "female"] | None = None
    birth_date: date | None = None
    org_unit: Annotated[str, StringConstraints(pattern=r"^\d{6}(\d{3}){0,3}$")] | None = Field(
        default=None, description="Capturing org unit; defaults to the caller's."
    )


class PersonUpdate(Strict):
    """The ID number (and the sex and birth date derived from it) cannot be patched."""

    name: NameText | None = None
    phone: Annotated[str, StringConstraints(max_length=24)] | None = None
    hukou_address: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = None


class PersonRead(Strict):
    """Fields the caller's role may not see are omitted; some are shown masked."""

    id: uuid.UUID
    name: str | None = None
    id_number: str | None = None
    sex: str | None = None
    birth_date: str | None = None
    phone: str | None = None
    hukou_address: str | None = None
    org_unit: str
    version: int


class PersonSearch(Strict):
    id_number: IdNumberText | None = None
    phone: Annotated[str, StringConstraints(max_length=24)] | None = None
    name: NameText | None = None
    birth_date: date | None = None

    @model_validator(mode="after")
    def _one_key(self) -> PersonSearch:
        given = {k for k, v in self.model_dump().items() if v is not None}
        if given not in ({"id_number"}, {"phone"}, {"name", "birth_date"}):
            raise ValueError("search by exactly one of: id_number; phone; name and birth_date")
        return self


class PersonMatch(Strict):
    id: uuid.UUID
    name_masked: str
    birth_year: int
    in_scope: bool


class PersonMatches(Strict):
    items: list[PersonMatch]


class PersonErase(Strict):
    reason: Literal["retention_expired", "data_subject_request", "court_order"]
