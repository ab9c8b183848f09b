"""The one engine module: SQLite (embedded default) or PostgreSQL through psycopg 3.

Alembic migrations are the only way a schema comes to exist (`migrate`).
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import stat
import threading
import time
import weakref
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
from sqlmodel import Session, SQLModel

from registry.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"  # in the package: a wheel carries them
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_MMAP_BYTES = 1 << 30  # address space, not memory: the kernel pages it in and out
T = TypeVar("T")
_MISSING = object()
IN_LIST_MAX = 1000  # values per `IN (...)`: far below SQLite's and PostgreSQL's bound-parameter limits

# PostgreSQL: the service logs in as a role of its own that owns nothing, holds exactly
# these privileges, and cannot become the owner; only migrations use the owner's login.
# So neither a bug in the service nor someone with its credentials can rewrite the log,
# switch its triggers off, or change the schema. (Settings.database_role's default.)
DEFAULT_SERVICE_ROLE = "registry_app"
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_READ_APPEND = frozenset({"SELECT", "INSERT"})
_READ_WRITE = _READ_APPEND | {"UPDATE"}
_READ_WRITE_DELETE = _READ_WRITE | {"DELETE"}
SERVICE_PRIVILEGES: Mapping[str, frozenset[str]] = {
    "alembic_version": frozenset({"SELECT"}),  # `serve` checks that the schema is current
    # The log, its tree and checkpoints (the sequencer only inserts), and break-glass
    # reviews: read and append, never rewrite; the triggers refuse it too, for the owner.
    "audit_entry": _READ_APPEND,
    "audit_leaf": _READ_APPEND,
    "audit_node": _READ_APPEND,
    "audit_checkpoint": _READ_APPEND,
    "audit_review": _READ_APPEND,
    "audit_epoch": _READ_APPEND,  # declared restores, a statement each
    # Rows the service deletes: index entries replaced on write and on index rotation,
    # superseded or erased data keys (crypto-erasure), members leaving a casefile.
    "blind_index": _READ_WRITE_DELETE,
    "data_key": _READ_WRITE_DELETE,
    "casefile_member": _READ_WRITE_DELETE,
    # Everything else is updated (erasure clears sealed values in place) but never deleted.
    "crypto_config": _READ_WRITE,
    "dek_rotation": _READ_WRITE,
    "index_root_key": _READ_WRITE,
    "erasure": _READ_WRITE,  # marked journaled once the journal outside the database holds it
    "credential_key": _READ_WRITE,  # rewrapped under a new KEK, retired in place
    "credential_status_list": _READ_WRITE,  # republished in place
    "permit_credential": _READ_APPEND,  # an issued credential's place never moves
    "job": _READ_WRITE,
    "idempotency_record": _READ_WRITE_DELETE,  # an expired key is deleted when it is used again
    "sweep_run": _READ_APPEND,  # a day's run is recorded once and never rewritten
    "monthly_report": _READ_APPEND,  # submitted reports are frozen: a revision is a new row
    "scheduler_lease": _READ_WRITE,
    "org_unit": _READ_WRITE,
    "user_account": _READ_WRITE,
    "account_approval": _READ_WRITE,
    "person": _READ_WRITE,
    "dwelling": _READ_WRITE,
    "employer": _READ_WRITE,
    "residence_registration": _READ_WRITE,
    "residence_permit": _READ_WRITE,
    "permit_endorsement": _READ_WRITE,
    "person_transfer": _READ_WRITE,
    "casefile": _READ_WRITE,
    "casefile_event": _READ_WRITE,
    "casefile_transfer": _READ_WRITE,
    "casefile_closure": _READ_WRITE,
    "break_glass_grant": _READ_WRITE,
    "leave_request": _READ_WRITE,
    "notice_receipt": _READ_WRITE,
}


def service_privileges(table: str) -> frozenset[str]:
    """What the service may do to `table`. A table not declared above (a test fails on
    it) gets no DELETE, and an `audit_*` one only reads and appends."""
    declared = SERVICE_PRIVILEGES.get(table)
    if declared is not None:
        return declared
    return _READ_APPEND if table.startswith("audit_") else _READ_WRITE


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


def table_of(model: type[SQLModel]) -> sa.Table:
    """A table model's `sa.Table` (its `__table__`, which SQLModel does not declare to type
    checkers)."""
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table)
    return table


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
    if connection.dialect.name == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        _copy(connection, table, [name for name, _ in processors], params)
        return
    if not positional:
        names = [name for name, _ in processors]
        params = [dict(zip(names, values, strict=True)) for values in params]
    connection.exec_driver_sql(sql, params)


# PostgreSQL takes a batch this large as COPY several times faster than as an executemany
# of INSERTs (one statement parsed and one row inserted per row); a request's one or few
# rows stay INSERTs. Both are inserts in the open transaction, with the INSERT privilege:
# defaults, constraints and triggers apply alike (COPY would skip rules and refuse a table
# under row-level security; the schema has neither).
COPY_MIN_ROWS = 32


def _copy(connection: sa.Connection, table: sa.Table, names: list[str], rows: list[tuple[Any, ...]]) -> None:
    dialect = connection.dialect
    preparer = dialect.identifier_preparer
    columns = ", ".join(preparer.quote(table.c[name].name) for name in names)
    sql = f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN"
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    cursor: Any = dbapi.cursor()  # psycopg's (`copy` is its own)
    try:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except dialect.loaded_dbapi.Error as exc:
        # As SQLAlchemy raises for an execute (so a conflict is a 409, a lost server a 503),
        # and a dropped connection is not handed out again.
        invalidated = dialect.is_disconnect(exc, dbapi, None)
        if invalidated:
            connection.invalidate(exc)
        raise sa.exc.DBAPIError.instance(
            sql,
            None,
            exc,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=invalidated,
            dialect=dialect,
        ) from None
    finally:
        cursor.close()


@functools.lru_cache(maxsize=64)
def _insert_statement(
    table: sa.Table, names: tuple[str, ...], dialect: sa.Dialect
) -> tuple[str, bool, list[tuple[str, Callable[[Any], Any] | None]]]:
    """The INSERT's SQL for these columns, whether its parameters are positional, and the
    bind processor of each parameter in order."""
    compiled = sa.insert(table).inline().compile(dialect=dialect, column_keys=list(names))
    binds = compiled.positiontup if compiled.positional else list(names)
    assert binds is not None and sorted(binds) == sorted(names)
    processors: list[tuple[str, Callable[[Any], Any] | None]] = [
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in binds
    ]
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
    """`role` (PostgreSQL): only to mirror a parent connection that switched role (the
    verify worker pool). The service never does: it logs in as its own role, which owns
    nothing and cannot become the owner (`check_service_login`); migrations log in as
    the owner with a credential of their own (`Settings.owner_database_url`)."""
    if url.startswith("sqlite"):
        _create_private_sqlite_file(url)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        writer = _WriterQueue(_sqlite_path(url))
        sa.event.listen(engine, "begin", writer.begin)
        sa.event.listen(engine, "commit", writer.end)  # just before the COMMIT: the next
        sa.event.listen(engine, "rollback", writer.end)  # BEGIN waits a millisecond at most
        sa.event.listen(engine.pool, "checkin", writer.checkin)
        return engine
    # Last in, first out: the connections in use stay the busy ones, the spare ones lie idle (and get pinged).
    engine = sa.create_engine(url, pool_size=10, max_overflow=10, pool_use_lifo=True)
    _ping_after_idle(engine)
    if role is not None:
        sa.event.listen(engine, "connect", lambda dbapi_connection, _record: _set_role(dbapi_connection, role))
    return engine


# A PostgreSQL connection back from the pool is pinged first only when it has lain idle this
# long: a server restart or failover that dropped it is noticed before a request uses it,
# while under load (connections handed back and out within milliseconds) no request pays a
# round trip for the check, as it does with `pool_pre_ping`. A connection dropped in the
# moment since its last use fails its request with a 503 ("send it again"; a write's
# Idempotency-Key makes that safe) and, as a failed ping does, has every older pooled
# connection replaced.
PING_AFTER_IDLE_S = 1.0
_IDLE_SINCE = "registry.idle_since"


def _ping_after_idle(engine: Engine) -> None:
    dialect = engine.dialect

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # just connected, or just used
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise sa.exc.InvalidatePoolError(type(exc).__name__) from None  # the pool connects afresh
            raise

    sa.event.listen(engine.pool, "checkin", checkin)
    sa.event.listen(engine.pool, "checkout", checkout)


class _WriterQueue:
    """SQLite: every request writes (at least its audit entry), so each transaction takes
    the write lock at BEGIN (a deferred one that upgrades later fails with SQLITE_BUSY
    instead of waiting). SQLite's busy handler polls with sleeps growing to 100 ms, so a
    waiting transaction can lose to newcomers again and again: seconds of tail latency
    under concurrency. Writers queue instead, taken before BEGIN and given up at COMMIT or
    ROLLBACK (or, should neither come, when the connection goes back to the pool): the
    connections of one process on a lock, one at a time, then the processes serving the
    same file (the service's workers, the CLI) on an advisory lock of a file beside it,
    tried every half millisecond. A lock not had within the busy timeout is gone
    without (SQLite's own lock then decides): never a deadlock."""

    _HELD = "registry.writer_queue"
    _POLL_S = 0.0005

    def __init__(self, database: Path | None) -> None:
        self._lock = threading.Lock()
        # Opened with the engine, so a lock file that cannot be had fails the start, not a write.
        self._fd = None if database is None else _private_lock_file(writer_lock_path(database))
        if self._fd is not None:
            weakref.finalize(self, os.close, self._fd)

    def begin(self, conn: sa.Connection) -> None:
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")  # a WAL reader: its own snapshot, no lock on writers
            return
        held = conn.connection.record_info  # survives an invalidated connection
        if held is not None and not held.get(self._HELD):
            deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
            got = self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
            try:
                if got and not self._lock_file(deadline):
                    self._lock.release()
                    got = False
            except BaseException:
                self._lock.release()
                raise
            held[self._HELD] = got
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def end(self, conn: sa.Connection) -> None:
        self._release(conn.connection.record_info)

    def checkin(self, _dbapi_connection: Any, record: Any) -> None:
        self._release(record.record_info)

    def _lock_file(self, deadline: float) -> bool:
        if self._fd is None:
            return True  # no file of its own (in memory, a `file:` URI): this process's lock only
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(self._POLL_S)

    def _release(self, held: dict[str, Any] | None) -> None:
        if held is not None and held.pop(self._HELD, False):
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
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
    # Every request writes (its audit entry), which empties the page cache of every other
    # connection: pages read through a memory map instead of a read() each come back cheaply.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(
    engine: Engine,
    revision: str = "head",
    *,
    service_role: str = DEFAULT_SERVICE_ROLE,
    create_service_role: bool = True,
) -> None:
    """Upgrade the schema through `engine`, which logs in as the owner; on PostgreSQL,
    then give `service_role` exactly its privileges (`SERVICE_PRIVILEGES`) and nothing
    else. `create_service_role`: create the role (a password-less LOGIN, for a trusted dev
    server) if it is missing; otherwise a missing role is refused: in production a DBA
    creates it with a password."""
    if not is_sqlite(engine):
        _valid_role_name(service_role)
        _ensure_service_role(engine, service_role, create=create_service_role)
    command.upgrade(_alembic_config(engine), revision)
    if not is_sqlite(engine):
        with engine.begin() as conn:
            _grant_service_privileges(conn, service_role)


def _valid_role_name(role: str) -> str:
    if not _ROLE_NAME.fullmatch(role):
        raise ConfigurationError("a database role name is lower-case letters, digits and _ (at most 63)")
    return f'"{role}"'  # checked above: safe to quote as an identifier


def _ensure_service_role(engine: Engine, role: str, *, create: bool) -> None:
    for attempt in range(3):
        with engine.connect() as conn:
            can_login = conn.execute(
                sa.text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :role"), {"role": role}
            ).scalar()
        if can_login:
            return
        if not create:
            state = "does not exist" if can_login is None else "cannot log in"
            raise ConfigurationError(
                f"the service role {role} {state}: a DBA creates it first, "
                f"with CREATE ROLE {role} LOGIN PASSWORD '…' (REGISTRY_DATABASE_ROLE)"
            )
        verb = "CREATE" if can_login is None else "ALTER"
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"{verb} ROLE {_valid_role_name(role)} LOGIN")
            return
        except sa.exc.DBAPIError as exc:
            # Roles are per cluster: another process (a parallel test worker) may have
            # created it at the same moment. Look again; give up on a real refusal.
            if attempt == 2:
                raise ConfigurationError(
                    f"cannot create the service role {role}: create it as a DBA (CREATE ROLE {role} LOGIN)"
                ) from exc


