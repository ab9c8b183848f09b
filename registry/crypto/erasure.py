"""Clearing a record's sealed values, read off its descriptor: the record's own sealed
columns, those of every row that belongs to it (a casefile's events, grants and leaves),
and their blind-index entries. Retention uses it where the owner's key must live on for
other records; where none is left, the key is shredded as well (crypto-shredding)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from registry.crypto import indexes
from registry.crypto.sealed import SealedTable, children_of


def _cleared(descriptor: SealedTable) -> dict[str, bytes | None]:
    # A required column keeps an empty value (nothing can be opened from it), else NULL;
    # the links erasure cuts are NULL.
    table = descriptor.table
    sealed = {f.column: (None if table.c[f.column].nullable else b"") for f in descriptor.fields}
    return sealed | dict.fromkeys(descriptor.erased_links)


def clear_sealed(session: Session, descriptor: SealedTable, record_ids: list[str]) -> int:
    """Destroy the sealed values of `record_ids` and of their children; returns rows cleared."""
    if not record_ids:
        return 0
    table = descriptor.table
    id_column = table.c[descriptor.id_column]
    keys = [id_column.type.python_type(r) for r in record_ids]  # the column's own type (UUID)
    cleared = session.exec(sa.update(table).where(id_column.in_(keys)).values(_cleared(descriptor))).rowcount or 0
    for record_id in record_ids:
        indexes.drop_record(session, table=descriptor.name, record_id=record_id)
    for child in children_of(descriptor.name):
        assert child.parent is not None
        fk = child.table.c[child.parent[0]]
        ids = [str(i) for i in session.execute(sa.select(child.table.c[child.id_column]).where(fk.in_(keys))).scalars()]
        cleared += clear_sealed(session, child, ids)
    return cleared
