"""A write that commits while the DEK sweeper re-seals its row is kept, not overwritten with
the re-sealed old value (a lost update that PostgreSQL's row-level concurrency allowed)."""

from __future__ import annotations

import threading
import time
import uuid

import sqlalchemy as sa
from sqlmodel import Session

from registry.access.policy import Purpose, Role
from registry.access.principal import Principal
from registry.access.scope import Scope
from registry.audit.log import AuditTrail
from registry.context import Context, actor_of
from registry.crypto.keyring import Compartment
from registry.crypto.rotation import sweep
from registry.db import create_engine, transaction
from registry.maintenance import sealed_tables
from registry.people import service
from registry.people.schemas import PersonCreate, PersonUpdate
from registry.people.synthetic import SyntheticPeople

NEW_NAME = "新名字"


def _police(clock) -> Context:
    principal = Principal(uuid.uuid4(), "police.test", "human", frozenset({Role.POLICE}), "320571", Scope(None))
    return Context(principal, AuditTrail(clock, actor_of(principal)), clock, Purpose.REGISTRATION)


def _wait_until_blocked(url: str) -> None:
    """Until the sweeper waits for the open transaction's row (SQLite: for its write lock)."""
    if url.startswith("sqlite"):
        time.sleep(0.3)
        return
    # As the owner: the service's role may not see other sessions' wait events.
    engine = create_engine(url)
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    try:
        while True:
            with engine.connect() as conn:
                if conn.execute(query).scalar_one():
                    return
            assert time.monotonic() < deadline, "the sweeper never reached the row"
            time.sleep(0.02)
    finally:
        engine.dispose()


def test_an_update_committed_during_the_sweep_is_kept(runtime, clock):
    ctx = _police(clock)
    with transaction(runtime.engine) as session:
        session.execute(
            sa.text(
                "INSERT INTO org_unit (code, name, path, created_at) VALUES ('320571', 'x', '/320571/', '2026-01-01')"
            )
        )
    person = SyntheticPeople(3).person()
    with transaction(runtime.engine) as session:
        made = service.create_person(
            session, ctx, runtime.keyring, data=PersonCreate(id_number=person.id_number, name=person.name)
        )
        person_id = made.id
    with transaction(runtime.engine) as session:  # a rotation's first step: the row now needs re-sealing
        runtime.keyring.add_version(session, owner=str(person_id), compartment=Compartment.IDENTITY)

    with Session(runtime.engine) as update:
        service.update_person(
            update, ctx, runtime.keyring, person_id=person_id, data=PersonUpdate(name=NEW_NAME), if_match=1
        )
        update.flush()  # the row is changed and locked, not yet committed
        sweeper = threading.Thread(target=sweep, args=(runtime.engine, runtime.keyring, sealed_tables()))
        sweeper.start()
        _wait_until_blocked(runtime.settings.resolved_database_url)
        update.commit()
    sweeper.join(timeout=30)
    assert not sweeper.is_alive()

    with transaction(runtime.engine) as session:
        _, values = service.read_person(session, ctx, runtime.keyring, person_id=person_id)
    assert values["name"] == NEW_NAME
