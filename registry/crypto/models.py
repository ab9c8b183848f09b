"""Key tables: the suite chosen at init, wrapped data keys, index root keys, blind indexes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from registry.db import UTCDateTime


class CryptoConfig(SQLModel, table=True):
    """One row, written at init: the suite is never changed or mixed afterwards."""

    __tablename__ = "crypto_config"

    id: int = Field(default=1, primary_key=True)
    suite: str = Field(max_length=16)
    index_bits: int
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class DataKeyRecord(SQLModel, table=True):
    """A DEK per owner (person) per compartment per version, wrapped by the KEK.
    Deleting an owner's rows is crypto-shredding: the ciphertext stays, unreadable."""

    __tablename__ = "data_key"

    owner_id: str = Field(primary_key=True, max_length=36)
    compartment: str = Field(primary_key=True, max_length=16)
    version: int = Field(primary_key=True)
    wrapped: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    kek_version: int = Field(index=True)
    status: str = Field(max_length=16)  # active | retired
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class IndexRootKey(SQLModel, table=True):
    """Root of the blind-index keys of one version; per-field keys are HKDF-derived."""

    __tablename__ = "index_root_key"

    version: int = Field(primary_key=True)
    wrapped: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    kek_version: int
    # writing: dual-written during rotation; active: read and written; retired: gone.
    status: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class BlindIndexEntry(SQLModel, table=True):
    """Truncated HMAC tokens, in their own table so two index versions can coexist."""

    __tablename__ = "blind_index"
    __table_args__ = (sa.Index("ix_blind_index_lookup", "record_table", "field", "version", "token"),)

    record_table: str = Field(primary_key=True, max_length=32)
    field: str = Field(primary_key=True, max_length=32)
    version: int = Field(primary_key=True)
    record_id: str = Field(primary_key=True, max_length=36)
    token: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))


class DekRotation(SQLModel, table=True):
    """A DEK rotation in progress: a re-run resumes it (owners keyed after `started_at`
    keep their new key) instead of starting over."""

    __tablename__ = "dek_rotation"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class ErasureRecord(SQLModel, table=True):
    """A crypto-shred, recorded in the transaction that does it (`registry.crypto.
    erasure_journal`): which owner's compartment keys, when; `journaled` once the signed
    journal outside the database holds it. Ids and a time: no personal value."""

    __tablename__ = "erasure"

    id: int | None = Field(default=None, primary_key=True)
    owner_id: str = Field(max_length=36, index=True)
    compartment: str = Field(max_length=16)
    erased_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    journaled: bool = Field(default=False, index=True)
