from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from registry.errors import ConfigurationError, Conflict, RuleViolation
from registry.residence.rules import (
    STORED_STATUSES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    Basis,
    PermitAction,
    PermitBasis,
    PermitState,
    PermitStatus,
    RegistrationStatus,
    add_months,
    anniversary,
    check_eligibility,
    check_endorsement,
    check_issue_days,
    check_registration_dates,
    effective_status,
    endorsement_due_within,
    endorsement_window,
    is_issue_overdue,
    is_late,
    issue_due_on,
    next_status,
    permit_state,
)

D = date.fromisoformat
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


def rule_of(excinfo: pytest.ExceptionInfo[RuleViolation]) -> str:
    return excinfo.value.detail.split(":")[0]


# -- enums -------------------------------------------------------------------------------


def test_enum_values() -> None:
    assert list(RegistrationStatus) == ["active", "moved", "departed", "pending_transfer", "refused", "withdrawn"]
    assert list(Basis) == ["employment", "study", "family", "business", "other"]
    assert list(PermitBasis) == ["employment", "residence", "study"]
    assert list(PermitStatus) == [
        "applied", "needs_materials", "accepted", "issued", "rejected", "cancelled", "suspended",
    ]  # fmt: skip
    assert list(PermitAction) == ["request_materials", "accept", "issue", "reject", "endorse", "cancel"]
    assert PermitStatus.suspended not in STORED_STATUSES


# -- permit state machine ----------------------------------------------------------------


def test_transition_table() -> None:
    assert TRANSITIONS == {
        ("applied", "request_materials"): "needs_materials",
        ("applied", "accept"): "accepted",
        ("applied", "reject"): "rejected",
        ("needs_materials", "accept"): "accepted",
        ("needs_materials", "reject"): "rejected",
        ("accepted", "issue"): "issued",
        ("accepted", "reject"): "rejected",
        ("issued", "endorse"): "issued",
        ("issued", "cancel"): "cancelled",
        ("suspended", "endorse"): "issued",
        ("suspended", "cancel"): "cancelled",
    }


def test_no_transition_reaches_suspended_or_leaves_a_terminal_state() -> None:
    assert all(target in STORED_STATUSES for target in TRANSITIONS.values())
    assert not any(status in TERMINAL_STATUSES for status, _ in TRANSITIONS)


@pytest.mark.parametrize("status", list(PermitStatus))
@pytest.mark.parametrize("action", list(PermitAction))
def test_every_pair_is_defined_or_a_conflict(status: PermitStatus, action: PermitAction) -> None:
    if (status, action) in TRANSITIONS:
        assert next_status(status, action) == TRANSITIONS[status, action]
    else:
        with pytest.raises(Conflict) as excinfo:
            next_status(status, action)
        assert excinfo.value.status == 409
        assert excinfo.value.detail == f"transition: cannot {action} a permit that is {status}"


def test_materials_are_requested_once() -> None:
    # Art. 9: one notice lists everything missing.
    status = next_status("applied", "request_materials")
    with pytest.raises(Conflict):
        next_status(status, "request_materials")
    assert next_status(status, "accept") is PermitStatus.accepted


def test_unknown_names_are_conflicts() -> None:
    with pytest.raises(Conflict, match="unknown"):
        next_status("approved", "issue")
    with pytest.raises(Conflict, match="unknown"):
        next_status("applied", "resubmit")


@given(st.lists(st.sampled_from(list(PermitAction)), max_size=30))
def test_random_action_sequences(actions: list[PermitAction]) -> None:
    status = PermitStatus.applied
    for action in actions:
        if (status, action) in TRANSITIONS:
            status = next_status(status, action)
        else:
            with pytest.raises(Conflict):
                next_status(status, action)
        assert status in STORED_STATUSES


# -- calendar ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2025-08-31", 6, "2026-02-28"),
        ("2023-08-31", 6, "2024-02-29"),
        ("2025-01-31", 1, "2025-02-28"),
        ("2025-03-31", -1, "2025-02-28"),
        ("2025-12-15", 1, "2026-01-15"),
        ("2026-01-15", -1, "2025-12-15"),
        ("2024-02-29", 12, "2025-02-28"),
    ],
)
def test_add_months(start: str, months: int, expected: str) -> None:
    assert add_months(D(start), months) == D(expected)


