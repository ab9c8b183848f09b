"""The kind-specific `details` of a casefile (API.md Casefiles; DOMAIN.md), as Pydantic models.

Hard scope limits: no ethnicity, religion, belief, political opinion or petition fields, no
locations, no monitoring, no risk scores; `extra="forbid"` keeps them out. Details are
sealed under the person's casefile key; `OFFENCE_FIELDS` names the fields a social worker
must not see ("no offence details", PRIVACY.md §3). Validation messages name fields and
rules, never values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from registry.casefiles.workflows.common import Kind
from registry.casefiles.workflows.correction import Category
from registry.casefiles.workflows.drug import TERM_MONTHS, Measure
from registry.casefiles.workflows.resettlement import Source

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
DocumentNo = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
StreetCode = Annotated[str, StringConstraints(pattern=r"^\d{9}$")]  # a street/town org unit (9 digits)


class _Details(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorrectionDetails(_Details):
    """社区矫正: the decision and the term. `judgment_effective_on` is the day the judgment or
    ruling took effect; for `temporary_out_of_prison`, the day of the decision."""

    category: Category
    deciding_authority: Name
    document_no: DocumentNo
    judgment_effective_on: date
    term_starts_on: date
    term_ends_on: date
    prohibition_order: LongText | None = None  # 禁止令 text
    plan: LongText | None = None  # 矫正方案 (Art. 24); versions are events

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        if self.term_ends_on <= self.term_starts_on:
            raise ValueError("term_ends_on: must be after term_starts_on")
        if self.term_starts_on < self.judgment_effective_on:
            raise ValueError("term_starts_on: must not be before judgment_effective_on")
        return self


class ResettlementDetails(_Details):
    """安置帮教. `release_certificate_no` may be unknown when the notice arrives (30 days before
    release); it is required by the `release` transition instead."""

    source: Source
    releasing_institution: Name
    release_on: date
    release_certificate_no: DocumentNo | None = None
    key_person: bool = False


class DrugDetails(_Details):
    """社区戒毒 / 社区康复. `order_served_on` (optional) starts the 15-day report deadline;
    `term_months` is 36 for community detox and at most 36 for community rehab."""

    measure: Measure
    deciding_authority: Name
    order_no: DocumentNo
    executing_org_unit: StreetCode
    order_served_on: date | None = None
    term_months: int = Field(TERM_MONTHS, ge=1, le=TERM_MONTHS)

    @model_validator(mode="after")
    def _term_fits_measure(self) -> Self:
        if self.measure is Measure.community_detox and self.term_months != TERM_MONTHS:
            raise ValueError("term_months: community detox lasts 3 years (禁毒法 Art. 33)")
        return self


_MODELS: dict[Kind, type[_Details]] = {
    Kind.community_correction: CorrectionDetails,
    Kind.resettlement: ResettlementDetails,
    Kind.drug_rehabilitation: DrugDetails,
}

OFFENCE_FIELDS: dict[Kind, frozenset[str]] = {
    Kind.community_correction: frozenset({"category", "deciding_authority", "document_no", "prohibition_order"}),
    Kind.resettlement: frozenset({"source", "releasing_institution", "release_certificate_no"}),
    Kind.drug_rehabilitation: frozenset({"measure", "deciding_authority", "order_no"}),
}


def details_model(kind: Kind | str) -> type[BaseModel]:
    """The model of `kind`'s details; `ValueError` for an unknown kind."""
    return _MODELS[Kind(kind)]


def parse_details(kind: Kind | str, data: Mapping[str, Any]) -> BaseModel:
    """Validate `data` as `kind`'s details (`pydantic.ValidationError` when invalid)."""
    return details_model(kind).model_validate(data)


def without_offence_fields(kind: Kind | str, details: Mapping[str, Any]) -> dict[str, Any]:
    """`details` with the offence fields of `kind` left out (for roles without offence access)."""
    hidden = OFFENCE_FIELDS[Kind(kind)]
    return {key: value for key, value in details.items() if key not in hidden}
