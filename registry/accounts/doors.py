"""Once-only doors of dual control: facts that close them for good.

Two things one administrator may do alone happen at most once per database: make the
second administrator (over the API), and the founding ceremony (at the console). Whether
they happened is read from the audit log, never from the accounts as they are now:
demoting, disabling or resetting an administrator changes today's count, not the past.
The log is append-only (triggers) and tamper-evident (`registry audit verify`), so a door
cannot be reopened quietly.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from registry.audit.actions import Action, Outcome
from registry.audit.models import AuditEntry

# The reason on the entry of a change that made an administrator (`user:create`,
# `user:role-grant`) and on the founding ceremony's `user:create`.
ADMIN_MADE = "admin_made"
FOUNDING_ADMIN = "founding_admin"


def _recorded(session: Session, actions: tuple[Action, ...], reasons: tuple[str, ...]) -> bool:
    found = session.exec(
        select(AuditEntry.id)
        .where(
            col(AuditEntry.action).in_(actions),
            col(AuditEntry.reason).in_(reasons),
            AuditEntry.outcome == Outcome.ALLOWED,
        )
        .limit(1)
    ).first()
    return found is not None


def second_admin_made(session: Session) -> bool:
    """Whether an administrator besides the bootstrap one was ever made (any way)."""
    return _recorded(session, (Action.USER_CREATE, Action.USER_ROLE_GRANT), (ADMIN_MADE, FOUNDING_ADMIN))


def founding_ceremony_held(session: Session) -> bool:
    return _recorded(session, (Action.USER_CREATE,), (FOUNDING_ADMIN,))
