"""The stored tree as the sequencer leaves it: its size, its subtree hashes, and the
leadership that serialises everything that extends it (batches, checkpoints, a restore
declaration)."""

from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, select

from registry.audit.merkle import HashSource
from registry.audit.models import AuditLeaf, AuditNode

# pg_advisory_xact_lock key: "audit-sequencer" as a stable 63-bit number.
LEADER_LOCK = 0x4155444954534551


class Signer(Protocol):
    def sign(self, message: bytes) -> bytes: ...
    def public_key(self) -> Ed25519PublicKey: ...

    @property
    def key_id(self) -> str: ...


def tree_size(session: Session) -> int:
    newest = session.exec(select(sa.func.max(AuditLeaf.seq))).one()
    return 0 if newest is None else newest + 1


def stored_hashes(session: Session) -> HashSource:
    def get(level: int, index: int) -> bytes:
        node = session.get(AuditNode, (level, index))
        if node is None:
            raise LookupError(f"audit tree node ({level}, {index}) is missing")
        return node.hash

    return get


def lead(session: Session, *, wait: bool = False) -> bool:
    """Whether this transaction extends the tree; with `wait`, after whoever does now has
    committed. PostgreSQL: an advisory lock held to the end of the transaction; SQLite's
    write lock serialises writers already."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(LEADER_LOCK)))
        return True
    return bool(session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(LEADER_LOCK))).scalar())
