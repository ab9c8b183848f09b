"""A row sealed under a superseded DEK version after the rotation's pass went by it (a write
that looked up its key before the new version committed, which PostgreSQL allows) is found by
the check that ends the rotation and re-sealed before the old version is destroyed."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import select

from registry.access.policy import Purpose, Role
from registry.access.principal import Principal
from registry.access.scope import Scope
from registry.audit.log import AuditTrail
from registry.context import Context, actor_of
from registry.crypto.keyring import Compartment
from registry.crypto.models import DataKeyRecord
from registry.crypto.rotation import rotate_deks
from registry.crypto.sealed import describe_table
from registry.db import transaction
from registry.maintenance import sealed_tables
from registry.people import service
from registry.people.models import Person
from registry.people.schemas import PersonCreate
from registry.people.synthetic import SyntheticPeople

LATE_NAME = "迟写入"


def _police(clock) -> Context:
    principal = Principal(uuid.uuid4(), "police.test", "human", frozenset({Role.POLICE}), "320571", Scope(None))
    return Context(principal, AuditTrail(clock, actor_of(principal)), clock, Purpose.REGISTRATION)


def test_a_value_sealed_under_the_old_version_behind_the_pass_is_resealed(runtime, clock):
    ctx = _police(clock)
    with transaction(runtime.engine) as session:
        session.execute(
            sa.text(
                "INSERT INTO org_unit (code, name, path, created_at) VALUES ('320571', 'x', '/320571/', '2026-01-01')"
            )
        )
    people = SyntheticPeople(5)
    ids = []
    with transaction(runtime.engine) as session:
        for _ in range(3):
            p = people.person()
            ids.append(
                service.create_person(
                    session, ctx, runtime.keyring, data=PersonCreate(id_number=p.id_number, name=p.name)
                ).id
            )
    clock.advance(seconds=1)
    first = min(ids)  # the pass goes in id order: the first batch (of one) is this person
    late: list[bool] = []

    def write_behind_the_pass(done: int, total: int) -> None:
        with transaction(runtime.engine) as session:
            newest = session.exec(
                select(sa.func.max(DataKeyRecord.version)).where(DataKeyRecord.owner_id == str(first))
            ).one()
            if late or newest != 2:  # once, right after the pass re-sealed this person
                return
            late.append(True)
            person = describe_table("person")
            old = runtime.keyring.read_key(session, owner=str(first), compartment=Compartment.IDENTITY, version=1)
            blob = person.seal(old, record_id=str(first), name="name", value=LATE_NAME)
            session.execute(sa.update(Person).where(Person.id == first).values(name_ct=blob))  # type: ignore[arg-type]

    rotate_deks(runtime.engine, runtime.keyring, sealed_tables(), batch=1, progress=write_behind_the_pass)

    assert late
    with transaction(runtime.engine) as session:
        _, values = service.read_person(session, ctx, runtime.keyring, person_id=first)
        versions = session.exec(select(DataKeyRecord.owner_id, DataKeyRecord.version)).all()
    assert values["name"] == LATE_NAME
    assert sorted(v for o, v in versions if o == str(first)) == [2]
    assert len(versions) == len({o for o, _ in versions})  # one version left per owner