@given(dates, st.integers(-120, 120))
def test_add_months_properties(day: date, months: int) -> None:
    moved = add_months(day, months)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == months
    assert moved.day == day.day or (moved.day < day.day and (moved + timedelta(days=1)).day == 1)


def test_feb_29_anniversaries() -> None:
    issued = D("2024-02-29")
    assert [anniversary(issued, n) for n in range(1, 5)] == [
        D("2025-02-28"), D("2026-02-28"), D("2027-02-28"), D("2028-02-29"),
    ]  # fmt: skip


# -- registrations -----------------------------------------------------------------------


def test_is_late_boundary() -> None:
    arrived = D("2026-01-01")
    assert not is_late(arrived, D("2026-01-01"), report_days=3)
    assert not is_late(arrived, D("2026-01-04"), report_days=3)
    assert is_late(arrived, D("2026-01-05"), report_days=3)
    assert is_late(arrived, D("2026-01-12"), report_days=10)


@pytest.mark.parametrize(
    ("arrived", "registered", "detail"),
    [
        ("2026-03-16", "2026-03-16", "arrived_on: in the future"),
        ("2026-03-01", "2026-03-16", "registered_on: in the future"),
        ("2026-03-10", "2026-03-09", "registered_on: before arrived_on"),
    ],
)
def test_registration_dates_refused(arrived: str, registered: str, detail: str) -> None:
    with pytest.raises(RuleViolation) as excinfo:
        check_registration_dates(D(arrived), D(registered), today=D("2026-03-15"))
    assert excinfo.value.detail == detail
    assert excinfo.value.status == 422


def test_registration_dates_accepted() -> None:
    today = D("2026-03-15")
    check_registration_dates(today, today, today=today)
    check_registration_dates(D("2020-01-01"), D("2026-03-15"), today=today)  # taken over from paper


# -- eligibility -------------------------------------------------------------------------


def eligible(registered_on: str, today: str, **overrides: object) -> bool:
    arguments: dict = {
        "registration_status": "active",
        "registered_on": D(registered_on),
        "permit_basis": "employment",
        "today": D(today),
    }
    try:
        check_eligibility(**(arguments | overrides))
    except RuleViolation as exc:
        assert exc.detail.startswith("eligibility.six_months:")
        assert "Art. 2" in exc.detail
        return False
    return True


@pytest.mark.parametrize(
    ("registered_on", "last_refused", "first_eligible"),
    [
        ("2025-09-10", "2026-03-09", "2026-03-10"),
        ("2025-08-31", "2026-02-27", "2026-02-28"),  # month end: no Feb 31
        ("2025-08-29", "2026-02-27", "2026-02-28"),
        ("2023-08-31", "2024-02-28", "2024-02-29"),  # leap year
        ("2025-12-31", "2026-06-29", "2026-06-30"),
        ("2024-02-29", "2024-08-28", "2024-08-29"),
    ],
)
def test_six_months_boundary(registered_on: str, last_refused: str, first_eligible: str) -> None:
    assert not eligible(registered_on, last_refused)
    assert eligible(registered_on, first_eligible)
    assert D(first_eligible) - D(last_refused) == timedelta(days=1)


def test_min_months_setting() -> None:
    assert not eligible("2025-09-10", "2026-09-09", min_months=12)
    assert eligible("2025-09-10", "2026-09-10", min_months=12)


@given(dates, st.integers(0, 400))
def test_six_months_is_181_to_184_days(registered_on: date, days: int) -> None:
    ok = eligible(registered_on.isoformat(), (registered_on + timedelta(days=days)).isoformat())
    if days < 181:
        assert not ok
    if days >= 184:
        assert ok


