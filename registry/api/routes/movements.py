"""Leave and transfer routes (API.md, Casefiles): a subject's movements; and the
person transfers (API.md, Residence): an arrival from another unit waits for its holder.

Every route takes `X-Purpose`. Write responses carry plain status fields only; the sealed
destination, reason and decision note leave only through `GET /leave-requests/{id}`, which
discloses them through `registry.disclosure`. Whatever the caller may not open is 404.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, StringConstraints

from registry.access.policy import Permission as P
from registry.accounts.schemas import Page
from registry.api.contract import casefile_gate, may
from registry.api.deps import RuntimeDep, SessionDep
from registry.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_uuid_cursor, encode_cursor
from registry.api.routes.persons import PurposeContext
from registry.api.routing import api_router
from registry.casefiles import leaves, transfers
from registry.casefiles.leave import effective_status, leave_days
from registry.casefiles.models import LeaveRequest, Transfer
from registry.casefiles.schemas import OrgUnitCode
from registry.clock import today
from registry.residence import transfers as person_transfers
from registry.residence.schemas import PersonTransferRead, TransferRefusal

router = api_router(prefix="/api/v1", tags=["casefiles"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LeaveRequestCreate(Strict):
    starts_on: date
    ends_on: date
    destination: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    reason: Text


class LeaveDecision(Strict):
    approve: bool
    note: Text | None = None


class LeaveReturn(Strict):
    returned_on: date


class LeaveRead(Strict):
    """Plain fields only. `status` is what a client sees today (`on_leave` and `overdue`
    follow from the dates); `late` is set once a return is recorded."""

    id: uuid.UUID
    casefile_id: uuid.UUID
    status: str
    required_level: str
    starts_on: date
    ends_on: date
    days: int
    decided_on: date | None
    decided_level: str | None
    returned_on: date | None
    late: bool | None
    version: int


class LeaveDetail(LeaveRead):
    destination: str | None
    reason: str | None
    decision_note: str | None


class TransferCreate(Strict):
    to_org_unit: OrgUnitCode


class TransferRead(Strict):
    id: uuid.UUID
    casefile_id: uuid.UUID
    status: str
    from_org_unit: str
    to_org_unit: str
    proposed_on: date
    accepted_on: date | None
    report_due_on: date | None
    cancelled_on: date | None
    version: int


def _leave(leave: LeaveRequest, on: date) -> dict:  # type: ignore[type-arg]
    return {
        "id": leave.id,
        "casefile_id": leave.casefile_id,
        "status": effective_status(leave.status, starts_on=leave.starts_on, ends_on=leave.ends_on, today=on)
        if leave.returned_on is None
        else leave.status,
        "required_level": leave.required_level,
        "starts_on": leave.starts_on,
        "ends_on": leave.ends_on,
        "days": leave_days(leave.starts_on, leave.ends_on),
        "decided_on": leave.decided_on,
        "decided_level": leave.decided_level,
        "returned_on": leave.returned_on,
        "late": None if leave.returned_on is None else leave.returned_on > leave.ends_on,
        "version": leave.version,
    }


def _transfer(transfer: Transfer) -> TransferRead:
    return TransferRead(
        id=transfer.id,
        casefile_id=transfer.casefile_id,
        status=transfer.status,
        from_org_unit=transfer.from_org_unit,
        to_org_unit=transfer.to_org_unit,
        proposed_on=transfer.proposed_on,
        accepted_on=transfer.accepted_on,
        report_due_on=transfer.report_due_on,
        cancelled_on=transfer.cancelled_on,
        version=transfer.version,
    )


# -- leave --------------------------------------------------------------------------------


@router.post(
    "/casefiles/{casefile_id}/leave-requests",
    status_code=201,
    response_model=LeaveRead,
    responses={404: {}, 409: {}, 422: {}},
    openapi_extra=may(P.CASEFILE_CORRECTION),
)
def request_leave(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, casefile_id: uuid.UUID, body: LeaveRequestCreate
) -> LeaveRead:
    leave = leaves.request_leave(
        session,
        ctx,
        keyring=runtime.keyring,
        casefile_id=casefile_id,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        destination=body.destination,
        reason=body.reason,
    )
    return LeaveRead(**_leave(leave, today(ctx.clock)))


@router.get(
    "/casefiles/{casefile_id}/leave-requests",
    response_model=Page[LeaveRead],
    responses={404: {}},
    openapi_extra=casefile_gate(assigned=True),
)
def list_casefile_leaves(
    session: SessionDep,
    ctx: PurposeContext,
    casefile_id: uuid.UUID,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[LeaveRead]:
    rows = leaves.list_leaves(session, ctx, casefile_id=casefile_id, after=decode_uuid_cursor(cursor), limit=limit + 1)
    on = today(ctx.clock)
    items = [LeaveRead(**_leave(r, on)) for r in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor(str(items[-1].id)) if len(rows) > limit else None)


@router.get("/leave-requests", response_model=Page[LeaveRead], openapi_extra=may())
def list_leave_worklist(
    session: SessionDep,
    ctx: PurposeContext,
    due: Literal["return_overdue"],
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[LeaveRead]:
    """Worklist: approved leaves past their last day with no return recorded, in scope."""
    rows = leaves.overdue_leaves(session, ctx, after=decode_uuid_cursor(cursor), limit=limit + 1)
    on = today(ctx.clock)
    items = [LeaveRead(**_leave(r, on)) for r in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor(str(items[-1].id)) if len(rows) > limit else None)


@router.get(
    "/leave-requests/{leave_id}",
    response_model=LeaveDetail,
    responses={404: {}},
    openapi_extra=may(P.CASEFILE_CORRECTION),
)
def read_leave(runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, leave_id: uuid.UUID) -> LeaveDetail:
    leave, values = leaves.read_leave(session, ctx, keyring=runtime.keyring, leave_id=leave_id)
    return LeaveDetail(
        **_leave(leave, today(ctx.clock)),
        destination=values.get("destination"),
        reason=values.get("reason"),
        decision_note=values.get("decision_note"),
    )


@router.post(
    "/leave-requests/{leave_id}/decision",
    response_model=LeaveRead,
    responses={404: {}, 409: {}, 422: {}},
    openapi_extra=may(P.CASEFILE_CORRECTION),
)
def decide_leave(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, leave_id: uuid.UUID, body: LeaveDecision
) -> LeaveRead:
    leave = leaves.decide_leave(
        session, ctx, keyring=runtime.keyring, leave_id=leave_id, approve=body.approve, note=body.note
    )
    return LeaveRead(**_leave(leave, today(ctx.clock)))


@router.post(
    "/leave-requests/{leave_id}/return",
    response_model=LeaveRead,
    responses={404: {}, 409: {}, 422: {}},
    openapi_extra=may(P.CASEFILE_CORRECTION),
)
def record_return(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, leave_id: uuid.UUID, body: LeaveReturn
) -> LeaveRead:
    leave = leaves.record_return(session, ctx, keyring=runtime.keyring, leave_id=leave_id, returned_on=body.returned_on)
    return LeaveRead(**_leave(leave, today(ctx.clock)))


# -- transfers ----------------------------------------------------------------------------


@router.post(
    "/casefiles/{casefile_id}/transfers",
    status_code=201,
    response_model=TransferRead,
    responses={404: {}, 409: {}, 422: {}},
    openapi_extra=may(P.CASEFILE_CORRECTION),
)
def propose_transfer(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, casefile_id: uuid.UUID, body: TransferCreate
) -> TransferRead:
    return _transfer(
        transfers.propose_transfer(
            session, ctx, keyring=runtime.keyring, casefile_id=casefile_id, to_org_unit=body.to_org_unit
        )
    )


@router.get("/transfers", response_model=Page[TransferRead], openapi_extra=may())
def list_transfers(
    session: SessionDep,
    ctx: PurposeContext,
    status: Literal["proposed", "accepted", "cancelled"] | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[TransferRead]:
    """Transfers of files the caller may list, and those awaiting the caller's units."""
    rows = transfers.list_transfers(session, ctx, status=status, after=decode_uuid_cursor(cursor), limit=limit + 1)
    items = [_transfer(t) for t in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor(str(items[-1].id)) if len(rows) > limit else None)


