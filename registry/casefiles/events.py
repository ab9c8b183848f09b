"""Recording a caller's event on a casefile, checked against the catalogue
(`registry.casefiles.events_catalogue`) before `service.add_event` seals it.

Order of the checks: the file opens for writing (scope, compartment, lists; never on a
break-glass grant: 404) → the type is one of the kind's, and not one the service records
itself (422) → the caller's role may record it, at the org-unit level the law names (403)
→ the dates (422: not before the file opened, not in the future) → the body fits the
type's schema (422) → the rules of the type (管制 has no revocation, an absence's days).
Every refusal is audited as a denied `casefile:event` naming the file, although the
request rolls back; messages name types, fields and rules, never values.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlmodel import Session

from registry.audit.actions import Action
from registry.casefiles import access
from registry.casefiles import events_catalogue as catalogue
from registry.casefiles.leave import may_approve
from registry.casefiles.leaves import approver_level
from registry.casefiles.models import CASEFILE, Casefile, CasefileEvent
from registry.casefiles.schemas import EventCreate
from registry.casefiles.service import add_event
from registry.casefiles.workflows import correction as correction_workflow
from registry.casefiles.workflows.common import Kind
from registry.casefiles.workflows.correction import Sanction
from registry.clock import today
from registry.context import Context
from registry.crypto.keyring import Keyring
from registry.disclosure import rule_inputs
from registry.errors import Forbidden, RuleViolation


def _check_recorder(session: Session, ctx: Context, event_type: catalogue.EventType, targets: tuple[str, ...]) -> None:
    if not ctx.principal.roles & event_type.recorders:
        roles = ", ".join(sorted(event_type.recorders))
        raise Forbidden(
            f"event.recorder: {event_type.name} is recorded by {roles} ({event_type.article})",
            audit_as=Action.CASEFILE_EVENT,
            targets=targets,
        )
    if event_type.min_level is None:
        return
    level = approver_level(session, ctx.principal)
    if level is None or not may_approve(level, event_type.min_level):
        # 社区矫正法 Art. 9, 28: the county-level correction agency decides, not a 司法所.
        raise Forbidden(
            f"event.level: {event_type.name} is decided at {event_type.min_level} level or above"
            f" ({event_type.article})",
            audit_as=Action.CASEFILE_EVENT,
            targets=targets,
        )


def _check_rules(
    session: Session, ctx: Context, keyring: Keyring, casefile: Casefile, event_type: catalogue.EventType
) -> None:
    if casefile.kind == Kind.community_correction and event_type.name == Sanction.revocation_proposal:
        # 社区矫正法 Art. 28, 46, 49: 管制 has no revocation; the category is sealed, read as a rule input.
        details = rule_inputs(
            session, ctx, keyring, CASEFILE, casefile, fields=("details",), serving=Action.CASEFILE_EVENT
        )["details"]
        correction_workflow.check_revocable(details.get("category"))


def _check_dates(casefile: Casefile, data: EventCreate, on: date) -> None:
    """An event happens while the file exists: not before it opened, not in the future (an
    absence's first day is `occurred_on`, so its period is bounded too). Older events would
    count toward the hints of a file that did not exist then (戒毒条例 Art. 20's 30 days)."""
    if data.occurred_on < casefile.opened_on:
        raise RuleViolation("event.occurred_on: before the file was opened")
    if data.occurred_on > on:
        raise RuleViolation("event.occurred_on: in the future")


def record_event(
    session: Session, ctx: Context, keyring: Keyring, *, casefile_id: uuid.UUID, data: EventCreate
) -> tuple[CasefileEvent, dict]:  # type: ignore[type-arg]
    """The event and its validated body (as sealed)."""
    casefile = access.open_for_write(
        session, ctx.principal, ctx.clock, casefile_id=casefile_id, purpose=ctx.purpose, action=Action.CASEFILE_EVENT
    ).casefile
    targets = (str(casefile.id),)
    try:
        event_type = catalogue.entry(casefile.kind, data.type)
        if event_type.system:
            raise RuleViolation(f"event.type: {event_type.name} is recorded by the service itself")
    except RuleViolation as refused:
        raise RuleViolation(refused.detail, audit_as=Action.CASEFILE_EVENT, targets=targets) from None
    _check_recorder(session, ctx, event_type, targets)
    try:
        _check_dates(casefile, data, today(ctx.clock))
        body = catalogue.validated_body(event_type, data.body)
        period = catalogue.period_of(event_type, body)
        if period is not None:
            catalogue.check_period(casefile.kind, event_type, occurred_on=data.occurred_on, period=period)
            if period[1] > today(ctx.clock):
                raise RuleViolation("event.period: ends_on is in the future (record an absence once it is over)")
        _check_rules(session, ctx, keyring, casefile, event_type)
    except RuleViolation as refused:
        raise RuleViolation(refused.detail, audit_as=Action.CASEFILE_EVENT, targets=targets) from None
    event = add_event(
        session,
        ctx,
        keyring,
        casefile_id=casefile.id,
        data=EventCreate(type=data.type, occurred_on=data.occurred_on, body=body),
        ends_on=period[1] if period is not None else None,
    )
    return event, body
