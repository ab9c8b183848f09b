"""Jurisdiction transfers of persons

Revision ID: 0014
Revises: 0013
"""

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # slot reserved for issue 13 (jurisdiction by consent); fill in, or leave empty if no schema change is needed


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