@pytest.mark.parametrize("status", ["moved", "departed"])
def test_registration_must_be_active(status: str) -> None:
    with pytest.raises(RuleViolation) as excinfo:
        check_eligibility(
            registration_status=status, registered_on=D("2020-01-01"), permit_basis="study", today=D("2026-01-01")
        )
    assert rule_of(excinfo) == "eligibility.active_registration"


@pytest.mark.parametrize("basis", ["family", "business", "other", ""])
def test_basis_must_be_allowed(basis: str) -> None:
    with pytest.raises(RuleViolation) as excinfo:
        check_eligibility(
            registration_status=RegistrationStatus.active,
            registered_on=D("2020-01-01"),
            permit_basis=basis,
            today=D("2026-01-01"),
        )
    assert rule_of(excinfo) == "eligibility.basis"


@pytest.mark.parametrize("basis", list(PermitBasis))
def test_allowed_bases(basis: PermitBasis) -> None:
    assert eligible("2020-01-01", "2026-01-01", permit_basis=basis)


# -- issue deadline ----------------------------------------------------------------------


def test_issue_deadline() -> None:
    accepted = D("2026-01-05")
    assert issue_due_on(accepted) == D("2026-01-20")
    assert issue_due_on(accepted, issue_days=30) == D("2026-02-04")
    assert not is_issue_overdue("accepted", accepted, D("2026-01-20"), issue_days=15)
    assert is_issue_overdue("accepted", accepted, D("2026-01-21"), issue_days=15)
    assert not is_issue_overdue("issued", accepted, D("2026-03-01"), issue_days=15)
    assert not is_issue_overdue("accepted", None, D("2026-03-01"), issue_days=15)


@pytest.mark.parametrize("days", [0, -1, 31, 60])
def test_issue_days_setting_range(days: int) -> None:
    with pytest.raises(ConfigurationError, match="permit_issue_days"):
        check_issue_days(days)
    with pytest.raises(ConfigurationError):
        issue_due_on(D("2026-01-05"), issue_days=days)


@pytest.mark.parametrize("days", [1, 15, 30])
def test_issue_days_allowed(days: int) -> None:
    assert check_issue_days(days) == days


# -- annual endorsement ------------------------------------------------------------------

ISSUED = D("2025-03-10")


def endorse(endorsements: list[date], on: str, *, today: str | None = None) -> PermitState:
    endorsed_on = D(on)
    state = check_endorsement(ISSUED, endorsements, endorsed_on, D(today or on))
    endorsements.append(endorsed_on)
    return state


def refusal(endorsements: list[date], on: str, *, today: str | None = None, issued: date = ISSUED) -> str:
    with pytest.raises(RuleViolation) as excinfo:
        check_endorsement(issued, endorsements, D(on), D(today or on))
    return rule_of(excinfo)


def test_endorsement_life_over_two_years() -> None:
    endorsements: list[date] = []
    state = permit_state(ISSUED, endorsements, ISSUED)
    assert state == PermitState(
        status=PermitStatus.issued,
        valid_until=D("2026-03-10"),
        window_opens_on=D("2026-02-10"),
        window_closes_on=D("2026-03-10"),
        continuous_since=ISSUED,
        last_endorsed_anniversary=None,
    )
    assert refusal(endorsements, "2026-02-09") == "endorsement.too_early"

    state = endorse(endorsements, "2026-02-20")
    assert state.status is PermitStatus.issued
    assert state.valid_until == D("2027-03-10")
    assert (state.window_opens_on, state.window_closes_on) == (D("2027-02-10"), D("2027-03-10"))
    assert state.last_endorsed_anniversary == D("2026-03-10")
    assert state.continuous_since == ISSUED
    assert refusal(endorsements, "2026-03-01") == "endorsement.duplicate"
    assert refusal(endorsements, "2026-03-11") == "endorsement.too_early"

    assert permit_state(ISSUED, endorsements, D("2027-03-10")).status is PermitStatus.issued
    suspended = permit_state(ISSUED, endorsements, D("2027-03-11"))
    assert suspended.status is PermitStatus.suspended
    assert suspended.valid_until == D("2027-03-10")
    assert effective_status("issued", ISSUED, endorsements, D("2027-03-11")) is PermitStatus.suspended
    assert next_status(suspended.status, "endorse") is PermitStatus.issued

    state = endorse(endorsements, "2027-05-01")  # late: reactivates, restarts the count
    assert state.status is PermitStatus.issued
    assert state.continuous_since == D("2027-05-01")
    assert state.valid_until == D("2028-03-10")
    assert state.last_endorsed_anniversary == D("2027-03-10")
    assert effective_status("issued", ISSUED, endorsements, D("2027-05-01")) is PermitStatus.issued
    assert refusal(endorsements, "2027-04-01", today="2027-05-02") == "endorsement.order"
    assert refusal(endorsements, "2027-03-05", today="2027-05-02") == "endorsement.duplicate"
    assert refusal(endorsements, "2027-05-01", today="2027-05-02") == "endorsement.duplicate"

    # The state on a past day ignores later endorsements.
    assert permit_state(ISSUED, endorsements, D("2027-04-30")).status is PermitStatus.suspended


