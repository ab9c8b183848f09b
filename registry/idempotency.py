"""Idempotency-Key (API.md; draft-ietf-httpapi-idempotency-key-header): a client that does
not learn whether a write committed (a connection lost during the commit, a failover)
sends it again with the same key, and the write is done once. The key is recorded in the
write's own transaction, so "recorded" and "done" are one fact: a retry finds the record
exactly when the first attempt committed.

What is kept names no one: keyed digests (HMAC under a key derived from the service's
secret) of the account and the key and of the request, the status answered and where the record it
created can be read. Never the response body: it may hold personal values, which would
then outlive their subject's erasure. So a retry of a committed write is answered 303 See
Other to that record (reading it is a read, purpose and audit as any), or its bodiless
status (204), or 409 naming the status when there is nothing to point to.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlmodel import Column, Field, Session, SQLModel, col, select

from registry.db import UTCDateTime
from registry.errors import Conflict, RuleViolation

__all__ = [
    "HEADER",
    "LIFETIME",
    "IdempotencyRecord",
    "Pending",
    "Replay",
    "check",
    "done_elsewhere",
    "fingerprint",
    "purpose_key",
    "record",
]

HEADER = "idempotency-key"
LIFETIME = timedelta(hours=24)  # API.md: the same key and body within 24 h
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the draft's sf-string allows


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"

    key_digest: str = Field(primary_key=True, max_length=64)  # HMAC-SHA-256(account ‖ key), hex
    fingerprint: str = Field(max_length=64)  # HMAC-SHA-256(method ‖ target ‖ conditions ‖ body), hex
    status: int
    location: str | None = Field(default=None, max_length=300)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


@dataclass(frozen=True)
class Pending:
    """A write to record with its own transaction's commit."""

    key_digest: str
    fingerprint: str


class Replay(Exception):
    """The write was done before: what to answer instead of doing it again."""

    def __init__(self, status: int, location: str | None) -> None:
        super().__init__(status)
        self.status, self.location = status, location


def purpose_key(secret: bytes) -> bytes:
    """A key of its own for these digests, derived from the service's secret (HKDF), so the
    token-signing key signs nothing else."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"registry idempotency digests").derive(secret)


def key_digest(key_secret: bytes, account_id: object, key: str) -> str:
    """Keyed: a client that makes a key of a person's number leaves nothing to guess it from."""
    return hmac.new(key_secret, f"{account_id}\n{key}".encode(), hashlib.sha256).hexdigest()


def fingerprint(key_secret: bytes, method: str, target: str, conditions: str, body_digest: bytes) -> str:
    """The request as the key stands for it: method, target, its conditions (If-Match,
    X-Purpose) and body."""
    message = f"{method}\n{target}\n{conditions}\n".encode() + body_digest
    return hmac.new(key_secret, message, hashlib.sha256).hexdigest()


def check(
    session: Session, *, key_secret: bytes, account_id: object, key: str, fingerprint: str, now: datetime
) -> Pending:
    """The write to do (`Pending`, its key reserved in this transaction), or `Replay` when it
    was done; a key used for another request is refused (422), as the draft says. The
    reservation makes a second copy sent at once wait for the first (PostgreSQL: on the
    key's row) and then answer as done, instead of doing the write twice."""
    if not _KEY.fullmatch(key):
        raise RuleViolation("idempotency_key: 1 to 255 visible ASCII characters")
    # Kept 24 hours: expired keys go as keys are used (an indexed range, usually empty).
    session.execute(sa.delete(IdempotencyRecord).where(col(IdempotencyRecord.at) < now - LIFETIME))
    digest = key_digest(key_secret, account_id, key)
    try:
        with session.begin_nested():
            session.add(IdempotencyRecord(key_digest=digest, fingerprint=fingerprint, status=0, at=now))
            session.flush()
    except sa.exc.IntegrityError:
        found = session.exec(select(IdempotencyRecord).where(col(IdempotencyRecord.key_digest) == digest)).one()
        if not hmac.compare_digest(found.fingerprint, fingerprint):
            raise RuleViolation("idempotency_key: already used for another request") from None
        raise Replay(found.status, found.location) from None
    return Pending(digest, fingerprint)


def record(session: Session, pending: Pending, *, status: int, location: str | None) -> None:
    """What the write answered, on its reserved key, in the write's transaction: committed
    with it, or gone with it."""
    session.execute(
        sa.update(IdempotencyRecord)
        .where(col(IdempotencyRecord.key_digest) == pending.key_digest)
        .values(status=status, location=location)
    )


def done_elsewhere(status: int) -> Conflict:
    return Conflict(f"idempotency_key: this request was done before (status {status}); nothing was done again")
