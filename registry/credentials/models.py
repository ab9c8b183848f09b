"""Credential tables: the issuing keys (wrapped under the KEK like every data key), which
permit each issued credential speaks for (its place in the status list), and the signed
status list as last published."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from registry.db import UTCDateTime


class CredentialKey(SQLModel, table=True):
    __tablename__ = "credential_key"

    kid: str = Field(primary_key=True, max_length=64)  # the JWK thumbprint (RFC 7638)
    public_key: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))  # raw Ed25519
    # The private key, wrapped under the KEK; None when it lives in the PKCS#11 token under
    # `provider_label`, which the service never reads out.
    wrapped: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    provider_label: str | None = Field(default=None, max_length=64)
    kek_version: int
    # active: signs; retired: signs no more, published while credentials it signed may live.
    status: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    retired_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class PermitCredential(SQLModel, table=True):
    __tablename__ = "permit_credential"

    status_index: int = Field(primary_key=True)  # the credential's place in the status list
    permit_id: uuid.UUID = Field(foreign_key="residence_permit.id", index=True)
    kid: str = Field(max_length=64)
    issued_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class StatusListToken(SQLModel, table=True):
    __tablename__ = "credential_status_list"

    id: int = Field(primary_key=True)
    token: str = Field(sa_column=Column(sa.Text, nullable=False))
    statuses: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))  # what the token says, packed
    published_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
