"""Legal holds on persons and residence records

Revision ID: 0023
Revises: 0022

Issue 14: retention now erases a person's identity once nothing of theirs is live, and a
legal hold applies to persons, residence registrations and permits as it does to casefiles
(a hold on a person holds every record of theirs). Existing rows are not held. A refused
permit application records the day of its refusal, from which its retention counts (it
was kept forever before, and with it the applicant's identity).
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

HOLDABLE = ("person", "residence_registration", "residence_permit")


def upgrade() -> None:
    for table in HOLDABLE:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("residence_permit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rejected_on", sa.Date(), nullable=True))
    # Refusals before this revision recorded no date: the application's own date is the
    # earliest the refusal can have been, so their retention is never longer than it should be.
    permit = sa.table(
        "residence_permit",
        sa.column("status", sa.String()),
        sa.column("applied_on", sa.Date()),
        sa.column("rejected_on", sa.Date()),
    )
    op.execute(sa.update(permit).where(permit.c.status == "rejected").values(rejected_on=permit.c.applied_on))


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
