"""The audit log table. Append-only: migrations install triggers that reject UPDATE and DELETE."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from registry.db import UTCDateTime


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
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
    request_id: str | None = Field(default=None, max_length=64)
    client_addr: str | None = Field(default=None, max_length=64)
