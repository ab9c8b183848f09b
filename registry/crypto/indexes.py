"""Blind indexes for exact search: HMAC tokens of normalised values, in their own table.

Writes go to every live index version (dual write during rotation); reads use the active
version. A token is a bucket: callers decrypt the candidates and re-check the value.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from registry.crypto.blind_index import token
from registry.crypto.keyring import Keyring, KeyStatus
from registry.crypto.models import BlindIndexEntry


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
    if not rows:
        return
    if not fresh:
        versions = [r["version"] for r in rows]
        session.execute(
            sa.delete(BlindIndexEntry).where(
                BlindIndexEntry.record_table == table,
                BlindIndexEntry.field == field,
                BlindIndexEntry.record_id == record_id,
                BlindIndexEntry.version.in_(versions),
            )
        )  # type: ignore[attr-defined]
    session.execute(sa.insert(BlindIndexEntry), rows)


def read_token(session: Session, keyring: Keyring, *, table: str, field: str, value: str) -> tuple[int, bytes]:
    """(version, token) for a lookup on the active index version."""
    active = [r for r in keyring.index_roots(session) if r.status == KeyStatus.ACTIVE]
    root = active[-1]
    return root.version, token(keyring.index_key(root, table=table, field=field), value, bits=keyring.index_bits)


def candidates(session: Session, *, table: str, field: str, version: int, token_value: bytes) -> list[str]:
    return list(
        session.exec(
            select(BlindIndexEntry.record_id).where(
                BlindIndexEntry.record_table == table,
                BlindIndexEntry.field == field,
                BlindIndexEntry.version == version,
                BlindIndexEntry.token == token_value,
            )
        )
    )


def drop_record(session: Session, *, table: str, record_id: str, field: str | None = None) -> None:
    """Remove a record's entries (every field, or one), in every version."""
    where = [BlindIndexEntry.record_table == table, BlindIndexEntry.record_id == record_id]
    if field is not None:
        where.append(BlindIndexEntry.field == field)
    session.execute(sa.delete(BlindIndexEntry).where(*where))
