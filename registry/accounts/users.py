"""Staff and service accounts: creation, changes, unlock, password resets."""

from __future__ import annotations

import secrets
import uuid

from sqlmodel import Session, select

from registry.access import passwords
from registry.access.models import AccountKind, AccountStatus, OrgUnit, UserAccount
from registry.access.policy import POLICY, SERVICE_ROLES, Permission, Role, check_role_combination
from registry.access.scope import Scope
from registry.accounts.orgunits import PAGE_MAX, get_org_unit
from registry.accounts.schemas import PasswordReset, ServiceAccountCreate, UserCreate, UserUpdate
from registry.audit.actions import Action
from registry.clock import Clock
from registry.context import Context
from registry.errors import Conflict, NotFound, PreconditionFailed, RuleViolation


def _scoped_accounts(scope: Scope):  # type: ignore[no-untyped-def]
    # Accounts without an org unit (tree-wide administrators) are visible only tree-wide.
    query = select(UserAccount).outerjoin(OrgUnit, OrgUnit.code == UserAccount.org_unit_code)
    if scope.path_prefix is None:
        return query
    return query.where(scope.clause(OrgUnit.path))


def get_account(session: Session, scope: Scope, *, account_id: uuid.UUID) -> UserAccount:
    account = session.exec(_scoped_accounts(scope).where(UserAccount.id == account_id)).first()
    if account is None:
        raise NotFound("user not found")
    return account


def list_accounts(session: Session, scope: Scope, *, after: str | None, limit: int) -> list[UserAccount]:
    query = _scoped_accounts(scope).order_by(UserAccount.username).limit(min(limit, PAGE_MAX))
    if after is not None:
        query = query.where(UserAccount.username > after)
    return list(session.exec(query))


def _check_placement(session: Session, ctx: Context, *, roles: list[Role], org_unit: str | None) -> None:
    check_role_combination(roles)
    if org_unit is None:
        if ctx.principal.scope.path_prefix is not None:
            raise RuleViolation("org_unit: required")
        if any(POLICY[r].personal_data for r in roles):
            raise RuleViolation("org_unit: a role with access to personal data needs an org unit")
        return
    get_org_unit(session, ctx.principal.scope, code=org_unit)


def _unique_username(session: Session, username: str) -> None:
    if session.exec(select(UserAccount.id).where(UserAccount.username == username)).first() is not None:
        raise Conflict("username is taken")


def create_user(session: Session, ctx: Context, *, data: UserCreate) -> UserAccount:
    ctx.principal.require(Permission.USER_MANAGE)
    roles = sorted(set(data.roles))
    _check_placement(session, ctx, roles=roles, org_unit=data.org_unit)
    if set(roles) & SERVICE_ROLES:
        raise RuleViolation("roles: verifier is for service accounts only")
    passwords.check_password_policy(data.password, username=data.username)
    _unique_username(session, data.username)
    account = _add_account(
        session,
        ctx.clock,
        kind=AccountKind.HUMAN,
        username=data.username,
        display_name=data.display_name,
        sex=data.sex,
        org_unit=data.org_unit,
        roles=roles,
        password_hash=passwords.hash_password(data.password),
    )
    ctx.audit.append(session, ctx.event(Action.USER_CREATE, targets=(str(account.id),), fields=("roles", "org_unit")))
    return account


def _add_account(session: Session, clock: Clock, *, org_unit: str | None, **values: object) -> UserAccount:
    now = clock.now()
    account = UserAccount.model_validate({**values, "org_unit_code": org_unit, "created_at": now, "updated_at": now})
    session.add(account)
    session.flush()  # a racing duplicate username surfaces here, inside the transaction
    return account


def create_bootstrap_admin(session: Session, clock: Clock, *, username: str, password: str) -> UserAccount:
    """The first administrator, tree-wide (no org unit); used by `registry init` only."""
    passwords.check_password_policy(password, username=username)
    _unique_username(session, username)
    return _add_account(
        session,
        clock,
        kind=AccountKind.HUMAN,
        username=username,
        display_name="Bootstrap administrator",
        org_unit=None,
        roles=[Role.ADMIN],
        password_hash=passwords.hash_password(password),
    )


