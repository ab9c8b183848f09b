"""Kernel: permit free text sealed

Revision ID: 0012
Revises: 0011
"""

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # slot reserved for issue 12 (kernel): sealed permit free text; fill in, or leave empty if no schema change is needed


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
