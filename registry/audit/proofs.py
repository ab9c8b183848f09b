"""Serving proofs and checkpoints from the stored tree, in O(log n) and one query each.

The nodes a proof needs depend only on the indices, so a first pass records which
(level, index) pairs it asks for, one query fetches them all, and a second pass builds
the proof from them.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.audit.merkle import HASH_SIZE, HashSource, consistency_proof, inclusion_proof
from registry.audit.models import AuditCheckpoint, AuditLeaf, AuditNode
from registry.errors import NotFound, RuleViolation

_PLACEHOLDER = bytes(HASH_SIZE)


def _prefetched(session: Session, build: Callable[[HashSource], list[bytes]]) -> list[bytes]:
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return _PLACEHOLDER

    build(record)
    found: dict[tuple[int, int], bytes] = {}
    if wanted:
        # OR'd key lookups, not a tuple IN: SQLite plans the latter as a full table scan.
        keys = [sa.and_(col(AuditNode.level) == lv, col(AuditNode.index) == ix) for lv, ix in sorted(wanted)]
        rows = session.exec(select(AuditNode).where(sa.or_(*keys)))
        found = {(n.level, n.index): n.hash for n in rows}

    def get(level: int, index: int) -> bytes:
        try:
            return found[(level, index)]
        except KeyError:
            raise NotFound("the tree does not have that node yet") from None

    source: HashSource = get
    return build(source)


def latest_checkpoint(session: Session) -> AuditCheckpoint:
    checkpoint = session.exec(select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1)).first()  # type: ignore[attr-defined]
    if checkpoint is None:
        raise NotFound("no checkpoint has been signed yet")
    return checkpoint


def _check_size(session: Session, size: int) -> None:
    if session.get(AuditCheckpoint, size) is None:
        raise RuleViolation("size: proofs are served for checkpointed tree sizes only")


def inclusion(session: Session, *, seq: int, size: int) -> tuple[bytes, list[bytes]]:
    _check_size(session, size)
    if not 0 <= seq < size:
        raise RuleViolation("seq: must be below size")
    leaf = session.get(AuditLeaf, seq)
    if leaf is None:
        raise NotFound("no such entry")
    return leaf.leaf_hash, _prefetched(session, lambda get: inclusion_proof(get, seq, size))


def consistency(session: Session, *, old_size: int, new_size: int) -> list[bytes]:
    _check_size(session, new_size)
    if not 0 < old_size <= new_size:
        raise RuleViolation("from: must be positive and not above to")
    return _prefetched(session, lambda get: consistency_proof(get, old_size, new_size))
