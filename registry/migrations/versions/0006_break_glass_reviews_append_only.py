"""Break-glass reviews (append-only)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_review",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("reviewer_id", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_review_grant_id"), ["grant_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_review_no_update BEFORE UPDATE OR DELETE ON audit_review "
            "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_review_no_{event.lower()} BEFORE {event} ON audit_review "
                "BEGIN SELECT RAISE(ABORT, 'audit_review is append-only'); END"
            )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