# What would let a login rewrite history: attributes, becoming the owner of the log's
# tables, owning anything at all (an owner may drop triggers and grant itself more).
_ROLE_PROBLEMS = sa.text("""
SELECT r.rolsuper AS superuser, r.rolbypassrls AS bypasses_row_security,
       r.rolcreaterole AS creates_roles, r.rolcreatedb AS creates_databases,
       r.rolreplication AS replicates,
       pg_has_role(r.oid, c.relowner, 'MEMBER') AS can_become_the_owner,
       EXISTS (SELECT FROM pg_class WHERE relowner = r.oid)
         OR EXISTS (SELECT FROM pg_namespace WHERE nspowner = r.oid)
         OR EXISTS (SELECT FROM pg_proc WHERE proowner = r.oid)
         OR EXISTS (SELECT FROM pg_type WHERE typowner = r.oid) AS owns_objects
FROM pg_roles r LEFT JOIN pg_class c ON c.oid = to_regclass('audit_entry')
WHERE r.rolname = :role
""")


_REWRITES = sa.text(
    "SELECT to_regclass(:t) IS NOT NULL AND has_table_privilege(:role, :t, 'UPDATE, DELETE, TRUNCATE, TRIGGER')"
)


def _attribute_problems(conn: sa.Connection, role: str) -> list[str]:
    row = conn.execute(_ROLE_PROBLEMS, {"role": role}).mappings().one()
    return [name.replace("_", " ") for name, bad in row.items() if bad]


