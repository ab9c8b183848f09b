from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.casefiles import leave
from registry.casefiles.workflows import WORKFLOWS, Kind, Workflow, correction, drug, resettlement, workflow_for
from registry.casefiles.workflows.common import add_months, add_years, check_transition_date, inclusive_days
from registry.errors import ConfigurationError, Conflict, RuleViolation

D = date.fromisoformat
dates = st.dates(min_value=date(2010, 1, 1), max_value=date(2060, 12, 31))
ALL = {**{str(kind): wf for kind, wf in WORKFLOWS.items()}, "leave": leave.WORKFLOW}


def rule_of(excinfo: pytest.ExceptionInfo[RuleViolation]) -> str:
    return excinfo.value.detail.split(":")[0]


def passing_facts(wf: Workflow, frm: str, to: str) -> dict[str, object]:
    """Facts that satisfy every rule for a transition dated 2010 or later."""
    long_ago = date(2000, 1, 1)
    return {
        **dict.fromkeys(correction.INTAKE_CHECKLIST, True),
        "agreement_signed": True,
        "judgment_effective_on": long_ago,
        "term_ends_on": long_ago,
        "release_on": long_ago,
        "reason": "per decision",
        "certificate_no": "C-0001",
        "key_person": to == resettlement.Status.handed_over,
        "approver_level": leave.ApprovalLevel.above_county,
        "required_level": leave.ApprovalLevel.justice_office,
        # leave: a period that contains `on` for a departure, or ended before it otherwise
        "starts_on": long_ago,
        "ends_on": date(2100, 1, 1) if to == leave.LeaveStatus.on_leave else long_ago,
    }


# -- the tables -------------------------------------------------------------------------


def test_kinds_and_registry() -> None:
    assert list(Kind) == ["community_correction", "resettlement", "drug_rehabilitation"]
    assert set(WORKFLOWS) == set(Kind)
    assert workflow_for("resettlement") is resettlement.WORKFLOW
    with pytest.raises(ValueError):
        workflow_for("immigration")


def test_correction_table() -> None:
    assert list(correction.Category) == ["control", "probation", "parole", "temporary_out_of_prison"]
    assert correction.TRANSITIONS == {
        ("awaiting_report", "received"): "intake",
        ("awaiting_report", "missing"): "report_overdue",
        ("missing", "received"): "intake",
        ("received", "supervised"): None,
        ("supervised", "detained"): "detention",
        ("detained", "supervised"): None,
        ("supervised", "discharged"): "discharge",
        ("supervised", "revoked"): "revocation",
        ("detained", "revoked"): "revocation",
        ("missing", "revoked"): "revocation",
        ("awaiting_report", "deceased"): "death",
        ("missing", "deceased"): "death",
        ("received", "deceased"): "death",
        ("supervised", "deceased"): "death",
        ("detained", "deceased"): "death",
    }
    wf = correction.WORKFLOW
    assert wf.initial == "awaiting_report"
    assert wf.terminal == {"discharged", "revoked", "deceased"}
    assert wf.TRANSITIONS is wf.transitions
    assert wf.next_states("supervised") == {"detained", "discharged", "revoked", "deceased"}


def test_resettlement_table() -> None:
    assert list(resettlement.Source) == ["prison", "correction"]
    assert resettlement.TRANSITIONS == {
        ("notified", "released"): "release",
        ("released", "handed_over"): "handover",
        ("released", "assisting"): "direct_assistance",
        ("handed_over", "assisting"): None,
        **{(s, "closed"): "close" for s in ("notified", "released", "handed_over", "assisting")},
        **{(s, "transferred"): "transfer" for s in ("notified", "released", "handed_over", "assisting")},
    }
    assert resettlement.WORKFLOW.terminal == {"closed", "transferred"}


