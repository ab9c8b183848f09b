"""Audit entries indexed by action and outcome

Revision ID: 0027
Revises: 0026

Issue 18: `/metrics` counts refused logins on every scrape (`registry.operations`); with
the action and the outcome in one index that count reads the index alone, however long
the log grows.
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_entry_action_outcome", "audit_entry", ["action", "outcome"])


def downgrade() -> None:
    op.drop_index("ix_audit_entry_action_outcome", table_name="audit_entry")