def test_endorsement_on_the_anniversary_is_on_time() -> None:
    state = endorse([], "2026-03-10")
    assert state.continuous_since == ISSUED
    assert state.valid_until == D("2027-03-10")


def test_window_opening_day_is_accepted() -> None:
    assert endorse([], "2026-02-10").valid_until == D("2027-03-10")


def test_endorsement_in_the_future_is_refused() -> None:
    assert refusal([], "2026-02-21", today="2026-02-20") == "endorsement.future"


def test_late_endorsement_covers_every_missed_anniversary() -> None:
    # 2026 missed; 2027-02-20 is late for 2026 and inside the window of 2027.
    state = endorse([], "2027-02-20")
    assert state.valid_until == D("2028-03-10")
    assert state.continuous_since == D("2027-02-20")
    # Two years missed, endorsed before the 2028 window opens.
    state = endorse([], "2027-12-01")
    assert state.valid_until == D("2028-03-10")
    assert state.last_endorsed_anniversary == D("2027-03-10")


def test_feb_29_issue_date() -> None:
    issued = D("2024-02-29")
    state = permit_state(issued, [], issued)
    assert (state.window_opens_on, state.valid_until) == (D("2025-01-28"), D("2025-02-28"))
    assert permit_state(issued, [], D("2025-02-28")).status is PermitStatus.issued
    assert permit_state(issued, [], D("2025-03-01")).status is PermitStatus.suspended
    assert refusal([], "2025-01-27", issued=issued) == "endorsement.too_early"
    endorsements = [D("2025-01-28"), D("2026-02-28"), D("2027-02-01")]
    state = permit_state(issued, endorsements, D("2027-06-01"))
    assert state.valid_until == D("2028-02-29")
    assert (state.window_opens_on, state.window_closes_on) == (D("2028-01-29"), D("2028-02-29"))
    assert state.continuous_since == issued
    assert permit_state(issued, endorsements, D("2028-03-01")).status is PermitStatus.suspended


def test_month_end_issue_date() -> None:
    state = permit_state(D("2025-03-31"), [], D("2025-04-01"))
    assert (state.window_opens_on, state.window_closes_on) == (D("2026-02-28"), D("2026-03-31"))
    state = permit_state(D("2027-03-31"), [], D("2027-04-01"))
    assert state.window_opens_on == D("2028-02-29")


def test_endorsement_window() -> None:
    assert endorsement_window(ISSUED) == (D("2026-02-10"), D("2026-03-10"))
    assert endorsement_window(ISSUED, D("2026-03-10")) == (D("2027-02-10"), D("2027-03-10"))
    assert endorsement_window(ISSUED, D("2030-03-10")) == (D("2031-02-10"), D("2031-03-10"))
    feb29 = D("2024-02-29")
    assert endorsement_window(feb29, D("2027-02-28")) == (D("2028-01-29"), D("2028-02-29"))
    assert endorsement_window(feb29, D("2028-02-29")) == (D("2029-01-28"), D("2029-02-28"))


