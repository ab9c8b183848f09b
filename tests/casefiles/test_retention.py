from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.casefiles.retention import (
    DEFAULT_POLICY,
    RetentionPolicy,
    casefile_due,
    casefile_seal_on,
    permit_due,
    registration_due,
)
from registry.casefiles.workflows import Kind
from registry.errors import ConfigurationError

D = date.fromisoformat
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2080, 12, 31))


def due(kind: str = "community_correction", **kw: object) -> str:
    args: dict[str, object] = {
        "minor": False,
        "closed_on": None,
        "discharged_on": None,
        "relapse_free_since": None,
        "legal_hold": False,
    }
    return casefile_due(kind, **{**args, **kw})  # type: ignore[arg-type]


def test_policy_defaults_and_validation() -> None:
    assert DEFAULT_POLICY == RetentionPolicy(
        registration_erase_years=5,
        permit_erase_years=5,
        casefile_seal_years=5,
        casefile_erase_years=30,
        minor_seal_days=3,
        drug_relapse_free_years=3,
    )
    with pytest.raises(ConfigurationError):
        RetentionPolicy(minor_seal_days=4)
    with pytest.raises(ConfigurationError):
        RetentionPolicy(casefile_seal_years=10, casefile_erase_years=8)
    with pytest.raises(ConfigurationError):
        RetentionPolicy(permit_erase_years=0)
    with pytest.raises(ConfigurationError):
        RetentionPolicy(drug_relapse_free_years=0)
    with pytest.raises(AttributeError):
        DEFAULT_POLICY.casefile_seal_years = 1  # type: ignore[misc]


def test_open_casefiles_are_kept() -> None:
    for kind in Kind:
        assert due(kind, minor=True, today=D("2090-01-01")) == "keep"


def test_adult_casefile_sealed_after_5_years_erased_after_30() -> None:
    closed_on = D("2025-03-10")
    for kind in ("community_correction", "resettlement"):
        assert due(kind, closed_on=closed_on, today=D("2030-03-09")) == "keep"
        assert due(kind, closed_on=closed_on, today=D("2030-03-10")) == "seal"
        assert due(kind, closed_on=closed_on, today=D("2055-03-09")) == "seal"
        assert due(kind, closed_on=closed_on, today=D("2055-03-10")) == "erase"


def test_minor_casefile_sealed_3_days_after_discharge() -> None:
    discharged_on = D("2025-03-10")
    kw = {"minor": True, "closed_on": discharged_on, "discharged_on": discharged_on}
    assert casefile_seal_on("community_correction", relapse_free_since=None, **kw) == D("2025-03-13")  # type: ignore[arg-type]
    assert due(**kw, today=D("2025-03-10")) == "keep"
    assert due(**kw, today=D("2025-03-12")) == "keep"
    assert due(**kw, today=D("2025-03-13")) == "seal"
    assert due(**kw, today=D("2055-03-10")) == "erase"
    # a minor's file that ended otherwise (revoked) is sealed 3 days after it closed
    assert due(minor=True, closed_on=discharged_on, today=D("2025-03-13")) == "seal"
    # an adult's is not
    assert due(minor=False, closed_on=discharged_on, discharged_on=discharged_on, today=D("2025-03-13")) == "keep"


def test_drug_casefile_sealed_after_3_years_without_relapse() -> None:
    discharged_on = D("2025-03-10")
    kw = {"closed_on": discharged_on, "discharged_on": discharged_on}
    assert due("drug_rehabilitation", **kw, today=D("2028-03-09")) == "keep"
    assert due("drug_rehabilitation", **kw, today=D("2028-03-10")) == "seal"
    # a relapse after discharge restarts the count, up to the adult limit of 5 years
    relapse = {**kw, "relapse_free_since": D("2026-06-01")}
    assert due("drug_rehabilitation", **relapse, today=D("2028-03-10")) == "keep"
    assert due("drug_rehabilitation", **relapse, today=D("2029-06-01")) == "seal"
    late = {**kw, "relapse_free_since": D("2029-01-01")}
    assert due("drug_rehabilitation", **late, today=D("2030-03-09")) == "keep"
    assert due("drug_rehabilitation", **late, today=D("2030-03-10")) == "seal"
    # a relapse-free date before discharge counts from the discharge
    early = {**kw, "relapse_free_since": D("2020-01-01")}
    assert due("drug_rehabilitation", **early, today=D("2028-03-09")) == "keep"
    # terminated (not discharged): the adult row
    assert due("drug_rehabilitation", closed_on=discharged_on, today=D("2028-03-10")) == "keep"
    assert due("drug_rehabilitation", closed_on=discharged_on, today=D("2030-03-10")) == "seal"
    # the drug row is for drug casefiles only
    assert due("community_correction", **kw, today=D("2028-03-10")) == "keep"


def test_discharged_on_alone_closes_the_file() -> None:
    assert due(discharged_on=D("2025-03-10"), today=D("2030-03-10")) == "seal"


def test_legal_hold_stops_erasure_but_never_a_minors_sealing_art_54() -> None:
    kw = {"minor": True, "closed_on": D("2000-01-01"), "discharged_on": D("2000-01-01")}
    assert due(**kw, today=D("2040-01-01")) == "erase"
    assert due(**kw, legal_hold=True, today=D("2040-01-01")) == "seal"
    assert due(**kw, legal_hold=True, today=D("2000-01-05")) == "seal"
    assert due(**kw, legal_hold=True, today=D("2000-01-02")) == "keep"
    assert registration_due(D("2000-01-01"), D("2040-01-01"), legal_hold=True) == "keep"
    assert permit_due(D("2000-01-01"), D("2040-01-01"), legal_hold=True) == "keep"


def test_registration_and_permit_erased_after_5_years() -> None:
    assert registration_due(None, D("2090-01-01")) == "keep"
    assert registration_due(D("2024-02-29"), D("2029-02-27")) == "keep"
    assert registration_due(D("2024-02-29"), D("2029-02-28")) == "erase"
    assert permit_due(None, D("2090-01-01")) == "keep"
    assert permit_due(D("2025-06-30"), D("2030-06-29")) == "keep"
    assert permit_due(D("2025-06-30"), D("2030-06-30")) == "erase"
    short = RetentionPolicy(permit_erase_years=2, registration_erase_years=1)
    assert permit_due(D("2025-06-30"), D("2027-06-30"), policy=short) == "erase"
    assert registration_due(D("2025-06-30"), D("2026-06-30"), policy=short) == "erase"


@given(
    kind=st.sampled_from(list(Kind)),
    minor=st.booleans(),
    closed_on=st.none() | dates,
    discharged_on=st.none() | dates,
    relapse_free_since=st.none() | dates,
    today=dates,
    later=st.integers(0, 20_000),
)
def test_retention_never_goes_backwards(
    kind, minor, closed_on, discharged_on, relapse_free_since, today, later
) -> None:
    kw = {
        "minor": minor,
        "closed_on": closed_on,
        "discharged_on": discharged_on,
        "relapse_free_since": relapse_free_since,
    }
    order = ["keep", "seal", "erase"]
    first = casefile_due(kind, **kw, legal_hold=False, today=today)
    then = casefile_due(kind, **kw, legal_hold=False, today=today + timedelta(days=later))
    assert order.index(then) >= order.index(first)
    held = casefile_due(kind, **kw, legal_hold=True, today=today)
    assert held != "erase" and (held == "seal") == (first != "keep")
    if closed_on is None and discharged_on is None:
        assert first == "keep"
