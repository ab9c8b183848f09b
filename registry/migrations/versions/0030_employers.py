"""Employers

Revision ID: 0030
Revises: 0029

Issue 17: employer records (以业管人), sealed under their own DEK and found by a blind
index of the USCC, and the registration's link to one.
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "employer",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("org_unit_code", sa.String(length=15), sa.ForeignKey("org_unit.code"), nullable=False),
        sa.Column("name_ct", sa.LargeBinary(), nullable=False),
        sa.Column("uscc_ct", sa.LargeBinary(), nullable=False),
        sa.Column("address_ct", sa.LargeBinary(), nullable=True),
        sa.Column("contact_name_ct", sa.LargeBinary(), nullable=True),
        sa.Column("contact_phone_ct", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_employer_org_unit_code", "employer", ["org_unit_code"])
    with op.batch_alter_table("residence_registration") as batch:
        batch.add_column(sa.Column("employer_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key("fk_residence_registration_employer_id", "employer", ["employer_id"], ["id"])
        batch.create_index("ix_residence_registration_employer_id", ["employer_id"])


def downgrade() -> None:
    with op.batch_alter_table("residence_registration") as batch:
        batch.drop_index("ix_residence_registration_employer_id")
        batch.drop_constraint("fk_residence_registration_employer_id", type_="foreignkey")
        batch.drop_column("employer_id")
    op.drop_index("ix_employer_org_unit_code", table_name="employer")
    op.drop_table("employer")
