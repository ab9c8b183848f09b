"""What a service call knows about the request it serves: who, on which clock, audited how."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from registry.access.policy import Purpose
from registry.access.principal import Principal
from registry.audit.log import Actor, AuditTrail, Event
from registry.clock import Clock


def actor_of(principal: Principal) -> Actor:
    return Actor(str(principal.account_id), tuple(sorted(principal.roles)), principal.org_unit_code)


def _nowhere(event: Event) -> None:
    """Outside a request (CLI, jobs) a failure aborts the whole run: nothing to keep."""


@dataclass(frozen=True)
class Context:
    principal: Principal
    audit: AuditTrail
    clock: Clock
    purpose: Purpose | None = None
    # Queues an event for the request boundary to write after a rollback, in its own
    # transaction: what was opened must stay on the record even if the request fails.
    on_failure: Callable[[Event], None] = _nowhere

    def event(self, action, **fields) -> Event:  # type: ignore[no-untyped-def]
        """An audit event carrying this request's purpose."""
        return Event(action=action, purpose=self.purpose, **fields)

    def keep_on_failure(self, event: Event) -> None:
        self.on_failure(event)
