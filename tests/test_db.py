"""Storage: migrations are the schema on both engines, SQLite pragmas and writer queue,
append-only triggers."""

from __future__ import annotations

import threading
import time

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


@pytest.fixture
def sqlite_engine(engine):
    if not is_sqlite(engine):
        pytest.skip("the writer queue is SQLite's")
    return engine


def test_sqlite_writers_of_one_process_queue_and_go_in_turn(sqlite_engine):
    """A second writer waits on the process's queue, not in SQLite's busy handler, and is
    let in by the first one's COMMIT: its own busy timeout, far shorter than the wait,
    is never reached."""
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with sqlite_engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE: the write lock
            order.append("a in")
            first_in.set()
            time.sleep(1.0)
            order.append("a out")
            conn.commit()

    holder = threading.Thread(target=first)
    holder.start()
    first_in.wait()
    with sqlite_engine.connect() as conn:
        conn.connection.driver_connection.execute("PRAGMA busy_timeout = 200")  # outside any transaction
        conn.exec_driver_sql("SELECT 1")
        order.append("b in")
        conn.commit()
        conn.connection.driver_connection.execute("PRAGMA busy_timeout = 10000")
    holder.join()
    assert order == ["a in", "a out", "b in"]


@pytest.mark.parametrize("ending", ["rollback", "returned to the pool"])
def test_a_writer_that_ends_without_commit_lets_the_next_in_at_once(sqlite_engine, ending):
    conn = sqlite_engine.connect()
    conn.exec_driver_sql("SELECT 1")
    if ending == "rollback":
        conn.rollback()
    conn.close()  # back in the pool (rolled back there if still open)
    started = time.monotonic()
    with sqlite_engine.connect() as other:
        other.exec_driver_sql("SELECT 1")
        other.commit()
    assert time.monotonic() - started < 2  # a queue left held would make it wait 10 s
