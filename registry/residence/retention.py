"""Applying the retention table to residence records (DOMAIN.md, Retention): a departed
(or moved-out) registration and a cancelled permit are erased 5 years on.

The sealed fields are destroyed and the permit number's blind index removed; dates and
states stay, as counts for statistics. When none of a person's residence records is
live any more, their `residence` DEKs are destroyed too (crypto-shredding), so copies of
the ciphertext in backups become unreadable."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from registry.audit.actions import Action
from registry.audit.log import AuditTrail, Event
from registry.casefiles.retention import DEFAULT_POLICY, RetentionPolicy, permit_due, registration_due
from registry.clock import today
from registry.crypto.erasure import clear_sealed
from registry.crypto.keyring import Compartment, Keyring
from registry.crypto.sealed import SealedTable
from registry.people.holds import unheld
from registry.residence.models import PERMIT, REGISTRATION, Permit, Registration


@dataclass
class ResidenceErasures:
    registrations: int = 0
    permits: int = 0
    shredded_keys: int = 0


def erase_expired(
    session: Session, keyring: Keyring, trail: AuditTrail, *, policy: RetentionPolicy = DEFAULT_POLICY
) -> ResidenceErasures:
    on, now = today(trail.clock), trail.clock.now()
    done = ResidenceErasures()
    people: set[uuid.UUID] = set()
    erased: dict[SealedTable, list[str]] = {}
    for registration in session.exec(
        select(Registration)
        .where(Registration.departed_on.is_not(None), Registration.erased_at.is_(None), unheld(Registration))
        # PostgreSQL: a concurrent run (the scheduler's and one asked for) waits here, then
        # finds the rows it waited for erased and skips them: each is erased and audited once.
        .with_for_update()
    ):  # type: ignore[union-attr]
        if registration_due(registration.departed_on, on, policy=policy) == "erase":
            erased.setdefault(REGISTRATION, []).append(str(registration.id))
            registration.erased_at = now
            trail.append(session, Event(Action.REGISTRATION_ERASE, targets=(str(registration.id),)))
            people.add(registration.person_id)
            done.registrations += 1
    for permit in session.exec(
        select(Permit)
        .where(
            sa.or_(Permit.cancelled_on.is_not(None), Permit.rejected_on.is_not(None)),
            Permit.erased_at.is_(None),
            unheld(Permit),
        )
        .with_for_update()
    ):  # type: ignore[union-attr]
        # A refused application is kept as long as a cancelled permit, counted from its refusal.
        if permit_due(permit.cancelled_on or permit.rejected_on, on, policy=policy) == "erase":
            erased.setdefault(PERMIT, []).append(str(permit.id))
            permit.erased_at = now
            trail.append(session, Event(Action.PERMIT_ERASE, targets=(str(permit.id),)))
            people.add(permit.person_id)
            done.permits += 1
    session.flush()
    # Sealed values and index entries go by the descriptors; dates and states stay.
    for descriptor, ids in erased.items():
        clear_sealed(session, descriptor, ids)
    for person_id in people:
        live = session.exec(
            select(Registration.id).where(Registration.person_id == person_id, Registration.erased_at.is_(None))
        ).first()  # type: ignore[union-attr]
        live = (
            live
            or session.exec(select(Permit.id).where(Permit.person_id == person_id, Permit.erased_at.is_(None))).first()
        )  # type: ignore[union-attr]
        if live is None:
            done.shredded_keys += keyring.shred(session, owner=str(person_id), compartment=Compartment.RESIDENCE)
    return done
