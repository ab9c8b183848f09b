"""Residence routes (API.md, Residence): dwellings, registrations, permits, verification."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Header, Query, Response
from sqlmodel import select

from registry.access.policy import Permission as P
from registry.access.policy import Purpose
from registry.accounts.schemas import Page
from registry.api.contract import may
from registry.api.deps import ContextDep, RuntimeDep, SessionDep
from registry.api.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_uuid_cursor,
    encode_cursor,
    etag,
    page_by_key,
    parse_if_match,
)
from registry.api.routes.movements import person_transfer_read
from registry.api.routes.persons import PurposeContext
from registry.api.routing import api_router
from registry.context import Context
from registry.credentials import status as credential_status
from registry.people.schemas import PersonMatch
from registry.residence import continuity, dwellings, employers, permits, registrations, transfers
from registry.residence.dwellings import DWELLING_WORKLISTS
from registry.residence.models import Permit
from registry.residence.policy import ResidencePolicy
from registry.residence.rules import PermitAction
from registry.residence.schemas import (
    Depart,
    DwellingCreate,
    DwellingRead,
    DwellingRow,
    DwellingUpdate,
    EmployerCreate,
    EmployerMatch,
    EmployerRead,
    EmployerSearch,
    EndorseRequest,
    MaterialsRequest,
    Move,
    Occupant,
    PermitCreate,
    PermitRead,
    PermitRow,
    Reason,
    RegistrationCreate,
    RegistrationRead,
    RegistrationRow,
    VerificationRequest,
    VerificationResult,
    Window,
    Worker,
)
from registry.runtime import Runtime

router = api_router(prefix="/api/v1", tags=["residence"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


async def residence_policy(runtime: RuntimeDep) -> ResidencePolicy:
    return ResidencePolicy.from_settings(runtime.settings)


PolicyDep = Annotated[ResidencePolicy, Depends(residence_policy)]


# -- dwellings ---------------------------------------------------------------------------


def _dwelling_read(d, values) -> DwellingRead:  # type: ignore[no-untyped-def]
    return DwellingRead(
        id=d.id,
        org_unit=d.org_unit_code,
        kind=d.kind,
        landlord_person_id=d.landlord_person_id,
        pledge_signed_on=d.pledge_signed_on,
        version=d.version,
        **values,
    )


@router.post("/dwellings", status_code=201, response_model=DwellingRead, openapi_extra=may(P.RESIDENCE_WRITE))
def create_dwelling(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, body: DwellingCreate, response: Response
) -> DwellingRead:
    dwelling = dwellings.create_dwelling(session, ctx, runtime.keyring, data=body)
    values = dwellings.shown_dwelling(session, ctx, runtime.keyring, dwelling)
    response.headers["ETag"] = etag(dwelling.version)
    return _dwelling_read(dwelling, values)


@router.get("/dwellings", response_model=Page[DwellingRow], openapi_extra=may(P.RESIDENCE_READ))
def list_dwellings(
    session: SessionDep,
    ctx: PurposeContext,
    due: Annotated[str, Query(json_schema_extra={"enum": list(DWELLING_WORKLISTS)})],
    org_unit: str | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DwellingRow]:
    """A worklist: `due=pledge_missing`, rentals lived in today whose landlord has not signed
    the security responsibility pledge (租赁房屋治安管理规定 Art. 7). Ids and kinds only."""
    rows = dwellings.list_dwellings(
        session, ctx, due=due, org_unit=org_unit, after=decode_uuid_cursor(cursor), limit=limit + 1
    )
    items = [DwellingRow(id=d.id, org_unit=d.org_unit_code, kind=d.kind) for d in rows[:limit]]
    return Page[DwellingRow](items=items, next_cursor=encode_cursor(str(items[-1].id)) if len(rows) > limit else None)


@router.get("/dwellings/{dwelling_id}", response_model=DwellingRead, openapi_extra=may(P.RESIDENCE_READ))
def read_dwelling(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, dwelling_id: uuid.UUID, response: Response
) -> DwellingRead:
    dwelling, values = dwellings.read_dwelling(session, ctx, runtime.keyring, dwelling_id=dwelling_id)
    response.headers["ETag"] = etag(dwelling.version)
    return _dwelling_read(dwelling, values)


@router.patch(
    "/dwellings/{dwelling_id}",
    response_model=DwellingRead,
    responses={404: {}, 409: {}, 412: {}, 422: {}, 428: {}},
    openapi_extra=may(P.RESIDENCE_WRITE),
)
def update_dwelling(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: PurposeContext,
    dwelling_id: uuid.UUID,
    body: DwellingUpdate,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> DwellingRead:
    """A new landlord, a pledge signed later, a corrected address (`If-Match` required). A
    landlord held by another unit is named by `landlord_id_number`; the answer carries its
    masked exact-search hit as `landlord_match`, nothing more of that person."""
    version = parse_if_match(if_match)
    _, match = dwellings.update_dwelling(
        session, ctx, runtime.keyring, dwelling_id=dwelling_id, data=body, if_match=version
    )
    dwelling, values = dwellings.read_dwelling(session, ctx, runtime.keyring, dwelling_id=dwelling_id)
    response.headers["ETag"] = etag(dwelling.version)
    read = _dwelling_read(dwelling, values)
    read.landlord_match = PersonMatch.model_validate(match) if match is not None else None
    return read


@router.get("/dwellings/{dwelling_id}/occupants", response_model=Page[Occupant], openapi_extra=may(P.RESIDENCE_READ))
def dwelling_occupants(
    session: SessionDep,
    ctx: PurposeContext,
    dwelling_id: uuid.UUID,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[Occupant]:
    """The active registrations at the dwelling (a dormitory holds hundreds), by registration id, paged."""
    found = [
        Occupant(registration_id=r.id, person_id=r.person_id, arrived_on=r.arrived_on)
        for r in dwellings.occupants(session, ctx, dwelling_id=dwelling_id)
    ]
    page, after = page_by_key(found, lambda o: str(o.registration_id), cursor, limit)
    return Page[Occupant](items=page, next_cursor=after)


# -- employers ---------------------------------------------------------------------------


def _employer_read(e, values) -> EmployerRead:  # type: ignore[no-untyped-def]
    return EmployerRead(id=e.id, org_unit=e.org_unit_code, version=e.version, **values)


@router.post("/employers", status_code=201, response_model=EmployerRead, openapi_extra=may(P.RESIDENCE_WRITE))
def create_employer(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, body: EmployerCreate, response: Response
) -> EmployerRead:
    """An employer (以业管人), held by `org_unit`; a USCC the registry knows is a 409 naming
    the employer's id."""
    employer = employers.create_employer(session, ctx, runtime.keyring, data=body)
    _, values = employers.read_employer(session, ctx, runtime.keyring, employer_id=employer.id)
    response.headers["ETag"] = etag(employer.version)
    return _employer_read(employer, values)


