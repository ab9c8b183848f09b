"""Writing audit entries directly, for tests of the log itself."""

from __future__ import annotations

from registry.audit.actions import Action
from registry.audit.log import Actor, AuditTrail, Event
from registry.audit.verify import Witness, verify_log
from registry.db import transaction


def append(runtime, n: int, *, actor: str = "tester") -> None:  # type: ignore[no-untyped-def]
    with transaction(runtime.engine) as session:
        trail = AuditTrail(runtime.clock, Actor(actor, ("police",), "320571"))
        for i in range(n):
            trail.append(session, Event(Action.PERSON_READ, targets=(f"target-{i}",), fields=("name",)))


LOG_TABLES = ("audit_entry", "audit_leaf", "audit_node", "audit_checkpoint", "audit_epoch")


def disable_triggers(owner) -> None:  # type: ignore[no-untyped-def]
    """What an attacker holding the database file or the owner role does first."""
    with owner.begin() as conn:
        if owner.dialect.name == "sqlite":
            names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars().all()
            for name in names:
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            for table in LOG_TABLES:
                conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER ALL")


def verify_against_sink(runtime):  # type: ignore[no-untyped-def]
    """Verify with everything the checkpoint sink holds: its note, the notes it kept when it
    crossed declared restores, and their statements."""
    sink = runtime.sequencer.sink
    return verify_log(
        runtime.engine,
        runtime.provider.public_key(),
        runtime.settings.audit_origin,
        witnesses=[Witness("the sink", sink.newest()), *(Witness(name, note) for name, note in sink.superseded())],
        kept_restores=sink.restores(),
    )


def assert_restored(client, police, erased, erased_id, kept, kept_id, later_id) -> None:  # type: ignore[no-untyped-def]
    """After a restore and its replay: the person erased after the backup stays erased (410,
    found by no search), what was there before the restore point reads back, what came after
    it is gone."""
    reg = police | {"X-Purpose": "registration"}
    assert client.get(f"/api/v1/persons/{erased_id}", headers=reg).status_code == 410
    found = client.post("/api/v1/persons/search", json={"id_number": erased.id_number}, headers=reg)
    assert found.status_code == 200 and found.json()["items"] == []
    read = client.get(f"/api/v1/persons/{kept_id}", headers=reg)
    assert read.status_code == 200 and read.json()["name"] == kept.name
    assert client.get(f"/api/v1/persons/{later_id}", headers=reg).status_code == 404
