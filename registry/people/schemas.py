"""Person request and response models."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from registry.fields import OrgUnitCode

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
    org_unit: OrgUnitCode | None = Field(default=None, description="Capturing org unit; defaults to the caller's.")


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


_SEARCH_SHAPES = (("id_number",), ("phone",), ("name", "birth_date"))


def _search_shapes(schema: dict[str, Any]) -> None:
    """The three exact shapes in the schema too, so a generated client sends only these."""
    for prop in schema["properties"].values():  # absent, never null
        prop.update(next(p for p in prop.pop("anyOf") if p.get("type") != "null"))
        prop.pop("default", None)
    schema["oneOf"] = [{"required": list(keys), "maxProperties": len(keys)} for keys in _SEARCH_SHAPES]
    schema["examples"] = [{"id_number": "11010519491231002X"}, {"name": "测试人", "birth_date": "1949-12-31"}]


class PersonSearch(Strict):
    """Exact search by one key: an ID number, a phone number, or a name with a birth date."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_search_shapes)

    id_number: IdNumberText | None = None
    phone: Annotated[str, StringConstraints(min_length=1, max_length=24)] | None = None
    name: NameText | None = None
    birth_date: date | None = None

    @field_validator("id_number", "phone", "name", "birth_date", mode="before")
    @classmethod
    def _absent_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("leave the key out instead of sending null")
        return value

    @model_validator(mode="after")
    def _one_key(self) -> PersonSearch:
        given = tuple(k for k, v in self.model_dump().items() if v is not None)
        if given not in _SEARCH_SHAPES:
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
