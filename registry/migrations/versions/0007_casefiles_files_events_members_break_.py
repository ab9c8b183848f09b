"""Casefiles: files, events, members, break-glass grants

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "casefile",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("org_unit_code", sa.String(15), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("minor", sa.Boolean(), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("sealed_at", UTCDateTime(), nullable=True),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("erased_at", UTCDateTime(), nullable=True),
        sa.Column("details_ct", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_code"],
            ["org_unit.code"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("casefile", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_casefile_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_casefile_org_unit_code"), ["org_unit_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_casefile_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_casefile_status"), ["status"], unique=False)

    op.create_table(
        "break_glass_grant",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("casefile_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=False),
        sa.Column("justification_ct", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["casefile_id"],
            ["casefile.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("break_glass_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_break_glass_grant_casefile_id"), ["casefile_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_break_glass_grant_user_id"), ["user_id"], unique=False)

    op.create_table(
        "casefile_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("casefile_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("body_ct", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["casefile_id"],
            ["casefile.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("casefile_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_casefile_event_casefile_id"), ["casefile_id"], unique=False)

    op.create_table(
        "casefile_member",
        sa.Column("casefile_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["casefile_id"],
            ["casefile.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("casefile_id", "user_id", "role"),
    )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
