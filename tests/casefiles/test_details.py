from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from registry.casefiles.details import (
    OFFENCE_FIELDS,
    CorrectionDetails,
    DrugDetails,
    ResettlementDetails,
    details_model,
    parse_details,
    without_offence_fields,
)
from registry.casefiles.workflows import Kind

CORRECTION = {
    "category": "probation",
    "deciding_authority": "某区人民法院",
    "document_no": "(2025)某刑初123号",
    "judgment_effective_on": "2025-03-03",
    "term_starts_on": "2025-03-03",
    "term_ends_on": "2026-03-02",
    "prohibition_order": "禁止进入夜总会",
    "plan": "每月报告一次",
}
RESETTLEMENT = {
    "source": "prison",
    "releasing_institution": "某监狱",
    "release_on": "2025-06-30",
    "release_certificate_no": "SF-2025-17",
    "key_person": True,
}
DRUG = {
    "measure": "community_detox",
    "deciding_authority": "某区公安分局",
    "order_no": "某公(禁)决字[2025]1号",
    "executing_org_unit": "320571001",
}
VALID = {Kind.community_correction: CORRECTION, Kind.resettlement: RESETTLEMENT, Kind.drug_rehabilitation: DRUG}


def messages(excinfo: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [error["msg"] for error in excinfo.value.errors()]


def test_details_model_per_kind() -> None:
    assert details_model("community_correction") is CorrectionDetails
    assert details_model(Kind.resettlement) is ResettlementDetails
    assert details_model("drug_rehabilitation") is DrugDetails
    with pytest.raises(ValueError):
        details_model("petitioner")


@pytest.mark.parametrize("kind", list(Kind))
def test_valid_details_parse_and_round_trip(kind: Kind) -> None:
    model = parse_details(kind, VALID[kind])
    assert details_model(kind).model_validate(model.model_dump(mode="json")) == model


def test_correction_defaults_and_types() -> None:
    minimal = {key: value for key, value in CORRECTION.items() if key not in ("prohibition_order", "plan")}
    details = CorrectionDetails.model_validate(minimal)
    assert details.prohibition_order is None and details.plan is None
    assert details.term_ends_on == date(2026, 3, 2)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"term_ends_on": "2025-03-03"}, "term_ends_on"),
        ({"term_ends_on": "2024-03-03"}, "term_ends_on"),
        ({"term_starts_on": "2025-03-01"}, "term_starts_on"),
    ],
)
def test_correction_date_order(change: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        CorrectionDetails.model_validate({**CORRECTION, **change})
    assert any(field in msg for msg in messages(excinfo))
    assert not any("2025" in msg or "2024" in msg for msg in messages(excinfo))  # no values echoed


def test_correction_field_checks() -> None:
    for change in ({"category": "house_arrest"}, {"document_no": "  "}, {"plan": ""}, {"term_ends_on": "soon"}):
        with pytest.raises(ValidationError):
            CorrectionDetails.model_validate({**CORRECTION, **change})
    assert CorrectionDetails.model_validate({**CORRECTION, "document_no": "  X-1 "}).document_no == "X-1"


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize(
    "field", ["ethnicity", "religion", "political_opinion", "petition_history", "location", "risk_score"]
)
def test_out_of_scope_fields_are_refused(kind: Kind, field: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        parse_details(kind, {**VALID[kind], field: "x"})
    assert excinfo.value.errors()[0]["type"] == "extra_forbidden"


def test_no_model_has_an_out_of_scope_field() -> None:
    banned = ("ethnic", "religio", "belief", "politic", "petition", "location", "gps", "monitor", "risk", "score")
    for kind in Kind:
        for name in details_model(kind).model_fields:
            assert not any(word in name for word in banned), name


def test_resettlement_details() -> None:
    details = ResettlementDetails.model_validate({**RESETTLEMENT, "release_certificate_no": None, "key_person": False})
    assert details.release_certificate_no is None
    assert (
        ResettlementDetails.model_validate({k: v for k, v in RESETTLEMENT.items() if k != "key_person"}).key_person
        is False
    )
    for change in ({"source": "jail"}, {"release_on": "2025-02-30"}, {"releasing_institution": ""}):
        with pytest.raises(ValidationError):
            ResettlementDetails.model_validate({**RESETTLEMENT, **change})


def test_drug_details() -> None:
    details = DrugDetails.model_validate(DRUG)
    assert details.term_months == 36 and details.order_served_on is None
    rehab = DrugDetails.model_validate({**DRUG, "measure": "community_rehab", "term_months": 24})
    assert rehab.term_months == 24
    with pytest.raises(ValidationError) as excinfo:
        DrugDetails.model_validate({**DRUG, "term_months": 24})
    assert any("term_months" in msg for msg in messages(excinfo))
    for change in (
        {"executing_org_unit": "32057100"},
        {"executing_org_unit": "320571001001"},
        {"executing_org_unit": "32057100a"},
        {"measure": "community_rehab", "term_months": 37},
        {"measure": "community_rehab", "term_months": 0},
        {"measure": "compulsory_isolation"},
    ):
        with pytest.raises(ValidationError):
            DrugDetails.model_validate({**DRUG, **change})


def test_offence_fields() -> None:
    assert OFFENCE_FIELDS == {
        # The offence date (issue 14, 刑事诉讼法 Art. 286) is an offence detail too.
        Kind.community_correction: {
            "category",
            "deciding_authority",
            "document_no",
            "prohibition_order",
            "offence_date",
        },
        Kind.resettlement: {"source", "releasing_institution", "release_certificate_no", "offence_date"},
        Kind.drug_rehabilitation: {"measure", "deciding_authority", "order_no"},
    }
    for kind, fields in OFFENCE_FIELDS.items():
        assert fields <= set(details_model(kind).model_fields)


@pytest.mark.parametrize("kind", list(Kind))
def test_without_offence_fields(kind: Kind) -> None:
    dumped = parse_details(kind, VALID[kind]).model_dump(mode="json")
    visible = without_offence_fields(kind, dumped)
    assert set(visible) == set(dumped) - OFFENCE_FIELDS[kind]
    assert "plan" in without_offence_fields(Kind.community_correction, CORRECTION)
    assert "term_ends_on" in without_offence_fields(Kind.community_correction, CORRECTION)
