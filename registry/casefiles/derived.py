"""Values the service derives from what a file records: deadlines, terms, the minor flag.

None of them is ever taken from a request. They are computed at opening from the validated
details, and moved only by the events that move them in law: the report that starts a drug
term, a detention that suspends it, a court's term change. Pure functions; the service
stores the results in the file's plain columns (worklists and retention read them there).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel

from registry.casefiles.details import CorrectionDetails, DrugDetails, ResettlementDetails
from registry.casefiles.models import Casefile
from registry.casefiles.workflows import correction as correction_workflow
from registry.casefiles.workflows import drug as drug_workflow
from registry.casefiles.workflows import resettlement as resettlement_workflow
from registry.casefiles.workflows.common import Kind
from registry.errors import RuleViolation

ADULT_AGE = 18  # 刑事诉讼法 Art. 286; 社区矫正法 Art. 52-58 (未成年人)


@dataclass(frozen=True)
class Deadlines:
    """The plain dates of a file (columns of `casefile`)."""

    report_due_on: date | None = None
    term_ends_on: date | None = None
    handover_due_on: date | None = None


@contextmanager
def in_calendar() -> Iterator[None]:
    """A derived date past the calendar's ends (year 1 to 9999) is a 422, never a 500. The
    details' windows (`details.Opening`) keep recorded dates far from the ends; this is
    the last guard."""
    try:
        yield
    except (OverflowError, ValueError):
        raise RuleViolation("dates: a derived date falls outside the calendar") from None


def at_opening(details: BaseModel) -> Deadlines:
    """The dates a file has from the day it opens, from its validated details."""
    with in_calendar():
        return _at_opening(details)


def _at_opening(details: BaseModel) -> Deadlines:
    if isinstance(details, CorrectionDetails):
        # Art. 21: report within 10 days of the judgment taking effect; the term is the judgment's.
        return Deadlines(
            report_due_on=correction_workflow.report_due_on(details.judgment_effective_on),
            term_ends_on=details.term_ends_on,
        )
    if isinstance(details, DrugDetails):
        # 戒毒条例 Art. 14, 38: report within 15 days of the order; the term starts at the report.
        served = details.order_served_on
        return Deadlines(report_due_on=drug_workflow.report_due_on(served) if served else None)
    assert isinstance(details, ResettlementDetails)
    # Key persons are met at the gate on release day (必接必送); assistance runs 5 years
    # from release (setting, DOMAIN.md), its last day is the file's term end.
    return Deadlines(
        term_ends_on=resettlement_workflow.assistance_ends_on(details.release_on),
        handover_due_on=details.release_on if details.key_person else None,
    )


def reached(casefile: Casefile, on: date) -> None:
    """The plain date of a state the KPIs count, set when the file reaches it: the day a
    resettlement subject was released (`released`, at opening when the file starts there)."""
    if casefile.kind == Kind.resettlement and casefile.status == resettlement_workflow.Status.released:
        casefile.released_on = casefile.released_on or on


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def minor_reference_date(details: BaseModel, opened_on: date) -> date:
    """The day the minor flag is judged on: the offence, when the file records its date
    (刑事诉讼法 Art. 286: 犯罪的时候不满十八周岁), else the opening (DOMAIN.md)."""
    offence = getattr(details, "offence_date", None)
    return offence if isinstance(offence, date) else opened_on


def is_minor(birth: date, details: BaseModel, opened_on: date) -> bool:
    return age_on(birth, minor_reference_date(details, opened_on)) < ADULT_AGE


def drug_term_ends_on(details: BaseModel, reported_on: date) -> date:
    """The last day of a drug file's term, from the report day (戒毒条例 Art. 14: 自报到之日
    起计算; 3 years for detox,禁毒法 Art. 33; as ordered, at most 3 years, for rehab, Art. 48)."""
    assert isinstance(details, DrugDetails)
    with in_calendar():
        return drug_workflow.term_ends_on(reported_on, months=details.term_months)


def after_suspension(term_ends_on: date, suspended_on: date, resumed_on: date) -> date:
    """A detention suspends community detox (戒毒条例 Art. 24 para. 2: 社区戒毒中止 … 释放后继续
    接受社区戒毒): the days suspended do not count, so the term ends that much later. Art. 36
    says the opposite (连续计算) for compulsory isolation only, which is why this one differs."""
    with in_calendar():
        return term_ends_on + timedelta(days=(resumed_on - suspended_on).days)


def recorded_facts(kind: Kind | str, details: dict[str, Any], term_ends_on: date | None) -> dict[str, Any]:
    """What the workflow rules read from the file itself: its details (dates as dates) and
    the term end the service keeps. These win over anything a request carries."""
    facts = dict(details)
    if Kind(kind) is not Kind.resettlement:
        facts["term_ends_on"] = term_ends_on  # drug: derived at the report; correction: the judgment's, as changed
    else:
        facts["assistance_years"] = resettlement_workflow.ASSISTANCE_YEARS
    return facts
