"""Jurisdiction transfers of persons

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_transfer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("registration_id", sa.Uuid(), nullable=False),
        sa.Column("from_org_unit", sa.String(15), nullable=False),
        sa.Column("to_org_unit", sa.String(15), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("requested_on", sa.Date(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["registration_id"], ["residence_registration.id"]),
        sa.ForeignKeyConstraint(["from_org_unit"], ["org_unit.code"]),
        sa.ForeignKeyConstraint(["to_org_unit"], ["org_unit.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("person_transfer", schema=None) as batch_op:
        for column in ("person_id", "registration_id", "from_org_unit", "to_org_unit", "status"):
            batch_op.create_index(batch_op.f(f"ix_person_transfer_{column}"), [column], unique=False)
    # The holder of a person is the unit of their active registration (issue 13). Earlier
    # code kept `person.org_unit_code` equal to it; make sure no row disagrees before the
    # scope checks start relying on it.
    op.execute(
        "UPDATE person SET org_unit_code = (SELECT r.org_unit_code FROM residence_registration r"
        " WHERE r.person_id = person.id AND r.status = 'active' LIMIT 1)"
        " WHERE EXISTS (SELECT 1 FROM residence_registration r"
        " WHERE r.person_id = person.id AND r.status = 'active' AND r.org_unit_code <> person.org_unit_code)"
    )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
