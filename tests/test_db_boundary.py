"""The database boundary on PostgreSQL: the service logs in as a role of its own that owns
nothing and may only read and append the audit log; only `registry init` logs in as the
owner, with a credential of its own.

The role tests run on a throwaway cluster that asks every login for its password
(scram-sha-256): the machine's server trusts every local login, where a role bounds
nothing. Role and database names are unique per run and per test worker.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from registry.api.app import create_app
from registry.bootstrap import initialise
from registry.clock import FixedClock
from registry.db import (
    DEFAULT_SERVICE_ROLE,
    SERVICE_PRIVILEGES,
    create_engine,
    migrate,
    same_login,
    service_privileges,
)
from registry.errors import ConfigurationError
from registry.models import metadata
from registry.people.synthetic import SyntheticPeople
from registry.runtime import open_runtime
from registry.settings import Settings
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user
from tests.support import postgres

AUDIT_TABLES = ("audit_entry", "audit_leaf", "audit_node", "audit_checkpoint", "audit_review", "audit_epoch")
INSUFFICIENT_PRIVILEGE = "42501"
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
PG = "postgresql+psycopg://"


@dataclass(frozen=True)
class Cluster:
    superuser_url: str
    owner: str
    service: str
    owner_url: str
    service_url: str


@dataclass(frozen=True)
class Deployment:
    cluster: Cluster
    settings: Settings
    clock: FixedClock
    admin: tuple[str, str]


def _login(server_url: str, user: str, password: str, database: str) -> str:
    url = make_url(server_url).set(username=user, password=password, database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with postgres.password_server() as superuser:
        run = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
        owner, service, database = f"reg_owner_{run}", f"reg_service_{run}", f"reg_db_{run}"
        owner_password, service_password = secrets.token_hex(16), secrets.token_hex(16)
        # What a DBA does once: two logins with passwords, a database the owner owns.
        postgres.run_admin(superuser, f"CREATE ROLE {owner} LOGIN PASSWORD '{owner_password}'")
        postgres.run_admin(superuser, f"CREATE ROLE {service} LOGIN PASSWORD '{service_password}'")
        postgres.run_admin(superuser, f"CREATE DATABASE {database} OWNER {owner}")
        yield Cluster(
            superuser_url=_login(superuser, "postgres", make_url(superuser).password or "", database),
            owner=owner,
            service=service,
            owner_url=_login(superuser, owner, owner_password, database),
            service_url=_login(superuser, service, service_password, database),
        )


@pytest.fixture(scope="module")
def deployment(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """`registry init` with the owner's credential; the service's is another login."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("boundary") / "data",
        database_url=cluster.service_url,
        migration_database_url=cluster.owner_url,
        database_role=cluster.service,
        profile="dev",
    )
    clock = FixedClock()
    result = initialise(settings, clock=clock)
    assert result.admin_username and result.admin_password
    # Rows in every table of the log, so that the owner's edits below meet the triggers.
    runtime = open_runtime(settings, clock=clock)
    runtime.sequencer.drain()
    assert runtime.sequencer.checkpoint() is not None
    runtime.engine.dispose()
    return Deployment(cluster, settings, clock, (result.admin_username, result.admin_password))


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("+psycopg", ""), connect_timeout=10)


def _sqlstate(url: str, statement: str) -> str | None:
    """Run `statement` in a transaction that is rolled back; its SQLSTATE, None if it ran."""
    with _connect(url) as conn:
        conn.autocommit = statement.startswith("CREATE DATABASE")  # not in a transaction
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            return exc.sqlstate
        finally:
            conn.rollback()
    return None


