"""Storage: migrations are the schema on both engines, SQLite pragmas, append-only triggers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from registry.db import create_engine, current_revision, head_revision, is_sqlite, schema_is_current
from registry.models import metadata


@pytest.fixture
def engine(database_url):
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def test_migrations_reach_head_and_match_the_models(engine):
    assert current_revision(engine) == head_revision()
    assert schema_is_current(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine):
    if not is_sqlite(engine):
        pytest.skip("SQLite pragmas")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


def test_audit_log_rejects_update_and_delete(engine):
    insert = sa.text(
        "INSERT INTO audit_entry (at, actor_roles, action, targets, fields, outcome) "
        "VALUES (:at, '[]', 'system:init', '[]', '[]', 'allowed')"
    )
    with engine.begin() as conn:
        conn.execute(insert, {"at": "2026-01-01 00:00:00"})
    for statement in ("UPDATE audit_entry SET outcome = 'denied'", "DELETE FROM audit_entry"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT outcome FROM audit_entry")).scalars().all() == ["allowed"]
