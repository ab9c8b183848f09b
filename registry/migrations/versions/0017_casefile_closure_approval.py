"""Casefile closure approval

Revision ID: 0017
Revises: 0016

A transition that ends a casefile now waits for the supervising level's approval
(`casefile_closure`), and `casefile.closed_on` is the approval date. Files closed before
this revision carry the date their closure declared, which nobody bounded (issue 13: a
closure back-dated to 1990 was erased by the next retention run). Their `closed_on` moves
forward to the day the closing transition was recorded, the earliest day anyone could
have approved it, so retention never counts from a declared date alone.
"""

from datetime import date

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "casefile_closure",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("casefile_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(32), nullable=False),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("declared_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["casefile_id"], ["casefile.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("casefile_closure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_casefile_closure_casefile_id"), ["casefile_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_casefile_closure_status"), ["status"], unique=False)
    _closed_on_from_recording()


def _closed_on_from_recording() -> None:
    casefile = sa.table(
        "casefile", sa.column("id", sa.Uuid()), sa.column("closed_on", sa.Date()), sa.column("erased_at", UTCDateTime())
    )
    event = sa.table(
        "casefile_event",
        sa.column("casefile_id", sa.Uuid()),
        sa.column("type", sa.String()),
        sa.column("created_at", UTCDateTime()),
    )
    conn = op.get_bind()
    recorded = (
        sa.select(casefile.c.id, casefile.c.closed_on, sa.func.max(event.c.created_at))
        .join(event, sa.and_(event.c.casefile_id == casefile.c.id, event.c.type == "transition"))
        .where(casefile.c.closed_on.is_not(None), casefile.c.erased_at.is_(None))
        .group_by(casefile.c.id, casefile.c.closed_on)
    )
    for casefile_id, closed_on, last_recorded in conn.execute(recorded).all():
        # `max` keeps the column's type, so this is an aware datetime on both engines.
        recorded_on: date = last_recorded.date()
        if recorded_on > closed_on:
            conn.execute(sa.update(casefile).where(casefile.c.id == casefile_id).values(closed_on=recorded_on))


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