@router.post(
    "/transfers/{transfer_id}/accept",
    response_model=TransferRead,
    responses={404: {}, 409: {}, 422: {}},
    openapi_extra=may(P.CASEFILE_CORRECTION),
)
def accept_transfer(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, transfer_id: uuid.UUID
) -> TransferRead:
    return _transfer(transfers.accept_transfer(session, ctx, keyring=runtime.keyring, transfer_id=transfer_id))


@router.post(
    "/transfers/{transfer_id}/cancel",
    response_model=TransferRead,
    responses={404: {}, 409: {}},
    openapi_extra=may(P.CASEFILE_CORRECTION),
)
def cancel_transfer(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, transfer_id: uuid.UUID
) -> TransferRead:
    return _transfer(transfers.cancel_transfer(session, ctx, keyring=runtime.keyring, transfer_id=transfer_id))


# -- person transfers (issue 13: jurisdiction changes only by consent) --------------------


def person_transfer_read(v: person_transfers.TransferView) -> PersonTransferRead:
    t = v.transfer
    return PersonTransferRead(
        id=t.id,
        person_id=t.person_id,
        registration_id=t.registration_id,
        status=t.status,  # type: ignore[arg-type]
        from_org_unit=t.from_org_unit if v.holder_side else None,
        to_org_unit=t.to_org_unit,
        requested_on=t.requested_on,
        escalates_on=v.escalates_on,
        escalated=v.escalated,
        escalated_to=v.escalated_to,
        decided_on=t.decided_on,
        reason=t.reason,
        version=t.version,
    )