def create_service_account(session: Session, ctx: Context, *, data: ServiceAccountCreate) -> tuple[UserAccount, str]:
    ctx.principal.require(Permission.SERVICE_ACCOUNT_MANAGE)
    roles = sorted(set(data.roles))
    if not set(roles) <= SERVICE_ROLES:
        raise RuleViolation("roles: a service account may hold only service roles (verifier)")
    _check_placement(session, ctx, roles=roles, org_unit=data.org_unit)
    _unique_username(session, data.name)
    secret = secrets.token_urlsafe(32)
    account = _add_account(
        session,
        ctx.clock,
        kind=AccountKind.SERVICE,
        username=data.name,
        display_name=data.name,
        org_unit=data.org_unit,
        roles=roles,
        client_id=f"svc_{secrets.token_hex(12)}",
        password_hash=passwords.hash_password(secret),
    )
    ctx.audit.append(session, ctx.event(Action.SERVICE_ACCOUNT_CREATE, targets=(str(account.id),), fields=("roles",)))
    return account, secret


def _touch(account: UserAccount, ctx: Context, *, revoke_tokens: bool) -> None:
    account.updated_at = ctx.clock.now()
    account.version += 1
    if revoke_tokens:
        account.token_version += 1


def update_user(
    session: Session, ctx: Context, *, account_id: uuid.UUID, data: UserUpdate, if_match: int
) -> UserAccount:
    ctx.principal.require(Permission.USER_MANAGE)
    account = get_account(session, ctx.principal.scope, account_id=account_id)
    if account.version != if_match:
        raise PreconditionFailed("the user changed since it was read")
    changes = data.model_dump(exclude_unset=True)
    roles = sorted(set(changes.get("roles") or account.roles))
    org_unit = changes.get("org_unit", account.org_unit_code)
    if "roles" in changes or "org_unit" in changes:
        _check_placement(session, ctx, roles=[Role(r) for r in roles], org_unit=org_unit)
        if account.kind == AccountKind.HUMAN and set(roles) & SERVICE_ROLES:
            raise RuleViolation("roles: verifier is for service accounts only")
        if account.kind == AccountKind.SERVICE and not set(roles) <= SERVICE_ROLES:
            raise RuleViolation("roles: a service account may hold only service roles (verifier)")
    if account.id == ctx.principal.account_id and (changes.get("status") == "disabled" or "roles" in changes):
        raise RuleViolation("self_administration: administrators cannot disable or re-role themselves")
    events = []
    revoke = False
    if "sex" in changes:
        account.sex = changes["sex"]
        events.append(ctx.event(Action.USER_UPDATE, targets=(str(account.id),), fields=("sex",)))
    if "display_name" in changes:
        account.display_name = changes["display_name"]
        events.append(ctx.event(Action.USER_UPDATE, targets=(str(account.id),), fields=("display_name",)))
    if "org_unit" in changes and org_unit != account.org_unit_code:
        account.org_unit_code, revoke = org_unit, True
        events.append(ctx.event(Action.USER_UPDATE, targets=(str(account.id), org_unit or ""), fields=("org_unit",)))
    if "roles" in changes and roles != sorted(account.roles):
        account.roles, revoke = roles, True
        events.append(ctx.event(Action.USER_ROLE_GRANT, targets=(str(account.id), *roles), fields=("roles",)))
    if "status" in changes and changes["status"] != account.status:
        account.status, revoke = changes["status"], True
        action = Action.USER_DISABLE if account.status == AccountStatus.DISABLED else Action.USER_UPDATE
        events.append(ctx.event(action, targets=(str(account.id),), fields=("status",)))
    if events:
        _touch(account, ctx, revoke_tokens=revoke)
        ctx.audit.append_all(session, events)
    return account


def unlock_user(session: Session, ctx: Context, *, account_id: uuid.UUID) -> UserAccount:
    ctx.principal.require(Permission.USER_MANAGE)
    account = get_account(session, ctx.principal.scope, account_id=account_id)
    account.failed_logins, account.locked_until = 0, None
    _touch(account, ctx, revoke_tokens=False)
    ctx.audit.append(session, ctx.event(Action.USER_UNLOCK, targets=(str(account.id),)))
    return account


def reset_password(session: Session, ctx: Context, *, account_id: uuid.UUID, data: PasswordReset) -> UserAccount:
    ctx.principal.require(Permission.USER_MANAGE)
    account = get_account(session, ctx.principal.scope, account_id=account_id)
    if account.kind != AccountKind.HUMAN:
        raise RuleViolation("password: service accounts authenticate with client credentials")
    passwords.check_password_policy(data.new_password, username=account.username)
    account.password_hash = passwords.hash_password(data.new_password)
    account.failed_logins, account.locked_until = 0, None
    _touch(account, ctx, revoke_tokens=True)
    ctx.audit.append(session, ctx.event(Action.USER_PASSWORD_RESET, targets=(str(account.id),)))
    return account