def _role_problems(conn: sa.Connection, role: str) -> list[str]:
    problems = _attribute_problems(conn, role)
    # Also through a grant of its own, PUBLIC's, or a predefined role (pg_write_all_data).
    append_only = sorted(table for table, granted in SERVICE_PRIVILEGES.items() if "UPDATE" not in granted)
    problems += [f"may rewrite {t}" for t in append_only if conn.execute(_REWRITES, {"role": role, "t": t}).scalar()]
    return problems


_OWNS_DATABASE = sa.text(
    "SELECT current_database(), pg_has_role(current_user, datdba, 'USAGE')"
    " FROM pg_database WHERE datname = current_database()"
)


def _grant_service_privileges(conn: sa.Connection, role: str) -> None:
    """Exactly `service_privileges(table)` on every table, USAGE (nextval) on sequences,
    nothing that creates objects: applied after every migration, so a new table is
    covered and an old grant cannot linger."""
    quoted = _valid_role_name(role)
    # Before granting anything: the revocations below must never hit the owner itself.
    if problems := _attribute_problems(conn, role):
        raise ConfigurationError(f"the service role {role} must be an unprivileged login: " + ", ".join(problems))
    for statement in (
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",  # the default before PostgreSQL 15
        f"REVOKE ALL ON SCHEMA public FROM {quoted}",
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {quoted}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {quoted}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {quoted}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        # A replay after a restore records the journal's erasures with their own numbers,
        # and moves this one sequence past them (registry.erasures); no other sequence.
        f"GRANT UPDATE ON SEQUENCE erasure_id_seq TO {quoted}",
    ):
        conn.exec_driver_sql(statement)
    # No temporary tables either, where the migration's login may say so for the database.
    database, owns_database = conn.execute(_OWNS_DATABASE).one()
    if owns_database:
        database = conn.dialect.identifier_preparer.quote_identifier(database)
        conn.exec_driver_sql(f"REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC")
        conn.exec_driver_sql(f"REVOKE CREATE, TEMPORARY ON DATABASE {database} FROM {quoted}")
    tables = conn.exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").scalars().all()
    for table in tables:
        privileges = ", ".join(sorted(service_privileges(table)))
        conn.exec_driver_sql(f'GRANT {privileges} ON TABLE "{table}" TO {quoted}')
    if problems := _role_problems(conn, role):
        raise ConfigurationError(f"the service role {role} must be an unprivileged login: " + ", ".join(problems))


