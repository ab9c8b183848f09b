"""Monthly reports

Revision ID: 0026
Revises: 0025

Issue 15: a unit's monthly report, submitted to the unit above, is frozen and signed; a
revision is a new version. The service may only insert rows (db.SERVICE_PRIVILEGES).
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monthly_report",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("org_unit_code", sa.String(length=15), sa.ForeignKey("org_unit.code"), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("department", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes", sa.Uuid(), nullable=True),
        sa.Column("reason_code", sa.String(length=32), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.LargeBinary(), nullable=False),
        sa.Column("signed_note", sa.Text(), nullable=False),
        sa.Column("submitted_by", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("org_unit_code", "period", "department", "version", name="uq_report_version"),
    )
    with op.batch_alter_table("monthly_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monthly_report_org_unit_code"), ["org_unit_code"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