# (statement, what the owner gets): every one is refused to the service for lack of
# privilege; run as the owner, the same SQL runs, or meets the append-only triggers, or
# is refused to the owner too (None: runs; "skip": the owner may not either).
ESCAPES = [
    ("SET ROLE {owner}", None),
    ("SET SESSION AUTHORIZATION {owner}", None),
    ("SET session_replication_role = replica", "skip"),  # would silence every trigger
    ("GRANT {owner} TO {service}", "skip"),
    ("ALTER ROLE {service} SUPERUSER", "skip"),
    ("CREATE ROLE shadow_{service} LOGIN", "skip"),
    *[(f"ALTER TABLE {table} DISABLE TRIGGER USER", None) for table in AUDIT_TABLES],
    ("ALTER TABLE audit_entry DISABLE TRIGGER ALL", "skip"),  # its foreign-key triggers: superuser only
    ("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_update", None),
    ("DROP TRIGGER audit_entry_no_update ON audit_entry", None),
    ("DROP TRIGGER audit_leaf_no_truncate ON audit_leaf", None),
    (
        "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RETURN NEW; END $$",
        None,
    ),
    ("ALTER TABLE audit_entry OWNER TO {service}", "skip"),
    ("DROP TABLE audit_checkpoint", None),
    ("UPDATE audit_entry SET outcome = 'denied'", "P0001"),
    ("UPDATE audit_leaf SET leaf_hash = leaf_hash", "P0001"),
    ("UPDATE audit_node SET hash = hash", "P0001"),
    ("UPDATE audit_checkpoint SET note = note", "P0001"),
    ("UPDATE audit_review SET note = note", None),  # no review yet: no row for the trigger
    ("DELETE FROM audit_entry", "P0001"),
    ("DELETE FROM audit_leaf", "P0001"),
    ("DELETE FROM audit_node", "P0001"),
    ("DELETE FROM audit_checkpoint", "P0001"),
    ("DELETE FROM audit_review", None),
    ("TRUNCATE audit_checkpoint", "P0001"),
    ("TRUNCATE audit_node", "P0001"),
    ("TRUNCATE audit_leaf", "P0001"),
    ("TRUNCATE audit_entry", "0A000"),  # the owner meets the foreign key of audit_leaf first
    # Sequences ignore rollback: the owner's control sets the sequence where it stands,
    # or every later append in this module would collide with an existing id.
    ("SELECT setval('audit_entry_id_seq', last_value, is_called) FROM audit_entry_id_seq", None),
    ("UPDATE alembic_version SET version_num = version_num", None),
    ("DELETE FROM person", None),  # data tables the service never deletes from
    ("TRUNCATE user_account", "0A000"),
    ("CREATE TABLE shadow (id int)", None),
    ("CREATE TABLE public.shadow (id int)", None),
    ("CREATE TEMP TABLE shadow (id int)", None),
    ("CREATE SCHEMA shadow", None),
    ("CREATE FUNCTION public.shadow() RETURNS int LANGUAGE sql AS 'SELECT 1'", None),
    ("CREATE DATABASE shadow_{service}", "skip"),
    ("COPY audit_entry (action) FROM PROGRAM 'true'", "skip"),
]


def _ids(cases):
    return [statement.split(" (")[0][:60] for statement, _ in cases]


@pytest.mark.parametrize(("statement", "owner_gets"), ESCAPES, ids=_ids(ESCAPES))
def test_the_service_cannot_escape_its_privileges(deployment, statement, owner_gets):
    cluster = deployment.cluster
    sql = statement.format(owner=cluster.owner, service=cluster.service)
    assert _sqlstate(cluster.service_url, sql) == INSUFFICIENT_PRIVILEGE, sql
    # The control: the SQL is sound, and with the owner's credential it does what an
    # attacker wants (or hits the triggers that stop the owner too).
    if owner_gets != "skip":
        assert _sqlstate(cluster.owner_url, sql) == owner_gets, sql


def test_reset_role_leaves_the_service_where_it_logged_in(deployment):
    cluster = deployment.cluster
    with _connect(cluster.service_url) as conn:
        for reset in ("RESET ROLE", "RESET SESSION AUTHORIZATION", "SET ROLE NONE"):
            conn.execute(reset)
            assert conn.execute("SELECT current_user, session_user").fetchone() == (cluster.service, cluster.service)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("UPDATE audit_entry SET outcome = 'denied'")
            conn.rollback()


