"""Idempotency keys

Revision ID: 0034
Revises: 0033

Issue 19: a write whose commit outcome is unknown after a failover is sent again with the
same Idempotency-Key and done once; the key is recorded in the write's own transaction.
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_record",
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key_digest"),
    )
    op.create_index("ix_idempotency_record_at", "idempotency_record", ["at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_record_at", table_name="idempotency_record")
    op.drop_table("idempotency_record")
