"""Login throttling and forensics

Revision ID: 0015
Revises: 0014
"""

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # slot reserved for issue 13 (login, forensics); fill in, or leave empty if no schema change is needed


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
