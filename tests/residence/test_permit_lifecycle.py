"""Permit lifecycle rules of issue 14, as pure functions (居住证暂行条例 unless named)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import Conflict, Forbidden, RuleViolation
from registry.residence.models import LIVE_PERMIT
from registry.residence.policy import ResidencePolicy
from registry.residence.rules import (
    LIVE_STATUSES,
    PermitStatus,
    Residence,
    check_dwelling,
    check_issuer_level,
    check_one_live_permit,
    residence_since,
)
from registry.settings import Settings

D = date.fromisoformat


def test_art2_clock_runs_from_the_first_registration_across_moves() -> None:
    chain = [
        Residence(D("2026-01-05"), "active", "320500"),
        Residence(D("2025-11-01"), "moved", "320500"),
        Residence(D("2025-06-01"), "moved", "320500"),
    ]
    assert residence_since(chain) == D("2025-06-01")


@pytest.mark.parametrize(
    ("earlier", "expected"),
    [
        (Residence(D("2025-06-01"), "departed", "320500"), "2026-01-05"),  # left the city in between
        (Residence(D("2025-06-01"), "moved", "330100"), "2026-01-05"),  # another city
        (Residence(D("2025-06-01"), "moved", "320500"), "2025-06-01"),
    ],
    ids=["after-departure", "other-city", "same-city"],
)
def test_art2_clock_breaks_on_departure_or_another_city(earlier: Residence, expected: str) -> None:
    assert residence_since([Residence(D("2026-01-05"), "active", "320500"), earlier]) == D(expected)


def test_art2_a_lone_registration_counts_from_itself() -> None:
    assert residence_since([Residence(D("2026-01-05"), "active", "320500")]) == D("2026-01-05")


@given(st.lists(st.sampled_from(["moved", "departed"]), max_size=6))
def test_art2_clock_never_later_than_the_current_registration(statuses: list[str]) -> None:
    chain = [Residence(D("2026-01-05"), "active", "320500")]
    chain += [Residence(date(2025, 12 - i, 1), s, "320500") for i, s in enumerate(statuses)]
    since = residence_since(chain)
    assert since <= D("2026-01-05")
    # It reaches back exactly through the leading run of moves.
    run = next((i for i, s in enumerate(statuses) if s != "moved"), len(statuses))
    assert since == (chain[run].registered_on if run else D("2026-01-05"))


def test_art11_one_live_permit() -> None:
    check_one_live_permit([])
    with pytest.raises(Conflict, match="permit.one_live"):
        check_one_live_permit([object()])


def test_art11_live_statuses_and_the_database_index_agree() -> None:
    assert LIVE_STATUSES == {"applied", "needs_materials", "accepted", "issued"}
    assert all(f"'{s}'" in LIVE_PERMIT for s in LIVE_STATUSES)
    assert not any(f"'{s}'" in LIVE_PERMIT for s in set(PermitStatus) - LIVE_STATUSES)


@pytest.mark.parametrize(("depth", "allowed"), [(0, True), (1, True), (2, True), (3, False), (4, False)])
def test_art10_issuing_at_county_level_or_above(depth: int, allowed: bool) -> None:
    if allowed:
        check_issuer_level(depth, max_depth=2)
    else:
        with pytest.raises(Forbidden, match="Art. 10"):
            check_issuer_level(depth, max_depth=2)


def test_art10_issue_depth_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    assert ResidencePolicy().issue_max_depth == 2
    assert Settings(data_dir=tmp_path).permit_issue_max_depth == 2
    monkeypatch.setenv("REGISTRY_PERMIT_ISSUE_MAX_DEPTH", "3")
    assert Settings(data_dir=tmp_path).permit_issue_max_depth == 3
    monkeypatch.setenv("REGISTRY_PERMIT_ISSUE_MAX_DEPTH", "0")
    with pytest.raises(ValueError):
        Settings(data_dir=tmp_path)


@pytest.mark.parametrize(
    ("kind", "landlord", "pledge", "rule"),
    [
        ("rental", False, None, "landlord"),
        ("owned", True, None, "landlord"),
        ("owned", False, "2026-01-01", "landlord"),
        ("rental", True, "2026-02-01", "pledge_signed_on"),
    ],
    ids=["rental-without-landlord", "owned-with-landlord", "owned-with-pledge", "pledge-in-future"],
)
def test_art6_dwelling_landlord_and_pledge(kind: str, landlord: bool, pledge: str | None, rule: str) -> None:
    with pytest.raises(RuleViolation, match=rule):
        check_dwelling(
            kind=kind, has_landlord=landlord, pledge_signed_on=D(pledge) if pledge else None, today=D("2026-01-05")
        )


def test_art6_rental_with_pledge_signed_later() -> None:
    check_dwelling(kind="rental", has_landlord=True, pledge_signed_on=None, today=D("2026-01-05"))
    check_dwelling(kind="rental", has_landlord=True, pledge_signed_on=D("2026-01-05"), today=D("2026-01-05"))
