"""Deadlines the service acts on by itself (the scheduler's `deadlines` sweep).

A community-correction subject who has not reported by the deadline (社区矫正法 Art. 21:
ten days from the judgment's effect, `report_due_on`) is `missing`: the move the workflow
table names `report_overdue`, taken as the system the day after the deadline, with its
timeline entry and audit entry, so the file shows on the `missing` worklist and in the
statistics without anyone having to notice first (Art. 30 then asks the agency to search).
Who may see the file does not change.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.audit.actions import Action
from registry.audit.log import AuditTrail, Event
from registry.casefiles.models import Casefile, CasefileClosure
from registry.casefiles.schemas import EventCreate
from registry.casefiles.service import ClosureStatus, sealed_event
from registry.casefiles.workflows import correction
from registry.casefiles.workflows.common import Kind
from registry.crypto.keyring import Keyring

BATCH = 200
_AWAITING, _MISSING = correction.Status.awaiting_report, correction.Status.missing
# The workflow's own name for the move; a test holds it to the table.
RULE = correction.TRANSITIONS[(_AWAITING, _MISSING)]


def overdue_reports(on: date) -> sa.ColumnElement[bool]:
    """Correction files still awaiting the report after its last day, and not being closed."""
    closing = select(CasefileClosure.casefile_id).where(CasefileClosure.status == ClosureStatus.PENDING)
    return sa.and_(
        col(Casefile.kind) == Kind.community_correction,
        col(Casefile.status) == _AWAITING,
        col(Casefile.report_due_on) < on,
        col(Casefile.erased_at).is_(None),
        col(Casefile.id).not_in(closing),
    )


def mark_missing(session: Session, keyring: Keyring, trail: AuditTrail, *, on: date) -> int:
    """Up to BATCH overdue files moved to `missing`; returns how many (call until below BATCH)."""
    files = session.exec(
        select(Casefile).where(overdue_reports(on)).order_by(col(Casefile.id)).limit(BATCH).with_for_update()
    ).all()
    for casefile in files:
        casefile.status, casefile.version = _MISSING, casefile.version + 1
        body = {"from": str(_AWAITING), "to": str(_MISSING), "reason": RULE, "certificate_no": None}
        sealed_event(
            session,
            keyring,
            casefile,
            EventCreate(type="transition", occurred_on=on, body=body),
            recorded_by=str(trail.actor.account_id),
            now=trail.clock.now(),
        )
        trail.append(
            session,
            Event(
                Action.CASEFILE_TRANSITION,
                targets=(str(casefile.id),),
                reason=f"{_AWAITING}->{_MISSING}: {RULE}",  # the due date derives from the sealed judgment
            ),
        )
    return len(files)
