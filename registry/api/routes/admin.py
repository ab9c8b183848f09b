"""Administration routes (`admin`): org units, users, service accounts. No personal data."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from registry.access.models import UserAccount
from registry.access.policy import Permission
from registry.accounts import orgunits, users
from registry.accounts.schemas import (
    OrgUnitCreate,
    OrgUnitRead,
    Page,
    PasswordReset,
    ServiceAccountCreate,
    ServiceAccountCreated,
    UserCreate,
    UserRead,
    UserUpdate,
)
from registry.api.deps import ContextDep, SessionDep
from registry.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, etag, parse_if_match
from registry.audit.actions import Action

router = APIRouter(prefix="/api/v1", tags=["administration"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


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
        created_at=account.created_at,
        version=account.version,
    )


@router.post("/org-units", status_code=201, response_model=OrgUnitRead)
def create_org_unit(session: SessionDep, ctx: ContextDep, body: OrgUnitCreate) -> OrgUnitRead:
    return OrgUnitRead.model_validate(orgunits.create_org_unit(session, ctx, data=body), from_attributes=True)


@router.get("/org-units", response_model=Page[OrgUnitRead])
def list_org_units(
    session: SessionDep, ctx: ContextDep, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[OrgUnitRead]:
    ctx.principal.require(Permission.ORG_UNIT_MANAGE)
    units = orgunits.list_org_units(session, ctx.principal.scope, after=decode_cursor(cursor), limit=limit + 1)
    items = [OrgUnitRead.model_validate(u, from_attributes=True) for u in units[:limit]]
    ctx.audit.append(session, ctx.event(Action.ORG_UNIT_READ, targets=tuple(u.code for u in items)))
    return Page(items=items, next_cursor=encode_cursor(units[limit - 1].code) if len(units) > limit else None)


@router.get("/org-units/{code}", response_model=OrgUnitRead)
def get_org_unit(session: SessionDep, ctx: ContextDep, code: str) -> OrgUnitRead:
    ctx.principal.require(Permission.ORG_UNIT_MANAGE)
    unit = orgunits.get_org_unit(session, ctx.principal.scope, code=code)
    ctx.audit.append(session, ctx.event(Action.ORG_UNIT_READ, targets=(unit.code,)))
    return OrgUnitRead.model_validate(unit, from_attributes=True)


@router.post("/users", status_code=201, response_model=UserRead)
def create_user(session: SessionDep, ctx: ContextDep, body: UserCreate, response: Response) -> UserRead:
    account = users.create_user(session, ctx, data=body)
    response.headers["ETag"] = etag(account.version)
    return _user_read(account, ctx.clock.now())


@router.get("/users", response_model=Page[UserRead])
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


@router.get("/users/{account_id}", response_model=UserRead)
def get_user(session: SessionDep, ctx: ContextDep, account_id: uuid.UUID, response: Response) -> UserRead:
    ctx.principal.require(Permission.USER_MANAGE)
    account = users.get_account(session, ctx.principal.scope, account_id=account_id)
    ctx.audit.append(session, ctx.event(Action.USER_READ, targets=(str(account.id),)))
    response.headers["ETag"] = etag(account.version)
    return _user_read(account, ctx.clock.now())


@router.patch("/users/{account_id}", response_model=UserRead, responses={412: {}, 428: {}})
def update_user(
    session: SessionDep,
    ctx: ContextDep,
    account_id: uuid.UUID,
    body: UserUpdate,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> UserRead:
    ctx.principal.require(Permission.USER_MANAGE)
    account = users.update_user(session, ctx, account_id=account_id, data=body, if_match=parse_if_match(if_match))
    response.headers["ETag"] = etag(account.version)
    return _user_read(account, ctx.clock.now())


@router.post("/users/{account_id}/unlock", response_model=UserRead)
def unlock_user(session: SessionDep, ctx: ContextDep, account_id: uuid.UUID) -> UserRead:
    return _user_read(users.unlock_user(session, ctx, account_id=account_id), ctx.clock.now())


@router.post("/users/{account_id}/password", status_code=204)
def reset_password(session: SessionDep, ctx: ContextDep, account_id: uuid.UUID, body: PasswordReset) -> None:
    users.reset_password(session, ctx, account_id=account_id, data=body)


@router.post("/service-accounts", status_code=201, response_model=ServiceAccountCreated)
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
