"""Permit credentials

Revision ID: 0028
Revises: 0027

Issue 17: the issuing keys of the offline-verifiable permit credential (wrapped under the
KEK), each credential's place in the status list, and the signed status list.
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credential_key",
        sa.Column("kid", sa.String(length=64), primary_key=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "permit_credential",
        sa.Column("status_index", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("permit_id", sa.Uuid(), sa.ForeignKey("residence_permit.id"), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_permit_credential_permit_id", "permit_credential", ["permit_id"])
    op.create_table(
        "credential_status_list",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("statuses", sa.LargeBinary(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
