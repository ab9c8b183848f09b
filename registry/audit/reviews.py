"""The break-glass review queue: every grant used in the log waits for an auditor's review."""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.audit.models import AuditEntry, AuditReview
from registry.clock import Clock
from registry.errors import Conflict, NotFound


def queue(session: Session, *, limit: int = 500) -> list[tuple[str, int, object]]:
    """(grant id, entries that used it, first use) for grants without a review, oldest first."""
    reviewed = select(AuditReview.grant_id)
    rows = session.execute(
        sa.select(col(AuditEntry.break_glass_grant), sa.func.count(), sa.func.min(col(AuditEntry.at)))
        .where(col(AuditEntry.break_glass_grant).is_not(None), col(AuditEntry.break_glass_grant).not_in(reviewed))
        .group_by(col(AuditEntry.break_glass_grant))
        .order_by(sa.func.min(col(AuditEntry.at)))
        .limit(limit)
    ).all()
    return [(grant, count, first) for grant, count, first in rows]


# What an auditor may record as done about a grant: a closed list, so a review holds no free text.
FollowUp = Literal[
    "none",
    "user_instructed",
    "referred_to_supervisor",
    "referred_to_discipline",
    "account_suspended",
    "grant_rules_changed",
]


def review(
    session: Session,
    clock: Clock,
    *,
    grant_id: str,
    outcome: str,
    follow_up: FollowUp | None,
    reference: str | None,
    reviewer_id: str,
) -> AuditReview:
    used = session.exec(select(AuditEntry.id).where(AuditEntry.break_glass_grant == grant_id).limit(1)).first()
    if used is None:
        raise NotFound("no break-glass grant with this id appears in the log")
    if session.exec(select(AuditReview.id).where(AuditReview.grant_id == grant_id)).first() is not None:
        raise Conflict("this grant has been reviewed")
    row = AuditReview(
        grant_id=grant_id,
        outcome=outcome,
        follow_up=follow_up,
        reference=reference,
        reviewer_id=reviewer_id,
        at=clock.now(),
    )
    session.add(row)
    return row
