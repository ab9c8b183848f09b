"""Login throttling and forensics: the client's own request id beside the server's

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both engines: a batch (copy-and-move) table would drop the
    # append-only triggers. Nullable, and left out of an entry's canonical bytes while
    # null, so every entry written before still hashes to its leaf (audit/canonical.py).
    op.add_column("audit_entry", sa.Column("client_request_id", sa.String(64), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
