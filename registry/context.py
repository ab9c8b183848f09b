"""What a service call knows about the request it serves: who, on which clock, audited how."""

from __future__ import annotations

from dataclasses import dataclass

from registry.access.policy import Purpose
from registry.access.principal import Principal
from registry.audit.log import Actor, AuditTrail, Event
from registry.clock import Clock


def actor_of(principal: Principal) -> Actor:
    return Actor(str(principal.account_id), tuple(sorted(principal.roles)), principal.org_unit_code)


@dataclass(frozen=True)
class Context:
    principal: Principal
    audit: AuditTrail
    clock: Clock
    purpose: Purpose | None = None

    def event(self, action, **fields) -> Event:  # type: ignore[no-untyped-def]
        """An audit event carrying this request's purpose."""
        return Event(action=action, purpose=self.purpose, **fields)
