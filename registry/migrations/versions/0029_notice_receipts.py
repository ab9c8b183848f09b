"""Notice receipts

Revision ID: 0029
Revises: 0028

Issue 17: the receipt of each incoming notice (a prison's release notice, a court's
correction notice) that opened a casefile, so that the same notice imported again opens
nothing. The notice's number is sealed under the file's casefile DEK and found through a
blind index (`blind_index`, field `document_no`), never stored in clear.
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_receipt",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("casefile_id", sa.Uuid(), sa.ForeignKey("casefile.id"), nullable=False),
        sa.Column("document_no_ct", sa.LargeBinary(), nullable=False),
        sa.Column("received_by", sa.Uuid(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_notice_receipt_casefile_id", "notice_receipt", ["casefile_id"])
    op.create_index("ix_notice_receipt_kind", "notice_receipt", ["kind"])


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
