"""Casefile closure approval

Revision ID: 0017
Revises: 0016
"""

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # slot reserved for issue 13 (closure approval); fill in, or leave empty if no schema change is needed


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
