"""Submitted monthly reports: frozen, signed, never updated; a revision is a new row."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from registry.db import UTCDateTime


class MonthlyReport(SQLModel, table=True):
    __tablename__ = "monthly_report"
    __table_args__ = (
        sa.UniqueConstraint("org_unit_code", "period", "department", "version", name="uq_report_version"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_unit_code: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    period: str = Field(max_length=7)  # YYYY-MM
    department: str = Field(max_length=16)  # the submitting role: police, civil_affairs, corrections
    version: int
    supersedes: uuid.UUID | None = None
    reason_code: str | None = Field(default=None, max_length=32)  # a revision's, from a closed list
    reference: str | None = Field(default=None, max_length=64)  # its document number
    # The cells as published (suppressed ones null), canonical JSON; its SHA-256 is signed.
    content: str = Field(sa_column=Column(sa.Text, nullable=False))
    content_hash: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    signed_note: str = Field(sa_column=Column(sa.Text, nullable=False))
    submitted_by: str = Field(max_length=64)
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
