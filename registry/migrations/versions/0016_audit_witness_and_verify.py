"""Audit witness and verify

Revision ID: 0016
Revises: 0015
"""

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # slot reserved for issue 12 (verify, witness); fill in, or leave empty if no schema change is needed


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