def test_effective_status() -> None:
    for status in STORED_STATUSES - {PermitStatus.issued}:
        assert effective_status(status, None, [], D("2030-01-01")) is status
    assert effective_status("issued", ISSUED, [], D("2026-03-10")) is PermitStatus.issued
    with pytest.raises(ValueError, match="derived"):
        effective_status("suspended", ISSUED, [], D("2026-03-10"))
    with pytest.raises(ValueError, match="issue date"):
        effective_status("issued", None, [], D("2026-03-10"))


def test_endorsement_due_within() -> None:
    assert not endorsement_due_within(permit_state(ISSUED, [], D("2026-02-07")), D("2026-02-07"))
    assert endorsement_due_within(permit_state(ISSUED, [], D("2026-02-08")), D("2026-02-08"))
    assert endorsement_due_within(permit_state(ISSUED, [], D("2026-03-10")), D("2026-03-10"))
    assert not endorsement_due_within(permit_state(ISSUED, [], D("2026-03-11")), D("2026-03-11"))  # suspended
    state = permit_state(ISSUED, [], D("2026-01-01"))
    assert state.endorsement_due_within(D("2026-01-01"), days=90)
    assert not state.endorsement_due_within(D("2026-01-01"))


# -- endorsement over random time: a state machine --------------------------------------


class EndorsementMachine(RuleBasedStateMachine):
    @initialize(issued_on=st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)))
    def issue(self, issued_on: date) -> None:
        self.issued_on = issued_on
        self.today = issued_on
        self.endorsements: list[date] = []
        self.state = permit_state(issued_on, [], issued_on)

    @rule(days=st.integers(1, 500))
    def wait(self, days: int) -> None:
        before = self.state
        self.today += timedelta(days=days)
        self.state = permit_state(self.issued_on, self.endorsements, self.today)
        # Time alone never changes validity, only whether it has lapsed.
        assert (self.state.valid_until, self.state.continuous_since) == (before.valid_until, before.continuous_since)

    @rule(back=st.integers(0, 40))
    def endorse(self, back: int) -> None:
        endorsed_on = max(self.today - timedelta(days=back), self.issued_on)
        before = self.state
        try:
            after = check_endorsement(self.issued_on, self.endorsements, endorsed_on, self.today)
        except RuleViolation as exc:
            assert exc.detail.split(":")[0] in {"endorsement.too_early", "endorsement.duplicate", "endorsement.order"}
            assert (
                endorsed_on < before.window_opens_on
                or (self.endorsements and endorsed_on <= max(self.endorsements))
                or (before.last_endorsed_anniversary is not None and endorsed_on <= before.last_endorsed_anniversary)
            )
            return
        assert endorsed_on >= before.window_opens_on
        late = endorsed_on > before.valid_until
        assert after.continuous_since == (endorsed_on if late else before.continuous_since)
        assert after.valid_until > before.valid_until
        assert after.window_opens_on > endorsed_on  # the next window has not opened yet
        # It covers the pending anniversary and any whose window had opened by then.
        covered = after.last_endorsed_anniversary
        assert covered is not None and covered >= before.valid_until
        assert add_months(covered, -1) <= endorsed_on
        assert after.status is PermitStatus.issued or self.today > after.valid_until
        self.endorsements.append(endorsed_on)
        self.state = after

    @invariant()
    def consistent(self) -> None:
        state = self.state
        assert state == permit_state(self.issued_on, self.endorsements, self.today)
        assert state.status in {PermitStatus.issued, PermitStatus.suspended}
        assert (state.status is PermitStatus.suspended) == (self.today > state.valid_until)
        assert effective_status("issued", self.issued_on, self.endorsements, self.today) is state.status
        assert state.window_closes_on == state.valid_until
        assert state.window_opens_on == add_months(state.valid_until, -1)
        assert state.valid_until in {anniversary(self.issued_on, n) for n in range(1, 200)}
        assert (state.window_opens_on, state.window_closes_on) == endorsement_window(
            self.issued_on, state.last_endorsed_anniversary
        )
        assert self.issued_on <= state.continuous_since <= self.today


TestEndorsementMachine = EndorsementMachine.TestCase
TestEndorsementMachine.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
