"""Authentication: password and client-credentials grants, lockout, TOTP, password change.

A failed attempt must be remembered although its request fails, so failures are written
through `remember_failure`, which the request boundary runs in a transaction of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import Session, select

from registry.access import mfa, passwords
from registry.access.models import AccountKind, AccountStatus, UserAccount
from registry.access.policy import MFA_ROLES
from registry.accounts.schemas import PasswordChange
from registry.audit.actions import Action, Outcome
from registry.audit.log import Actor, AuditTrail, Event
from registry.context import Context
from registry.errors import RuleViolation, Unauthenticated

# One message for every refusal: it must not tell a wrong password from an unknown or
# locked account.
REFUSED = "invalid credentials"


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    lockout: timedelta
    mfa_required: bool


@dataclass(frozen=True)
class LoginResult:
    account: UserAccount
    mfa_pending: bool


class KeyWrapper(Protocol):
    """The part of the key provider MFA needs (the TOTP secret is wrapped at rest)."""

    def wrap(self, key: bytes, *, aad: bytes) -> bytes: ...
    def unwrap(self, wrapped: bytes, *, aad: bytes) -> bytes: ...


OnFailure = Callable[[Callable[[Session], None]], None]


def _actor(account: UserAccount | None) -> Actor:
    if account is None:
        return Actor(account_id=None)
    return Actor(str(account.id), tuple(account.roles), account.org_unit_code)


def _refuse(
    audit: AuditTrail,
    on_failure: OnFailure,
    account: UserAccount | None,
    reason: str,
    *,
    count_in: LoginPolicy | None = None,
) -> None:
    account_id = account.id if account is not None else None
    trail = AuditTrail(audit.clock, _actor(account), audit.meta)

    def remember_failure(session: Session) -> None:
        if count_in is not None and account_id is not None:
            _count_failure(session, account_id, count_in, now=audit.clock.now())
        trail.append(session, Event(Action.AUTH_LOGIN, Outcome.DENIED, targets=(), reason=reason))

    on_failure(remember_failure)
    raise Unauthenticated(REFUSED)


def _count_failure(session: Session, account_id: uuid.UUID, policy: LoginPolicy, *, now: datetime) -> None:
    # An atomic increment: concurrent guesses cannot lose a count.
    session.execute(
        sa.update(UserAccount).where(UserAccount.id == account_id).values(failed_logins=UserAccount.failed_logins + 1)
    )
    account = session.get(UserAccount, account_id)
    if account is not None and account.failed_logins >= policy.max_failures:
        account.locked_until = now + policy.lockout
        account.failed_logins = 0


def login_with_password(
    session: Session,
    audit: AuditTrail,
    provider: KeyWrapper,
    policy: LoginPolicy,
    on_failure: OnFailure,
    *,
    username: str,
    password: str,
    otp: str | None,
) -> LoginResult:
    account = session.exec(
        select(UserAccount).where(UserAccount.username == username, UserAccount.kind == AccountKind.HUMAN)
    ).first()
    # Verify before any other check so every path costs one argon2 verification.
    ok, new_hash = passwords.verify_password(password, account.password_hash if account else None)
    now = audit.clock.now()
    if account is None:
        _refuse(audit, on_failure, None, "unknown_account")
    assert account is not None
    if account.locked_until is not None and account.locked_until > now:
        _refuse(audit, on_failure, account, "locked")
    if not ok:
        _refuse(audit, on_failure, account, "bad_password", count_in=policy)
    if account.status != AccountStatus.ACTIVE:
        _refuse(audit, on_failure, account, "disabled")
    mfa_pending = False
    if account.totp_enabled:
        if otp is None or not _accept_otp(account, provider, otp, at=now.timestamp()):
            _refuse(audit, on_failure, account, "bad_otp", count_in=policy)
    elif policy.mfa_required and set(account.roles) & MFA_ROLES:
        # Password right, second factor not yet enrolled: the token only opens enrolment.
        mfa_pending = True
    if new_hash is not None:
        account.password_hash = new_hash
    account.failed_logins, account.locked_until = 0, None
    trail = AuditTrail(audit.clock, _actor(account), audit.meta)
    trail.append(
        session, Event(Action.AUTH_LOGIN, targets=(str(account.id),), reason="mfa_pending" if mfa_pending else None)
    )
    return LoginResult(account, mfa_pending)


def login_with_client_credentials(
    session: Session, audit: AuditTrail, on_failure: OnFailure, *, client_id: str, client_secret: str
) -> LoginResult:
    account = session.exec(
        select(UserAccount).where(UserAccount.client_id == client_id, UserAccount.kind == AccountKind.SERVICE)
    ).first()
    ok, _ = passwords.verify_password(client_secret, account.password_hash if account else None)
    if account is None or not ok or account.status != AccountStatus.ACTIVE:
        _refuse(audit, on_failure, account, "bad_client_credentials")
    assert account is not None
    AuditTrail(audit.clock, _actor(account), audit.meta).append(
        session, Event(Action.AUTH_LOGIN, targets=(str(account.id),))
    )
    return LoginResult(account, mfa_pending=False)


def _accept_otp(account: UserAccount, provider: KeyWrapper, otp: str, *, at: float) -> bool:
    if account.totp_secret_wrapped is None:
        return False
    secret = provider.unwrap(account.totp_secret_wrapped, aad=mfa.wrap_aad(str(account.id))).decode()
    step = mfa.matching_step(secret, otp, at=at, last_step=account.totp_last_step)
    if step is None:
        return False
    account.totp_last_step = step
    return True


def start_mfa_enrolment(session: Session, ctx: Context, provider: KeyWrapper) -> str:
    account = session.get(UserAccount, ctx.principal.account_id)
    assert account is not None
    if account.totp_enabled:
        raise RuleViolation("mfa: already enrolled; an administrator must reset it")
    secret = mfa.new_secret()
    account.totp_secret_wrapped = provider.wrap(secret.encode(), aad=mfa.wrap_aad(str(account.id)))
    ctx.audit.append(session, ctx.event(Action.AUTH_MFA_ENROL, targets=(str(account.id),)))
    return mfa.provisioning_uri(secret, username=account.username)


def confirm_mfa(session: Session, ctx: Context, provider: KeyWrapper, *, otp: str) -> None:
    account = session.get(UserAccount, ctx.principal.account_id)
    assert account is not None
    if account.totp_enabled or account.totp_secret_wrapped is None:
        raise RuleViolation("mfa: no enrolment in progress")
    if not _accept_otp(account, provider, otp, at=ctx.clock.now().timestamp()):
        raise RuleViolation("mfa: the code does not match")
    account.totp_enabled = True
    account.token_version += 1  # the enrolment-only token is spent; log in with the code
    ctx.audit.append(session, ctx.event(Action.AUTH_MFA_CONFIRM, targets=(str(account.id),)))


def change_password(session: Session, ctx: Context, *, data: PasswordChange) -> None:
    account = session.get(UserAccount, ctx.principal.account_id)
    assert account is not None
    ok, _ = passwords.verify_password(data.current_password, account.password_hash)
    if not ok:
        raise RuleViolation("password: the current password is wrong")
    passwords.check_password_policy(data.new_password, username=account.username)
    account.password_hash = passwords.hash_password(data.new_password)
    account.token_version += 1
    account.version += 1
    ctx.audit.append(session, ctx.event(Action.AUTH_PASSWORD_CHANGE, targets=(str(account.id),)))
