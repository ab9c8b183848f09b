from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.casefiles.leave import (
    TERMINAL,
    TRANSITIONS,
    WORKFLOW,
    ApprovalLevel,
    LeaveStatus,
    approval_level,
    check_leave,
    check_transition,
    effective_status,
    is_return_overdue,
    leave_days,
    may_approve,
)
from registry.errors import ConfigurationError, Conflict, RuleViolation

D = date.fromisoformat
BASE = date(2025, 1, 1)


def rule_of(excinfo: pytest.ExceptionInfo[RuleViolation]) -> str:
    return excinfo.value.detail.split(":")[0]


def days_leave(start: str, days: int) -> tuple[date, date]:
    return D(start), D(start) + timedelta(days=days - 1)


# -- the case the issue requires --------------------------------------------------------


def test_a_ten_day_leave_is_refused_at_justice_office_and_approved_at_county() -> None:
    starts_on, ends_on = days_leave("2025-05-01", 10)
    assert leave_days(starts_on, ends_on) == 10
    required = approval_level(starts_on, ends_on, prior_leaves=[])
    assert required == "county"
    assert not may_approve("justice_office", required)
    assert may_approve("county", required)
    assert may_approve("above_county", required)
    with pytest.raises(RuleViolation) as excinfo:
        check_transition(
            "requested",
            "approved",
            on=D("2025-04-20"),
            facts={"approver_level": "justice_office", "required_level": required},
        )
    assert rule_of(excinfo) == "approval.level"
    assert "county" in excinfo.value.detail
    check_transition(
        "requested", "approved", on=D("2025-04-20"), facts={"approver_level": "county", "required_level": required}
    )
    check_transition("requested", "refused", on=D("2025-04-20"))


# -- approval levels --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "level"),
    [(1, "justice_office"), (7, "justice_office"), (8, "county"), (30, "county"), (31, "above_county")],
)
def test_levels_by_length(days: int, level: str) -> None:
    assert approval_level(*days_leave("2025-05-01", days), prior_leaves=[]) == level


def test_more_than_30_days_within_60_counting_prior_leaves() -> None:
    prior = [days_leave("2025-03-01", 25)]  # 03-01 … 03-25
    # 7 days starting 10 days after: 25 + 7 = 32 days within 60 → the level above
    assert approval_level(*days_leave("2025-04-05", 7), prior_leaves=prior) == "above_county"
    # exactly 30 within 60 is still the justice office's
    assert approval_level(*days_leave("2025-04-05", 5), prior_leaves=prior) == "justice_office"
    # a prior leave more than 60 days away does not count
    assert approval_level(*days_leave("2025-05-25", 7), prior_leaves=prior) == "justice_office"
    # windows are 60 days counting both ends: 03-01 … 04-29 holds all 25 prior days
    assert approval_level(*days_leave("2025-04-24", 6), prior_leaves=prior) == "above_county"  # 25 + 6
    assert approval_level(*days_leave("2025-04-25", 6), prior_leaves=prior) == "justice_office"  # 25 + 5, 24 + 6
    # a later approved leave counts the same way as an earlier one
    assert approval_level(*days_leave("2025-02-20", 7), prior_leaves=prior) == "above_county"


def test_overlapping_days_count_once_and_bad_pairs_cover_nothing() -> None:
    prior = [days_leave("2025-03-01", 20), days_leave("2025-03-01", 20), (D("2025-03-10"), D("2025-03-01"))]
    assert approval_level(*days_leave("2025-03-15", 10), prior_leaves=prior) == "county"  # 24 distinct days


def test_settings_are_respected_and_checked() -> None:
    assert approval_level(*days_leave("2025-05-01", 10), office_max_days=10) == "justice_office"
    assert approval_level(*days_leave("2025-05-01", 20), county_max_days=15) == "above_county"
    prior = [days_leave("2025-03-01", 10)]
    assert approval_level(*days_leave("2025-03-20", 5), prior_leaves=prior, window_max_days=14) == "above_county"
    with pytest.raises(ConfigurationError):
        approval_level(BASE, BASE, office_max_days=40)
    with pytest.raises(ConfigurationError):
        approval_level(BASE, BASE, window_max_days=61)
    with pytest.raises(ConfigurationError):
        approval_level(BASE, BASE, office_max_days=0)


def _naive_level(starts_on: date, ends_on: date, prior: list[tuple[date, date]]) -> str:
    days = (ends_on - starts_on).days + 1
    covered = {s + timedelta(days=i) for s, e in [*prior, (starts_on, ends_on)] for i in range((e - s).days + 1)}
    worst = max(
        sum(1 for i in range(60) if w + timedelta(days=i) in covered)
        for w in (starts_on - timedelta(days=59 - k) for k in range((ends_on - starts_on).days + 60))
    )
    if days > 30 or worst > 30:
        return "above_county"
    return "county" if days > 7 else "justice_office"