def _logins(conn: sa.Connection) -> tuple[str, str]:
    """PostgreSQL: the role acting now, and the one that logged in (they differ after SET ROLE)."""
    current, login = conn.execute(sa.text("SELECT current_user, session_user")).one()
    return current, login


def same_login(conn: sa.Connection) -> tuple[str, str | None]:
    """What another process needs to open this database as `conn` acts: the URL with its
    password, and the role `conn` switched to with SET ROLE, if it did (for `create_engine`)."""
    url = conn.engine.url.render_as_string(hide_password=False)
    if is_sqlite(conn.engine):
        return url, None
    current, login = _logins(conn)
    return url, (current if current != login else None)


def check_service_login(engine: Engine, role: str) -> None:
    """PostgreSQL: refuse to serve through a login that could rewrite the audit log: one
    other than `role`, one switched with SET ROLE, the owner or one that can become it,
    a privileged one, or one that may change an append-only table."""
    if is_sqlite(engine):
        return
    with engine.connect() as conn:
        current, login = _logins(conn)
        problems = _role_problems(conn, current)
        if current != login:
            problems.append(f"switched from {login} with SET ROLE")
        if current != role:
            problems.append(f"is not the service role {role}")
    if problems:
        raise ConfigurationError(
            f"the service's database login {current} " + "; ".join(problems) + ": log in as the service role "
            "(REGISTRY_DATABASE_URL, REGISTRY_DATABASE_ROLE), and as the owner only for `registry init` "
            "(REGISTRY_MIGRATION_DATABASE_URL)"
        )


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


