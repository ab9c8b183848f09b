"""Casefile facts and terms

Revision ID: 0022
Revises: 0021

Derived values are the service's (issue 14): a drug file's term end is computed at the
report (戒毒条例 Art. 14) and moved by a suspension (Art. 24), whose start is kept here;
resettlement files keep their assistance end in `term_ends_on`. The offence date and the
current address live in the sealed details (no column); term changes are sealed events.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("casefile", sa.Column("term_paused_on", sa.Date(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
