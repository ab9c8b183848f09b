"""The scheduler inside the service

Revision ID: 0024
Revises: 0023

Issue 15: sweeps (deadlines, retention, key versions) run inside `registry serve` on the
injected clock. `sweep_run` records each sweep's day once (unique), so a restart or a
second process never runs a day twice; `scheduler_lease` is SQLite's leader election
(PostgreSQL takes an advisory lock).
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweep_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sweep", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("job_id", sa.Uuid(), sa.ForeignKey("job.id"), nullable=False),
        sa.UniqueConstraint("sweep", "day", name="uq_sweep_run_day"),
    )
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(length=32), primary_key=True),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
