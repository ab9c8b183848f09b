"""Blind indexes for exact search: HMAC tokens of normalised values, in their own table.

Writes go to every live index version (dual write during rotation); reads use the active
version. A token is a bucket: callers decrypt the candidates and re-check the value.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from registry.crypto.blind_index import token
from registry.crypto.keyring import Compartment, Keyring, KeyStatus
from registry.crypto.models import BlindIndexEntry
from registry.db import chunked, insert_many, table_of


def entries(
    session: Session,
    keyring: Keyring,
    *,
    table: str,
    field: str,
    record_id: str,
    value: str,
    version: int | None = None,
) -> list[dict[str, Any]]:
    """The `blind_index` rows that index `value` under every live version (or only
    `version`): what `put` writes, for a bulk writer to insert many records' at once."""
    rows = []
    for root in keyring.index_roots(session):
        if version is not None and root.version != version:
            continue
        key = keyring.index_key(root, table=table, field=field)
        rows.append(
            {
                "record_table": table,
                "field": field,
                "version": root.version,
                "record_id": record_id,
                "token": token(key, value, bits=keyring.index_bits),
            }
        )
    return rows


def put(
    session: Session,
    keyring: Keyring,
    *,
    table: str,
    field: str,
    record_id: str,
    value: str,
    fresh: bool = False,
    version: int | None = None,
) -> None:
    """Index `value` under every live version (or only `version`, for a backfill).
    `fresh`: the record is new in this transaction, so there is nothing to replace."""
    rows = entries(session, keyring, table=table, field=field, record_id=record_id, value=value, version=version)
    if not rows:
        return
    if not fresh:
        versions = [r["version"] for r in rows]
        session.execute(
            sa.delete(BlindIndexEntry).where(
                col(BlindIndexEntry.record_table) == table,
                col(BlindIndexEntry.field) == field,
                col(BlindIndexEntry.record_id) == record_id,
                col(BlindIndexEntry.version).in_(versions),
            )
        )
    session.execute(sa.insert(BlindIndexEntry), rows)


def put_new(session: Session, keyring: Keyring, *, table: str, record_id: str, values: Mapping[str, str]) -> None:
    """`put(..., fresh=True)` of several fields of a record new in this transaction: one insert."""
    rows = [
        row
        for field, value in values.items()
        for row in entries(session, keyring, table=table, field=field, record_id=record_id, value=value)
    ]
    insert_entries(session, rows)


def read_token(session: Session, keyring: Keyring, *, table: str, field: str, value: str) -> tuple[int, bytes]:
    """(version, token) for a lookup on the active index version."""
    active = [r for r in keyring.index_roots(session) if r.status == KeyStatus.ACTIVE]
    root = active[-1]
    return root.version, token(keyring.index_key(root, table=table, field=field), value, bits=keyring.index_bits)


def read_tokens(
    session: Session, keyring: Keyring, *, table: str, field: str, values: Iterable[str]
) -> tuple[int, dict[str, bytes]]:
    """`read_token` for many values: (active version, token of each value)."""
    active = [r for r in keyring.index_roots(session) if r.status == KeyStatus.ACTIVE]
    root = active[-1]
    key = keyring.index_key(root, table=table, field=field)
    return root.version, {value: token(key, value, bits=keyring.index_bits) for value in values}


def candidates_of(
    session: Session, *, table: str, field: str, version: int, tokens: Collection[bytes]
) -> dict[bytes, list[str]]:
    """`candidates` for many tokens with one query per thousand: token → record ids."""
    found: dict[bytes, list[str]] = {}
    for chunk in chunked(sorted(tokens)):
        rows = session.execute(
            sa.select(col(BlindIndexEntry.token), col(BlindIndexEntry.record_id)).where(
                col(BlindIndexEntry.record_table) == table,
                col(BlindIndexEntry.field) == field,
                col(BlindIndexEntry.version) == version,
                col(BlindIndexEntry.token).in_(chunk),
            )
        )
        for token_value, record_id in rows:
            found.setdefault(bytes(token_value), []).append(record_id)
    return found


def insert_entries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write rows from `entries` for records new in this transaction (nothing to replace)."""
    insert_many(session, table_of(BlindIndexEntry), rows)


# Every search runs it: built once, its values bound at each run.
_CANDIDATES = sa.select(col(BlindIndexEntry.record_id)).where(
    col(BlindIndexEntry.record_table) == sa.bindparam("table"),
    col(BlindIndexEntry.field) == sa.bindparam("field"),
    col(BlindIndexEntry.version) == sa.bindparam("version"),
    col(BlindIndexEntry.token) == sa.bindparam("token", type_=BlindIndexEntry.__table__.c.token.type),  # type: ignore[attr-defined]
)


def candidates(session: Session, *, table: str, field: str, version: int, token_value: bytes) -> list[str]:
    params = {"table": table, "field": field, "version": version, "token": token_value}
    return list(session.execute(_CANDIDATES, params).scalars())


@functools.cache
def _candidates_with_keys(compartment: Compartment) -> sa.Select[Any]:
    owner = table_of(BlindIndexEntry).c.record_id  # correlated: each entry's own record
    return _CANDIDATES.add_columns(*Keyring.newest_key_columns(owner=owner, compartment=compartment))


def candidates_with_keys(
    session: Session, keyring: Keyring, *, table: str, field: str, version: int, token_value: bytes, keys: Compartment
) -> list[str]:
    """`candidates`, each with its newest key row in `keys` read in the same statement and
    handed to `keyring.remember`: a search that opens what it finds reads no key row alone.
    The caller reads the records after this statement, so it must skip one erased since (an
    erasure shreds the key, marks the record erased and drops its entries in one
    transaction, as `people.service._matches` relies on)."""
    params = {"table": table, "field": field, "version": version, "token": token_value}
    found = []
    for record_id, key_version, wrapped in session.execute(_candidates_with_keys(keys), params):
        keyring.remember(session, owner=record_id, compartment=keys, version=key_version, wrapped=wrapped)
        found.append(record_id)
    return found


def drop_record(session: Session, *, table: str, record_id: str, field: str | None = None) -> None:
    """Remove a record's entries (every field, or one), in every version."""
    where = [col(BlindIndexEntry.record_table) == table, col(BlindIndexEntry.record_id) == record_id]
    if field is not None:
        where.append(col(BlindIndexEntry.field) == field)
    session.execute(sa.delete(BlindIndexEntry).where(*where))
