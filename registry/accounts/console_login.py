"""An account logging in at the console, exactly as at /api/v1/auth/token: password,
second factor if enrolled, lockout, throttle and the account's seal.

A console command that acts for someone (an administrator approving a request, an officer
importing notices) runs as that account, under its roles and scope, never as the console
itself: the console's tree-wide `system` principal would let authority move as a side
effect of a file someone else prepared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from registry.access.models import AccountStatus, OrgUnit, UserAccount
from registry.access.policy import Role
from registry.access.principal import Principal
from registry.access.scope import Scope
from registry.accounts import login
from registry.accounts.throttle import LoginThrottle
from registry.audit.log import AuditTrail
from registry.clock import Clock
from registry.db import read_only, transaction
from registry.errors import Forbidden, RegistryError, Unauthenticated
from registry.settings import Settings

__all__ = ["Credentials", "log_in", "logged_in", "still_acting"]

# What a refused login must keep on the record although its transaction rolls back.
Remember = Callable[[Callable[[Session], None]], None]


@dataclass(frozen=True)
class Credentials:
    """What the account's owner typed at the console."""

    username: str
    password: str
    otp: str | None


def logged_in(
    session: Session,
    engine: Engine,
    clock: Clock,
    provider: login.KeyWrapper,
    settings: Settings,
    credentials: Credentials,
    remember: Remember,
) -> Principal:
    """The account, logged in inside `session`'s transaction (its `auth:login` entry is
    written there), as the principal it acts as. A refusal raises; what it must leave on
    the record (the failed login, a lockout) is handed to `remember` for a transaction of
    its own, as the API's request boundary does."""
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
    result = login.login_with_password(
        session,
        read_only(engine),
        AuditTrail(clock),
        provider,
        policy,
        login.Attempt(throttle, credentials.username, "console"),
        remember,
        username=credentials.username,
        password=credentials.password,
        otp=credentials.otp,
    )
    account = result.account
    if result.mfa_pending:
        raise Forbidden("second factor required: enrol one over the API before acting at the console")
    unit = session.get(OrgUnit, account.org_unit_code) if account.org_unit_code else None
    return Principal(
        account.id,
        account.username,
        account.kind,
        frozenset(Role(r) for r in account.roles),
        account.org_unit_code,
        Scope(unit.path if unit is not None else None),
        account.token_version,
    )


def log_in(
    engine: Engine, clock: Clock, provider: login.KeyWrapper, settings: Settings, credentials: Credentials
) -> Principal:
    """`logged_in` in a transaction of its own: for a command whose work spans many
    transactions (an import's batches), each acting as the principal returned."""
    failures: list[Callable[[Session], None]] = []
    try:
        with transaction(engine) as session:
            return logged_in(session, engine, clock, provider, settings, credentials, failures.append)
    except RegistryError:
        with transaction(engine) as side:
            for remember in failures:
                remember(side)
        raise


def still_acting(session: Session, principal: Principal, token_version: int | None = None) -> int:
    """Checked for every batch of a console command acting as a logged-in account (an
    import), as a token is for every request: an account disabled, re-roled, moved, reset
    or made to change its password since it logged in (its token version moved on, as every
    bearer token of it dies) acts no more. Returns the token version seen, which the first
    check records."""
    row = session.execute(
        sa.select(
            col(UserAccount.status),
            col(UserAccount.roles),
            col(UserAccount.org_unit_code),
            col(UserAccount.token_version),
            col(UserAccount.password_change_required),
        ).where(col(UserAccount.id) == principal.account_id)
    ).first()
    if (
        row is None
        or row.status != AccountStatus.ACTIVE
        or frozenset(Role(r) for r in row.roles) != principal.roles
        or row.org_unit_code != principal.org_unit_code
        or row.password_change_required
        or (token_version is not None and row.token_version != token_version)
    ):
        raise Unauthenticated(
            "the account was disabled, re-roled, moved or reset during the import: log in again "
            "(the batches committed stay; running the file again skips them)"
        )
    return int(row.token_version)
