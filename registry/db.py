"""The one engine module: SQLite (embedded default) or PostgreSQL through psycopg 3.

Alembic migrations are the only way a schema comes to exist (`migrate`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
T = TypeVar("T")
_MISSING = object()
IN_LIST_MAX = 1000  # values per `IN (...)`: far below SQLite's and PostgreSQL's bound-parameter limits


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timestamps are stored and returned as aware UTC on both engines (SQLite has no tz)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass an aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def chunked(values: Sequence[T], size: int = IN_LIST_MAX) -> Iterator[Sequence[T]]:
    """`values` in slices of at most `size`, for `IN` lists built from a whole batch."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def insert_many(session: Session, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """`session.execute(insert(table), rows)` for bulk writers, with one executemany: the
    same statement and each column type's own bind processing, without SQLAlchemy's
    per-row parameter machinery, which on a large batch costs more than the database.
    Every row has the keys of the first."""
    if not rows:
        return
    connection = session.connection()
    sql, positional, processors = _insert_statement(table, tuple(rows[0]), connection.dialect)
    processed = [_processed(process, [row[name] for row in rows]) for name, process in processors]
    params: list = list(zip(*processed, strict=True))  # type: ignore[type-arg]
    if not positional:
        names = [name for name, _ in processors]
        params = [dict(zip(names, values, strict=True)) for values in params]
    connection.exec_driver_sql(sql, params)


@functools.lru_cache(maxsize=64)
def _insert_statement(
    table: sa.Table, names: tuple[str, ...], dialect: sa.Dialect
) -> tuple[str, bool, list[tuple[str, Callable[[Any], Any] | None]]]:
    """The INSERT's SQL for these columns, whether its parameters are positional, and the
    bind processor of each parameter in order."""
    compiled = sa.insert(table).inline().compile(dialect=dialect, column_keys=list(names))
    binds = compiled.positiontup if compiled.positional else list(names)
    assert binds is not None and sorted(binds) == sorted(names)
    processors = [(name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in binds]
    return compiled.string, compiled.positional, processors


def _processed(process: Callable[[Any], Any] | None, values: list[Any]) -> list[Any]:
    """One column's values through its bind processor, each distinct value once: a batch
    repeats its timestamps and dates, and a timestamp costs microseconds to format."""
    if process is None:
        return values
    done: dict[Any, Any] = {}
    out = []
    for value in values:
        key = tuple(value) if type(value) is list else value  # a JSON list: equal lists, equal JSON
        try:
            result = done.get(key, _MISSING)
        except TypeError:  # unhashable (a nested JSON value): processed every time
            out.append(process(value))
            continue
        if result is _MISSING:
            result = done[key] = process(value)
        out.append(result)
    return out


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


_READ_ONLY = "registry_read_only"


def read_only(engine: Engine) -> Engine:
    """The engine for a long read that must not hold up writers (verifying the whole audit
    log): on SQLite its transactions begin DEFERRED, a WAL reader with a snapshot of its
    own, instead of taking the write lock like every other transaction. Nothing writes
    through it (a deferred transaction that tries to may fail with SQLITE_BUSY)."""
    return engine.execution_options(**{_READ_ONLY: True})


def create_engine(url: str, *, role: str | None = None) -> Engine:
    """`role` (PostgreSQL): the role the service acts as, e.g. `registry_app`, which may
    only INSERT and SELECT on the audit log. Migrations run without one, as the owner."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        writer = _WriterQueue()
        sa.event.listen(engine, "begin", writer.begin)
        sa.event.listen(engine, "commit", writer.end)  # just before the COMMIT: the next
        sa.event.listen(engine, "rollback", writer.end)  # BEGIN waits a millisecond at most
        sa.event.listen(engine.pool, "checkin", writer.checkin)
        return engine
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    if role is not None:
        sa.event.listen(engine, "connect", lambda dbapi_connection, _record: _set_role(dbapi_connection, role))
    return engine


class _WriterQueue:
    """SQLite: every request writes (at least its audit entry), so each transaction takes
    the write lock at BEGIN (a deferred one that upgrades later fails with SQLITE_BUSY
    instead of waiting). SQLite's busy handler polls with sleeps growing to 100 ms, so a
    waiting transaction can lose to newcomers again and again: seconds of tail latency
    under concurrency. The connections of this process queue on a lock instead, taken
    before BEGIN and given up at COMMIT or ROLLBACK (or, should neither come, when the
    connection goes back to the pool); other processes (the CLI) still meet the busy
    timeout. A lock not had within that timeout is gone without: never a deadlock."""

    _HELD = "registry.writer_queue"

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def begin(self, conn: sa.Connection) -> None:
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")  # a WAL reader: its own snapshot, no lock on writers
            return
        held = conn.connection.record_info  # survives an invalidated connection
        if held is not None and not held.get(self._HELD):
            held[self._HELD] = self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def end(self, conn: sa.Connection) -> None:
        self._release(conn.connection.record_info)

    def checkin(self, _dbapi_connection: Any, record: Any) -> None:
        self._release(record.record_info)

    def _release(self, held: dict[str, Any] | None) -> None:
        if held is not None and held.pop(self._HELD, False):
            self._lock.release()


def _set_role(dbapi_connection, role: str) -> None:  # type: ignore[no-untyped-def]
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{role}"')  # a setting from the operator, quoted as an identifier
    dbapi_connection.commit()  # SET inside a rolled-back transaction would be undone


def _sqlite_on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode across process crashes
    cursor.close()


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    command.upgrade(_alembic_config(engine), revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config(sa.create_engine("sqlite://"))).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A unit of work outside a request (CLI, jobs): commit on success, roll back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
