"""Storage: migrations are the schema on both engines, SQLite pragmas and writer queue,
append-only triggers."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from registry import db
from registry.audit.models import AuditEntry
from registry.crypto.models import BlindIndexEntry
from registry.db import (
    COPY_MIN_ROWS,
    create_engine,
    current_revision,
    head_revision,
    insert_many,
    is_sqlite,
    schema_is_current,
    table_of,
    transaction,
)
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


@pytest.mark.parametrize("count", [1, COPY_MIN_ROWS])
def test_insert_many_stores_the_very_values_by_insert_or_by_copy(runtime, count):
    """Both ways a bulk writer inserts (an executemany; on PostgreSQL a batch of
    COPY_MIN_ROWS rows or more by COPY, whose text format has escapes of its own) store
    what was given, as the service's own database role: JSON lists, times to the
    microsecond, every byte value, NULLs, and text with tabs, newlines, backslashes and
    quotes."""
    engine = runtime.engine
    at = datetime(2026, 12, 7, 8, 30, 15, 123456, tzinfo=UTC)
    tricky = "a\tb\nc\\d\"e'f,g\\N"
    entries = [
        {
            "at": at,
            "actor_id": None if i % 2 else f"acct-{i}",
            "actor_roles": ["admin", "police"][: i % 3],
            "actor_org_unit": "990171",
            "action": "test:insert-many",  # beside the service's own entries
            "targets": [str(uuid.UUID(int=i)), tricky],
            "fields": [],
            "search_token": None,
            "purpose": "registration",
            "break_glass_grant": None,
            "outcome": "allowed",
            "reason": tricky if i % 2 else None,
            "request_id": None,
            "client_addr": "127.0.0.1",
            "client_request_id": None,
        }
        for i in range(count)
    ]
    tokens = [
        {
            "record_table": "person",
            "field": "phone",
            "version": 1,
            "record_id": str(uuid.UUID(int=i)),
            "token": bytes(range(256))[i:],
        }
        for i in range(count)
    ]
    with transaction(engine) as session:
        insert_many(session, table_of(AuditEntry), entries)
        insert_many(session, table_of(BlindIndexEntry), tokens)
    audit, index = table_of(AuditEntry), table_of(BlindIndexEntry)
    with engine.connect() as conn:
        ours = audit.c.action == "test:insert-many"
        stored = conn.execute(sa.select(*[audit.c[k] for k in entries[0]]).where(ours).order_by(audit.c.id)).all()
        indexed = conn.execute(sa.select(*[index.c[k] for k in tokens[0]]).order_by(index.c.record_id)).all()
    assert [dict(row._mapping) for row in stored] == entries
    assert [dict(row._mapping) | {"token": bytes(row.token)} for row in indexed] == tokens


@pytest.mark.parametrize("count", [2, COPY_MIN_ROWS])
def test_insert_many_failing_is_the_drivers_error_as_sqlalchemy_raises_it_and_stores_nothing(runtime, count):
    """A batch that breaks a constraint raises SQLAlchemy's IntegrityError (the API's 409),
    by INSERT or by COPY alike, and its transaction stores nothing of it."""
    rows = [
        {"record_table": "person", "field": "phone", "version": 1, "record_id": str(uuid.UUID(int=i)), "token": b"t"}
        for i in range(count - 1)
    ]
    rows.append(dict(rows[0]))  # the same primary key twice
    index = table_of(BlindIndexEntry)
    with pytest.raises(sa.exc.IntegrityError), transaction(runtime.engine) as session:
        insert_many(session, index, rows)
    with runtime.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(index)).scalar_one() == 0


def test_a_postgresql_connection_is_pinged_after_lying_idle_and_not_between_busy_requests(database_url, monkeypatch):
    """A backend dropped while its connection lay idle in the pool (a server restart, a
    failover) is noticed and replaced before a request uses it; a connection handed back a
    moment ago is used without a round trip for the check."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's pool (SQLite has no server connection to lose)")
    engine = create_engine(database_url)
    try:

        def backend() -> int:
            with engine.connect() as conn:
                return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()

        def drop(pid: int) -> None:
            with sa.create_engine(database_url, poolclass=sa.pool.NullPool).connect() as admin:
                assert admin.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()

        monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 60.0)  # however slow the machine, "a moment ago"
        first = backend()
        drop(first)  # just handed back: used as it is, and the request fails (a 503 at the API)
        with pytest.raises(sa.exc.OperationalError), engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        second = backend()  # the pool replaced the lost connection
        assert second != first
        drop(second)
        monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.5)
        time.sleep(0.7)  # lain idle: pinged, found lost, replaced unseen
        assert backend() not in (first, second)
    finally:
        engine.dispose()