# Personal data is sealed, but the database still holds wrapped keys, blind indexes and
# the audit log: owner only. SQLite creates its WAL and shared-memory files with the
# database file's mode, so creating that file 0600 makes all three so (umask aside).
PRIVATE_FILE_MODE = 0o600


def _sqlite_path(url: str) -> Path | None:
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def writer_lock_path(database: Path) -> Path:
    """The file beside a SQLite database that its writers queue on (`_WriterQueue`)."""
    return database.with_name(database.name + "-writer.lock")


def _private_lock_file(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    try:
        if os.fstat(fd).st_uid != os.geteuid():
            raise ConfigurationError(f"{path} belongs to another user: remove it (the service makes its own)")
        os.fchmod(fd, PRIVATE_FILE_MODE)  # another's lock on it could stall every write
    except BaseException:
        os.close(fd)
        raise
    return fd


def _create_private_sqlite_file(url: str) -> None:
    path = _sqlite_path(url)
    if path is None:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    os.fchmod(fd, PRIVATE_FILE_MODE)  # the umask may only have narrowed it; be exact
    os.close(fd)


def check_private_storage(url: str, data_dir: Path) -> None:
    """Startup in production: refuse a data directory others may enter, or SQLite files
    (database, WAL, shared memory) others may read. The key and token-secret files are
    checked where they are read."""
    problems = []
    if data_dir.exists() and data_dir.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        problems.append(f"the data directory {data_dir} must be 0700: run `chmod 700 {data_dir}`")
    path = _sqlite_path(url)
    if path is not None:
        for file in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
            writer_lock_path(path),
        ):
            if file.exists() and file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                problems.append(f"{file} must be 0600: run `chmod 600 {file}`")
    if problems:
        raise ConfigurationError("insecure file permissions: " + "; ".join(problems))
