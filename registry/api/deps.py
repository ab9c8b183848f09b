"""FastAPI dependencies: the runtime, the request's session, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from registry import idempotency
from registry.access.models import AccountStatus, OrgUnit, UserAccount
from registry.access.policy import Role
from registry.access.principal import Principal
from registry.access.scope import Scope
from registry.access.tokens import read_token
from registry.accounts import seal
from registry.api.middleware import UnitOfWork
from registry.audit.actions import Action, Outcome
from registry.audit.log import ANONYMOUS, AuditTrail, Event, RequestMeta
from registry.context import Context, actor_of
from registry.errors import RegistryError, Unauthenticated
from registry.runtime import Runtime

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


# A route's whole graph runs in its one worker thread (`registry.api.dispatch`), coroutines
# run to their end there: these must never await. Each reads the request alone, none depends
# on another: every node of a route's graph is resolved at every request, and a graph of
# leaves is the smallest.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_uow(request: Request) -> UnitOfWork:
    return request.state.uow


async def get_session(request: Request) -> Session:
    return request.state.uow.session


def _meta(request: Request) -> RequestMeta:
    """What RequestLogMiddleware resolved: the server's request id, the client's own id
    beside it, and the client address (X-Forwarded-For only through a declared proxy)."""
    state = request.state
    return RequestMeta(
        request_id=getattr(state, "request_id", None),
        client_addr=getattr(state, "client_addr", None),
        client_request_id=getattr(state, "client_request_id", None),
    )


async def get_meta(request: Request) -> RequestMeta:
    return _meta(request)


def _anonymous_trail(request: Request) -> AuditTrail:
    return AuditTrail(request.app.state.runtime.clock, ANONYMOUS, _meta(request))


async def get_anonymous_trail(request: Request) -> AuditTrail:
    return _anonymous_trail(request)


def _refuse_token(
    uow: UnitOfWork,
    trail: AuditTrail,
    reason: str,
    detail: str = "missing, invalid or expired token",
    *,
    request: Request,
    account: object = None,
) -> Unauthenticated:
    # The entry names the token's account (when the token was genuine) and what the request
    # asked for, so a revoked token tried against one record shows up as probing it.
    targets = (*((str(account),) if account is not None else ()), *_named_in(request))
    event = Event(Action.AUTH_TOKEN_REFUSED, Outcome.DENIED, targets=targets, reason=reason)
    uow.on_failure.append(lambda side: trail.append(side, event))
    return Unauthenticated(detail)


# Every request runs this one statement, read fresh on every worker (a disabled, re-roled
# or re-passworded account is refused at its next request, wherever it lands): plain
# columns, no ORM object to build and track; with the sealed ones and the index root its
# seal names, so the account's seal is checked on every use of a token.
_PRINCIPAL_QUERY = (
    sa.select(*seal.columns_with_root(), OrgUnit.path)
    .outerjoin(OrgUnit, OrgUnit.code == UserAccount.org_unit_code)
    .where(UserAccount.id == sa.bindparam("account_id"))
)


def _load_principal(
    request: Request, token: str | None, runtime: Runtime, session: Session, uow: UnitOfWork, trail: AuditTrail
) -> tuple[Principal, bool]:
    if not token:
        raise _refuse_token(uow, trail, "missing_token", "a bearer token is required", request=request)
    try:
        claims = read_token(runtime.token_secret, token, now=runtime.clock.now())
    except Unauthenticated:
        raise _refuse_token(uow, trail, "invalid_token", request=request) from None
    # On the session's connection (its transaction, begun here): plain rows need none of the
    # ORM's statement handling.
    account = session.connection().execute(_PRINCIPAL_QUERY, {"account_id": claims.account_id}).first()
    if account is None:
        raise _refuse_token(uow, trail, "unknown_account", request=request, account=claims.account_id)
    # Disabled, re-roled, moved or password changed since the token was issued: dead.
    if account.status != AccountStatus.ACTIVE or account.token_version != claims.token_version:
        raise _refuse_token(uow, trail, "revoked", request=request, account=account.id)
    if not seal.row_intact(runtime.keyring, account._mapping):
        # Its security columns were changed outside the service: refused, and on the record.
        event = Event(
            Action.INTEGRITY_FAILURE, Outcome.DENIED, targets=(str(account.id),), reason="account_seal_mismatch"
        )
        uow.on_failure.append(lambda side: trail.append(side, event))
        raise _refuse_token(uow, trail, "account_seal_mismatch", request=request, account=account.id)
    principal = Principal(
        account_id=account.id,
        username=account.username,
        kind=account.kind,
        roles=frozenset(Role(r) for r in account.roles),
        org_unit_code=account.org_unit_code,
        scope=Scope(account.path),
    )
    audit = AuditTrail(runtime.clock, actor_of(principal), trail.meta)

    def audit_failure(exc: RegistryError) -> None:
        event = Event(
            Action(exc.audit_as),
            Outcome.DENIED,
            # What the error names, else the ids in the path: a denial without a target
            # cannot show probing of one record.
            targets=exc.targets or _named_in(request),
            reason=(exc.audit_reason or exc.detail)[:200],
            break_glass_grant=exc.audit_grant,
        )
        uow.on_failure.append(lambda side: audit.append(side, event))

    request.state.audit_failure = audit_failure
    return principal, claims.mfa_pending


_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _idempotency(request: Request, principal: Principal, runtime: Runtime, session: Session, uow: UnitOfWork) -> None:
    """A write sent with an Idempotency-Key: done once per account and key (the key's
    record commits with it), answered as done when it was (`registry.idempotency`)."""
    key = request.headers.get(idempotency.HEADER)
    if key is None or request.method not in _WRITES:
        return
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    conditions = "\n".join(request.headers.get(h, "") for h in ("if-match", "x-purpose"))
    secret = request.app.state.idempotency_key
    seen = idempotency.fingerprint(secret, request.method, target, conditions, uow.body.digest())
    uow.idempotency = idempotency.check(
        session, key_secret=secret, account_id=principal.account_id, key=key, fingerprint=seen, now=runtime.clock.now()
    )


def _named_in(request: Request) -> tuple[str, ...]:
    """The ids a refused request named (path, and the query's unit or record), for its entry."""
    query = [v for k, v in request.query_params.items() if k == "org_unit" or k.endswith("_id")]
    return tuple(dict.fromkeys([*(str(v) for v in request.path_params.values()), *query]))


def _principal(mfa_enrolment: bool):  # type: ignore[no-untyped-def]
    def dependency(request: Request, token: Annotated[str | None, Depends(_bearer)]) -> Principal:
        runtime: Runtime = request.app.state.runtime
        uow: UnitOfWork = request.state.uow
        session = uow.session
        principal, mfa_pending = _load_principal(request, token, runtime, session, uow, _anonymous_trail(request))
        if mfa_pending and not mfa_enrolment:
            raise Unauthenticated("second factor required: enrol at /api/v1/auth/mfa, then log in with a code")
        refuse_unknown_query(request)  # after the token: a dead token is a 401 whatever it asks
        _idempotency(request, principal, runtime, session, uow)
        return principal

    return dependency


get_principal = _principal(mfa_enrolment=False)
# For the MFA enrolment routes: a password-only token of an account that owes a second factor.
get_enrolling_principal = _principal(mfa_enrolment=True)


def _context(principal: Principal, runtime: Runtime, meta: RequestMeta, uow: UnitOfWork) -> Context:
    audit = AuditTrail(runtime.clock, actor_of(principal), meta)

    def on_failure(event: Event) -> None:
        uow.on_failure.append(lambda side: audit.append(side, event))

    return Context(principal=principal, audit=audit, clock=runtime.clock, on_failure=on_failure)


async def get_context(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> Context:
    return _context(principal, request.app.state.runtime, _meta(request), request.state.uow)


async def get_enrolling_context(
    request: Request, principal: Annotated[Principal, Depends(get_enrolling_principal)]
) -> Context:
    return _context(principal, request.app.state.runtime, _meta(request), request.state.uow)


def refuse_unknown_query(request: Request) -> None:
    """A query parameter the operation does not take is refused (422), as an unknown body
    field is: a misspelt filter must not quietly answer the unfiltered list. For operations
    behind a token (public pages such as `/readyz` keep ignoring cache-busting parameters)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    known = {p.alias for d in dependency_tree(dependant) for p in d.query_params}
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": "Extra inputs are not permitted"}
                for name in unknown
            ]
        )


def dependency_tree(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from dependency_tree(sub)


SessionDep = Annotated[Session, Depends(get_session)]
ContextDep = Annotated[Context, Depends(get_context)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