@router.post("/employers/search", response_model=list[EmployerMatch], openapi_extra=may(P.RESIDENCE_READ))
def find_employer(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, body: EmployerSearch
) -> list[EmployerMatch]:
    """The employer of an exact USCC, wherever it is held (none or one): its id, and its
    holding unit when the caller's scope covers it. A POST, as a person search is: the code
    stays out of URLs and the logs that keep them."""
    found = employers.lookup(session, ctx, runtime.keyring, uscc=body.uscc)
    if found is None:
        return []
    employer, in_scope = found
    return [EmployerMatch(id=employer.id, org_unit=employer.org_unit_code if in_scope else None)]


@router.get("/employers/{employer_id}", response_model=EmployerRead, openapi_extra=may(P.RESIDENCE_READ))
def read_employer(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, employer_id: uuid.UUID, response: Response
) -> EmployerRead:
    """An employer held in the caller's scope."""
    employer, values = employers.read_employer(session, ctx, runtime.keyring, employer_id=employer_id)
    response.headers["ETag"] = etag(employer.version)
    return _employer_read(employer, values)


@router.get("/employers/{employer_id}/workers", response_model=Page[Worker], openapi_extra=may(P.RESIDENCE_READ))
def employer_workers(
    session: SessionDep,
    ctx: PurposeContext,
    employer_id: uuid.UUID,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[Worker]:
    """The active registrations linked to the employer in the caller's scope only, whoever
    holds the employer: ids and dates, by registration id, paged."""
    after = decode_uuid_cursor(cursor)
    rows, more = employers.workers(
        session, ctx, employer_id=employer_id, after=uuid.UUID(after) if after else None, limit=limit
    )
    page = [
        Worker(
            registration_id=r.id,
            person_id=r.person_id,
            dwelling_id=r.dwelling_id,
            org_unit=r.org_unit_code,
            arrived_on=r.arrived_on,
        )
        for r in rows
    ]
    return Page[Worker](items=page, next_cursor=encode_cursor(str(page[-1].registration_id)) if more else None)


# -- registrations -----------------------------------------------------------------------


def _registration_read(session, r, values) -> RegistrationRead:  # type: ignore[no-untyped-def]
    return RegistrationRead(
        id=r.id,
        person_id=r.person_id,
        dwelling_id=r.dwelling_id,
        org_unit=r.org_unit_code,
        status=r.status,
        arrived_on=r.arrived_on,
        registered_on=r.registered_on,
        departed_on=r.departed_on,
        basis=r.basis,
        reported_by=r.reported_by,
        late=r.late,
        previous_id=r.previous_id,
        employer_id=r.employer_id,
        resident_since=continuity.resident_since(session, r),
        version=r.version,
        **values,
    )


@router.post(
    "/residence-registrations",
    status_code=201,
    response_model=RegistrationRead,
    responses={202: {"model": RegistrationRead, "description": "the person is held by another unit: pending_transfer"}},
    openapi_extra=may(P.RESIDENCE_WRITE),
)
def create_registration(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: PurposeContext,
    policy: PolicyDep,
    body: RegistrationCreate,
    response: Response,
) -> RegistrationRead:
    """201 with an active registration; 202 with a `pending_transfer` one and its `transfer`
    request when another unit holds the person (it must accept before anything moves)."""
    registration, transfer = registrations.create_registration(session, ctx, runtime.keyring, policy, data=body)
    values = registrations.shown_registration(session, ctx, runtime.keyring, registration)
    read = _registration_read(session, registration, values)
    if transfer is not None:
        response.status_code = 202
        response.headers["Location"] = f"/api/v1/person-transfers/{transfer.id}"
        days = runtime.settings.person_transfer_escalation_days
        read.transfer = person_transfer_read(transfers.view(session, ctx, transfer, escalation_days=days))
    return read


@router.get(
    "/residence-registrations/{registration_id}", response_model=RegistrationRead, openapi_extra=may(P.RESIDENCE_READ)
)
def read_registration(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, registration_id: uuid.UUID
) -> RegistrationRead:
    registration, values = registrations.read_registration(
        session, ctx, runtime.keyring, registration_id=registration_id
    )
    return _registration_read(session, registration, values)


@router.get("/residence-registrations", response_model=Page[RegistrationRow], openapi_extra=may(P.RESIDENCE_READ))
def list_registrations(
    session: SessionDep,
    ctx: PurposeContext,
    org_unit: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[RegistrationRow]:
    rows = registrations.list_registrations(
        session, ctx, org_unit=org_unit, status=status, after=decode_uuid_cursor(cursor), limit=limit + 1
    )
    items = [
        RegistrationRow(
            id=r.id,
            person_id=r.person_id,
            org_unit=r.org_unit_code,
            status=r.status,
            arrived_on=r.arrived_on,
            registered_on=r.registered_on,
            late=r.late,
        )
        for r in rows[:limit]
    ]
    return Page[RegistrationRow](
        items=items, next_cursor=encode_cursor(str(items[-1].id)) if len(rows) > limit else None
    )


@router.post(
    "/residence-registrations/{registration_id}/move",
    status_code=201,
    response_model=RegistrationRead,
    openapi_extra=may(P.RESIDENCE_WRITE),
)
def move_registration(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: PurposeContext,
    policy: PolicyDep,
    registration_id: uuid.UUID,
    body: Move,
) -> RegistrationRead:
    new = registrations.move_registration(
        session, ctx, runtime.keyring, policy, registration_id=registration_id, data=body
    )
    _, values = registrations.read_registration(session, ctx, runtime.keyring, registration_id=new.id)
    return _registration_read(session, new, values)


@router.post(
    "/residence-registrations/{registration_id}/depart",
    response_model=RegistrationRead,
    openapi_extra=may(P.RESIDENCE_WRITE),
)
def depart_registration(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, registration_id: uuid.UUID, body: Depart
) -> RegistrationRead:
    registrations.depart_registration(session, ctx, runtime.keyring, registration_id=registration_id, data=body)
    ended = session.exec(select(Permit.id).where(Permit.registration_id == registration_id)).all()
    _republish(runtime, session, ResidencePolicy.from_settings(runtime.settings), set(ended))
    registration, values = registrations.read_registration(
        session, ctx, runtime.keyring, registration_id=registration_id
    )
    return _registration_read(session, registration, values)


# -- permits -----------------------------------------------------------------------------


def _permit_read(v: permits.PermitView, values: dict) -> PermitRead:  # type: ignore[type-arg]
    p, state = v.permit, v.state
    return PermitRead(
        id=p.id,
        person_id=p.person_id,
        registration_id=p.registration_id,
        org_unit=p.org_unit_code,
        basis=p.basis,
        status=v.status,
        applied_on=p.applied_on,
        accepted_on=p.accepted_on,
        issue_due_on=v.issue_due_on,
        issued_on=p.issued_on,
        valid_until_next_endorsement=state.valid_until if state else None,
        endorsement_window=Window(opens_on=state.window_opens_on, closes_on=state.window_closes_on) if state else None,
        continuous_since=state.continuous_since if state else None,
        endorsements=v.endorsements,
        cancelled_on=p.cancelled_on,
        rejected_on=p.rejected_on,
        version=p.version,
        **values,
    )


def _read(runtime: Runtime, session, ctx: Context, policy: ResidencePolicy, permit_id: uuid.UUID) -> PermitRead:  # type: ignore[no-untyped-def]
    v, values = permits.read_permit(session, ctx, runtime.keyring, policy, permit_id=permit_id)
    return _permit_read(v, values)


@router.post(
    "/residence-permits",
    status_code=201,
    response_model=PermitRead,
    responses={422: {}},
    openapi_extra=may(P.PERMIT_APPLY),
)
def apply_for_permit(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, policy: PolicyDep, body: PermitCreate
) -> PermitRead:
    permit = permits.apply_for_permit(session, ctx, policy, data=body)
    return _read(runtime, session, ctx, policy, permit.id)


@router.get("/residence-permits/{permit_id}", response_model=PermitRead, openapi_extra=may(P.RESIDENCE_READ))
def read_permit(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, policy: PolicyDep, permit_id: uuid.UUID
) -> PermitRead:
    return _read(runtime, session, ctx, policy, permit_id)


def _step(
    runtime: Runtime,
    session,
    ctx: Context,
    policy: ResidencePolicy,
    permit_id: uuid.UUID,  # type: ignore[no-untyped-def]
    action: PermitAction,
    **details,
) -> PermitRead:
    permits.take_step(session, ctx, runtime.keyring, policy, permit_id=permit_id, action=action, **details)
    _republish(runtime, session, policy, {permit_id})
    return _read(runtime, session, ctx, policy, permit_id)


def _republish(runtime: Runtime, session, policy: ResidencePolicy, changed: set[uuid.UUID]) -> None:  # type: ignore[no-untyped-def]
    """A permit's state changed: the credential status list says so in the same commit."""
    issuer, now = runtime.settings.credential_issuer, runtime.clock.now()
    credential_status.publish(session, runtime.keyring, policy, issuer=issuer, now=now, permits_changed=changed)


STEP = {"response_model": PermitRead, "responses": {409: {"description": "not allowed from the current state"}}}


@router.post("/residence-permits/{permit_id}/request-materials", **STEP, openapi_extra=may(P.PERMIT_APPLY))
def request_materials(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: PurposeContext,
    policy: PolicyDep,
    permit_id: uuid.UUID,
    body: MaterialsRequest,
) -> PermitRead:
    """One notice listing everything missing (Art. 9)."""
    return _step(runtime, session, ctx, policy, permit_id, PermitAction.request_materials, missing=body.missing)


@router.post("/residence-permits/{permit_id}/accept", **STEP, openapi_extra=may(P.PERMIT_APPLY))
def accept(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, policy: PolicyDep, permit_id: uuid.UUID
) -> PermitRead:
    return _step(runtime, session, ctx, policy, permit_id, PermitAction.accept)


@router.post("/residence-permits/{permit_id}/issue", **STEP, openapi_extra=may(P.PERMIT_ISSUE))
def issue(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, policy: PolicyDep, permit_id: uuid.UUID
) -> PermitRead:
    return _step(runtime, session, ctx, policy, permit_id, PermitAction.issue)


@router.post("/residence-permits/{permit_id}/reject", **STEP, openapi_extra=may(P.PERMIT_ISSUE))
def reject(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, policy: PolicyDep, permit_id: uuid.UUID, body: Reason
) -> PermitRead:
    return _step(runtime, session, ctx, policy, permit_id, PermitAction.reject, reason=body.reason)


@router.post("/residence-permits/{permit_id}/endorse", **STEP, openapi_extra=may(P.PERMIT_APPLY))
def endorse(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: PurposeContext,
    policy: PolicyDep,
    permit_id: uuid.UUID,
    body: EndorseRequest,
) -> PermitRead:
    """Annual endorsement (Art. 10); a late one reactivates a suspended permit."""
    return _step(runtime, session, ctx, policy, permit_id, PermitAction.endorse, endorsed_on=body.endorsed_on)


@router.post("/residence-permits/{permit_id}/cancel", **STEP, openapi_extra=may(P.PERMIT_ISSUE))
def cancel(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, policy: PolicyDep, permit_id: uuid.UUID, body: Reason
) -> PermitRead:
    return _step(runtime, session, ctx, policy, permit_id, PermitAction.cancel, reason=body.reason)


@router.get("/residence-permits", response_model=Page[PermitRow], openapi_extra=may(P.RESIDENCE_READ))
def list_permits(
    session: SessionDep,
    ctx: PurposeContext,
    policy: PolicyDep,
    org_unit: str | None = None,
    status: str | None = None,
    due: Annotated[str | None, Query(pattern="^(issue_overdue|endorsement_due)$")] = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[PermitRow]:
    views = permits.list_permits(
        session,
        ctx,
        policy,
        org_unit=org_unit,
        status=status,
        due=due,
        after=decode_uuid_cursor(cursor),
        limit=limit + 1,
    )
    items = [
        PermitRow(
            id=v.permit.id,
            person_id=v.permit.person_id,
            org_unit=v.permit.org_unit_code,
            status=v.status,
            applied_on=v.permit.applied_on,
            issue_due_on=v.issue_due_on,
            valid_until_next_endorsement=v.state.valid_until if v.state else None,
        )
        for v in views[:limit]
    ]
    return Page[PermitRow](items=items, next_cursor=encode_cursor(str(items[-1].id)) if len(views) > limit else None)


@router.post(
    "/permit-verifications", response_model=VerificationResult, responses={429: {}}, openapi_extra=may(P.PERMIT_VERIFY)
)
def verify_permit(
    runtime: RuntimeDep, session: SessionDep, ctx: ContextDep, policy: PolicyDep, body: VerificationRequest
) -> VerificationResult:
    """Yes or no, and nothing else (minimal disclosure)."""
    valid = permits.verify_permit(
        session,
        replace(ctx, purpose=Purpose.VERIFICATION),
        runtime.keyring,
        policy,
        permit_no=body.permit_no,
        holder_name=body.holder_name,
    )
    return VerificationResult(valid=valid, checked_at=ctx.clock.now())