periods = st.tuples(st.integers(0, 200), st.integers(1, 40)).map(
    lambda p: (BASE + timedelta(days=p[0]), BASE + timedelta(days=p[0] + p[1] - 1))
)


@settings(max_examples=150, deadline=None)
@given(periods, st.lists(periods, max_size=4))
def test_approval_level_matches_a_naive_count(leave: tuple[date, date], prior: list[tuple[date, date]]) -> None:
    assert approval_level(*leave, prior_leaves=prior) == _naive_level(*leave, prior)


@given(periods, st.lists(periods, max_size=3), periods)
def test_more_prior_leave_never_lowers_the_level(leave, prior, extra) -> None:
    order = list(ApprovalLevel)
    before = approval_level(*leave, prior_leaves=prior)
    after = approval_level(*leave, prior_leaves=[*prior, extra])
    assert order.index(after) >= order.index(before)


@given(st.sampled_from(list(ApprovalLevel)), st.sampled_from(list(ApprovalLevel)))
def test_may_approve_is_the_level_order(approver: ApprovalLevel, required: ApprovalLevel) -> None:
    order = ["justice_office", "county", "above_county"]
    assert may_approve(approver, required) == (order.index(approver) >= order.index(required))


# -- request dates and returns ----------------------------------------------------------


def test_check_leave() -> None:
    check_leave(D("2025-05-01"), D("2025-05-01"), today=D("2025-05-01"))
    with pytest.raises(RuleViolation) as excinfo:
        check_leave(D("2025-05-02"), D("2025-05-01"), today=D("2025-04-01"))
    assert rule_of(excinfo) == "leave.dates"
    with pytest.raises(RuleViolation) as excinfo:
        check_leave(D("2025-04-30"), D("2025-05-03"), today=D("2025-05-01"))
    assert rule_of(excinfo) == "leave.past"
    with pytest.raises(RuleViolation) as excinfo:
        approval_level(D("2025-05-02"), D("2025-05-01"))
    assert rule_of(excinfo) == "leave.dates"


def test_is_return_overdue() -> None:
    ends_on = D("2025-05-10")
    assert not is_return_overdue(ends_on, None, D("2025-05-10"))
    assert is_return_overdue(ends_on, None, D("2025-05-11"))
    assert not is_return_overdue(ends_on, D("2025-05-10"), D("2025-06-01"))
    assert is_return_overdue(ends_on, D("2025-05-12"), D("2025-05-12"))


def test_effective_status() -> None:
    period = {"starts_on": D("2025-05-01"), "ends_on": D("2025-05-10")}
    assert effective_status("approved", **period, today=D("2025-04-30")) == "approved"
    assert effective_status("approved", **period, today=D("2025-05-01")) == "on_leave"
    assert effective_status("on_leave", **period, today=D("2025-05-10")) == "on_leave"
    assert effective_status("approved", **period, today=D("2025-05-11")) == "overdue"
    assert effective_status("returned", **period, today=D("2025-06-11")) == "returned"
    assert effective_status("requested", **period, today=D("2025-06-11")) == "requested"


# -- states -----------------------------------------------------------------------------


def test_leave_table() -> None:
    assert list(LeaveStatus) == ["requested", "approved", "refused", "on_leave", "returned", "overdue"]
    assert TRANSITIONS == {
        ("requested", "approved"): "approval",
        ("requested", "refused"): None,
        ("approved", "on_leave"): "departure",
        ("approved", "returned"): "return",
        ("approved", "overdue"): "overdue",
        ("on_leave", "returned"): "return",
        ("on_leave", "overdue"): "overdue",
        ("overdue", "returned"): "return",
    }
    assert TERMINAL == {"refused", "returned"}
    assert WORKFLOW.initial == "requested"


def test_a_leave_driven_by_dates() -> None:
    period = {"starts_on": D("2025-05-01"), "ends_on": D("2025-05-10")}
    with pytest.raises(RuleViolation) as excinfo:
        check_transition("approved", "on_leave", on=D("2025-04-30"), facts=period)
    assert rule_of(excinfo) == "departure.period"
    check_transition("approved", "on_leave", on=D("2025-05-01"), facts=period)
    with pytest.raises(RuleViolation) as excinfo:
        check_transition("on_leave", "overdue", on=D("2025-05-10"), facts=period)
    assert rule_of(excinfo) == "overdue.period"
    check_transition("on_leave", "overdue", on=D("2025-05-11"), facts=period)
    check_transition("overdue", "returned", on=D("2025-05-12"), facts=period)
    with pytest.raises(RuleViolation) as excinfo:
        check_transition("approved", "returned", on=D("2025-04-29"), facts=period)
    assert rule_of(excinfo) == "return.period"
    with pytest.raises(Conflict):
        check_transition("refused", "approved", on=D("2025-04-29"), facts=period)
    with pytest.raises(Conflict):
        check_transition("returned", "on_leave", on=D("2025-05-02"), facts=period)
