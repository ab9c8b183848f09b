"""Writing audit entries directly, for tests of the log itself."""

from __future__ import annotations

from registry.audit.actions import Action
from registry.audit.log import Actor, AuditTrail, Event
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
