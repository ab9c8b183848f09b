"""Residence: dwellings, registrations, permits, endorsements

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dwelling",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_unit_code", sa.String(15), nullable=False),
        sa.Column("address_ct", sa.LargeBinary(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("landlord_person_id", sa.Uuid(), nullable=True),
        sa.Column("pledge_signed_on", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["landlord_person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_code"],
            ["org_unit.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dwelling", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dwelling_landlord_person_id"), ["landlord_person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dwelling_org_unit_code"), ["org_unit_code"], unique=False)

    op.create_table(
        "residence_registration",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("dwelling_id", sa.Uuid(), nullable=False),
        sa.Column("org_unit_code", sa.String(15), nullable=False),
        sa.Column("arrived_on", sa.Date(), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column("departed_on", sa.Date(), nullable=True),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("employer_name_ct", sa.LargeBinary(), nullable=True),
        sa.Column("employer_uscc_ct", sa.LargeBinary(), nullable=True),
        sa.Column("reported_by", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("previous_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dwelling_id"],
            ["dwelling.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_code"],
            ["org_unit.code"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["residence_registration.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("residence_registration", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_residence_registration_dwelling_id"), ["dwelling_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_residence_registration_org_unit_code"), ["org_unit_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_residence_registration_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_residence_registration_status"), ["status"], unique=False)

    op.create_table(
        "residence_permit",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("registration_id", sa.Uuid(), nullable=False),
        sa.Column("org_unit_code", sa.String(15), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("materials_missing", sa.JSON(), nullable=True),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("permit_no_ct", sa.LargeBinary(), nullable=True),
        sa.Column("decision_reason", sa.String(200), nullable=True),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
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
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["residence_registration.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("residence_permit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_residence_permit_org_unit_code"), ["org_unit_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_residence_permit_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_residence_permit_registration_id"), ["registration_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_residence_permit_status"), ["status"], unique=False)

    op.create_table(
        "permit_endorsement",
        sa.Column("permit_id", sa.Uuid(), nullable=False),
        sa.Column("endorsed_on", sa.Date(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["permit_id"],
            ["residence_permit.id"],
        ),
        sa.PrimaryKeyConstraint("permit_id", "endorsed_on"),
    )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
