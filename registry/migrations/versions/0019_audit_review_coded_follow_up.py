"""Audit review: coded follow-up instead of a free-text note

Revision ID: 0019
Revises: 0018

An auditor sees no personal values, so nothing an auditor writes may hold one (issue 12:
free text is sealed or replaced by coded reasons). A review now records a follow-up from a
closed list and the number of a document kept elsewhere; `note` stays for the reviews
written before this revision (the log they review is append-only, and so are they).
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_review", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follow_up", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("reference", sa.String(64), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
