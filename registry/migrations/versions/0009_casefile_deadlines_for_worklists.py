"""Casefile deadlines for worklists

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("casefile", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_due_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("term_ends_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("handover_due_on", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_casefile_term_ends_on"), ["term_ends_on"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
