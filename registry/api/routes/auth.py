"""Authentication routes: OAuth2 token (password, client credentials), MFA, own password."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import Depends, Form, Request
from pydantic import BaseModel, Field

from registry.access.policy import permissions_of
from registry.access.tokens import TokenClaims, issue_token
from registry.accounts import login
from registry.accounts.schemas import MfaConfirm, MfaEnrolment, OneTimePasswordSet, PasswordChange, Token
from registry.accounts.throttle import LoginThrottle
from registry.api.contract import may
from registry.api.deps import (
    ContextDep,
    RuntimeDep,
    SessionDep,
    get_anonymous_trail,
    get_enrolling_context,
    get_meta,
    get_uow,
)
from registry.api.middleware import UnitOfWork
from registry.api.routing import api_router
from registry.audit.log import AuditTrail, RequestMeta
from registry.context import Context
from registry.db import read_only
from registry.errors import BadRequest
from registry.settings import Settings

router = api_router(prefix="/api/v1/auth", tags=["authentication"])


def new_login_throttle(settings: Settings) -> LoginThrottle:
    """One per application (its counts live in memory): see `accounts/throttle.py`."""
    return LoginThrottle(
        per_username=settings.login_failures_per_username,
        per_client=settings.login_failures_per_client,
        concurrent_verifications=settings.login_concurrent_verifications,
    )


async def get_login_throttle(request: Request) -> LoginThrottle:
    return request.app.state.login_throttle


ThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]
MetaDep = Annotated[RequestMeta, Depends(get_meta)]
_THROTTLED = {429: {"description": "too many failed attempts (Retry-After says when to retry)"}}


def _policy(settings: Settings) -> login.LoginPolicy:
    return login.LoginPolicy(
        max_failures=settings.login_max_failures,
        lockout=timedelta(seconds=settings.login_lockout_seconds),
        mfa_required=settings.mfa_required,
    )


@router.post("/token", response_model=Token, responses={401: {"description": "refused"}, **_THROTTLED})
def token(
    runtime: RuntimeDep,
    session: SessionDep,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    trail: Annotated[AuditTrail, Depends(get_anonymous_trail)],
    throttle: ThrottleDep,
    meta: MetaDep,
    grant_type: Annotated[Literal["password", "client_credentials"], Form()],
    username: Annotated[str | None, Form(max_length=64)] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
    otp: Annotated[str | None, Form(max_length=8)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=256)] = None,
) -> Token:
    settings = runtime.settings
    if grant_type == "password":
        if username is None or password is None:
            raise BadRequest("grant_type=password needs username and password")
        result = login.login_with_password(
            session,
            read_only(runtime.engine),
            trail,
            runtime.provider,
            _policy(settings),
            login.Attempt(throttle, username, meta.client_addr),
            uow.on_failure.append,
            username=username,
            password=password,
            otp=otp,
        )
    else:
        if client_id is None or client_secret is None:
            raise BadRequest("grant_type=client_credentials needs client_id and client_secret")
        result = login.login_with_client_credentials(
            session,
            read_only(runtime.engine),
            trail,
            login.Attempt(throttle, f"client:{client_id}", meta.client_addr),
            uow.on_failure.append,
            client_id=client_id,
            client_secret=client_secret,
        )
    claims = TokenClaims(result.account.id, result.account.token_version, result.mfa_pending)
    access_token = issue_token(runtime.token_secret, claims, now=runtime.clock.now(), lifetime=runtime.token_lifetime)
    return Token(
        access_token=access_token,
        expires_in=int(runtime.token_lifetime.total_seconds()),
        mfa_pending=result.mfa_pending,
    )


EnrollingContext = Annotated[Context, Depends(get_enrolling_context)]


class Me(BaseModel):
    id: uuid.UUID
    username: str
    kind: str
    roles: list[str]
    org_unit: str | None
    permissions: list[str] = Field(description="What the roles allow (the policy's names), for a client's menus.")


@router.get("/me", response_model=Me, openapi_extra=may())
def me(ctx: ContextDep) -> Me:
    """The caller as its token names it (what authentication already read: not audited as a
    read, as the login that issued the token is). A client draws its menus from this; the
    routes still decide."""
    principal = ctx.principal
    return Me(
        id=principal.account_id,
        username=principal.username,
        kind=principal.kind,
        roles=sorted(principal.roles),
        org_unit=principal.org_unit_code,
        permissions=sorted(permissions_of(principal.roles)),
    )


@router.post("/mfa", response_model=MfaEnrolment, status_code=201, openapi_extra=may())
def mfa_enrol(runtime: RuntimeDep, session: SessionDep, ctx: EnrollingContext) -> MfaEnrolment:
    return MfaEnrolment(otpauth_uri=login.start_mfa_enrolment(session, ctx, runtime.provider))


@router.post("/mfa/confirm", status_code=204, openapi_extra=may())
def mfa_confirm(runtime: RuntimeDep, session: SessionDep, ctx: EnrollingContext, body: MfaConfirm) -> None:
    login.confirm_mfa(session, ctx, runtime.provider, otp=body.otp)


@router.post("/sign-out", status_code=204, openapi_extra=may())
def sign_out(session: SessionDep, ctx: EnrollingContext) -> None:
    """Ends every token of the caller's account, this one included (sign in again for a new
    one); a password-only token that owes a second factor may end itself too."""
    login.sign_out(session, ctx)


@router.post("/password", status_code=204, responses=_THROTTLED, openapi_extra=may())
def password_change(
    runtime: RuntimeDep,
    session: SessionDep,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    ctx: ContextDep,
    throttle: ThrottleDep,
    meta: MetaDep,
    body: PasswordChange,
) -> None:
    attempt = login.Attempt(throttle, ctx.principal.username, meta.client_addr)
    login.change_password(session, ctx, _policy(runtime.settings), attempt, uow.on_failure.append, data=body)


@router.post("/password/one-time", status_code=204, responses={401: {"description": "refused"}, **_THROTTLED})
def password_set_with_one_time(
    runtime: RuntimeDep,
    session: SessionDep,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    trail: Annotated[AuditTrail, Depends(get_anonymous_trail)],
    throttle: ThrottleDep,
    meta: MetaDep,
    body: OneTimePasswordSet,
) -> None:
    """The owner of an account an administrator created or reset chooses its password; no
    token exists for the account until then. Then log in at /token as usual."""
    login.set_password_with_one_time(
        session,
        read_only(runtime.engine),
        trail,
        runtime.provider,
        _policy(runtime.settings),
        login.Attempt(throttle, body.username, meta.client_addr),
        uow.on_failure.append,
        data=body,
    )
