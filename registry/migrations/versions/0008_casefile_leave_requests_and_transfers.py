"""Casefile leave requests and transfers

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "casefile_transfer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("casefile_id", sa.Uuid(), nullable=False),
        sa.Column("from_org_unit", sa.String(15), nullable=False),
        sa.Column("to_org_unit", sa.String(15), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_by", sa.Uuid(), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.Column("report_due_on", sa.Date(), nullable=True),
        sa.Column("cancelled_by", sa.Uuid(), nullable=True),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["casefile_id"],
            ["casefile.id"],
        ),
        sa.ForeignKeyConstraint(
            ["from_org_unit"],
            ["org_unit.code"],
        ),
        sa.ForeignKeyConstraint(
            ["to_org_unit"],
            ["org_unit.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("casefile_transfer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_casefile_transfer_casefile_id"), ["casefile_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_casefile_transfer_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_casefile_transfer_to_org_unit"), ["to_org_unit"], unique=False)

    op.create_table(
        "leave_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("casefile_id", sa.Uuid(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("destination_ct", sa.LargeBinary(), nullable=False),
        sa.Column("reason_ct", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("required_level", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_level", sa.String(16), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decision_note_ct", sa.LargeBinary(), nullable=True),
        sa.Column("returned_on", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["casefile_id"],
            ["casefile.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("leave_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leave_request_casefile_id"), ["casefile_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_leave_request_ends_on"), ["ends_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_leave_request_status"), ["status"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
