"""Long-running jobs (key rotation, retention runs): their state and progress."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from registry.db import UTCDateTime


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    # The process stopped while the job ran; the work is idempotent, so request it again.
    INTERRUPTED = "interrupted"


class Job(SQLModel, table=True):
    __tablename__ = "job"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=32)
    status: str = Field(max_length=16, index=True)
    done: int = 0
    total: int | None = None
    requested_by: str | None = Field(default=None, max_length=64)
    # Error class name only: messages may carry data, and jobs are visible to admins.
    error: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class SweepRun(SQLModel, table=True):
    """One scheduled sweep on one day: the unique pair is what makes a day's run happen
    once, whichever process leads and however often it ticks."""

    __tablename__ = "sweep_run"
    __table_args__ = (sa.UniqueConstraint("sweep", "day", name="uq_sweep_run_day"),)

    id: int | None = Field(default=None, primary_key=True)
    sweep: str = Field(max_length=32)
    day: date
    job_id: uuid.UUID = Field(foreign_key="job.id")


class SchedulerLease(SQLModel, table=True):
    """SQLite's leader election: one row, held until `expires_at` unless renewed
    (PostgreSQL uses a session advisory lock instead, released with the connection)."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(max_length=64)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
