"""Restore epochs of the audit log

Revision ID: 0033
Revises: 0032

Issue 19 (PRIVACY.md §5): a restore is declared by a signed statement that starts a new
log epoch; append-only like the log it belongs to.
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_epoch",
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("start_seq", sa.BigInteger(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("epoch"),
        sa.UniqueConstraint("start_seq"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_epoch_no_update BEFORE UPDATE OR DELETE ON audit_epoch "
            "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_epoch_no_truncate BEFORE TRUNCATE ON audit_epoch "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_epoch_no_{event.lower()} BEFORE {event} ON audit_epoch "
                "BEGIN SELECT RAISE(ABORT, 'audit_epoch is append-only'); END"
            )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
