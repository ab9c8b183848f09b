"""Authentication: password and client-credentials grants, lockout, TOTP, password change.

A failed attempt must be remembered although its request fails, so failures are written
through `remember_failure`, which the request boundary runs in a transaction of its own.

A password is checked before the request's transaction begins: the account is read
through a read-only engine (on SQLite a WAL reader, which holds no lock), argon2 runs
with no transaction open, and only a correct password leads to the write transaction.
Hashing inside it would hold SQLite's write lock for the hash's 0.15 s, and every
request queues on that lock. Throttling (`throttle.py`) is checked before all of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from registry.access import mfa, passwords
from registry.access.models import AccountKind, AccountStatus, UserAccount
from registry.access.policy import MFA_ROLES
from registry.accounts import seal
from registry.accounts.schemas import OneTimePasswordSet, PasswordChange
from registry.accounts.throttle import THROTTLED, LoginThrottle
from registry.audit.actions import Action, Outcome
from registry.audit.log import Actor, AuditTrail, Event
from registry.context import Context
from registry.errors import Conflict, RateLimited, RuleViolation, Unauthenticated

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


@dataclass(frozen=True)
class Attempt:
    """Who is trying, as the throttle counts it: the name offered and the client address."""

    throttle: LoginThrottle
    username: str | None
    client: str | None


def _actor(account: UserAccount | None) -> Actor:
    if account is None:
        return Actor(account_id=None)
    return Actor(str(account.id), tuple(account.roles), account.org_unit_code)


@contextmanager
def _admitted(
    attempt: Attempt, audit: AuditTrail, on_failure: OnFailure, action: Action = Action.AUTH_LOGIN
) -> Iterator[None]:
    """429 before any work while the username or the client has used its failures (the
    attempts still being checked counted with them); the block checks the password."""
    refusal = attempt.throttle.admit(username=attempt.username, client=attempt.client)
    if refusal is not None:
        if refusal.first:
            event = Event(action, Outcome.DENIED, reason="rate_limited")
            on_failure(lambda session: audit.append(session, event))
        raise RateLimited(THROTTLED, retry_after=refusal.retry_after)
    try:
        yield
    finally:
        attempt.throttle.settle(username=attempt.username, client=attempt.client)


def _verify(attempt: Attempt, password: str, password_hash: str | None) -> tuple[bool, str | None]:
    with attempt.throttle.verifying():
        return passwords.verify_password(password, password_hash)


def _read_account(reader: Engine, condition: sa.ColumnElement[bool]) -> UserAccount | None:
    """The account as it is now, read outside the request's transaction (see above); the
    object is detached, its columns loaded."""
    with Session(reader) as session:
        return session.exec(select(UserAccount).where(condition)).first()


def _refuse(
    audit: AuditTrail,
    on_failure: OnFailure,
    attempt: Attempt,
    account: UserAccount | None,
    reason: str,
    *,
    count_in: LoginPolicy | None = None,
) -> None:
    attempt.throttle.failed(username=attempt.username, client=attempt.client)
    account_id = account.id if account is not None else None
    trail = AuditTrail(audit.clock, _actor(account), audit.meta)

    def remember_failure(session: Session) -> None:
        locked = False
        if count_in is not None and account_id is not None:
            locked = _count_failure(session, account_id, count_in, now=audit.clock.now())
        # The account tried is the target too, so a guessing run against one account is
        # visible from that account's side (an unknown username names none).
        targets = (str(account_id),) if account_id is not None else ()
        trail.append(session, Event(Action.AUTH_LOGIN, Outcome.DENIED, targets=targets, reason=reason))
        if locked:
            trail.append(session, Event(Action.AUTH_LOCKOUT, Outcome.DENIED, targets=targets, reason=reason))

    on_failure(remember_failure)
    raise Unauthenticated(REFUSED)


def _check_seal(
    audit: AuditTrail, on_failure: OnFailure, attempt: Attempt, session: Session, account: UserAccount
) -> None:
    """An account whose security columns were changed outside the service is refused, and
    the break is on the record as an integrity failure naming the account."""
    if seal.account_intact(session, seal.keyring_of(session), account):
        return
    event = Event(Action.INTEGRITY_FAILURE, Outcome.DENIED, targets=(str(account.id),), reason=SEAL_BROKEN)
    on_failure(lambda side: audit.append(side, event))
    _refuse(audit, on_failure, attempt, account, SEAL_BROKEN)


SEAL_BROKEN = "account_seal_mismatch"


def _count_failure(session: Session, account_id: uuid.UUID, policy: LoginPolicy, *, now: datetime) -> bool:
    """Counts a failure; True when it locks the account."""
    # An atomic increment: concurrent guesses cannot lose a count.
    session.execute(
        sa.update(UserAccount).where(UserAccount.id == account_id).values(failed_logins=UserAccount.failed_logins + 1)
    )
    account = session.get(UserAccount, account_id)
    if account is not None and account.failed_logins >= policy.max_failures:
        account.locked_until = now + policy.lockout
        account.failed_logins = 0
        return True
    return False


def login_with_password(
    session: Session,
    reader: Engine,
    audit: AuditTrail,
    provider: KeyWrapper,
    policy: LoginPolicy,
    attempt: Attempt,
    on_failure: OnFailure,
    *,
    username: str,
    password: str,
    otp: str | None,
    one_time: bool = False,
) -> LoginResult:
    """`session` is the request's (its transaction begins only for a correct password);
    `reader` a read-only engine (`db.read_only`). `one_time`: authenticate a one-time
    password for `set_password_with_one_time` (no login is recorded, no token follows)."""
    with _admitted(attempt, audit, on_failure):
        found = _read_account(reader, (UserAccount.username == username) & (UserAccount.kind == AccountKind.HUMAN))
        # Verify before any other check so every path costs one argon2 verification.
        ok, new_hash = _verify(attempt, password, found.password_hash if found else None)
    now = audit.clock.now()
    if found is None:
        _refuse(audit, on_failure, attempt, None, "unknown_account")
    assert found is not None
    if found.locked_until is not None and found.locked_until > now:
        _refuse(audit, on_failure, attempt, found, "locked")
    if not ok:
        _refuse(audit, on_failure, attempt, found, "bad_password", count_in=policy)
    if found.status != AccountStatus.ACTIVE:
        _refuse(audit, on_failure, attempt, found, "disabled")
    # The password is right: now the write transaction. The row is read again (locked
    # on PostgreSQL, so a TOTP step cannot be spent twice); if it changed meanwhile, the
    # checks above were made on a stale row.
    account = session.exec(select(UserAccount).where(UserAccount.id == found.id).with_for_update()).first()
    if (
        account is None
        or account.password_hash != found.password_hash
        or account.status != AccountStatus.ACTIVE
        or (account.locked_until is not None and account.locked_until > now)
    ):
        _refuse(audit, on_failure, attempt, account, "changed_meanwhile")
    assert account is not None
    _check_seal(audit, on_failure, attempt, session, account)
    mfa_pending = False
    if account.totp_enabled:
        if otp is None or not _accept_otp(account, provider, otp, at=now.timestamp()):
            _refuse(audit, on_failure, attempt, account, "bad_otp", count_in=policy)
    elif policy.mfa_required and set(account.roles) & MFA_ROLES:
        # Password right, second factor not yet enrolled: the token only opens enrolment.
        mfa_pending = True
    if account.password_change_required and not one_time:
        _refuse_one_time(audit, on_failure, account)
    if one_time and not account.password_change_required:
        _refuse(audit, on_failure, attempt, account, "no_one_time_password")
    if new_hash is not None:
        account.password_hash = new_hash
    account.failed_logins, account.locked_until = 0, None
    if one_time:
        return LoginResult(account, mfa_pending)
    trail = AuditTrail(audit.clock, _actor(account), audit.meta)
    trail.append(
        session, Event(Action.AUTH_LOGIN, targets=(str(account.id),), reason="mfa_pending" if mfa_pending else None)
    )
    return LoginResult(account, mfa_pending)


# Told only after the password (and any second factor) was right, as `mfa_pending` is.
ONE_TIME = "password change required: choose your own at /api/v1/auth/password/one-time"


def _refuse_one_time(audit: AuditTrail, on_failure: OnFailure, account: UserAccount) -> None:
    """An administrator's one-time password opens nothing but choosing a new one: no token,
    so no route at all, until the owner has chosen (issue 13, finding 3)."""
    trail = AuditTrail(audit.clock, _actor(account), audit.meta)
    event = Event(Action.AUTH_LOGIN, Outcome.DENIED, targets=(str(account.id),), reason="password_change_required")
    on_failure(lambda session: trail.append(session, event))
    raise Unauthenticated(ONE_TIME, password_change_required=True)


def set_password_with_one_time(
    session: Session,
    reader: Engine,
    audit: AuditTrail,
    provider: KeyWrapper,
    policy: LoginPolicy,
    attempt: Attempt,
    on_failure: OnFailure,
    *,
    data: OneTimePasswordSet,
) -> None:
    """The owner replaces a one-time password with one of their own. Authenticated like a
    login (throttle, lockout, second factor if enrolled), so it is no guessing oracle."""
    result = login_with_password(
        session,
        reader,
        audit,
        provider,
        policy,
        attempt,
        on_failure,
        username=data.username,
        password=data.one_time_password,
        otp=data.otp,
        one_time=True,
    )
    account = result.account
    passwords.check_password_policy(data.new_password, username=account.username)
    if data.new_password == data.one_time_password:
        raise RuleViolation("password: choose a password of your own, not the one-time one")
    with attempt.throttle.verifying():
        account.password_hash = passwords.hash_password(data.new_password)
    account.password_change_required = False
    # `version` (the ETag administrators edit against) stays: the owner's choice of a
    # password does not conflict with an administrator's pending edit of the account.
    account.token_version += 1
    AuditTrail(audit.clock, _actor(account), audit.meta).append(
        session, Event(Action.AUTH_PASSWORD_CHANGE, targets=(str(account.id),), reason="one_time_password")
    )


def login_with_client_credentials(
    session: Session,
    reader: Engine,
    audit: AuditTrail,
    attempt: Attempt,
    on_failure: OnFailure,
    *,
    client_id: str,
    client_secret: str,
) -> LoginResult:
    with _admitted(attempt, audit, on_failure):
        condition = (UserAccount.client_id == client_id) & (UserAccount.kind == AccountKind.SERVICE)
        account = _read_account(reader, condition)
        ok, _ = _verify(attempt, client_secret, account.password_hash if account else None)
    if account is None or not ok or account.status != AccountStatus.ACTIVE:
        _refuse(audit, on_failure, attempt, account, "bad_client_credentials")
    assert account is not None
    account = session.get(UserAccount, account.id)
    if account is None:
        _refuse(audit, on_failure, attempt, None, "changed_meanwhile")
    assert account is not None
    _check_seal(audit, on_failure, attempt, session, account)
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


def own_account(session: Session, ctx: Context) -> UserAccount:
    """The caller's account row, locked until the commit: its seal is recomputed over what
    this transaction wrote, never over values another writer changed meanwhile."""
    query = select(UserAccount).where(UserAccount.id == ctx.principal.account_id).with_for_update()
    return session.exec(query.execution_options(populate_existing=True)).one()


def start_mfa_enrolment(session: Session, ctx: Context, provider: KeyWrapper) -> str:
    account = own_account(session, ctx)
    if account.totp_enabled:
        raise RuleViolation("mfa: already enrolled; an administrator must reset it")
    secret = mfa.new_secret()
    account.totp_secret_wrapped = provider.wrap(secret.encode(), aad=mfa.wrap_aad(str(account.id)))
    ctx.audit.append(session, ctx.event(Action.AUTH_MFA_ENROL, targets=(str(account.id),)))
    return mfa.provisioning_uri(secret, username=account.username)


def confirm_mfa(session: Session, ctx: Context, provider: KeyWrapper, *, otp: str) -> None:
    account = own_account(session, ctx)
    if account.totp_enabled or account.totp_secret_wrapped is None:
        raise Conflict("mfa: no enrolment in progress (POST /api/v1/auth/mfa first)")
    if not _accept_otp(account, provider, otp, at=ctx.clock.now().timestamp()):
        raise RuleViolation("mfa: the code does not match")
    account.totp_enabled = True
    account.token_version += 1  # the enrolment-only token is spent; log in with the code
    ctx.audit.append(session, ctx.event(Action.AUTH_MFA_CONFIRM, targets=(str(account.id),)))


def sign_out(session: Session, ctx: Context) -> None:
    """Every token of the caller's account ends now, the one signing out with it: tokens
    carry no id a list could revoke one by one, and a member of staff who signs out of the
    console at one desk is signed out at every desk (the same step as a password change)."""
    account = own_account(session, ctx)
    account.token_version += 1
    ctx.audit.append(session, ctx.event(Action.AUTH_SIGN_OUT, targets=(str(account.id),)))


def change_password(
    session: Session,
    ctx: Context,
    policy: LoginPolicy,
    attempt: Attempt,
    on_failure: OnFailure,
    *,
    data: PasswordChange,
) -> None:
    """A wrong current password is a guess like a failed login: throttled, counted toward
    the lockout, and audited as denied (a stolen token must not become a guessing oracle)."""
    with _admitted(attempt, ctx.audit, on_failure, Action.AUTH_PASSWORD_CHANGE):
        account = own_account(session, ctx)
        account_id, now = account.id, ctx.clock.now()

        def refuse(reason: str, *, count: bool) -> None:
            attempt.throttle.failed(username=attempt.username, client=attempt.client)

            def remember_failure(side: Session) -> None:
                locked = count and _count_failure(side, account_id, policy, now=now)
                ctx.audit.append(
                    side, Event(Action.AUTH_PASSWORD_CHANGE, Outcome.DENIED, targets=(str(account_id),), reason=reason)
                )
                if locked:
                    ctx.audit.append(
                        side, Event(Action.AUTH_LOCKOUT, Outcome.DENIED, targets=(str(account_id),), reason=reason)
                    )

            on_failure(remember_failure)

        if account.locked_until is not None and account.locked_until > now:
            refuse("locked", count=False)
            raise RuleViolation("password: the account is locked after failed attempts; try again later")
        ok, _ = _verify(attempt, data.current_password, account.password_hash)
    if not ok:
        refuse("bad_password", count=True)
        raise RuleViolation("password: the current password is wrong")
    passwords.check_password_policy(data.new_password, username=account.username)
    with attempt.throttle.verifying():
        account.password_hash = passwords.hash_password(data.new_password)
    account.token_version += 1
    account.version += 1
    ctx.audit.append(session, ctx.event(Action.AUTH_PASSWORD_CHANGE, targets=(str(account.id),)))
