"""Plain milestones for the KPIs

Revision ID: 0025
Revises: 0024

Issue 15: the KPIs count when files reached their states without opening a sealed body:
`casefile_event.moved_to` is a transition's new state (the file's status, already plain),
`casefile.released_on` the day a resettlement subject was released. Rows from before this
revision have neither (their transitions' bodies are sealed): the KPIs count from now on.
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("casefile", schema=None) as batch_op:
        batch_op.add_column(sa.Column("released_on", sa.Date(), nullable=True))
    with op.batch_alter_table("casefile_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("moved_to", sa.String(length=32), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