PERSON_TRANSFER = {"response_model": PersonTransferRead, "tags": ["residence"]}


@router.get(
    "/person-transfers",
    response_model=Page[PersonTransferRead],
    tags=["residence"],
    openapi_extra=may(P.RESIDENCE_READ),
)
def list_person_transfers(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: PurposeContext,
    box: Literal["incoming", "outgoing"] = "incoming",
    status: Literal["requested", "accepted", "refused", "withdrawn"] | None = None,
    escalated: bool | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[PersonTransferRead]:
    """The worklist: `incoming`, requests for persons held by the caller's units (a unit above
    sees its subtree's; `escalated=true` the ones unanswered past the setting's days, now
    also its own to decide as the nearest common parent); `outgoing`, its own requests."""
    rows = person_transfers.list_transfers(
        session,
        ctx,
        box=box,
        status=status,
        escalated=escalated,
        escalation_days=runtime.settings.person_transfer_escalation_days,
        after=decode_uuid_cursor(cursor),
        limit=limit + 1,
    )
    items = [person_transfer_read(v) for v in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor(str(items[-1].id)) if len(rows) > limit else None)


@router.get(
    "/person-transfers/{transfer_id}", responses={404: {}}, **PERSON_TRANSFER, openapi_extra=may(P.RESIDENCE_READ)
)
def read_person_transfer(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, transfer_id: uuid.UUID
) -> PersonTransferRead:
    days = runtime.settings.person_transfer_escalation_days
    return person_transfer_read(
        person_transfers.read_transfer(session, ctx, transfer_id=transfer_id, escalation_days=days)
    )


@router.post(
    "/person-transfers/{transfer_id}/accept",
    responses={404: {}, 409: {}},
    **PERSON_TRANSFER,
    openapi_extra=may(P.RESIDENCE_WRITE),
)
def accept_person_transfer(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, transfer_id: uuid.UUID
) -> PersonTransferRead:
    """By the holding unit or a unit above it: the person, their registrations and permits
    move to the requesting unit, whose pending registration becomes active."""
    days = runtime.settings.person_transfer_escalation_days
    return person_transfer_read(
        person_transfers.accept_transfer(session, ctx, transfer_id=transfer_id, escalation_days=days)
    )


@router.post(
    "/person-transfers/{transfer_id}/refuse",
    responses={404: {}, 409: {}},
    **PERSON_TRANSFER,
    openapi_extra=may(P.RESIDENCE_WRITE),
)
def refuse_person_transfer(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, transfer_id: uuid.UUID, body: TransferRefusal
) -> PersonTransferRead:
    days = runtime.settings.person_transfer_escalation_days
    return person_transfer_read(
        person_transfers.refuse_transfer(
            session, ctx, transfer_id=transfer_id, reason=body.reason, escalation_days=days
        )
    )


@router.post(
    "/person-transfers/{transfer_id}/withdraw",
    responses={404: {}, 409: {}},
    **PERSON_TRANSFER,
    openapi_extra=may(P.RESIDENCE_WRITE),
)
def withdraw_person_transfer(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, transfer_id: uuid.UUID
) -> PersonTransferRead:
    """By the requesting side, while the request awaits an answer."""
    days = runtime.settings.person_transfer_escalation_days
    return person_transfer_read(
        person_transfers.withdraw_transfer(session, ctx, transfer_id=transfer_id, escalation_days=days)
    )
