"""Appending to the audit log, in the caller's transaction.

A data change and its entry commit together; a denial is appended in its own
transaction by the request boundary, because the request's own work is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from registry.audit.actions import Action, Outcome
from registry.audit.models import AuditEntry
from registry.clock import Clock
from registry.db import insert_many, table_of


@dataclass(frozen=True)
class Actor:
    account_id: str | None
    roles: tuple[str, ...] = ()
    org_unit: str | None = None


ANONYMOUS = Actor(account_id=None)


@dataclass(frozen=True)
class RequestMeta:
    request_id: str | None = None  # the server's
    client_addr: str | None = None
    client_request_id: str | None = None  # the client's X-Request-ID, kept beside it


@dataclass(frozen=True)
class Event:
    action: Action
    outcome: Outcome = Outcome.ALLOWED
    targets: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    search_token: str | None = None
    purpose: str | None = None
    break_glass_grant: str | None = None
    reason: str | None = None


@dataclass
class AuditTrail:
    """What one unit of work appends: who acts, from where, on which clock."""

    clock: Clock
    actor: Actor = ANONYMOUS
    meta: RequestMeta = field(default_factory=RequestMeta)

    def _values(self, event: Event, at: datetime) -> dict[str, Any]:
        return dict(
            at=at,
            actor_id=self.actor.account_id,
            actor_roles=sorted(self.actor.roles),
            actor_org_unit=self.actor.org_unit,
            action=event.action,
            targets=list(event.targets),
            fields=list(event.fields),
            search_token=event.search_token,
            purpose=event.purpose,
            break_glass_grant=event.break_glass_grant,
            outcome=event.outcome,
            reason=event.reason,
            request_id=self.meta.request_id,
            client_addr=self.meta.client_addr,
            client_request_id=self.meta.client_request_id,
        )

    def append(self, session: Session, event: Event) -> None:
        self.append_all(session, (event,))

    def append_all(self, session: Session, events: Iterable[Event]) -> None:
        """Written at once, as plain rows: every request appends, and an ORM object's
        unit-of-work flush costs more than the insert itself. One time for all."""
        at = self.clock.now()
        insert_many(session, table_of(AuditEntry), [self._values(e, at) for e in events])
