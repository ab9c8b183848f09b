"""Counting over a file's timeline: the hints shown on a casefile and the relapse date of
戒毒条例 Art. 7. Reads plain columns only (type, dates), so no body is opened for a count.

Hints are shown, never acted on: a person decides, and the decision is an event.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from registry.casefiles.events_catalogue import RELAPSE_TYPES
from registry.casefiles.models import Casefile, CasefileEvent
from registry.casefiles.workflows import correction as correction_workflow
from registry.casefiles.workflows import drug as drug_workflow
from registry.casefiles.workflows.common import Kind

DRUG_TESTS: dict[str, bool | str] = {"test_negative": True, "test_missed": False, "test_positive": "positive"}
# An unauthorised absence recorded before absences carried their period (issue 14) counts
# as the shortest one that needed a report (戒毒条例 Art. 19(3)).
LEGACY_ABSENCE_DAYS = drug_workflow.ABSENCE_REPORT_DAYS


def _events(session: Session, casefile_id: uuid.UUID) -> list[tuple[str, date, date | None]]:
    rows = session.exec(
        select(CasefileEvent.type, CasefileEvent.occurred_on, CasefileEvent.ends_on).where(  # type: ignore[call-overload]
            CasefileEvent.casefile_id == casefile_id
        )
    ).all()
    return [(kind, on, ends_on) for kind, on, ends_on in rows]


def hints(session: Session, casefile: Casefile, details: dict[str, Any]) -> list[str]:
    """Counting hints (sanctions, missed tests, absences, relapse) for one file."""
    events = _events(session, casefile.id)
    if casefile.kind == Kind.community_correction:
        return correction_workflow.sanction_hints([(k, on) for k, on, _ in events], category=details.get("category"))
    if casefile.kind == Kind.drug_rehabilitation:
        return drug_hints(events)
    return []


def drug_hints(events: list[tuple[str, date, date | None]]) -> list[str]:
    """戒毒条例 Art. 20, 21. Absences count in days from their recorded period (Art. 20:
    more than 30 days in total), a reported absence counts for nothing (Art. 19(3)); a
    relapse event is reported like a positive test (Art. 21). A `police_report` recorded on
    or after the latest event behind a hint answers it."""
    tests = [(on, DRUG_TESTS[kind]) for kind, on, _ in events if kind in DRUG_TESTS]
    absences = [
        (on, ends_on or on + timedelta(days=LEGACY_ABSENCE_DAYS - 1), False)
        for kind, on, ends_on in events
        if kind == "absence_unauthorised"
    ]
    found = drug_workflow.violation_hints(tests, absences)
    if "relapse_to_report" not in found and any(kind == "relapse" for kind, _, _ in events):
        found.append("relapse_to_report")
    reports = [on for kind, on, _ in events if kind == "police_report"]
    violations = ("test_missed", "absence_unauthorised")
    behind = {
        "serious_violation_to_report": [on for kind, on, _ in events if kind in violations],
        "relapse_to_report": [on for kind, on, _ in events if kind in RELAPSE_TYPES],
    }
    return [hint for hint in found if not (reports and max(reports) >= max(behind[hint]))]


def latest_relapse_on(session: Session, casefile_id: uuid.UUID) -> date | None:
    """The day of the file's latest relapse (a `relapse` event or a positive test), or None."""
    latest: date | None = session.exec(
        select(sa.func.max(CasefileEvent.occurred_on)).where(
            CasefileEvent.casefile_id == casefile_id,
            CasefileEvent.type.in_(RELAPSE_TYPES),  # type: ignore[attr-defined]
        )
    ).one()
    return latest


def relapse_free_since(session: Session, casefile: Casefile) -> date | None:
    """For retention and dynamic control (戒毒条例 Art. 7): the day after the latest relapse,
    None for other kinds or when no relapse was recorded."""
    if casefile.kind != Kind.drug_rehabilitation:
        return None
    latest = latest_relapse_on(session, casefile.id)
    return drug_workflow.relapse_free_since([latest] if latest is not None else [])
