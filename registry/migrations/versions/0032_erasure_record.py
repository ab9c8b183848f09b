"""Erasures recorded

Revision ID: 0032
Revises: 0031

Issue 19: every crypto-shred recorded in its own transaction, until the signed erasure
journal outside the database holds it.
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("compartment", sa.String(length=16), nullable=False),
        sa.Column("erased_at", UTCDateTime(), nullable=False),
        sa.Column("journaled", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_erasure_owner_id", "erasure", ["owner_id"])
    op.create_index("ix_erasure_journaled", "erasure", ["journaled"])


def downgrade() -> None:
    op.drop_index("ix_erasure_journaled", table_name="erasure")
    op.drop_index("ix_erasure_owner_id", table_name="erasure")
    op.drop_table("erasure")
