"""Casefile event catalogue

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The last day of an absence (戒毒条例 Art. 20 counts absences in days); its first day
    # is the event's `occurred_on`.
    with op.batch_alter_table("casefile_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ends_on", sa.Date(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
