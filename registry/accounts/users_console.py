"""Dual control at the console: `registry users create`, `pending` and `approve`.

The console is never one of the two keys: a request and an approval are each made by an
administrator who logs in here exactly as at /api/v1/auth/token (password, second factor
if enrolled, lockout, seal) and acts under its own account and scope. The one exception
is the founding ceremony, held once per database while fewer than two founding
administrators exist: the operator makes one whose owner types its password here
(`create_founding_admin`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from registry.access.models import AccountApproval, ApprovalStatus, UserAccount
from registry.access.policy import Permission, Role
from registry.access.principal import system_principal
from registry.accounts import approvals, login
from registry.accounts.console_login import Credentials, logged_in
from registry.accounts.schemas import UserCreate
from registry.accounts.users import (
    Approved,
    WithOneTimePassword,
    approve,
    create_founding_admin,
    create_user,
)
from registry.accounts.users import founding_ceremony_open as _ceremony_open
from registry.audit.actions import Action, Outcome
from registry.audit.log import AuditTrail, Event
from registry.clock import Clock
from registry.context import Context, actor_of
from registry.db import transaction
from registry.errors import RegistryError
from registry.settings import Settings

T = TypeVar("T")


def pending_requests(session: Session, clock: Clock) -> list[AccountApproval]:
    principal = system_principal(Role.ADMIN)
    found = approvals.listed(
        session, principal.scope, status=ApprovalStatus.PENDING, after=None, limit=500, now=clock.now()
    )
    AuditTrail(clock, actor_of(principal)).append(
        session, Event(Action.ACCOUNT_APPROVAL_READ, targets=tuple(str(a.id) for a in found))
    )
    return found


def as_administrator(
    engine: Engine,
    clock: Clock,
    provider: login.KeyWrapper,
    settings: Settings,
    credentials: Credentials,
    work: Callable[[Session, Context], T],
) -> T:
    """Log the administrator in (`console_login.logged_in`: password, second factor if
    enrolled, lockout, seal) and do `work` as that account, under its scope, in one
    transaction. The console itself is never a key of dual control: a request or an
    approval made here is an administrator's."""
    failures: list[Callable[[Session], None]] = []
    try:
        with transaction(engine) as session:
            principal = logged_in(session, engine, clock, provider, settings, credentials, failures.append)
            ctx = Context(principal, AuditTrail(clock, actor_of(principal)), clock)
            try:
                ctx.principal.require(Permission.USER_MANAGE)
                return work(session, ctx)
            except RegistryError as exc:
                if exc.audit_as is not None:
                    event = Event(
                        Action(exc.audit_as),
                        Outcome.DENIED,
                        targets=exc.targets,
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


def approve_from_console(
    engine: Engine,
    clock: Clock,
    provider: login.KeyWrapper,
    settings: Settings,
    credentials: Credentials,
    *,
    approval_id: uuid.UUID,
) -> Approved:
    def work(session: Session, ctx: Context) -> Approved:
        try:
            return approve(session, ctx, approval_id=approval_id)
        except RegistryError as exc:
            exc.targets = exc.targets or (str(approval_id),)
            raise

    return as_administrator(engine, clock, provider, settings, credentials, work)


def create_from_console(
    engine: Engine,
    clock: Clock,
    provider: login.KeyWrapper,
    settings: Settings,
    credentials: Credentials,
    *,
    data: UserCreate,
) -> WithOneTimePassword | AccountApproval:
    """`registry users create`: requested (or, for a role one administrator may grant, made)
    by the administrator who logs in here, exactly as over the API."""
    ttl = timedelta(hours=settings.approval_ttl_hours)
    return as_administrator(
        engine,
        clock,
        provider,
        settings,
        credentials,
        lambda session, ctx: create_user(session, ctx, data=data, approval_ttl=ttl),
    )


def founding_ceremony_open(engine: Engine) -> bool:
    """Whether the console may still make a founding administrator (once per database)."""
    with transaction(engine) as session:
        return _ceremony_open(session)


def create_founding_admin_at_console(engine: Engine, clock: Clock, *, data: UserCreate, password: str) -> UserAccount:
    """The founding ceremony, as the system: the new administrator's owner typed `password`
    at the console; nobody else saw it (`users.create_founding_admin`). A refusal is audited."""
    principal = system_principal(Role.ADMIN)
    ctx = Context(principal, AuditTrail(clock, actor_of(principal)), clock)
    try:
        with transaction(engine) as session:
            return create_founding_admin(session, ctx, data=data, password=password)
    except RegistryError as exc:
        if exc.audit_as is not None:
            event = Event(Action(exc.audit_as), Outcome.DENIED, targets=exc.targets, reason=exc.detail[:200])
            with transaction(engine) as side:
                ctx.audit.append(side, event)
        raise
