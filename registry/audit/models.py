"""The audit log table. Append-only: migrations install triggers that reject UPDATE and DELETE."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from registry.db import UTCDateTime

# 64-bit on PostgreSQL (an audit log outgrows 2^31); SQLite's INTEGER PRIMARY KEY is 64-bit.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    # `/metrics` counts entries by action and outcome on every scrape (`registry.operations`).
    __table_args__ = (sa.Index("ix_audit_entry_action_outcome", "action", "outcome"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor_id: str | None = Field(default=None, max_length=64, index=True)
    actor_roles: list[str] = Field(sa_column=Column(sa.JSON, nullable=False))
    actor_org_unit: str | None = Field(default=None, max_length=15)
    action: str = Field(max_length=64, index=True)
    # Opaque ids (UUIDs, org-unit codes) and, for searches, blind-index tokens: never values.
    targets: list[str] = Field(sa_column=Column(sa.JSON, nullable=False))
    fields: list[str] = Field(sa_column=Column(sa.JSON, nullable=False))
    # A search records the blind-index token (hex) of what was searched, never the value.
    search_token: str | None = Field(default=None, max_length=64)
    purpose: str | None = Field(default=None, max_length=32)
    break_glass_grant: str | None = Field(default=None, max_length=64)
    outcome: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=200)
    # The server's own id of the request; what a client sent as X-Request-ID is kept beside
    # it, never in its place (a client must not choose the id an investigation follows).
    request_id: str | None = Field(default=None, max_length=64)
    client_addr: str | None = Field(default=None, max_length=64)
    client_request_id: str | None = Field(default=None, max_length=64)


class AuditLeaf(SQLModel, table=True):
    """The sequencer's assignment: dense sequence number → entry, and the entry's leaf hash."""

    __tablename__ = "audit_leaf"

    seq: int = Field(sa_column=Column(sa.BigInteger, primary_key=True, autoincrement=False))
    entry_id: int = Field(sa_column=Column(BigId, sa.ForeignKey("audit_entry.id"), unique=True, nullable=False))
    leaf_hash: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))


class AuditNode(SQLModel, table=True):
    """Hash of every complete aligned subtree [index·2^level, (index+1)·2^level): what
    O(log n) inclusion and consistency proofs are built from."""

    __tablename__ = "audit_node"

    level: int = Field(sa_column=Column(sa.Integer, primary_key=True, autoincrement=False))
    index: int = Field(sa_column=Column(sa.BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))


class AuditCheckpoint(SQLModel, table=True):
    """A signed statement of the tree's size and root (C2SP signed note)."""

    __tablename__ = "audit_checkpoint"

    size: int = Field(sa_column=Column(sa.BigInteger, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    timestamp: int = Field(sa_column=Column(sa.BigInteger, nullable=False))
    key_id: str = Field(max_length=16)
    note: str = Field(sa_column=Column(sa.Text, nullable=False))


class AuditEpoch(SQLModel, table=True):
    """A declared restore (`registry.audit.epochs`): the epoch it starts, the sequence
    number of its first entry (the restored log's size) and the signed statement."""

    __tablename__ = "audit_epoch"

    epoch: int = Field(sa_column=Column(sa.Integer, primary_key=True, autoincrement=False))
    start_seq: int = Field(sa_column=Column(sa.BigInteger, nullable=False, unique=True))
    statement: str = Field(sa_column=Column(sa.Text, nullable=False))


class AuditReview(SQLModel, table=True):
    """An auditor's review of a break-glass grant (append-only like the log it reviews)."""

    __tablename__ = "audit_review"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    grant_id: str = Field(max_length=64, index=True)
    outcome: str = Field(max_length=16)  # justified | unjustified | needs_follow_up
    # Coded, never free text: auditors see no personal values, so nothing they write here may
    # hold one (issue 12). `reference` is the number of a document kept elsewhere.
    follow_up: str | None = Field(default=None, max_length=32)
    reference: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=500)  # reviews before revision 0019 only; never written now
    reviewer_id: str = Field(max_length=64)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
