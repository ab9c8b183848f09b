"""Administration routes (`admin`): org units, users, service accounts. No personal data."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Header, Query, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from registry.access.models import AccountApproval, ApprovalStatus, UserAccount
from registry.access.policy import Permission
from registry.access.policy import Permission as P
from registry.accounts import approvals, orgunits, users
from registry.accounts.schemas import (
    ApprovalDecided,
    ApprovalRead,
    OneTimePassword,
    OrgUnitCreate,
    OrgUnitRead,
    Page,
    PasswordReset,
    ServiceAccountCreate,
    ServiceAccountCreated,
    UserCreate,
    UserCreated,
    UserRead,
    UserUpdate,
)
from registry.api.contract import may
from registry.api.deps import ContextDep, RuntimeDep, SessionDep
from registry.api.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_cursor,
    decode_uuid_cursor,
    encode_cursor,
    etag,
    parse_if_match,
)
from registry.api.routing import api_router
from registry.audit.actions import Action

router = api_router(prefix="/api/v1", tags=["administration"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
# Dual control: a change that needs a second administrator answers 202 with the request.
PENDING = {202: {"model": ApprovalRead, "description": "recorded; waits for a second administrator's approval"}}


def _approval_read(approval: AccountApproval) -> ApprovalRead:
    return ApprovalRead(
        id=approval.id,
        action=approval.action,  # type: ignore[arg-type]
        status=approval.status,  # type: ignore[arg-type]
        account_id=approval.account_id,
        org_unit=approval.org_unit_code,
        changes=approval.payload,
        requested_by=approval.requested_by,
        requested_at=approval.requested_at,
        expires_at=approval.expires_at,
        decided_by=approval.decided_by,
        decided_at=approval.decided_at,
    )


def _pending(approval: AccountApproval) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(_approval_read(approval)),
        status_code=202,
        headers={"Location": f"/api/v1/account-approvals/{approval.id}"},
    )


def _user_read(account: UserAccount, now: datetime) -> UserRead:
    return UserRead(
        id=account.id,
        kind=account.kind,
        username=account.username,
        display_name=account.display_name,
        sex=account.sex,
        org_unit=account.org_unit_code,
        roles=account.roles,
        status=account.status,
        locked=account.locked_until is not None and account.locked_until > now,
        mfa_enabled=account.totp_enabled,
        password_change_required=account.password_change_required,
        created_at=account.created_at,
        version=account.version,
    )


@router.post("/org-units", status_code=201, response_model=OrgUnitRead, openapi_extra=may(P.ORG_UNIT_MANAGE))
def create_org_unit(session: SessionDep, ctx: ContextDep, body: OrgUnitCreate) -> OrgUnitRead:
    return OrgUnitRead.model_validate(orgunits.create_org_unit(session, ctx, data=body), from_attributes=True)


@router.get("/org-units", response_model=Page[OrgUnitRead], openapi_extra=may(P.ORG_UNIT_MANAGE))
def list_org_units(
    session: SessionDep, ctx: ContextDep, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[OrgUnitRead]:
    ctx.principal.require(Permission.ORG_UNIT_MANAGE)
    units = orgunits.list_org_units(session, ctx.principal.scope, after=decode_cursor(cursor), limit=limit + 1)
    items = [OrgUnitRead.model_validate(u, from_attributes=True) for u in units[:limit]]
    ctx.audit.append(session, ctx.event(Action.ORG_UNIT_READ, targets=tuple(u.code for u in items)))
    return Page(items=items, next_cursor=encode_cursor(units[limit - 1].code) if len(units) > limit else None)


@router.get("/org-units/{code}", response_model=OrgUnitRead, openapi_extra=may(P.ORG_UNIT_MANAGE))
def get_org_unit(session: SessionDep, ctx: ContextDep, code: str) -> OrgUnitRead:
    ctx.principal.require(Permission.ORG_UNIT_MANAGE)
    unit = orgunits.get_org_unit(session, ctx.principal.scope, code=code)
    ctx.audit.append(session, ctx.event(Action.ORG_UNIT_READ, targets=(unit.code,)))
    return OrgUnitRead.model_validate(unit, from_attributes=True)


def _ttl(runtime: RuntimeDep) -> timedelta:
    """How long a dual-control request waits (REGISTRY_APPROVAL_TTL_HOURS)."""
    return timedelta(hours=runtime.settings.approval_ttl_hours)


@router.post("/users", status_code=201, response_model=UserCreated, responses=PENDING, openapi_extra=may(P.USER_MANAGE))
def create_user(
    session: SessionDep, ctx: ContextDep, runtime: RuntimeDep, body: UserCreate, response: Response
) -> UserCreated | Response:
    made = users.create_user(session, ctx, data=body, approval_ttl=_ttl(runtime))
    if isinstance(made, AccountApproval):
        return _pending(made)
    response.headers["ETag"] = etag(made.account.version)
    read = _user_read(made.account, ctx.clock.now())
    return UserCreated(**read.model_dump(), one_time_password=made.one_time_password)


@router.get("/users", response_model=Page[UserRead], openapi_extra=may(P.USER_MANAGE))
def list_users(
    session: SessionDep, ctx: ContextDep, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[UserRead]:
    ctx.principal.require(Permission.USER_MANAGE)
    accounts = users.list_accounts(session, ctx.principal.scope, after=decode_cursor(cursor), limit=limit + 1)
    page = accounts[:limit]
    ctx.audit.append(session, ctx.event(Action.USER_READ, targets=tuple(str(a.id) for a in page)))
    now = ctx.clock.now()
    return Page(
        items=[_user_read(a, now) for a in page],
        next_cursor=encode_cursor(page[-1].username) if len(accounts) > limit else None,
    )


@router.get("/users/{account_id}", response_model=UserRead, openapi_extra=may(P.USER_MANAGE))
def get_user(session: SessionDep, ctx: ContextDep, account_id: uuid.UUID, response: Response) -> UserRead:
    ctx.principal.require(Permission.USER_MANAGE)
    account = users.get_account(session, ctx.principal.scope, account_id=account_id)
    ctx.audit.append(session, ctx.event(Action.USER_READ, targets=(str(account.id),)))
    response.headers["ETag"] = etag(account.version)
    return _user_read(account, ctx.clock.now())


@router.patch(
    "/users/{account_id}",
    response_model=UserRead,
    responses={412: {}, 428: {}, **PENDING},
    openapi_extra=may(P.USER_MANAGE),
)
def update_user(
    session: SessionDep,
    ctx: ContextDep,
    runtime: RuntimeDep,
    account_id: uuid.UUID,
    body: UserUpdate,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> UserRead | Response:
    ctx.principal.require(Permission.USER_MANAGE)
    account = users.update_user(
        session, ctx, account_id=account_id, data=body, if_match=parse_if_match(if_match), approval_ttl=_ttl(runtime)
    )
    if isinstance(account, AccountApproval):
        return _pending(account)
    response.headers["ETag"] = etag(account.version)
    return _user_read(account, ctx.clock.now())


@router.post("/users/{account_id}/unlock", response_model=UserRead, openapi_extra=may(P.USER_MANAGE))
def unlock_user(session: SessionDep, ctx: ContextDep, account_id: uuid.UUID) -> UserRead:
    return _user_read(users.unlock_user(session, ctx, account_id=account_id), ctx.clock.now())


@router.post(
    "/users/{account_id}/password", response_model=OneTimePassword, responses=PENDING, openapi_extra=may(P.USER_MANAGE)
)
def reset_password(
    session: SessionDep,
    ctx: ContextDep,
    runtime: RuntimeDep,
    account_id: uuid.UUID,
    body: PasswordReset | None = None,
) -> OneTimePassword | Response:
    """A one-time password that only lets the owner choose a new one; a data user's or an
    administrator's reset waits for a second administrator (202)."""
    reset = users.reset_password(session, ctx, account_id=account_id, approval_ttl=_ttl(runtime))
    if isinstance(reset, AccountApproval):
        return _pending(reset)
    return OneTimePassword(account_id=reset.account.id, one_time_password=reset.one_time_password)


