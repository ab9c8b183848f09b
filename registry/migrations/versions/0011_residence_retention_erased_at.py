"""Residence retention: erased_at

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("residence_permit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", UTCDateTime(), nullable=True))

    with op.batch_alter_table("residence_registration", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