def _granted(url: str, role: str) -> dict[str, set[str]]:
    with _connect(url) as conn:
        tables = [t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {
            table: {
                privilege
                for privilege in TABLE_PRIVILEGES
                if conn.execute("SELECT has_table_privilege(%s, %s, %s)", (role, table, privilege)).fetchone()[0]
            }
            for table in tables
        }


def test_the_service_owns_nothing_and_holds_exactly_its_grants(deployment):
    cluster = deployment.cluster
    with _connect(cluster.service_url) as conn:
        row = conn.execute(
            """SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                      pg_has_role(r.oid, %s, 'MEMBER'),
                      (SELECT count(*) FROM pg_class WHERE relowner = r.oid)
                        + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid)
                        + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid),
                      has_database_privilege(current_database(), 'CREATE'),
                      has_database_privilege(current_database(), 'TEMPORARY'),
                      has_schema_privilege('public', 'CREATE')
               FROM pg_roles r WHERE r.rolname = current_user""",
            (cluster.owner,),
        ).fetchone()
    assert row == (False, False, False, False, False, 0, False, False, False)
    granted = _granted(cluster.superuser_url, cluster.service)
    # Written out by hand, not read from SERVICE_PRIVILEGES: a change there must show here.
    for table in AUDIT_TABLES:
        assert granted[table] == {"SELECT", "INSERT"}, table
    assert granted["alembic_version"] == {"SELECT"}
    deletes = {"blind_index", "data_key", "casefile_member", "idempotency_record"}  # expired keys go
    assert {t for t, held in granted.items() if "DELETE" in held} == deletes
    assert not any(held & {"TRUNCATE", "REFERENCES", "TRIGGER"} for held in granted.values())
    assert granted == {table: set(service_privileges(table)) for table in granted}


def test_the_service_works_through_its_own_login(deployment):
    runtime = open_runtime(deployment.settings, clock=deployment.clock)
    try:
        with runtime.engine.connect() as conn:
            login = conn.execute(sa.text("SELECT current_user, session_user")).one()
        assert tuple(login) == (deployment.cluster.service, deployment.cluster.service)
        person = SyntheticPeople(seed=12).person()
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            admin = as_user(client, *deployment.admin)
            create_tree(client, admin)
            create_user(client, admin, "police.boundary", ["police"], "320571")
            police = as_user(client, "police.boundary", STRONG_PASSWORD) | {"X-Purpose": "registration"}
            body = {"id_number": person.id_number, "name": person.name, "phone": person.phone}
            created = client.post("/api/v1/persons", json=body, headers=police)
            assert created.status_code == 201, created.text
            read = client.get(f"/api/v1/persons/{created.json()['id']}", headers=police)
            assert read.status_code == 200 and read.json()["name"] == person.name
        runtime.sequencer.drain()
        runtime.sequencer.checkpoint()  # unless the app's own sequencer signed it on shutdown
        with runtime.engine.connect() as conn:
            entries, leaves, signed = conn.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM audit_entry), (SELECT count(*) FROM audit_leaf),"
                    " (SELECT max(size) FROM audit_checkpoint)"
                )
            ).one()
            actions = conn.execute(sa.text("SELECT action FROM audit_entry")).scalars().all()
        assert entries == leaves == signed and entries > 5
        assert "person:create" in actions and "person:read" in actions
    finally:
        runtime.engine.dispose()


def test_a_verify_worker_opens_the_database_as_its_parent_acts(deployment):
    """`audit verify --workers` starts processes of their own: each needs the password
    (never the masked URL) and the role its parent switched to, or it reads as another login."""
    cluster = deployment.cluster
    for url, role, acting in (
        (cluster.service_url, None, cluster.service),
        (cluster.superuser_url, cluster.service, cluster.service),
    ):
        parent = create_engine(url, role=role)
        try:
            with parent.connect() as conn:
                mirrored_url, mirrored_role = same_login(conn)
        finally:
            parent.dispose()
        assert (mirrored_url, mirrored_role) == (url, role)
        worker = create_engine(mirrored_url, role=mirrored_role)
        try:
            with worker.connect() as conn:
                assert conn.execute(sa.text("SELECT current_user")).scalar_one() == acting
        finally:
            worker.dispose()


def test_the_runtime_refuses_the_owner_login(deployment):
    owner = create_engine(deployment.cluster.owner_url)
    try:
        with pytest.raises(ConfigurationError, match="can become the owner.*owns objects"):
            open_runtime(deployment.settings, clock=deployment.clock, engine=owner)
    finally:
        owner.dispose()


def test_a_service_role_that_could_rewrite_the_log_is_refused(deployment):
    cluster = deployment.cluster
    postgres.run_admin(cluster.superuser_url, f"GRANT pg_write_all_data TO {cluster.service}")
    try:
        with pytest.raises(ConfigurationError, match="may rewrite audit_checkpoint"):
            open_runtime(deployment.settings, clock=deployment.clock)
        owner = create_engine(cluster.owner_url)
        try:
            with pytest.raises(ConfigurationError, match="may rewrite audit_entry"):
                migrate(owner, service_role=cluster.service, create_service_role=False)
        finally:
            owner.dispose()
    finally:
        postgres.run_admin(cluster.superuser_url, f"REVOKE pg_write_all_data FROM {cluster.service}")


def test_init_again_takes_back_a_grant_added_by_hand(deployment):
    cluster = deployment.cluster
    postgres.run_admin(cluster.superuser_url, f"GRANT UPDATE, TRUNCATE ON audit_entry TO {cluster.service}")
    assert _sqlstate(cluster.service_url, "UPDATE audit_entry SET outcome = 'denied'") == "P0001"  # the trigger
    assert initialise(deployment.settings, clock=deployment.clock).admin_password is None
    assert _sqlstate(cluster.service_url, "UPDATE audit_entry SET outcome = 'denied'") == INSUFFICIENT_PRIVILEGE
    assert _granted(cluster.superuser_url, cluster.service)["audit_entry"] == {"SELECT", "INSERT"}