@router.post(
    "/service-accounts",
    status_code=201,
    response_model=ServiceAccountCreated,
    openapi_extra=may(P.SERVICE_ACCOUNT_MANAGE),
)
def create_service_account(session: SessionDep, ctx: ContextDep, body: ServiceAccountCreate) -> ServiceAccountCreated:
    account, secret = users.create_service_account(session, ctx, data=body)
    assert account.client_id is not None
    return ServiceAccountCreated(
        id=account.id,
        client_id=account.client_id,
        client_secret=secret,
        roles=account.roles,
        org_unit=account.org_unit_code,
    )


# -- dual control ------------------------------------------------------------------------


@router.get("/account-approvals", response_model=Page[ApprovalRead], openapi_extra=may(P.USER_MANAGE))
def list_approvals(
    session: SessionDep,
    ctx: ContextDep,
    status: ApprovalStatus | None = ApprovalStatus.PENDING,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[ApprovalRead]:
    """Requests in the caller's scope, pending ones by default (undecided past their
    expiry they are `expired`)."""
    ctx.principal.require(Permission.USER_MANAGE)
    found = approvals.listed(
        session,
        ctx.principal.scope,
        status=status,
        after=decode_uuid_cursor(cursor),
        limit=limit + 1,
        now=ctx.clock.now(),
    )
    page = found[:limit]
    ctx.audit.append(session, ctx.event(Action.ACCOUNT_APPROVAL_READ, targets=tuple(str(a.id) for a in page)))
    return Page(
        items=[_approval_read(a) for a in page],
        next_cursor=encode_cursor(str(page[-1].id)) if len(found) > limit else None,
    )


@router.get("/account-approvals/{approval_id}", response_model=ApprovalRead, openapi_extra=may(P.USER_MANAGE))
def get_approval(session: SessionDep, ctx: ContextDep, approval_id: uuid.UUID) -> ApprovalRead:
    ctx.principal.require(Permission.USER_MANAGE)
    approval = approvals.get(session, ctx.principal.scope, approval_id=approval_id, now=ctx.clock.now())
    ctx.audit.append(session, ctx.event(Action.ACCOUNT_APPROVAL_READ, targets=(str(approval.id),)))
    return _approval_read(approval)


@router.post(
    "/account-approvals/{approval_id}/approve",
    response_model=ApprovalDecided,
    responses={409: {}, 412: {}},
    openapi_extra=may(P.USER_MANAGE),
)
def approve_account_request(session: SessionDep, ctx: ContextDep, approval_id: uuid.UUID) -> ApprovalDecided:
    """By a second administrator: not the requester, not the account concerned, neither a
    maker of the other (`approvals.check_keys`); not after the request expired (409).
    Creates and resets answer the one-time password once."""
    done = users.approve(session, ctx, approval_id=approval_id)
    now = ctx.clock.now()
    return ApprovalDecided(
        approval=_approval_read(done.approval),
        user=_user_read(done.account, now) if done.account is not None else None,
        one_time_password=done.one_time_password,
    )


@router.post(
    "/account-approvals/{approval_id}/reject",
    response_model=ApprovalRead,
    responses={409: {}},
    openapi_extra=may(P.USER_MANAGE),
)
def reject_account_request(session: SessionDep, ctx: ContextDep, approval_id: uuid.UUID) -> ApprovalRead:
    """By any administrator who sees the request; the requester's own is a withdrawal."""
    return _approval_read(approvals.reject(session, ctx, approval_id=approval_id))
