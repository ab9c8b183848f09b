"""Replaying the erasure journal after a restore (`registry erasures replay`, and
`registry restore`): for each erasure the restored database has no record of, the keys are
destroyed again (every key of the owner's compartment made at or before the erasure,
whatever DEK rotation did to their versions), and what they sealed is cleared as the erasure
cleared it, by the descriptors: every sealed table of that compartment owned by that owner
has its sealed values and blind-index entries removed (children with their parents) and,
where it has one, its erased-at date set. The erasures the restored database did not know
are recorded in it, so it knows every journaled erasure again. The service refuses to start
while the database lacks one (`registry.runtime.open_runtime`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

import registry.models  # noqa: F401  (every model module, so every descriptor, is registered)
from registry.audit.actions import Action
from registry.audit.log import AuditTrail, Event
from registry.crypto.erasure import clear_sealed
from registry.crypto.erasure_journal import ErasureJournal
from registry.crypto.models import DataKeyRecord, ErasureRecord
from registry.crypto.sealed import descriptors

__all__ = ["Replayed", "replay"]


@dataclass
class Replayed:
    erasures: int = 0  # journaled erasures the database did not know
    keys: int = 0  # data keys destroyed again
    records: int = 0  # rows whose sealed values were cleared again


def replay(session: Session, journal: ErasureJournal, trail: AuditTrail) -> Replayed:
    """Destroy the journal's keys back in the database, clear what they sealed, and record
    the erasures it lacked; one audit entry naming the owners. Idempotent."""
    done = Replayed()
    entries = journal.check(session)
    # The erasures the restored database never saw: everything it holds of those owners'
    # compartments predates them.
    missing = journal.unknown(session, entries)
    latest: dict[tuple[str, str], datetime] = {}
    for e in missing:
        latest[(e.owner, e.compartment)] = max(latest.get((e.owner, e.compartment), e.when), e.when)
    for (owner, compartment), at in sorted(latest.items()):
        deleted = session.exec(
            sa.delete(DataKeyRecord).where(
                col(DataKeyRecord.owner_id) == owner,
                col(DataKeyRecord.compartment) == compartment,
                col(DataKeyRecord.created_at) <= at,
            )
        )
        done.keys += deleted.rowcount or 0
        done.records += _clear(session, owner, compartment, trail)
    for e in missing:
        record = ErasureRecord(id=e.seq, owner_id=e.owner, compartment=e.compartment, erased_at=e.when, journaled=True)
        session.add(record)
    session.flush()
    if missing and session.get_bind().dialect.name == "postgresql":
        # Rows written with their journal numbers: the next erasure is numbered after them.
        advance = "SELECT setval(pg_get_serial_sequence('erasure', 'id'), (SELECT max(id) FROM erasure))"
        session.execute(sa.text(advance))
    done.erasures = len(missing)
    if missing:
        owners = tuple(sorted({e.owner for e in missing}))
        trail.append(session, Event(Action.ERASURE_REPLAY, targets=owners, reason=f"{done.keys} keys"))
    return done


def _clear(session: Session, owner: str, compartment: str, trail: AuditTrail) -> int:
    cleared = 0
    for descriptor in descriptors():
        if descriptor.compartment != compartment or descriptor.owner_column is None:
            continue  # a child is cleared with its parent
        table = descriptor.table
        owned = descriptor.owner_expression() == table.c[descriptor.owner_column].type.python_type(owner)
        query = sa.select(table.c[descriptor.id_column]).where(owned)
        if descriptor.erased_column is not None:
            query = query.where(table.c[descriptor.erased_column].is_(None))
        ids = [str(i) for i in session.execute(query).scalars()]
        cleared += clear_sealed(session, descriptor, ids)
        if ids and descriptor.erased_column is not None:
            id_column = table.c[descriptor.id_column]
            keys = [id_column.type.python_type(i) for i in ids]
            erased = {descriptor.erased_column: trail.clock.now()}
            session.execute(sa.update(table).where(id_column.in_(keys)).values(erased))
    return cleared
