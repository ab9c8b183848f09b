"""Rotation on a real database: any sequence of writes, KEK/DEK/index rotations and
crashes mid-rotation (resumed by re-running) leaves every person readable and searchable."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from contextlib import closing

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from registry.access.policy import Purpose, Role
from registry.access.principal import Principal
from registry.access.scope import Scope
from registry.audit.log import AuditTrail
from registry.bootstrap import initialise
from registry.clock import FixedClock
from registry.context import Context, actor_of
from registry.crypto.keyring import forget
from registry.crypto.models import DataKeyRecord, IndexRootKey
from registry.crypto.rotation import key_status, rotate_deks, rotate_index, rotate_kek
from registry.db import transaction
from registry.maintenance import sealed_tables
from registry.people import service
from registry.people.schemas import PersonCreate, PersonSearch
from registry.people.synthetic import SyntheticPeople
from registry.runtime import open_runtime
from registry.settings import Settings

OPS = st.lists(
    st.sampled_from(["write", "kek", "dek", "index", "crash-kek", "crash-dek", "crash-index"]), min_size=1, max_size=7
)


class Crash(Exception):
    pass


def _crash_after_first_batch(done: int, total: int) -> None:
    if done:
        raise Crash


def _police(clock) -> Context:
    principal = Principal(uuid.uuid4(), "police.test", "human", frozenset({Role.POLICE}), "320571", Scope(None))
    return Context(principal, AuditTrail(clock, actor_of(principal)), clock, Purpose.REGISTRATION)


@pytest.fixture(scope="module")
def initialised(tmp_path_factory):
    base = tmp_path_factory.mktemp("rotation")
    settings_ = Settings(data_dir=base / "data", database_url=f"sqlite:///{base / 'registry.db'}", profile="dev")
    initialise(settings_, clock=FixedClock())
    engine = open_runtime(settings_).engine
    with transaction(engine) as session:
        session.execute(
            sa.text(
                "INSERT INTO org_unit (code, name, path, created_at) VALUES ('320571', 'x', '/320571/', '2026-01-01')"
            )
        )
    engine.dispose()
    # Fold the WAL into the main file: each example copies only `registry.db`.
    with closing(sqlite3.connect(base / "registry.db")) as conn:
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    return base


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, seed=st.integers(0, 10_000))
def test_any_sequence_of_rotations_and_crashes_keeps_everything_readable(initialised, tmp_path_factory, ops, seed):
    work = tmp_path_factory.mktemp("run")
    shutil.copytree(initialised / "data", work / "data")
    shutil.copyfile(initialised / "registry.db", work / "registry.db")
    settings_ = Settings(data_dir=work / "data", database_url=f"sqlite:///{work / 'registry.db'}", profile="dev")
    clock = FixedClock()
    runtime = open_runtime(settings_, clock=clock)
    ctx = _police(clock)
    people = SyntheticPeople(seed)
    written: dict[uuid.UUID, object] = {}

    def write(n: int = 3) -> None:
        with transaction(runtime.engine) as session:
            for _ in range(n):
                p = people.person()
                created = service.create_person(
                    session,
                    ctx,
                    runtime.keyring,
                    data=PersonCreate(id_number=p.id_number, name=p.name, phone=p.phone, hukou_address=p.hukou_address),
                )
                written[created.id] = p

    write()
    for op in ops:
        clock.advance(seconds=1)
        crash = op.startswith("crash-")
        kind = op.removeprefix("crash-")
        progress = _crash_after_first_batch if crash else (lambda d, t: None)
        try:
            if kind == "write":
                write()
            elif kind == "kek":
                rotate_kek(runtime.engine, runtime.keyring, batch=1, progress=progress)
            elif kind == "dek":
                rotate_deks(runtime.engine, runtime.keyring, sealed_tables(), batch=1, progress=progress)
            elif kind == "index":
                rotate_index(runtime.engine, runtime.keyring, sealed_tables(), batch=1, progress=progress)
        except Crash:
            # Restart: a new process with the same files, and the same command run again.
            runtime.engine.dispose()
            runtime = open_runtime(settings_, clock=clock)
            write(1)  # writes keep working between crash and resume
            if kind == "kek":
                rotate_kek(runtime.engine, runtime.keyring, batch=2, new_version=False)
            elif kind == "dek":
                rotate_deks(runtime.engine, runtime.keyring, sealed_tables(), batch=2)
            else:
                rotate_index(runtime.engine, runtime.keyring, sealed_tables(), batch=2)

    with Session(runtime.engine) as session:
        for person_id, p in written.items():
            _, values = service.read_person(session, ctx, runtime.keyring, person_id=person_id)
            assert values["id_number"] == p.id_number and values["name"] == p.name and values["phone"] == p.phone
            for query in (
                PersonSearch(id_number=p.id_number),
                PersonSearch(phone=p.phone),
                PersonSearch(name=p.name, birth_date=p.birth_date),
            ):
                found = service.search_persons(session, ctx, runtime.keyring, query=query)
                assert [m["id"] for m in found] == [person_id]
        status = key_status(session, runtime.keyring)
        keys = session.exec(select(DataKeyRecord.owner_id)).all()
        session.rollback()
    # Exactly one live index version, and no DEK version outlives its owner's newest.
    assert [r.status for r in status if r.purpose == "index" and r.status != "retired"] == ["active"]
    assert len(keys) == len(set(keys)) == len(written)
    runtime.engine.dispose()


def test_kek_rotation_rewraps_every_dek(initialised, tmp_path):
    shutil.copytree(initialised / "data", tmp_path / "data")
    shutil.copyfile(initialised / "registry.db", tmp_path / "registry.db")
    settings_ = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'registry.db'}")
    clock = FixedClock()
    runtime = open_runtime(settings_, clock=clock)
    ctx = _police(clock)
    with transaction(runtime.engine) as session:
        for p in SyntheticPeople(1).people(5):
            service.create_person(session, ctx, runtime.keyring, data=PersonCreate(id_number=p.id_number, name=p.name))
    before = runtime.keyring.provider.kek_version
    assert rotate_kek(runtime.engine, runtime.keyring, batch=2) == 5
    with Session(runtime.engine) as session:
        rows = session.exec(select(DataKeyRecord)).all()
    assert {r.kek_version for r in rows} == {before + 1}
    runtime.engine.dispose()


def test_the_live_roots_read_in_a_session_follow_a_root_written_in_it(runtime):
    """`Keyring.index_roots` is read once per session: a root rewrapped under a new KEK, or
    retired, in that same session is read again, never answered from the stale rows."""
    keyring = runtime.keyring
    with transaction(runtime.engine) as session:
        before = keyring.index_roots(session)
        keyring.provider.rotate_kek()
        root = session.exec(select(IndexRootKey).where(IndexRootKey.version == before[-1].version)).one()
        keyring.rewrap_index_root(root)
        after = keyring.index_roots(session)
        assert after[-1].wrapped == root.wrapped != before[-1].wrapped
        # Retired in the session (as the index rotation's retire step does, which also
        # forgets): no longer among the live roots.
        root.status = "retired"
        forget(session)
        assert [r.version for r in keyring.index_roots(session)] == [r.version for r in before[:-1]]
        session.rollback()
