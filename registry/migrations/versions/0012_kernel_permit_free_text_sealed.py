"""Kernel: permit free text sealed

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The Art. 9 materials list and a decision's reason are free text: sealed like the number
    # (`residence_permit` descriptor). A migration holds no keys, so a value stored in the
    # clear before is not carried over: it is dropped with its column rather than kept readable.
    with op.batch_alter_table("residence_permit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("materials_missing_ct", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("decision_reason_ct", sa.LargeBinary(), nullable=True))
        batch_op.drop_column("materials_missing")
        batch_op.drop_column("decision_reason")


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
