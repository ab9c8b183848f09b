"""Authentication routes: OAuth2 token (password, client credentials), MFA, own password."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form

from registry.access.tokens import TokenClaims, issue_token
from registry.accounts import login
from registry.accounts.schemas import MfaConfirm, MfaEnrolment, PasswordChange, Token
from registry.api.deps import ContextDep, RuntimeDep, SessionDep, get_anonymous_trail, get_enrolling_context, get_uow
from registry.api.middleware import UnitOfWork
from registry.audit.log import AuditTrail
from registry.context import Context
from registry.errors import BadRequest

router = APIRouter(prefix="/api/v1/auth", tags=["authentication"])


@router.post("/token", response_model=Token, responses={401: {"description": "refused"}})
def token(
    runtime: RuntimeDep,
    session: SessionDep,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    trail: Annotated[AuditTrail, Depends(get_anonymous_trail)],
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
        policy = login.LoginPolicy(
            max_failures=settings.login_max_failures,
            lockout=timedelta(seconds=settings.login_lockout_seconds),
            mfa_required=settings.mfa_required,
        )
        result = login.login_with_password(
            session,
            trail,
            runtime.provider,
            policy,
            uow.on_failure.append,
            username=username,
            password=password,
            otp=otp,
        )
    else:
        if client_id is None or client_secret is None:
            raise BadRequest("grant_type=client_credentials needs client_id and client_secret")
        result = login.login_with_client_credentials(
            session, trail, uow.on_failure.append, client_id=client_id, client_secret=client_secret
        )
    claims = TokenClaims(result.account.id, result.account.token_version, result.mfa_pending)
    access_token = issue_token(runtime.token_secret, claims, now=runtime.clock.now(), lifetime=runtime.token_lifetime)
    return Token(
        access_token=access_token,
        expires_in=int(runtime.token_lifetime.total_seconds()),
        mfa_pending=result.mfa_pending,
    )


EnrollingContext = Annotated[Context, Depends(get_enrolling_context)]


@router.post("/mfa", response_model=MfaEnrolment, status_code=201)
def mfa_enrol(runtime: RuntimeDep, session: SessionDep, ctx: EnrollingContext) -> MfaEnrolment:
    return MfaEnrolment(otpauth_uri=login.start_mfa_enrolment(session, ctx, runtime.provider))


@router.post("/mfa/confirm", status_code=204)
def mfa_confirm(runtime: RuntimeDep, session: SessionDep, ctx: EnrollingContext, body: MfaConfirm) -> None:
    login.confirm_mfa(session, ctx, runtime.provider, otp=body.otp)


@router.post("/password", status_code=204)
def password_change(session: SessionDep, ctx: ContextDep, body: PasswordChange) -> None:
    login.change_password(session, ctx, data=body)
