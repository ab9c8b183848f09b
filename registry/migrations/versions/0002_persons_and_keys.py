"""Persons (sealed identity fields) and the key tables: suite, DEKs, index roots, blind indexes.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blind_index",
        sa.Column("record_table", sa.String(32), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("record_table", "field", "version", "record_id"),
    )
    with op.batch_alter_table("blind_index", schema=None) as batch_op:
        batch_op.create_index("ix_blind_index_lookup", ["record_table", "field", "version", "token"], unique=False)

    op.create_table(
        "crypto_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("suite", sa.String(16), nullable=False),
        sa.Column("index_bits", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "data_key",
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("compartment", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "compartment", "version"),
    )
    with op.batch_alter_table("data_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_key_kek_version"), ["kek_version"], unique=False)

    op.create_table(
        "index_root_key",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_table(
        "person",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_unit_code", sa.String(15), nullable=False),
        sa.Column("name_ct", sa.LargeBinary(), nullable=False),
        sa.Column("id_number_ct", sa.LargeBinary(), nullable=False),
        sa.Column("sex_ct", sa.LargeBinary(), nullable=False),
        sa.Column("birth_date_ct", sa.LargeBinary(), nullable=False),
        sa.Column("phone_ct", sa.LargeBinary(), nullable=True),
        sa.Column("hukou_address_ct", sa.LargeBinary(), nullable=True),
        sa.Column("erased_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_code"],
            ["org_unit.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_org_unit_code"), ["org_unit_code"], unique=False)

    # A plain ADD COLUMN on both engines: the append-only log is never copied or rebuilt.
    op.add_column("audit_entry", sa.Column("search_token", sa.String(64), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("restore from backup: key tables are never dropped by a migration")
