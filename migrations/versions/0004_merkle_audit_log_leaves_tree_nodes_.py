"""Merkle audit log: leaves, tree nodes, signed checkpoints; application role

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

# The log, its tree and its checkpoints are append-only on both engines.
LOG_TABLES = ("audit_entry", "audit_leaf", "audit_node", "audit_checkpoint")

# The service runs as `registry_app` (SET ROLE on connect): every privilege on the
# domain tables, but only INSERT and SELECT on the log, so not even a bug in the service
# can rewrite history. Created once per cluster; granted per database.
_PG_APP_ROLE = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'registry_app') THEN
    CREATE ROLE registry_app NOLOGIN;
  END IF;
END $$;
GRANT registry_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO registry_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO registry_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO registry_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_entry, audit_leaf, audit_node, audit_checkpoint FROM registry_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO registry_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO registry_app;
"""

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoint",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("size"),
    )
    op.create_table(
        "audit_node",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "index"),
    )
    op.create_table(
        "audit_leaf",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["audit_entry.id"],
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("entry_id"),
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_entry ALTER COLUMN id TYPE BIGINT")
        for table in LOG_TABLES[1:]:
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()"
            )
        op.execute(_PG_APP_ROLE)
    else:
        for table in LOG_TABLES[1:]:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