def test_drug_table() -> None:
    assert list(drug.Measure) == ["community_detox", "community_rehab"]
    assert drug.TRANSITIONS == {
        ("awaiting_report", "active"): "agreement",
        ("active", "suspended"): "detention",
        ("suspended", "active"): None,
        ("active", "discharged"): "discharge",
        ("awaiting_report", "terminated"): "termination",
        ("active", "terminated"): "termination",
        ("suspended", "terminated"): "termination",
    }
    assert drug.WORKFLOW.terminal == {"discharged", "terminated"}


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_state_reachable_and_terminal_states_are_dead_ends(name: str) -> None:
    wf = ALL[name]
    seen, todo = {wf.initial}, [wf.initial]
    while todo:
        for nxt in wf.next_states(todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == wf.states
    assert all(not wf.next_states(state) for state in wf.terminal)
    assert all(wf.next_states(state) for state in wf.states - wf.terminal)


def test_malformed_workflows_fail_at_construction() -> None:
    ok = {"states": frozenset({"a", "b"}), "initial": "a", "terminal": frozenset({"b"})}
    with pytest.raises(ConfigurationError):
        Workflow(name="x", transitions={("a", "c"): None}, **ok)
    with pytest.raises(ConfigurationError):
        Workflow(name="x", transitions={("b", "a"): None}, **ok)
    with pytest.raises(ConfigurationError):
        Workflow(name="x", transitions={("a", "b"): "nope"}, **ok)
    with pytest.raises(ConfigurationError):
        Workflow(name="x", states=frozenset({"a"}), initial="z", transitions={}, terminal=frozenset())


# -- properties of every state machine --------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_transition_sequences(name: str, data: st.DataObject) -> None:
    wf = ALL[name]
    state = wf.initial
    targets = st.sampled_from(sorted(wf.states))
    for _ in range(data.draw(st.integers(0, 25))):
        to, on = data.draw(targets), data.draw(dates)
        if (state, to) in wf.transitions:
            wf.check_transition(state, to, on=on, facts=passing_facts(wf, state, to))
            state = to
        else:
            with pytest.raises(Conflict, match="^transition: cannot go from"):
                wf.check_transition(state, to, on=on, facts=passing_facts(wf, state, to))
        assert state in wf.states
    if state in wf.terminal:
        for to in wf.states:
            with pytest.raises(Conflict):
                wf.check_transition(state, to, on=date(2030, 1, 1), facts=passing_facts(wf, state, to))


@pytest.mark.parametrize("name", sorted(ALL))
def test_each_rule_refusal_names_its_rule(name: str) -> None:
    wf = ALL[name]
    for (frm, to), rule in wf.transitions.items():
        if rule is None or rule == "death":
            wf.check_transition(frm, to, on=date(2030, 1, 1), facts={})
            continue
        with pytest.raises(RuleViolation) as excinfo:
            wf.check_transition(frm, to, on=date(2030, 1, 1), facts={})
        assert rule_of(excinfo).split(".")[0] == rule, (frm, to)
        assert excinfo.value.status == 422


@pytest.mark.parametrize("name", sorted(ALL))
def test_unknown_states_conflict(name: str) -> None:
    wf = ALL[name]
    with pytest.raises(Conflict, match="unknown state"):
        wf.check_transition("nowhere", wf.initial, on=date(2030, 1, 1))
    with pytest.raises(Conflict, match="unknown state"):
        wf.check_transition(wf.initial, "nowhere", on=date(2030, 1, 1))
    with pytest.raises(Conflict):
        wf.check_transition(wf.initial, wf.initial, on=date(2030, 1, 1))


# -- calendar helpers -------------------------------------------------------------------


def test_calendar_helpers() -> None:
    assert add_years(D("2024-02-29"), 1) == D("2025-02-28")
    assert add_years(D("2024-02-29"), 4) == D("2028-02-29")
    assert add_months(D("2025-01-31"), 1) == D("2025-02-28")
    assert add_months(D("2025-11-15"), 3) == D("2026-02-15")
    assert inclusive_days(D("2025-01-01"), D("2025-01-10")) == 10


# -- community correction ---------------------------------------------------------------


def test_correction_report_deadline() -> None:
    assert correction.report_due_on(D("2025-03-01")) == D("2025-03-11")
    assert not correction.is_report_overdue(D("2025-03-01"), D("2025-03-11"))
    assert correction.is_report_overdue(D("2025-03-01"), D("2025-03-12"))
    assert not correction.is_report_overdue(D("2025-03-01"), D("2025-04-30"), reported_on=D("2025-03-05"))
    assert correction.is_report_overdue(D("2025-03-01"), D("2025-03-05"), reported_on=D("2025-03-12"))
    assert correction.transfer_report_due_on(D("2025-06-01")) == D("2025-06-08")
    assert correction.is_transfer_report_overdue(D("2025-06-01"), D("2025-06-09"))
    assert not correction.is_transfer_report_overdue(D("2025-06-01"), D("2025-07-01"), reported_on=D("2025-06-08"))


def test_correction_missing_only_after_the_deadline() -> None:
    facts = {"judgment_effective_on": D("2025-03-01")}
    with pytest.raises(RuleViolation) as excinfo:
        correction.check_transition("awaiting_report", "missing", on=D("2025-03-11"), facts=facts)
    assert rule_of(excinfo) == "report_overdue"
    correction.check_transition("awaiting_report", "missing", on=D("2025-03-12"), facts=facts)


def test_correction_intake_checklist_lists_what_is_missing() -> None:
    with pytest.raises(RuleViolation) as excinfo:
        correction.check_transition(
            "awaiting_report", "received", on=D("2025-03-05"), facts={"documents_checked": True, "rules_read": "yes"}
        )
    assert rule_of(excinfo) == "intake.checklist"
    assert "identity_verified" in excinfo.value.detail and "rules_read" in excinfo.value.detail
    assert "documents_checked" not in excinfo.value.detail


def test_correction_discharge_needs_certificate_and_ended_term() -> None:
    term = {"term_ends_on": D("2026-03-01")}
    with pytest.raises(RuleViolation) as excinfo:
        correction.check_transition("supervised", "discharged", on=D("2026-03-01"), facts=term)
    assert rule_of(excinfo) == "discharge.certificate_no"
    with pytest.raises(RuleViolation) as excinfo:
        correction.check_transition("supervised", "discharged", on=D("2026-03-01"), facts={"certificate_no": " "})
    assert rule_of(excinfo) == "discharge.certificate_no"
    with pytest.raises(RuleViolation) as excinfo:
        correction.check_transition(
            "supervised", "discharged", on=D("2026-02-28"), facts={**term, "certificate_no": "JZ-7"}
        )
    assert rule_of(excinfo) == "discharge.term_ended"
    with pytest.raises(RuleViolation) as excinfo:
        correction.check_transition("supervised", "discharged", on=D("2026-03-01"), facts={"certificate_no": "JZ-7"})
    assert rule_of(excinfo) == "discharge.term_ends_on"
    correction.check_transition(
        "supervised", "discharged", on=D("2026-03-01"), facts={**term, "certificate_no": "JZ-7"}
    )


def test_correction_revocation_and_detention_need_a_reason() -> None:
    for frm in ("supervised", "detained", "missing"):
        with pytest.raises(RuleViolation) as excinfo:
            correction.check_transition(frm, "revoked", on=D("2025-09-01"), facts={"reason": ""})
        assert rule_of(excinfo) == "revocation.reason"
        correction.check_transition(frm, "revoked", on=D("2025-09-01"), facts={"reason": "ruling"})
    with pytest.raises(RuleViolation) as excinfo:
        correction.check_transition("supervised", "detained", on=D("2025-09-01"))
    assert rule_of(excinfo) == "detention.reason"


def test_correction_full_life() -> None:
    effective_on, term_ends_on = D("2025-03-03"), D("2026-03-02")
    facts = {"judgment_effective_on": effective_on, "term_ends_on": term_ends_on}
    life = [
        ("received", D("2025-03-10"), dict.fromkeys(correction.INTAKE_CHECKLIST, True)),
        ("supervised", D("2025-03-10"), {}),
        ("detained", D("2025-07-01"), {"reason": "administrative detention"}),
        ("supervised", D("2025-07-11"), {}),
        ("discharged", term_ends_on, {"certificate_no": "JZ-2026-001"}),
    ]
    state = correction.WORKFLOW.initial
    assert not correction.is_report_overdue(effective_on, D("2025-03-10"))
    for to, on, extra in life:
        correction.check_transition(state, to, on=on, facts={**facts, **extra})
        state = to
    assert correction.WORKFLOW.is_terminal(state)


def test_correction_absconder_is_found_then_revoked() -> None:
    facts = {"judgment_effective_on": D("2025-03-03"), **dict.fromkeys(correction.INTAKE_CHECKLIST, True)}
    correction.check_transition("awaiting_report", "missing", on=D("2025-03-14"), facts=facts)
    correction.check_transition("missing", "received", on=D("2025-04-01"), facts=facts)
    correction.check_transition("missing", "revoked", on=D("2025-05-01"), facts={"reason": "ruling"})


def test_female_team_rule() -> None:
    with pytest.raises(RuleViolation) as excinfo:
        correction.check_team("female", ["male", None])
    assert rule_of(excinfo) == "plan.female_team_member"
    with pytest.raises(RuleViolation):
        correction.check_team("female", [])
    correction.check_team("female", ["male", "female"])
    correction.check_team("male", ["male"])
    correction.check_team(None, [])


@given(st.lists(st.sampled_from(["male", "female", None]), max_size=6))
def test_female_team_rule_property(members: list[str | None]) -> None:
    try:
        correction.check_team("female", members)
        assert "female" in members
    except RuleViolation:
        assert "female" not in members


def test_sanction_hints() -> None:
    w1, w2 = ("warning", D("2025-05-01")), ("warning", D("2025-08-01"))
    assert correction.sanction_hints([]) == []
    assert correction.sanction_hints([w1, ("reprimand", D("2025-04-01")), ("praise", D("2025-04-02"))]) == []
    assert correction.sanction_hints([w1, w2]) == ["revocation_may_be_proposed"]
    assert correction.sanction_hints([w2, w1], category="parole") == ["revocation_may_be_proposed"]
    # a proposal recorded after the second warning answers the hint; an earlier one does not
    assert correction.sanction_hints([w1, w2, ("revocation_proposal", D("2025-08-02"))]) == []
    assert correction.sanction_hints([w1, ("revocation_proposal", D("2025-05-02")), w2]) == [
        "revocation_may_be_proposed"
    ]
    # a control sentence is not revocable: the hint is a police penalty proposal
    assert correction.sanction_hints([w1, w2], category="control") == ["police_penalty_may_be_proposed"]
    assert correction.sanction_hints([w1, w2, ("police_penalty_proposal", D("2025-08-03"))], category="control") == []


@given(st.lists(st.tuples(st.sampled_from(list(correction.Sanction) + ["visit"]), dates), max_size=12))
def test_sanction_hints_count_warnings(events: list[tuple[str, date]]) -> None:
    warnings = sum(1 for kind, _ in events if kind == "warning")
    hints = correction.sanction_hints(events)
    assert hints in ([], ["revocation_may_be_proposed"])
    if warnings < 2:
        assert hints == []
    if warnings >= 2 and not any(kind == "revocation_proposal" for kind, _ in events):
        assert hints == ["revocation_may_be_proposed"]


# -- resettlement -----------------------------------------------------------------------


def test_resettlement_dates() -> None:
    assert resettlement.initial_status("prison") == "notified"
    assert resettlement.initial_status("correction") == "released"
    assert resettlement.notice_due_on(D("2025-06-30")) == D("2025-05-31")
    assert not resettlement.is_notice_late(D("2025-06-30"), D("2025-05-31"))
    assert resettlement.is_notice_late(D("2025-06-30"), D("2025-06-01"))
    assert resettlement.assistance_ends_on(D("2025-03-10")) == D("2030-03-09")
    assert resettlement.assistance_ends_on(D("2024-02-29")) == D("2029-02-27")
    assert resettlement.assistance_ends_on(D("2025-03-10"), years=3) == D("2028-03-09")
    assert resettlement.is_assisting_period(D("2025-03-10"), D("2030-03-09"))
    assert not resettlement.is_assisting_period(D("2025-03-10"), D("2030-03-10"))
    assert not resettlement.is_assisting_period(D("2025-03-10"), D("2025-03-09"))


def test_handover_is_for_key_persons_only() -> None:
    with pytest.raises(RuleViolation) as excinfo:
        resettlement.check_transition("released", "handed_over", on=D("2025-03-10"), facts={"key_person": False})
    assert rule_of(excinfo) == "handover.key_person"
    with pytest.raises(RuleViolation) as excinfo:
        resettlement.check_transition("released", "assisting", on=D("2025-03-10"), facts={"key_person": True})
    assert rule_of(excinfo) == "direct_assistance.key_person"
    resettlement.check_transition("released", "assisting", on=D("2025-03-10"), facts={"key_person": False})


def test_resettlement_close_early_needs_a_reason() -> None:
    facts = {"release_on": D("2025-03-10")}
    with pytest.raises(RuleViolation) as excinfo:
        resettlement.check_transition("assisting", "closed", on=D("2030-03-08"), facts=facts)
    assert rule_of(excinfo) == "close.period_ended"
    resettlement.check_transition("assisting", "closed", on=D("2030-03-08"), facts={**facts, "reason": "deceased"})
    with pytest.raises(RuleViolation) as excinfo:
        resettlement.check_transition("assisting", "closed", on=D("2030-03-09"), facts={**facts, "assistance_years": 0})
    assert rule_of(excinfo) == "close.assistance_years"
    resettlement.check_transition("assisting", "closed", on=D("2028-03-09"), facts={**facts, "assistance_years": 3})


@pytest.mark.parametrize("key_person", [True, False])
def test_resettlement_full_life(key_person: bool) -> None:
    release_on = D("2025-03-10")
    facts = {"release_on": release_on, "key_person": key_person}
    life = [("released", release_on, {"certificate_no": "SF-2025-17"})]
    if key_person:
        life.append(("handed_over", release_on, {}))
    life += [("assisting", D("2025-03-11"), {}), ("closed", resettlement.assistance_ends_on(release_on), {})]
    state = resettlement.initial_status("prison")
    assert not resettlement.is_notice_late(release_on, D("2025-02-01"))
    for to, on, extra in life:
        resettlement.check_transition(state, to, on=on, facts={**facts, **extra})
        state = to
    assert state in resettlement.TERMINAL


# -- drug rehabilitation ----------------------------------------------------------------


def test_drug_dates() -> None:
    assert drug.report_due_on(D("2025-03-01")) == D("2025-03-16")
    assert not drug.is_report_overdue(D("2025-03-01"), D("2025-03-16"))
    assert drug.is_report_overdue(D("2025-03-01"), D("2025-03-17"))
    assert not drug.is_report_overdue(D("2025-03-01"), D("2025-05-01"), reported_on=D("2025-03-10"))
    assert drug.term_ends_on(D("2025-03-10")) == D("2028-03-09")
    assert drug.term_ends_on(D("2025-03-10"), months=18) == D("2026-09-09")
    for months in (0, 37):
        with pytest.raises(RuleViolation) as excinfo:
            drug.term_ends_on(D("2025-03-10"), months=months)
        assert rule_of(excinfo) == "term.months"
    assert drug.dynamic_control_ends_on(D("2025-01-15")) == D("2028-01-15")
    assert drug.is_under_dynamic_control(D("2025-01-15"), D("2028-01-14"))
    assert not drug.is_under_dynamic_control(D("2025-01-15"), D("2028-01-15"))


def test_drug_missed_tests_hint() -> None:
    day = D("2025-04-01")
    two = [(day, False), (day + timedelta(days=30), False), (day + timedelta(days=60), True)]
    assert drug.violation_hints(two, []) == []
    three = [*two, (day + timedelta(days=90), "missed")]
    assert drug.violation_hints(three, []) == ["serious_violation_to_report"]
    assert drug.violation_hints([(day, drug.TestResult.positive)], []) == ["relapse_to_report"]
    assert drug.violation_hints([*three, (day, "positive")], []) == ["serious_violation_to_report", "relapse_to_report"]


def test_drug_absence_hints() -> None:
    def absence(start: str, days: int, authorised: bool = False) -> tuple[date, date, bool]:
        return D(start), D(start) + timedelta(days=days - 1), authorised

    short = [absence("2025-04-01", 2), absence("2025-05-01", 2), absence("2025-06-01", 2)]
    assert drug.violation_hints([], short) == []  # under 3 days: no report needed, so not unauthorised
    authorised = [absence("2025-04-01", 5, True), absence("2025-05-01", 5, True), absence("2025-06-01", 5, True)]
    assert drug.violation_hints([], authorised) == []
    two = [absence("2025-04-01", 3), absence("2025-05-01", 4)]
    assert drug.violation_hints([], two) == []
    assert drug.violation_hints([], [*two, absence("2025-06-01", 3)]) == ["serious_violation_to_report"]
    # or more than 30 days in total (戒毒条例 Art. 20)
    assert drug.violation_hints([], [absence("2025-04-01", 20), absence("2025-06-01", 10)]) == []
    assert drug.violation_hints([], [absence("2025-04-01", 20), absence("2025-06-01", 11)]) == [
        "serious_violation_to_report"
    ]


@given(
    st.lists(st.tuples(dates, st.sampled_from([True, False, "negative", "positive", "missed"])), max_size=10),
    st.tuples(dates, st.sampled_from([False, "missed"])),
)
def test_drug_hints_never_disappear_with_more_misses(tests: list, extra: tuple) -> None:
    before = drug.violation_hints(tests, [])
    after = drug.violation_hints([*tests, extra], [])
    assert set(before) <= set(after)
    missed = sum(1 for _, value in [*tests, extra] if value in (False, "missed"))
    assert ("serious_violation_to_report" in after) == (missed >= 3)


def test_drug_rules() -> None:
    with pytest.raises(RuleViolation) as excinfo:
        drug.check_transition("awaiting_report", "active", on=D("2025-03-05"), facts={"agreement_signed": False})
    assert rule_of(excinfo) == "agreement.checklist"
    with pytest.raises(RuleViolation) as excinfo:
        drug.check_transition(
            "active", "discharged", on=D("2028-03-08"), facts={"term_ends_on": D("2028-03-09"), "certificate_no": "J-1"}
        )
    assert rule_of(excinfo) == "discharge.term_ended"
    with pytest.raises(RuleViolation) as excinfo:
        drug.check_transition("awaiting_report", "terminated", on=D("2025-03-20"))
    assert rule_of(excinfo) == "termination.reason"
    drug.check_transition("awaiting_report", "terminated", on=D("2025-03-20"), facts={"reason": "refused to report"})


def test_drug_full_life() -> None:
    served_on, reported_on = D("2025-03-01"), D("2025-03-10")
    assert not drug.is_report_overdue(served_on, reported_on)
    facts = {"term_ends_on": drug.term_ends_on(reported_on)}
    life = [
        ("active", reported_on, {"agreement_signed": True}),
        ("suspended", D("2026-01-05"), {"reason": "detention"}),
        ("active", D("2026-01-15"), {}),
        ("discharged", D("2028-03-09"), {"certificate_no": "JC-2028-3"}),
    ]
    state = drug.WORKFLOW.initial
    for to, on, extra in life:
        drug.check_transition(state, to, on=on, facts={**facts, **extra})
        state = to
    assert state in drug.TERMINAL
    assert drug.is_under_dynamic_control(D("2028-03-09"), D("2031-03-08"))
    assert not drug.is_under_dynamic_control(D("2028-03-09"), D("2031-03-09"))


# -- transition dates (issue 13, finding 5) ---------------------------------------------------

TODAY = D("2026-01-05")


@pytest.mark.parametrize(
    ("on", "opened_on", "last_event_on", "backdate_days", "refused"),
    [
        ("2026-01-05", "2026-01-05", "2026-01-05", 30, None),  # today, on the day it opened
        ("2025-12-06", "2003-05-01", None, 30, None),  # exactly the limit
        ("2025-12-05", "2003-05-01", None, 30, "back-dated more than 30 days"),
        ("2026-01-04", "2003-05-01", None, 0, "back-dated more than 0 days"),
        ("2026-01-05", "2003-05-01", None, 0, None),
        ("2026-01-06", "2003-05-01", None, 30, "in the future"),
        ("1990-01-01", "2003-05-01", None, 30, "before the file was opened"),  # the finding
        ("2026-01-01", "2026-01-02", None, 30, "before the file was opened"),
        ("2026-01-01", "2025-12-01", "2026-01-02", 30, "before the latest entry"),
    ],
)
def test_transition_dates_are_bounded(on, opened_on, last_event_on, backdate_days, refused):
    def check() -> None:
        check_transition_date(
            D(on),
            opened_on=D(opened_on),
            last_event_on=D(last_event_on) if last_event_on else None,
            today=TODAY,
            backdate_days=backdate_days,
        )

    if refused is None:
        check()
        return
    with pytest.raises(RuleViolation) as excinfo:
        check()
    assert rule_of(excinfo) == "transition.on" and refused in excinfo.value.detail


@given(on=dates, opened=dates, backdate=st.integers(min_value=0, max_value=365))
def test_an_accepted_transition_date_lies_between_opening_and_today_within_the_limit(on, opened, backdate):
    try:
        check_transition_date(on, opened_on=opened, last_event_on=None, today=TODAY, backdate_days=backdate)
    except RuleViolation:
        return
    assert opened <= on <= TODAY and (TODAY - on).days <= backdate
