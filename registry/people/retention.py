"""Retention of identities (PIPL Art. 47; DOMAIN.md, Retention; issue 14): a person's
identity is erased once nothing of theirs is live and no hold applies.

Live means any residence registration or permit, casefile (sealed files included: they
are kept, only closed to most readers), dwelling that names them as landlord, or transfer
request that is not erased or decided. An identity that never had a record (registered
ahead of an opening or a registration that did not follow) is erased `person_unlinked_days`
after it was registered. Erasure is crypto-shredding: every compartment key of the person
goes, the sealed values are cleared and the blind-index entries dropped (by the PERSON
descriptor), the row stays with its dates for statistics."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.audit.actions import Action
from registry.audit.log import AuditTrail, Event
from registry.casefiles.models import Casefile
from registry.crypto.erasure import clear_sealed
from registry.crypto.keyring import Compartment, Keyring
from registry.people.holds import unheld
from registry.people.models import PERSON, Person
from registry.residence.models import Dwelling, Permit, PersonTransfer, Registration

BATCH = 500


def _nothing_live() -> list[sa.ColumnElement[bool]]:
    person = col(Person.id)
    # A landlord stays while someone lives at one of their dwellings, whose registration
    # names the dwelling; a bare landlord link (which any unit can make by exact match) keeps
    # no identity forever.
    tenanted = sa.exists().where(
        col(Registration.dwelling_id) == col(Dwelling.id), col(Registration.erased_at).is_(None)
    )
    return [
        ~sa.exists().where(col(Registration.person_id) == person, col(Registration.erased_at).is_(None)),
        ~sa.exists().where(col(Permit.person_id) == person, col(Permit.erased_at).is_(None)),
        ~sa.exists().where(col(Casefile.person_id) == person, col(Casefile.erased_at).is_(None)),
        ~sa.exists().where(col(Dwelling.landlord_person_id) == person, tenanted),
        ~sa.exists().where(col(PersonTransfer.person_id) == person, col(PersonTransfer.status) == "requested"),
    ]


def has_live_records(session: Session, person_id: object) -> bool:
    """Whether anything of the person is still live (what keeps an identity)."""
    found = session.exec(select(Person.id).where(col(Person.id) == person_id, *_nothing_live())).first()
    return found is None


def erase_identity(session: Session, keyring: Keyring, person: Person, *, at: datetime) -> None:
    """Crypto-shred every compartment key of the person, clear the sealed values and drop
    the blind-index entries (by the PERSON descriptor); the row stays with its dates."""
    owner = str(person.id)
    for compartment in Compartment:
        keyring.shred(session, owner=owner, compartment=compartment)
    person.erased_at = at
    person.version += 1
    session.flush()
    clear_sealed(session, PERSON, [owner])


def erase_unlinked(session: Session, keyring: Keyring, trail: AuditTrail, *, unlinked_days: int) -> int:
    """Erase the identities that are due; returns how many. Idempotent: an erased identity
    is not found again."""
    registered_before = trail.clock.now() - timedelta(days=unlinked_days)
    due = session.exec(
        select(Person)
        .where(col(Person.erased_at).is_(None), col(Person.created_at) <= registered_before, unheld(Person))
        .where(*_nothing_live())
        .order_by(col(Person.id))
        .limit(BATCH)
        .with_for_update()
    ).all()
    for person in due:
        erase_identity(session, keyring, person, at=trail.clock.now())
        trail.append(session, Event(Action.PERSON_ERASE, targets=(str(person.id),), reason="retention"))
    return len(due)
