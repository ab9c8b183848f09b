"""Which notices were received already: a receipt per notice that opened a file.

The number is sealed under the file's casefile DEK and found through its blind index, as
a person is found by ID number: the token gives candidates (a bucket holds others too),
each is opened and compared exactly. Only the answer leaves; the number is shown to no
one. Receipts are looked up across every unit, and a hit answers the file it opened: whose
(one judgment sentences several co-defendants, each a file of their own) and which unit
holds it (the importer says "duplicate" only inside its scope).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from registry.casefiles.models import NOTICE_RECEIPT, Casefile, NoticeReceipt
from registry.casefiles.notices.numbers import document_key
from registry.crypto import indexes
from registry.crypto.keyring import Keyring
from registry.db import chunked
from registry.disclosure import matches
from registry.errors import RegistryError

__all__ = ["Received", "lock", "look_up", "record"]

INDEX = "document_no"
# pg_advisory_xact_lock key ("NOTICES"): one batch of notice imports at a time, so that two
# imports of the same file cannot both find a notice new and each open a file for it.
LOCK = 0x4E4F54494345530A


def lock(session: Session) -> None:
    """PostgreSQL; SQLite has one writer anyway (every transaction begins IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK)))


@dataclass(frozen=True)
class Receipt:
    casefile_id: uuid.UUID
    person_id: uuid.UUID
    org_unit: str  # the unit holding the file


@dataclass
class Received:
    """Of the keys looked up (`document_key`): the files each opened before, and those
    with a stored candidate that could not be opened (an erased key, an altered
    ciphertext), with the error a row that needs it fails with."""

    hits: dict[str, list[Receipt]] = field(default_factory=dict)
    errors: dict[str, RegistryError] = field(default_factory=dict)


def look_up(session: Session, keyring: Keyring, *, kind: str, keys: Collection[str]) -> Received:
    """One blind-index query for the whole batch, the candidates opened and compared."""
    found = Received()
    if not keys:
        return found
    version, tokens = indexes.read_tokens(session, keyring, table=NOTICE_RECEIPT.name, field=INDEX, values=keys)
    by_token = indexes.candidates_of(
        session, table=NOTICE_RECEIPT.name, field=INDEX, version=version, tokens=set(tokens.values())
    )
    ids = sorted({uuid.UUID(i) for ids in by_token.values() for i in ids})
    rows = {}
    for chunk in chunked(ids):
        query: Any = (
            sa.select(
                col(NoticeReceipt.id),
                col(NoticeReceipt.document_no_ct),
                col(Casefile.id).label("casefile_id"),
                col(Casefile.person_id),
                col(Casefile.org_unit_code),
            )
            .join(Casefile, col(Casefile.id) == col(NoticeReceipt.casefile_id))
            .where(col(NoticeReceipt.id).in_(chunk), col(NoticeReceipt.kind) == kind)
        )
        rows.update({str(row.id): row for row in session.execute(query)})
    keyring.load_keys(session, owners={str(r.person_id) for r in rows.values()}, compartment=NOTICE_RECEIPT.compartment)
    for key, token in tokens.items():
        for rid in by_token.get(token, ()):
            row = rows.get(rid)
            if row is None:
                continue  # another kind's notice in the same bucket
            try:
                hit = matches(
                    session,
                    keyring,
                    NOTICE_RECEIPT,
                    row,
                    field=INDEX,
                    expected=key,
                    normalise=document_key,
                    subject=str(row.person_id),
                )
            except RegistryError as exc:
                found.errors.setdefault(key, exc)
                continue  # another candidate may still be the one
            if hit:
                found.hits.setdefault(key, []).append(Receipt(row.casefile_id, row.person_id, row.org_unit_code))
    return found


def record(
    session: Session,
    keyring: Keyring,
    *,
    kind: str,
    casefile: Casefile,
    document_no: str,
    received_by: uuid.UUID,
    at: datetime,
) -> NoticeReceipt:
    """The receipt of the notice that opened `casefile`, in the file's transaction."""
    receipt_id = uuid.uuid4()
    key = keyring.write_key(session, owner=str(casefile.person_id), compartment=NOTICE_RECEIPT.compartment)
    sealed = NOTICE_RECEIPT.seal(key, record_id=str(receipt_id), name=INDEX, value=document_no)
    assert sealed is not None  # a number was given
    receipt = NoticeReceipt(
        id=receipt_id,
        kind=kind,
        casefile_id=casefile.id,
        document_no_ct=sealed,
        received_by=received_by,
        received_at=at,
    )
    session.add(receipt)
    indexes.put(
        session,
        keyring,
        table=NOTICE_RECEIPT.name,
        field=INDEX,
        record_id=str(receipt_id),
        value=document_key(document_no),
        fresh=True,
    )
    return receipt
