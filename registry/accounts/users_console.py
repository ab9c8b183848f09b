"""Dual control at the console: `registry users pending` and `registry users approve`.

The console operator requests as the system account; an approval is always a second,
authenticated administrator: it logs in here exactly as at /api/v1/auth/token (password,
second factor if enrolled, lockout), and acts under its own account and scope.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from registry.access.models import AccountApproval, ApprovalStatus, OrgUnit
from registry.access.policy import Permission, Role
from registry.access.principal import Principal, system_principal
from registry.access.scope import Scope
from registry.accounts import approvals, login
from registry.accounts.throttle import LoginThrottle
from registry.accounts.users import Approved, approve
from registry.audit.actions import Action, Outcome
from registry.audit.log import AuditTrail, Event
from registry.clock import Clock
from registry.context import Context, actor_of
from registry.db import read_only, transaction
from registry.errors import Forbidden, RegistryError
from registry.settings import Settings


def pending_requests(session: Session, clock: Clock) -> list[AccountApproval]:
    principal = system_principal(Role.ADMIN)
    found = approvals.listed(session, principal.scope, status=ApprovalStatus.PENDING, after=None, limit=500)
    AuditTrail(clock, actor_of(principal)).append(
        session, Event(Action.ACCOUNT_APPROVAL_READ, targets=tuple(str(a.id) for a in found))
    )
    return found


def approve_from_console(
    engine: Engine,
    clock: Clock,
    provider: login.KeyWrapper,
    settings: Settings,
    *,
    approval_id: uuid.UUID,
    username: str,
    password: str,
    otp: str | None,
) -> Approved:
    failures: list[Callable[[Session], None]] = []
    policy = login.LoginPolicy(
        max_failures=settings.login_max_failures,
        lockout=timedelta(seconds=settings.login_lockout_seconds),
        mfa_required=settings.mfa_required,
    )
    throttle = LoginThrottle(
        per_username=settings.login_failures_per_username,
        per_client=settings.login_failures_per_client,
        concurrent_verifications=1,
    )
    trail = AuditTrail(clock)
    try:
        with transaction(engine) as session:
            result = login.login_with_password(
                session,
                read_only(engine),
                trail,
                provider,
                policy,
                login.Attempt(throttle, username, "console"),
                failures.append,
                username=username,
                password=password,
                otp=otp,
            )
            account = result.account
            if result.mfa_pending:
                raise Forbidden("second factor required: enrol one over the API before approving")
            unit = session.get(OrgUnit, account.org_unit_code) if account.org_unit_code else None
            principal = Principal(
                account.id,
                account.username,
                account.kind,
                frozenset(Role(r) for r in account.roles),
                account.org_unit_code,
                Scope(unit.path if unit is not None else None),
            )
            ctx = Context(principal, AuditTrail(clock, actor_of(principal)), clock)
            try:
                ctx.principal.require(Permission.USER_MANAGE)
                return approve(session, ctx, approval_id=approval_id)
            except RegistryError as exc:
                if exc.audit_as is not None:
                    event = Event(
                        Action(exc.audit_as),
                        Outcome.DENIED,
                        targets=exc.targets or (str(approval_id),),
                        reason=exc.detail[:200],
                    )
                    failures.append(lambda side: ctx.audit.append(side, event))
                raise
    except RegistryError:
        # The work rolled back; what must stay on the record (failed login, refusal) is
        # written in a transaction of its own, as the API's request boundary does.
        with transaction(engine) as side:
            for remember in failures:
                remember(side)
        raise
