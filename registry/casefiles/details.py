"""The kind-specific `details` of a casefile (API.md Casefiles; DOMAIN.md), as Pydantic models.

Hard scope limits: no ethnicity, religion, belief, political opinion or petition fields, no
locations, no monitoring, no risk scores; `extra="forbid"` keeps them out. Details are
sealed under the person's casefile key; `OFFENCE_FIELDS` names the fields a social worker
must not see ("no offence details", PRIVACY.md §3). Validation messages name fields and
rules, never values.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from registry.casefiles.workflows.common import Kind, add_years
from registry.casefiles.workflows.correction import Category
from registry.casefiles.workflows.drug import TERM_MONTHS, Measure
from registry.casefiles.workflows.resettlement import ASSISTANCE_YEARS, Source
from registry.fields import StreetCode

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _printable_number(value: str) -> str:
    # A number is printed on papers and found by its receipt: no control characters, and
    # something visible once invisible format characters are set aside.
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("contains a control character")
    if not any(unicodedata.category(c) not in ("Cf", "Zs") for c in value):
        raise ValueError("has no visible character")
    return value


DocumentNo = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(_printable_number)
]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


# -- plausibility at opening ------------------------------------------------------------

CRIMINAL_AGE = 12  # 刑法 Art. 17: no criminal responsibility under 12
MAX_TERM_YEARS = 25  # 刑法 Art. 69: fixed terms combined are at most 25 years
LEAD_DAYS = 366  # how far after opening a recorded date may lie (a release notified ahead, a parole term)


@dataclass(frozen=True)
class Opening:
    """The validation context of a new file's details (`model_validate(..., context=...)`):
    the windows below hold on the day the file opens, against the subject's birth date when
    known (a rule input). Stored details are re-read without it: they were checked once,
    and a later day must not refuse them."""

    today: date
    opened_on: date
    birth: date | None = None


def _opening(info: ValidationInfo) -> Opening | None:
    return info.context if isinstance(info.context, Opening) else None


def _years_after(day: date, years: int) -> date:
    try:
        return add_years(day, years)
    except ValueError:  # past the calendar's last year
        return date.max


def _check_person_dates(at: Opening, offence_date: date | None, **dates: date) -> None:
    """An offence not in the future; every date after the subject's birth, and an offence
    at an age of criminal responsibility."""
    if offence_date is not None and offence_date > at.today:
        raise ValueError("offence_date: in the future")
    if at.birth is None:
        return
    for name, day in dates.items():
        if day < at.birth:
            raise ValueError(f"{name}: before the subject's date of birth")
    if offence_date is not None and offence_date < _years_after(at.birth, CRIMINAL_AGE):
        raise ValueError(f"offence_date: before the subject was {CRIMINAL_AGE} (刑法 Art. 17)")


def _not_after(day: date, limit: date, why: str) -> None:
    if day > limit:
        raise ValueError(why)


class _Details(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorrectionDetails(_Details):
    """社区矫正: the decision and the term. `judgment_effective_on` is the day the judgment or
    ruling took effect; for `temporary_out_of_prison`, the day of the decision.

    `offence_date`, when the judgment gives it, decides the minor flag (刑事诉讼法 Art. 286:
    under 18 at the time of the offence). `residence_address` is the subject's current
    address, the execution place (社区矫正法 Art. 17: 执行地为居住地), read at intake (Art. 22)
    and for home visits (Art. 26). The term changes only by `POST …/term-changes` (Art. 33)."""

    category: Category
    deciding_authority: Name
    document_no: DocumentNo
    judgment_effective_on: date
    term_starts_on: date
    term_ends_on: date
    offence_date: date | None = None
    residence_address: Address | None = None
    prohibition_order: LongText | None = None  # 禁止令 text
    plan: LongText | None = None  # 矫正方案 (Art. 24); versions are events

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        if self.term_ends_on <= self.term_starts_on:
            raise ValueError("term_ends_on: must be after term_starts_on")
        if self.term_starts_on < self.judgment_effective_on:
            raise ValueError("term_starts_on: must not be before judgment_effective_on")
        if self.offence_date is not None and self.offence_date > self.judgment_effective_on:
            raise ValueError("offence_date: must not be after judgment_effective_on")
        return self

    @model_validator(mode="after")
    def _plausible_at_opening(self, info: ValidationInfo) -> Self:
        at = _opening(info)
        if at is None:
            return self
        _not_after(self.judgment_effective_on, at.today, "judgment_effective_on: in the future")
        _check_person_dates(at, self.offence_date, judgment_effective_on=self.judgment_effective_on)
        if at.opened_on < self.judgment_effective_on:
            # Art. 21: the subject reports once the judgment or decision took effect.
            raise ValueError("opened_on: before judgment_effective_on (社区矫正法 Art. 21)")
        _not_after(
            self.term_starts_on,
            at.opened_on + timedelta(days=LEAD_DAYS),
            f"term_starts_on: more than {LEAD_DAYS} days after opening",
        )
        _not_after(
            self.term_ends_on,
            _years_after(self.term_starts_on, MAX_TERM_YEARS),
            f"term_ends_on: a term of more than {MAX_TERM_YEARS} years (刑法 Art. 69)",
        )
        if self.term_ends_on < at.opened_on:
            raise ValueError("term_ends_on: the term ended before the file opens")
        return self


class ResettlementDetails(_Details):
    """安置帮教. `release_certificate_no` may be unknown when the notice arrives (30 days before
    release); it is required by the `release` transition instead. `offence_date` (from the
    judgment, when known) decides the minor flag (刑事诉讼法 Art. 286); `residence_address` is
    where the person lives after release (上海市安置帮教工作规定 Art. 7-8: 居住地)."""

    source: Source
    releasing_institution: Name
    release_on: date
    release_certificate_no: DocumentNo | None = None
    key_person: bool = False
    offence_date: date | None = None
    residence_address: Address | None = None

    @model_validator(mode="after")
    def _offence_before_release(self) -> Self:
        if self.offence_date is not None and self.offence_date > self.release_on:
            raise ValueError("offence_date: must not be after release_on")
        return self

    @model_validator(mode="after")
    def _plausible_at_opening(self, info: ValidationInfo) -> Self:
        at = _opening(info)
        if at is None:
            return self
        if self.source is Source.correction:
            # Opened from a discharged correction case: the release (the discharge) is past.
            _not_after(self.release_on, at.today, "release_on: in the future (a discharged case is released)")
            if at.opened_on < self.release_on:
                raise ValueError("opened_on: before release_on (the case opens on the discharge)")
        else:
            # The institution notifies 30 days before release (上海市安置帮教工作规定 Art. 7).
            _not_after(
                self.release_on,
                at.opened_on + timedelta(days=LEAD_DAYS),
                f"release_on: more than {LEAD_DAYS} days after opening (notified 30 days before, Art. 7)",
            )
        _check_person_dates(at, self.offence_date, release_on=self.release_on)
        if _years_after(self.release_on, ASSISTANCE_YEARS) <= at.opened_on:
            raise ValueError(f"release_on: the {ASSISTANCE_YEARS}-year assistance period ended before the file opens")
        return self


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

    @model_validator(mode="after")
    def _plausible_at_opening(self, info: ValidationInfo) -> Self:
        at = _opening(info)
        if at is None or self.order_served_on is None:
            return self
        served = self.order_served_on
        _not_after(served, at.today, "order_served_on: in the future")
        _check_person_dates(at, None, order_served_on=served)
        if at.opened_on < served:
            # The report deadline runs from the service (戒毒条例 Art. 14, 38): the file records it.
            raise ValueError("opened_on: before order_served_on (戒毒条例 Art. 14)")
        if _years_after(served, TERM_MONTHS // 12) <= at.opened_on:
            raise ValueError("order_served_on: more than the 3-year term before opening (禁毒法 Art. 33)")
        return self


_MODELS: dict[Kind, type[_Details]] = {
    Kind.community_correction: CorrectionDetails,
    Kind.resettlement: ResettlementDetails,
    Kind.drug_rehabilitation: DrugDetails,
}

OFFENCE_FIELDS: dict[Kind, frozenset[str]] = {
    Kind.community_correction: frozenset(
        {"category", "deciding_authority", "document_no", "prohibition_order", "offence_date"}
    ),
    Kind.resettlement: frozenset({"source", "releasing_institution", "release_certificate_no", "offence_date"}),
    Kind.drug_rehabilitation: frozenset({"measure", "deciding_authority", "order_no"}),
}


def error_summary(exc: ValidationError) -> str:
    """The words of a 422 for invalid details: the rule our validators state (they name
    fields and rules, never values), the known field otherwise, and unknown keys counted,
    never named (a key is the caller's text and may carry a personal value)."""
    rules: list[str] = []
    unknown = 0
    for error in exc.errors():
        if error["type"] == "extra_forbidden":
            unknown += 1
        elif error["type"] == "value_error" and not error["loc"]:
            rules.append(str(error.get("ctx", {}).get("error", "invalid")))
        else:
            rules.append(f"{'.'.join(str(p) for p in error['loc']) or 'details'}: invalid")
    parts = list(dict.fromkeys(rules))[:5]
    if unknown:
        parts.append(f"{unknown} key(s) not in the schema")
    return "; ".join(parts)


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
