"""Legal holds (DOMAIN.md, Retention; issue 14): what can be held and what a hold covers,
described once. Retention asks `unheld(...)` in its queries; the hold routes call
`set_legal_hold`.

A hold is placed on a person, a residence registration, a residence permit or a casefile.
A hold on a person holds every record of theirs as well: the matter it serves concerns the
person, and a record erased under it would be as lost as the identity. A held record keeps
its person's identity too, because the identity is erased only when nothing of the person
is left (`registry.people.retention`)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from registry.audit.actions import Action
from registry.audit.log import AuditTrail, Event
from registry.casefiles.models import Casefile
from registry.errors import NotFound
from registry.people.models import Person
from registry.residence.models import Permit, Registration

HOLDABLE: tuple[type[SQLModel], ...] = (Person, Registration, Permit, Casefile)
"""Every table with a retention clock. Each has `legal_hold`, `erased_at` and `version`;
the records other than persons name theirs in `person_id`."""


def unheld(model: type[SQLModel]) -> sa.ColumnElement[bool]:
    """A WHERE clause: the row is not held, by itself or through its person."""
    own = sa.not_(col(model.legal_hold))  # type: ignore[attr-defined]
    if model is Person:
        return own
    person_held = sa.exists().where(col(Person.id) == col(model.person_id), col(Person.legal_hold))  # type: ignore[attr-defined]
    return sa.and_(own, sa.not_(person_held))


def holds_anything_of(session: Session, person_id: uuid.UUID) -> bool:
    """Whether a hold covers this person's identity: on the person or on any record of theirs."""
    if session.exec(select(Person.id).where(Person.id == person_id, col(Person.legal_hold))).first() is not None:
        return True
    return any(
        session.exec(
            select(model.id).where(model.person_id == person_id, col(model.legal_hold))  # type: ignore[attr-defined]
        ).first()
        is not None
        for model in HOLDABLE
        if model is not Person
    )


def set_legal_hold(session: Session, trail: AuditTrail, *, record_id: uuid.UUID, held: bool) -> None:
    """Place or lift a hold on whichever holdable record has this id (ids are UUIDs, unique
    across tables). Tree-wide on purpose: holds are security_admin's, who holds no unit and
    reads nothing, so the answer names no table and discloses no value."""
    for model in HOLDABLE:
        record = session.get(model, record_id, with_for_update=True)
        if record is not None and record.erased_at is None:  # type: ignore[attr-defined]
            record.legal_hold = held
            record.version += 1  # type: ignore[attr-defined]
            action = Action.LEGAL_HOLD_SET if held else Action.LEGAL_HOLD_LIFT
            trail.append(session, Event(action, targets=(str(record_id),)))
            return
    raise NotFound("no record with a retention clock has this id", targets=(str(record_id),))
