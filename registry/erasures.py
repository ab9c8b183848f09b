"""Replaying the erasure journal after a restore (`registry erasures replay`, and
`registry restore`): the keys it names are destroyed again, and what they sealed is cleared
as the erasure cleared it, by the descriptors: every sealed table of that compartment owned
by that owner has its sealed values and blind-index entries removed (children with their
parents) and, where it has one, its erased-at date set. The service refuses to serve while a
journal key is in the database (`registry.runtime.open_runtime`)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col

import registry.models  # noqa: F401  (every model module, so every descriptor, is registered)
from registry.audit.actions import Action
from registry.audit.log import AuditTrail, Event
from registry.crypto.erasure import clear_sealed
from registry.crypto.erasure_journal import ErasureJournal
from registry.crypto.models import DataKeyRecord
from registry.crypto.sealed import descriptors

__all__ = ["Replayed", "replay"]


@dataclass
class Replayed:
    keys: int = 0  # data keys destroyed again
    records: int = 0  # rows whose sealed values were cleared again


def replay(session: Session, journal: ErasureJournal, trail: AuditTrail) -> Replayed:
    """Destroy the journal's keys still in the database and clear what they sealed; one
    audit entry naming the owners. Idempotent: a second replay finds nothing."""
    done = Replayed()
    pending = journal.pending(session)
    for key in pending:
        deleted = session.exec(
            sa.delete(DataKeyRecord).where(
                col(DataKeyRecord.owner_id) == key.owner,
                col(DataKeyRecord.compartment) == key.compartment,
                col(DataKeyRecord.version) == key.version,
            )
        )
        done.keys += deleted.rowcount or 0
    for owner, compartment in sorted({(k.owner, k.compartment) for k in pending}):
        done.records += _clear(session, owner, compartment, trail)
    if pending:
        owners = tuple(sorted({k.owner for k in pending}))
        trail.append(session, Event(Action.ERASURE_REPLAY, targets=owners, reason=f"{done.keys} keys"))
    return done


def _clear(session: Session, owner: str, compartment: str, trail: AuditTrail) -> int:
    cleared = 0
    for descriptor in descriptors():
        if descriptor.compartment != compartment or descriptor.owner_column is None:
            continue  # a child is cleared with its parent
        table = descriptor.table
        owned = descriptor.owner_expression() == _typed(table, descriptor.owner_column, owner)
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


def _typed(table: sa.Table, column: str, value: str) -> object:
    return table.c[column].type.python_type(value)