@pytest.mark.parametrize(
    ("role", "problem"),
    [("postgres", "superuser"), ("{owner}", "can become the owner"), ("reg_missing_{run}", "does not exist")],
)
def test_migrate_refuses_a_service_role_that_is_no_boundary(deployment, role, problem):
    cluster = deployment.cluster
    owner = create_engine(cluster.owner_url)
    try:
        with pytest.raises(ConfigurationError, match=problem):
            migrate(
                owner,
                service_role=role.format(owner=cluster.owner, run=uuid.uuid4().hex[:8]),
                create_service_role=False,
            )
    finally:
        owner.dispose()
    # Nothing was taken from the owner on the way.
    assert _sqlstate(cluster.owner_url, "SELECT count(*) FROM audit_entry") is None


# -- settings (no database) ----------------------------------------------------------------


def test_every_table_declares_the_service_privileges():
    assert set(SERVICE_PRIVILEGES) == set(metadata.tables) | {"alembic_version"}
    assert Settings(_env_file=None).database_role == DEFAULT_SERVICE_ROLE


def test_sqlite_needs_no_second_login(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert settings.service_database_url == settings.owner_database_url == settings.resolved_database_url
    assert settings.resolved_database_url.startswith("sqlite:///")
    with pytest.raises(ConfigurationError, match="PostgreSQL only"):
        Settings(_env_file=None, migration_database_url=f"{PG}owner@db/registry")


def test_dev_without_a_migration_login_uses_the_service_role_on_the_same_server():
    settings = Settings(_env_file=None, database_url=f"{PG}dev:pw@127.0.0.1:5432/registry")
    service = make_url(settings.service_database_url)
    assert (service.username, service.password, service.host, service.database) == (
        "registry_app",
        None,
        "127.0.0.1",
        "registry",
    )
    assert settings.owner_database_url == f"{PG}dev:pw@127.0.0.1:5432/registry"
    with pytest.raises(ConfigurationError, match="logs in as the service role"):
        Settings(_env_file=None, database_url=f"{PG}registry_app@127.0.0.1/registry")


def test_production_requires_a_separate_owner_login(tmp_path):
    production = {"profile": "production", "data_dir": tmp_path / "data", "checkpoint_sink_dir": tmp_path / "sink"}
    with pytest.raises(ConfigurationError, match="REGISTRY_MIGRATION_DATABASE_URL"):
        Settings(_env_file=None, database_url=f"{PG}registry_app:s3@db/registry", **production)
    settings = Settings(
        _env_file=None,
        database_url=f"{PG}registry_app:s3@db/registry",
        migration_database_url=f"{PG}registry_owner:s4@db/registry",
        **production,
    )
    assert settings.service_database_url == f"{PG}registry_app:s3@db/registry"
    assert settings.owner_database_url == f"{PG}registry_owner:s4@db/registry"
    assert "s4" not in repr(settings)


@pytest.mark.parametrize(
    ("service", "owner", "problem"),
    [
        ("other_app:pw@db/r", "registry_owner:pw@db/r", "not REGISTRY_DATABASE_ROLE"),
        ("registry_app:pw@db/r", "registry_app:pw@db/r", "not the service role"),
        ("@db/r", "registry_app:pw@db/r", "not the service role"),
        ("registry_app:pw@db/r", "not a url", "not a database URL"),
    ],
)
def test_the_two_logins_must_be_different_roles(service, owner, problem):
    owner_url = owner if " " in owner else f"{PG}{owner}"
    with pytest.raises(ConfigurationError, match=problem):
        Settings(_env_file=None, database_url=f"{PG}{service}", migration_database_url=owner_url)


def test_dev_init_creates_the_service_role_it_then_logs_in_as(pg_admin_url, tmp_path):
    """Dev, on a server that trusts local logins: with no separate owner login, init
    creates the service role (a password-less login) and the runtime logs in as it."""
    role = f"reg_dev_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    try:
        with postgres.scratch_database(pg_admin_url, "registry_dev") as url:
            settings = Settings(_env_file=None, data_dir=tmp_path / "data", database_url=url, database_role=role)
            assert initialise(settings, clock=FixedClock()).admin_password
            runtime = open_runtime(settings, clock=FixedClock())
            try:
                with runtime.engine.connect() as conn:
                    assert tuple(conn.execute(sa.text("SELECT current_user, session_user")).one()) == (role, role)
            finally:
                runtime.engine.dispose()
    finally:
        postgres.run_admin(pg_admin_url, f"DROP ROLE IF EXISTS {role}")
