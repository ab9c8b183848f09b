"""Separation of duties: one-time passwords and dual-control approvals

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("password_change_required", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("created_by", sa.Uuid(), nullable=True))

    op.create_table(
        "account_approval",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("org_unit_code", sa.String(15), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("target_version", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_account_approval_status", "account_approval", ["status"])
    op.create_index("ix_account_approval_account_id", "account_approval", ["account_id"])


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
