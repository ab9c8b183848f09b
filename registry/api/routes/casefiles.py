"""Casefile routes (API.md, Casefiles). Whatever a caller may not know of answers 404."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response

from registry.accounts.schemas import Page
from registry.api.contract import casefile_gate, may
from registry.api.deps import RuntimeDep, SessionDep
from registry.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_uuid_cursor, encode_cursor
from registry.api.routes.persons import PurposeContext
from registry.api.routing import api_router
from registry.casefiles import closures, events, service, terms
from registry.casefiles.schemas import (
    Assignments,
    BreakGlassGranted,
    BreakGlassRequest,
    CasefileCreate,
    CasefileRead,
    CasefileRow,
    ClosureDecision,
    ClosureRead,
    EventCreate,
    EventRead,
    PendingClosure,
    Restrictions,
    TermChange,
    TermChanged,
    Transition,
)
from registry.context import Context

router = api_router(prefix="/api/v1/casefiles", tags=["casefiles"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def _read(runtime, session, ctx: Context, casefile_id: uuid.UUID) -> CasefileRead:  # type: ignore[no-untyped-def]
    casefile, details, assigned, hints = service.read_casefile(session, ctx, runtime.keyring, casefile_id=casefile_id)
    pending = service.pending_closure(session, casefile.id)
    return CasefileRead(
        id=casefile.id,
        person_id=casefile.person_id,
        kind=casefile.kind,
        status=casefile.status,
        org_unit=casefile.org_unit_code,
        opened_on=casefile.opened_on,
        closed_on=casefile.closed_on,
        pending_closure=None
        if pending is None
        else PendingClosure(
            id=pending.id,
            to=pending.to_status,
            declared_on=pending.declared_on,
            requested_by=pending.requested_by,
            requested_at=pending.requested_at,
        ),
        minor=casefile.minor,
        report_due_on=casefile.report_due_on,
        term_ends_on=casefile.term_ends_on,
        handover_due_on=casefile.handover_due_on,
        sealed=casefile.sealed,
        legal_hold=casefile.legal_hold,
        details=details,
        assigned_user_ids=assigned,
        hints=hints,
        version=casefile.version,
    )


@router.post(
    "",
    status_code=201,
    response_model=CasefileRead,
    openapi_extra=casefile_gate(assigned=False),
)
def create_casefile(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, body: CasefileCreate
) -> CasefileRead:
    casefile = service.create_casefile(
        session, ctx, runtime.keyring, data=body, backdate_days=runtime.settings.casefile_backdate_days
    )
    return _read(runtime, session, ctx, casefile.id)


@router.get(
    "/{casefile_id}",
    response_model=CasefileRead,
    responses={404: {}},
    openapi_extra=casefile_gate(assigned=True),
)
def read_casefile(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, casefile_id: uuid.UUID
) -> CasefileRead:
    return _read(runtime, session, ctx, casefile_id)


@router.get(
    "",
    response_model=Page[CasefileRow],
    openapi_extra=may(),
)
def list_casefiles(
    session: SessionDep,
    ctx: PurposeContext,
    kind: str | None = None,
    status: str | None = None,
    org_unit: str | None = None,
    cursor: str | None = None,
    due: Annotated[str | None, Query(json_schema_extra={"enum": list(service.WORKLISTS)})] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[CasefileRow]:
    rows = service.list_casefiles(
        session,
        ctx,
        kind=kind,
        status=status,
        org_unit=org_unit,
        after=decode_uuid_cursor(cursor),
        limit=limit + 1,
        due=due,
    )
    items = [
        CasefileRow(
            id=c.id,
            person_id=c.person_id,
            kind=c.kind,
            status=c.status,
            org_unit=c.org_unit_code,
            opened_on=c.opened_on,
        )
        for c in rows[:limit]
    ]
    return Page(items=items, next_cursor=encode_cursor(str(items[-1].id)) if len(rows) > limit else None)


@router.post(
    "/{casefile_id}/events",
    status_code=201,
    response_model=EventRead,
    openapi_extra=casefile_gate(assigned=True),
)
def add_event(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, casefile_id: uuid.UUID, body: EventCreate
) -> EventRead:
    # Checked against the event catalogue (schemas/casefile.<kind>.event.<type>.json).
    event, recorded = events.record_event(session, ctx, runtime.keyring, casefile_id=casefile_id, data=body)
    return EventRead(
        id=event.id,
        type=event.type,
        occurred_on=event.occurred_on,
        body=recorded,
        recorded_by=event.recorded_by,
        created_at=event.created_at,
    )


@router.get(
    "/{casefile_id}/events",
    response_model=list[EventRead],
    openapi_extra=casefile_gate(assigned=True),
)
def list_events(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: PurposeContext,
    casefile_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[EventRead]:
    return [
        EventRead(
            id=e.id,
            type=e.type,
            occurred_on=e.occurred_on,
            body=body,
            recorded_by=e.recorded_by,
            created_at=e.created_at,
        )
        for e, body in service.list_events(session, ctx, runtime.keyring, casefile_id=casefile_id, limit=limit)
    ]


@router.post(
    "/{casefile_id}/transitions",
    response_model=CasefileRead,
    responses={
        202: {"description": "A transition that ends the file: pending the supervising level's approval"},
        409: {},
        422: {},
    },
    openapi_extra=casefile_gate(assigned=False),
)
def transition(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: PurposeContext,
    casefile_id: uuid.UUID,
    body: Transition,
    response: Response,
) -> CasefileRead:
    """200 with the moved file; 202 when the move ends the file: it then shows
    `pending_closure` and keeps its status until `POST …/closure/decision` approves it.
    The date `on` is bounded: not in the future, not before the file opened or its latest
    timeline entry, back-dated at most `casefile_backdate_days` (default 30)."""
    service.transition(
        session,
        ctx,
        runtime.keyring,
        casefile_id=casefile_id,
        data=body,
        backdate_days=runtime.settings.casefile_backdate_days,
    )
    read = _read(runtime, session, ctx, casefile_id)
    if read.pending_closure is not None:
        response.status_code = 202
    return read


@router.post(
    "/{casefile_id}/closure/decision",
    response_model=ClosureRead,
    responses={404: {}, 409: {}, 422: {}},
    openapi_extra=casefile_gate(assigned=False),
)
def decide_closure(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, casefile_id: uuid.UUID, body: ClosureDecision
) -> ClosureRead:
    """The supervising level (a user of the parent org unit with the kind's role) approves or
    refuses the pending closure; on approval the file takes the requested state and its
    `closed_on` is today."""
    closure = closures.decide_closure(
        session, ctx, runtime.keyring, casefile_id=casefile_id, approve=body.approve, note=body.note
    )
    return ClosureRead(
        id=closure.id,
        casefile_id=closure.casefile_id,
        status=closure.status,  # type: ignore[arg-type]
        from_status=closure.from_status,
        to=closure.to_status,
        declared_on=closure.declared_on,
        decided_on=closure.decided_on,
        version=closure.version,
    )


@router.post(
    "/{casefile_id}/term-changes",
    response_model=TermChanged,
    responses={404: {}, 409: {}, 422: {}},
    openapi_extra=casefile_gate(assigned=False),
)
def change_term(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, casefile_id: uuid.UUID, body: TermChange
) -> TermChanged:
    """A court's ruling on the term of a community-correction file under its term (社区矫正法
    Art. 33: a reduction, the only ruling accepted), with the ruling's own document number:
    the new end is earlier than the current one, not before the ruling; the ruling is not in
    the future, not before the file opened, back-dated at most `casefile_backdate_days`. The
    old and new term end are on the sealed timeline (`term_changed`); the audit names fields."""
    casefile, before = terms.change_term(
        session,
        ctx,
        runtime.keyring,
        casefile_id=casefile_id,
        data=body,
        backdate_days=runtime.settings.casefile_backdate_days,
    )
    return TermChanged(
        casefile_id=casefile.id,
        term_ends_on=body.term_ends_on,
        previous_term_ends_on=before.term_ends_on,
        version=casefile.version,
    )


@router.put(
    "/{casefile_id}/assignments",
    response_model=Assignments,
    openapi_extra=casefile_gate(assigned=False),
)
def set_assignments(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, casefile_id: uuid.UUID, body: Assignments
) -> Assignments:
    """The supervision team; a female subject's team needs a female member (社区矫正法 Art. 25)."""
    return Assignments(
        user_ids=service.set_assignments(session, ctx, runtime.keyring, casefile_id=casefile_id, data=body)
    )


@router.put(
    "/{casefile_id}/restrictions",
    status_code=204,
    openapi_extra=casefile_gate(assigned=False),
)
def set_restrictions(session: SessionDep, ctx: PurposeContext, casefile_id: uuid.UUID, body: Restrictions) -> None:
    service.set_restrictions(session, ctx, casefile_id=casefile_id, data=body)


@router.post(
    "/{casefile_id}/break-glass",
    status_code=201,
    response_model=BreakGlassGranted,
    openapi_extra=casefile_gate(assigned=True),
)
def break_glass(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, casefile_id: uuid.UUID, body: BreakGlassRequest
) -> BreakGlassGranted:
    grant = service.break_glass(session, ctx, runtime.keyring, casefile_id=casefile_id, data=body)
    return BreakGlassGranted(grant_id=grant.id, expires_at=grant.expires_at)
