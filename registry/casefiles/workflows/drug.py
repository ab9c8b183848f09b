"""Community drug rehabilitation (禁毒法 Art. 33-35, 48; 戒毒条例): states, dates, hints.

Articles cited are of 戒毒条例 unless named otherwise. Pure functions of dates.

States:
    awaiting_report → active               reported and the agreement signed (Art. 14, 16, 38)
    active ⇄ suspended                     detention; a reason
    active → discharged                    the term ended; the police notice number (Art. 23, 40)
    awaiting_report | active | suspended → terminated   a reason: refusal to report (Art. 14:
                                           逾期不报到视为拒绝), prison, compulsory isolation
                                           (Art. 24), death

The term of community detox is 3 years from the report date (禁毒法 Art. 33, Art. 14 here);
community rehab is up to 3 years as ordered (禁毒法 Art. 48, Art. 37 here), so the term is
a number of months, 36 by default. Health data (test results) stay events; this module only
counts them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from enum import StrEnum

from registry.casefiles.workflows.common import (
    Facts,
    Kind,
    Workflow,
    add_months,
    add_years,
    inclusive_days,
    require_date,
    require_flags,
    require_text,
)
from registry.errors import RuleViolation

REPORT_DAYS = 15  # Art. 14, 38: report within 15 days of receiving the order
TERM_MONTHS = 36  # 禁毒法 Art. 33: 社区戒毒的期限为三年; Art. 48: 社区康复不超过三年
MISSED_TESTS_LIMIT = 3  # Art. 20: 逃避或者拒绝接受检测3次以上
ABSENCES_LIMIT = 3  # Art. 20: 擅自离开执行地所在县(市、区)3次以上
ABSENCE_DAYS_TOTAL_LIMIT = 30  # Art. 20: 或者累计超过30日
ABSENCE_REPORT_DAYS = 3  # Art. 19(3): leaving the county for 3 days or more needs a written report
RELAPSE_FREE_YEARS = 3  # Art. 7: 戒断3年未复吸的人员，不再实行动态管控


class Measure(StrEnum):
    community_detox = "community_detox"  # 社区戒毒
    community_rehab = "community_rehab"  # 社区康复


class Status(StrEnum):
    awaiting_report = "awaiting_report"
    active = "active"
    suspended = "suspended"
    discharged = "discharged"
    terminated = "terminated"


class TestResult(StrEnum):
    __test__ = False  # not a pytest class

    negative = "negative"
    positive = "positive"
    missed = "missed"  # evaded or refused


_S = Status
TERMINAL = frozenset({_S.discharged, _S.terminated})
TRANSITIONS: dict[tuple[Status, Status], str | None] = {
    (_S.awaiting_report, _S.active): "agreement",
    (_S.active, _S.suspended): "detention",
    (_S.suspended, _S.active): None,
    (_S.active, _S.discharged): "discharge",
    (_S.awaiting_report, _S.terminated): "termination",
    (_S.active, _S.terminated): "termination",
    (_S.suspended, _S.terminated): "termination",
}


# -- dates ------------------------------------------------------------------------------


def report_due_on(served_on: date, *, days: int = REPORT_DAYS) -> date:
    """Last day to report, counted from the day the order was received (the day itself not
    counted): an order served on the 1st is answered by the 16th."""
    return served_on + timedelta(days=days)


def is_report_overdue(
    served_on: date, today: date, *, reported_on: date | None = None, days: int = REPORT_DAYS
) -> bool:
    """Past the deadline without a report: the office reports a refusal to the police (Art. 14, 21)."""
    return (reported_on if reported_on is not None else today) > report_due_on(served_on, days=days)


def term_ends_on(report_on: date, *, months: int = TERM_MONTHS) -> date:
    """The last day of the term, which starts on the report day (Art. 14: 自报到之日起计算):
    3 years from 2025-03-10 run through 2028-03-09."""
    if not 1 <= months <= TERM_MONTHS:
        raise RuleViolation("term.months: the term is at most 3 years (禁毒法 Art. 33, 48)")
    return add_months(report_on, months) - timedelta(days=1)


def dynamic_control_ends_on(relapse_free_since: date, *, years: int = RELAPSE_FREE_YEARS) -> date:
    """The first day on which 3 full years without relapse have passed (Art. 7)."""
    return add_years(relapse_free_since, years)


def relapse_free_since(relapses: Iterable[date], *, since: date | None = None) -> date | None:
    """The day the 3 relapse-free years of Art. 7 start: the day after the latest relapse,
    or `since` (the discharge day) when no relapse is later. A relapse restarts the count
    (Art. 7: 戒断3年未复吸); None when neither is known."""
    latest = max(relapses, default=None)
    after = latest + timedelta(days=1) if latest is not None else None
    candidates = [day for day in (after, since) if day is not None]
    return max(candidates) if candidates else None


def is_under_dynamic_control(relapse_free_since: date, today: date, *, years: int = RELAPSE_FREE_YEARS) -> bool:
    """`relapse_free_since`: the discharge day, or the day after the latest relapse if later."""
    return today < dynamic_control_ends_on(relapse_free_since, years=years)


# -- hints (Art. 20-21) -----------------------------------------------------------------


def _result(value: bool | TestResult | str) -> TestResult:
    if isinstance(value, bool):
        return TestResult.negative if value else TestResult.missed
    return TestResult(value)


def violation_hints(
    tests: Sequence[tuple[date, bool | TestResult | str]],
    absences: Sequence[tuple[date, date, bool]],
) -> list[str]:
    """Counting hints; a person decides whether to report to the police.

    `tests`: (date, result) where `True` means taken (negative), `False` means missed or
    refused, or a `TestResult`. `absences`: (starts_on, ends_on, authorised) of absences from
    the county. An absence counts only when unauthorised and of 3 days or more (both ends
    counted): a shorter one needs no report (Art. 19(3)), so it cannot be unauthorised.

    - 3 missed tests, 3 counted absences, or counted absences totalling more than 30 days
      → `serious_violation_to_report` (Art. 20, 21);
    - a positive test → `relapse_to_report` (禁毒法 Art. 35 para. 2).
    """
    results = [_result(value) for _, value in tests]
    counted = [
        inclusive_days(starts_on, ends_on)
        for starts_on, ends_on, authorised in absences
        if not authorised and inclusive_days(starts_on, ends_on) >= ABSENCE_REPORT_DAYS
    ]
    hints = []
    if (
        results.count(TestResult.missed) >= MISSED_TESTS_LIMIT
        or len(counted) >= ABSENCES_LIMIT
        or sum(counted) > ABSENCE_DAYS_TOTAL_LIMIT
    ):
        hints.append("serious_violation_to_report")
    if TestResult.positive in results:
        hints.append("relapse_to_report")
    return hints


# -- transition rules -------------------------------------------------------------------


def _agreement(on: date, facts: Facts) -> None:
    """Facts: `agreement_signed` True (Art. 16 社区戒毒协议, Art. 38 社区康复协议)."""
    require_flags(facts, ("agreement_signed",), "agreement", "戒毒条例 Art. 16, 38")


def _detention(on: date, facts: Facts) -> None:
    require_text(facts, "reason", "detention", "a suspension for detention needs a reason")


def _discharge(on: date, facts: Facts) -> None:
    """Facts: `certificate_no` (解除通知书, Art. 23, 40) and `term_ends_on` (see `term_ends_on`)."""
    require_text(facts, "certificate_no", "discharge", "a discharge needs the police notice number (戒毒条例 Art. 23)")
    if on < require_date(facts, "term_ends_on", "discharge"):
        raise RuleViolation("discharge.term_ended: the term has not ended (戒毒条例 Art. 23)")


def _termination(on: date, facts: Facts) -> None:
    require_text(facts, "reason", "termination", "a termination needs a reason (戒毒条例 Art. 24)")


WORKFLOW = Workflow(
    name=Kind.drug_rehabilitation,
    states=frozenset(Status),
    initial=Status.awaiting_report,
    transitions=TRANSITIONS,
    terminal=TERMINAL,
    rules={
        "agreement": _agreement,
        "detention": _detention,
        "discharge": _discharge,
        "termination": _termination,
    },
)


def check_transition(frm: Status | str, to: Status | str, *, on: date, facts: Facts | None = None) -> None:
    WORKFLOW.check_transition(frm, to, on=on, facts=facts)
