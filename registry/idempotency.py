"""Idempotency-Key (API.md; draft-ietf-httpapi-idempotency-key-header): a client that does
not learn whether a write committed (a connection lost during the commit, a failover)
sends it again with the same key, and the write is done once. The key is recorded in the
write's own transaction, so "recorded" and "done" are one fact: a retry finds the record
exactly when the first attempt committed.

What is kept names no one: a digest of the account and the key, a keyed digest (HMAC
with the service's secret) of the request, the status answered and where the record it
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
    "record",
]

HEADER = "idempotency-key"
LIFETIME = timedelta(hours=24)  # API.md: the same key and body within 24 h
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the draft's sf-string allows


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"

    key_digest: str = Field(primary_key=True, max_length=64)  # SHA-256(account ‖ key), hex
    fingerprint: str = Field(max_length=64)  # HMAC-SHA-256(secret, method ‖ target ‖ body), hex
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


def key_digest(account_id: object, key: str) -> str:
    return hashlib.sha256(f"{account_id}\n{key}".encode()).hexdigest()


def fingerprint(secret: bytes, method: str, target: str, body_digest: bytes) -> str:
    message = method.encode() + b"\n" + target.encode() + b"\n" + body_digest
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def check(session: Session, *, account_id: object, key: str, fingerprint: str, now: datetime) -> Pending:
    """The write to do and record (`Pending`), or `Replay` when it was done; a key used for
    another request is refused (422), as the draft says."""
    if not _KEY.fullmatch(key):
        raise RuleViolation("idempotency_key: 1 to 255 visible ASCII characters")
    digest = key_digest(account_id, key)
    found = session.exec(select(IdempotencyRecord).where(col(IdempotencyRecord.key_digest) == digest)).first()
    if found is not None and found.at < now - LIFETIME:
        session.delete(found)  # expired: the key is free again
        session.flush()
        found = None
    if found is None:
        return Pending(digest, fingerprint)
    if not hmac.compare_digest(found.fingerprint, fingerprint):
        raise RuleViolation("idempotency_key: already used for another request")
    raise Replay(found.status, found.location)


def record(session: Session, pending: Pending, *, status: int, location: str | None, now: datetime) -> None:
    """In the write's transaction: committed with it, or not at all. A concurrent attempt
    with the same key fails its commit on the key (and is answered as unknown: retry)."""
    session.add(
        IdempotencyRecord(
            key_digest=pending.key_digest, fingerprint=pending.fingerprint, status=status, location=location, at=now
        )
    )


def done_elsewhere(status: int) -> Conflict:
    return Conflict(f"idempotency_key: this request was done before (status {status}); nothing was done again")
