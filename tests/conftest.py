"""Fixtures: a fresh database per test on each engine, a runtime with real keys, an HTTP client.

Every API test runs twice: on SQLite (a file per test) and on a real PostgreSQL server.
Migrations run once per engine per worker into a template that each test copies.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from registry.access.tokens import _verified
from registry.api.app import create_app
from registry.bootstrap import initialise
from registry.clock import FixedClock
from registry.db import create_engine, migrate
from registry.people.service import _read_query
from registry.runtime import Runtime, open_runtime
from registry.settings import Settings
from tests.support import postgres

ENGINES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url, server = postgres.admin_url()
    yield url
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[str]:
    with postgres.scratch_database(pg_admin_url, "registry_tpl") as url:
        engine = create_engine(url)
        migrate(engine)
        engine.dispose()
        yield make_url(url).database


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "registry.db"
    engine = create_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "registry.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin = request.getfixturevalue("pg_admin_url")
    with postgres.scratch_database(admin, "registry_t", template=request.getfixturevalue("pg_template")) as url:
        yield url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, profile="dev")


@pytest.fixture
def bootstrap(settings: Settings, clock: FixedClock) -> tuple[str, str]:
    """Runs `registry init` for real; returns the bootstrap admin's username and password."""
    result = initialise(settings, clock=clock)
    assert result.admin_username and result.admin_password
    return result.admin_username, result.admin_password


@pytest.fixture
def runtime(settings: Settings, clock: FixedClock, bootstrap: tuple[str, str]) -> Iterator[Runtime]:
    runtime = open_runtime(settings, clock=clock)
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Iterator[None]:
    """The request path's process-wide caches (a token's checked signature, a principal's
    prebuilt read statement) start empty in every test, as in a new process."""
    yield
    _verified.cache_clear()
    _read_query.cache_clear()
