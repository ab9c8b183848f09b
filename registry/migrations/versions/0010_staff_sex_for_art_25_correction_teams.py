"""Staff sex (for Art. 25 correction teams)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sex", sa.String(8), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
