"""Applying the retention table to casefiles: seal what is due, erase what has expired.

Erasure is crypto-shredding where it can be: the person's `casefile` DEKs are destroyed
once none of their files is live, so every copy of the ciphertext (backups included)
becomes unreadable. While another of their files is still kept, the erased file's own
ciphertexts are overwritten instead. Each step is audited as the system.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from registry.audit.actions import Action
from registry.audit.log import AuditTrail, Event
from registry.casefiles.event_counts import relapse_free_since
from registry.casefiles.models import CASEFILE, Casefile
from registry.casefiles.retention import DEFAULT_POLICY, RetentionPolicy, casefile_due
from registry.casefiles.workflows import workflow_for
from registry.clock import today
from registry.crypto.erasure import clear_sealed
from registry.crypto.keyring import Compartment, Keyring
from registry.db import transaction
from registry.people.holds import unheld

Progress = Callable[[int, int], None]
BATCH = 200


@dataclass
class RetentionCounts:
    examined: int = 0
    sealed: int = 0
    erased: int = 0
    shredded_keys: int = 0


def _erase(session: Session, keyring: Keyring, casefile: Casefile, trail: AuditTrail) -> int:
    now = trail.clock.now()
    session.flush()
    # The file and every row that belongs to it (events, grants, leaves), by its descriptor.
    clear_sealed(session, CASEFILE, [str(casefile.id)])
    session.refresh(casefile)
    casefile.erased_at, casefile.sealed = now, True
    casefile.version += 1
    session.flush()
    live = session.exec(
        select(Casefile.id).where(Casefile.person_id == casefile.person_id, Casefile.erased_at.is_(None))
    ).first()  # type: ignore[union-attr]
    shredded = 0
    if live is None:
        shredded = keyring.shred(session, owner=str(casefile.person_id), compartment=Compartment.CASEFILE)
    trail.append(
        session,
        Event(
            Action.CASEFILE_ERASE,
            targets=(str(casefile.id),),
            reason="crypto_shredded" if shredded else "ciphertext_overwritten",
        ),
    )
    return shredded


def run_retention(
    engine: Engine,
    keyring: Keyring,
    trail: AuditTrail,
    *,
    policy: RetentionPolicy = DEFAULT_POLICY,
    progress: Progress | None = None,
) -> RetentionCounts:
    """Batched and idempotent: a re-run after a crash finds only what is still due."""
    counts = RetentionCounts()
    on = today(trail.clock)
    with Session(engine) as session:
        total = session.exec(
            select(sa.func.count())
            .select_from(Casefile)
            .where(Casefile.erased_at.is_(None), Casefile.closed_on.is_not(None))
        ).one()  # type: ignore[union-attr]
    last: uuid.UUID | None = None
    while True:
        with transaction(engine) as session:
            query = select(Casefile).where(
                Casefile.erased_at.is_(None),  # type: ignore[union-attr]
                Casefile.closed_on.is_not(None),  # type: ignore[union-attr]
            )
            if last is not None:
                query = query.where(Casefile.id > last)
            batch = list(session.exec(query.order_by(Casefile.id).limit(BATCH).with_for_update()))
            held = set(
                session.exec(
                    select(Casefile.id).where(
                        Casefile.id.in_([c.id for c in batch]),  # type: ignore[attr-defined]
                        sa.not_(unheld(Casefile)),
                    )
                )
            )
            for casefile in batch:
                # `closed_on` is the approval date, set only with a terminal state: a file
                # whose closure is still pending (or any other) is not counted at all.
                if not workflow_for(casefile.kind).is_terminal(casefile.status):
                    continue
                due = casefile_due(
                    casefile.kind,
                    minor=casefile.minor,
                    closed_on=casefile.closed_on,
                    discharged_on=casefile.closed_on if casefile.status == "discharged" else None,
                    relapse_free_since=relapse_free_since(session, casefile),  # 戒毒条例 Art. 7
                    # Held by itself or through its person (people.holds): sealed, never erased.
                    legal_hold=casefile.id in held,
                    today=on,
                    policy=policy,
                )
                if due == "seal" and not casefile.sealed:
                    casefile.sealed, casefile.sealed_at = True, trail.clock.now()
                    casefile.version += 1
                    trail.append(session, Event(Action.CASEFILE_SEAL, targets=(str(casefile.id),)))
                    counts.sealed += 1
                elif due == "erase":
                    counts.shredded_keys += _erase(session, keyring, casefile, trail)
                    counts.erased += 1
        if not batch:
            return counts
        last = batch[-1].id
        counts.examined += len(batch)
        if progress is not None:
            progress(counts.examined, total)
