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
