"""Staff and service accounts: creation, changes, unlock, password resets.

Separation of duties (issue 13): an administrator never chooses a password; creates and
resets yield a one-time password that only lets the owner choose one. Changes that could
turn an administrator into a data user (a data role granted, scope widened, a data-role or
administrator account created or reset) wait for a second administrator (`approvals`).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from registry.access import passwords
from registry.access.models import (
    AccountApproval,
    AccountKind,
    AccountStatus,
    ApprovalAction,
    ApprovalStatus,
    OrgUnit,
    UserAccount,
)
from registry.access.policy import POLICY, SERVICE_ROLES, Permission, Role, check_role_combination
from registry.access.principal import SYSTEM_ACCOUNT_ID
from registry.access.scope import Scope, get_org_unit
from registry.accounts import approvals, doors, seal  # noqa: F401  (seal: every account write is sealed)
from registry.accounts.orgunits import PAGE_MAX
from registry.accounts.schemas import ServiceAccountCreate, UserCreate, UserUpdate
from registry.audit.actions import Action
from registry.clock import Clock
from registry.context import Context
from registry.errors import Conflict, Forbidden, NotFound, PreconditionFailed, RuleViolation

# How long a dual-control request waits for its second administrator (REGISTRY_APPROVAL_TTL_HOURS).
DEFAULT_APPROVAL_TTL = timedelta(hours=72)


@dataclass(frozen=True)
class WithOneTimePassword:
    """An account an administrator just created or reset, and its one-time password (shown once)."""

    account: UserAccount
    one_time_password: str


@dataclass(frozen=True)
class Approved:
    approval: AccountApproval
    account: UserAccount | None
    one_time_password: str | None


def _dual_controlled(roles: Iterable[str]) -> bool:
    """Roles one administrator may not hand out alone: those that reach personal data, and
    security_admin, which can destroy it (crypto-shredding, retention runs, legal holds)."""
    return any(POLICY[Role(r)].personal_data or Role(r) is Role.SECURITY_ADMIN for r in roles)


def admin_accounts(session: Session) -> int:
    """Administrator accounts of any status: disabling the others must not reopen the
    "fewer than two" door, through which one administrator would make a second alone."""
    rows = session.exec(select(UserAccount.roles).where(UserAccount.kind == AccountKind.HUMAN))
    return sum(1 for roles in rows if Role.ADMIN in roles)


def founding_admins(session: Session) -> int:
    """Administrators nobody else made (any status): the bootstrap one and one made at the
    console ceremony (`create_founding_admin`)."""
    rows = session.exec(select(UserAccount.roles, UserAccount.makers).where(UserAccount.kind == AccountKind.HUMAN))
    return sum(1 for roles, made_by in rows if Role.ADMIN in roles and not made_by)


def _admin_needs_approval(session: Session, roles: Iterable[str]) -> bool:
    """The first administrator makes the second alone; from then on, never alone. "From
    then on" is a lasting fact (`doors`), not today's count: demoting or disabling the
    second does not reopen the door."""
    return Role.ADMIN in set(roles) and (admin_accounts(session) >= 2 or doors.second_admin_made(session))


def founding_ceremony_open(session: Session) -> bool:
    """Once per database: closed for good once the ceremony was held, whatever happened to
    its administrator since (a demotion or a reset would otherwise reopen it)."""
    return founding_admins(session) < 2 and not doors.founding_ceremony_held(session)


def _takes_an_administrator_away(account: UserAccount, roles: Iterable[str], changes: dict[str, Any]) -> bool:
    # Demoting or disabling an administrator takes two: else one administrator could clear
    # the others away and stand alone again.
    if Role.ADMIN not in account.roles:
        return False
    return Role.ADMIN not in set(roles) or changes.get("status") == AccountStatus.DISABLED


def _widens_scope(session: Session, old: str | None, new: str | None) -> bool:
    """True unless `new` lies within `old` (None is the whole tree)."""
    if new == old or old is None:
        return False
    if new is None:
        return True
    old_unit, new_unit = session.get(OrgUnit, old), session.get(OrgUnit, new)
    if old_unit is None or new_unit is None:
        return True
    return not new_unit.path.startswith(old_unit.path)


def _one_time(account: UserAccount) -> str:
    one_time = passwords.generate_password()
    account.password_hash = passwords.hash_password(one_time)
    account.password_change_required = True
    return one_time


def _scoped_accounts(scope: Scope):  # type: ignore[no-untyped-def]
    # Accounts without an org unit (tree-wide administrators) are visible only tree-wide.
    query = select(UserAccount).outerjoin(OrgUnit, OrgUnit.code == UserAccount.org_unit_code)
    if scope.path_prefix is None:
        return query
    return query.where(scope.clause(OrgUnit.path))


def get_account(session: Session, scope: Scope, *, account_id: uuid.UUID, lock: bool = False) -> UserAccount:
    """`lock`: for a change, the row locked until the commit, so its seal is recomputed over
    what this transaction wrote, never over values another writer changed meanwhile."""
    query = _scoped_accounts(scope).where(UserAccount.id == account_id)
    if lock:
        query = query.with_for_update(of=UserAccount).execution_options(populate_existing=True)  # type: ignore[attr-defined]
    account = session.exec(query).first()
    if account is None:
        raise NotFound("user not found")
    return account


def list_accounts(session: Session, scope: Scope, *, after: str | None, limit: int) -> list[UserAccount]:
    query = _scoped_accounts(scope).order_by(UserAccount.username).limit(min(limit, PAGE_MAX))
    if after is not None:
        query = query.where(UserAccount.username > after)
    return list(session.exec(query))


def _check_placement(session: Session, ctx: Context, *, roles: Iterable[Role], org_unit: str | None) -> None:
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


def _by_an_administrator(ctx: Context) -> None:
    # The console's system account is never a key (approvals): it makes nothing alone.
    if ctx.principal.account_id == SYSTEM_ACCOUNT_ID:
        raise Forbidden("dual_control: log in as an administrator (the console is not one)")


def create_user(
    session: Session, ctx: Context, *, data: UserCreate, approval_ttl: timedelta = DEFAULT_APPROVAL_TTL
) -> WithOneTimePassword | AccountApproval:
    """A new staff account with a one-time password, or (data roles; a third administrator)
    a pending request that a second administrator approves."""
    ctx.principal.require(Permission.USER_MANAGE)
    _by_an_administrator(ctx)
    roles = sorted(set(data.roles))
    _check_placement(session, ctx, roles=roles, org_unit=data.org_unit)
    if set(roles) & SERVICE_ROLES:
        raise RuleViolation("roles: verifier is for service accounts only")
    _unique_username(session, data.username)
    if _dual_controlled(roles) or _admin_needs_approval(session, roles):
        payload = data.model_dump(mode="json", exclude_none=True) | {"roles": roles}
        return approvals.request(
            session,
            ctx,
            action=ApprovalAction.USER_CREATE,
            account=None,
            org_unit=data.org_unit,
            payload=payload,
            ttl=approval_ttl,
        )
    me = ctx.principal.account_id
    return _create_user(session, ctx, data=data, roles=roles, created_by=me, makers=[me])


def _create_user(
    session: Session,
    ctx: Context,
    *,
    data: UserCreate,
    roles: list[Role],
    created_by: uuid.UUID,
    makers: list[uuid.UUID],
) -> WithOneTimePassword:
    account = _add_account(
        session,
        ctx.clock,
        kind=AccountKind.HUMAN,
        username=data.username,
        display_name=data.display_name,
        sex=data.sex,
        org_unit=data.org_unit,
        roles=roles,
        created_by=created_by,
        makers=sorted({str(m) for m in makers}),
    )
    one_time = _one_time(account)
    reason = doors.ADMIN_MADE if Role.ADMIN in roles else None
    event = ctx.event(Action.USER_CREATE, targets=(str(account.id),), fields=("roles", "org_unit"), reason=reason)
    ctx.audit.append(session, event)
    return WithOneTimePassword(account, one_time)


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
        # Not one-time: `registry init` prints it to the operator who is this administrator.
        password_hash=passwords.hash_password(password),
    )


def create_founding_admin(session: Session, ctx: Context, *, data: UserCreate, password: str) -> UserAccount:
    """The console ceremony (`registry users create --role admin`, as the system): while
    fewer than two founding administrators exist, an administrator whose owner types its
    password at the console. Nobody else learns it, so it has no makers, and it and the
    bootstrap administrator are two independent keys."""
    roles = sorted(set(data.roles))
    if roles != [Role.ADMIN]:
        check_role_combination(roles)
        raise RuleViolation("roles: a founding administrator holds the admin role only")
    if not founding_ceremony_open(session):
        raise Forbidden(
            "dual_control: the founding ceremony was held (once per database); "
            "further administrators are requested and approved"
        )
    _check_placement(session, ctx, roles=roles, org_unit=data.org_unit)
    passwords.check_password_policy(password, username=data.username)
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
        password_hash=passwords.hash_password(password),
    )
    ctx.audit.append(
        session,
        ctx.event(
            Action.USER_CREATE,
            targets=(str(account.id),),
            fields=("roles", "org_unit"),
            reason=doors.FOUNDING_ADMIN,
        ),
    )
    return account


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
    session: Session,
    ctx: Context,
    *,
    account_id: uuid.UUID,
    data: UserUpdate,
    if_match: int,
    approval_ttl: timedelta = DEFAULT_APPROVAL_TTL,
) -> UserAccount | AccountApproval:
    """Apply the change, or, when it grants a data role, widens a data user's or
    administrator's scope, or makes another administrator, record it for approval."""
    ctx.principal.require(Permission.USER_MANAGE)
    _by_an_administrator(ctx)
    account = get_account(session, ctx.principal.scope, account_id=account_id, lock=True)
    if account.version != if_match:
        raise PreconditionFailed("the user changed since it was read")
    changes = data.model_dump(exclude_unset=True, mode="json")
    roles, org_unit = _check_update(session, ctx, account, changes)
    if (
        _grants(session, account, roles, org_unit)
        or _admin_needs_approval(session, set(roles) - set(account.roles))
        or _takes_an_administrator_away(account, roles, changes)
    ):
        if "roles" in changes:
            changes["roles"] = [str(r) for r in roles]
        return approvals.request(
            session,
            ctx,
            action=ApprovalAction.USER_UPDATE,
            account=account,
            org_unit=account.org_unit_code,
            payload=changes,
            ttl=approval_ttl,
        )
    _apply_update(session, ctx, account, changes, roles=roles, org_unit=org_unit)
    return account


def _grants(session: Session, account: UserAccount, roles: Iterable[str], org_unit: str | None) -> bool:
    """Whether a change gives the account power it lacked: a data role, security_admin or
    admin added, or a wider scope for an account holding one. Approved, such a change
    re-issues the account's credentials through the approver (`_reissue`)."""
    added = set(roles) - set(account.roles)
    powerful = _dual_controlled(roles) or Role.ADMIN in set(roles)
    return (
        _dual_controlled(added)
        or Role.ADMIN in added
        or (powerful and _widens_scope(session, account.org_unit_code, org_unit))
    )


def _check_update(
    session: Session, ctx: Context, account: UserAccount, changes: dict[str, Any]
) -> tuple[list[Role], str | None]:
    roles = sorted({Role(r) for r in (changes.get("roles") or account.roles)})
    org_unit = changes.get("org_unit", account.org_unit_code)
    if "roles" in changes or "org_unit" in changes:
        _check_placement(session, ctx, roles=roles, org_unit=org_unit)
        if account.kind == AccountKind.HUMAN and set(roles) & SERVICE_ROLES:
            raise RuleViolation("roles: verifier is for service accounts only")
        if account.kind == AccountKind.SERVICE and not set(roles) <= SERVICE_ROLES:
            raise RuleViolation("roles: a service account may hold only service roles (verifier)")
    if account.id == ctx.principal.account_id and (changes.get("status") == "disabled" or "roles" in changes):
        action = Action.USER_DISABLE if changes.get("status") == "disabled" else Action.USER_ROLE_GRANT
        raise RuleViolation(
            "self_administration: administrators cannot disable or re-role themselves",
            audit_as=action,
            targets=(str(account.id),),
        )
    return roles, org_unit


def _apply_update(
    session: Session,
    ctx: Context,
    account: UserAccount,
    changes: dict[str, Any],
    *,
    roles: list[Role],
    org_unit: str | None,
) -> None:
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
        reason = doors.ADMIN_MADE if Role.ADMIN in set(roles) - set(account.roles) else None
        account.roles, revoke = [str(r) for r in roles], True
        events.append(
            ctx.event(Action.USER_ROLE_GRANT, targets=(str(account.id), *roles), fields=("roles",), reason=reason)
        )
    if "status" in changes and changes["status"] != account.status:
        account.status, revoke = changes["status"], True
        action = Action.USER_DISABLE if account.status == AccountStatus.DISABLED else Action.USER_UPDATE
        events.append(ctx.event(action, targets=(str(account.id),), fields=("status",)))
    if events:
        _touch(account, ctx, revoke_tokens=revoke)
        ctx.audit.append_all(session, events)


def unlock_user(session: Session, ctx: Context, *, account_id: uuid.UUID) -> UserAccount:
    ctx.principal.require(Permission.USER_MANAGE)
    account = get_account(session, ctx.principal.scope, account_id=account_id, lock=True)
    account.failed_logins, account.locked_until = 0, None
    _touch(account, ctx, revoke_tokens=False)
    ctx.audit.append(session, ctx.event(Action.USER_UNLOCK, targets=(str(account.id),)))
    return account


def reset_password(
    session: Session, ctx: Context, *, account_id: uuid.UUID, approval_ttl: timedelta = DEFAULT_APPROVAL_TTL
) -> WithOneTimePassword | AccountApproval:
    """A one-time password for the owner to replace; for a data user or an administrator,
    a pending request first. The second factor stays: a reset alone does not let anyone in
    where TOTP is enrolled."""
    ctx.principal.require(Permission.USER_MANAGE)
    _by_an_administrator(ctx)
    account = get_account(session, ctx.principal.scope, account_id=account_id, lock=True)
    _check_reset(ctx, account)
    if _dual_controlled(account.roles) or Role.ADMIN in account.roles:
        return approvals.request(
            session,
            ctx,
            action=ApprovalAction.PASSWORD_RESET,
            account=account,
            org_unit=account.org_unit_code,
            payload={},
            ttl=approval_ttl,
        )
    return _reset(session, ctx, account)


def _check_reset(ctx: Context, account: UserAccount) -> None:
    if account.kind != AccountKind.HUMAN:
        raise RuleViolation("password: service accounts authenticate with client credentials")
    if account.id == ctx.principal.account_id:
        raise RuleViolation("self_administration: change your own password at /api/v1/auth/password")


def _reset(session: Session, ctx: Context, account: UserAccount) -> WithOneTimePassword:
    """The one-time password goes to the caller: a maker of the account from now on (makers
    only grow: who once held the account may still hold its second factor)."""
    one_time = _one_time(account)
    account.makers = sorted({*account.makers, str(ctx.principal.account_id)})
    account.failed_logins, account.locked_until = 0, None
    _touch(account, ctx, revoke_tokens=True)
    ctx.audit.append(session, ctx.event(Action.USER_PASSWORD_RESET, targets=(str(account.id),)))
    return WithOneTimePassword(account, one_time)


# -- dual control ------------------------------------------------------------------------


def approve(session: Session, ctx: Context, *, approval_id: uuid.UUID) -> Approved:
    """Carry out a pending request as the approving administrator, under its own scope and
    the same checks as the direct route; the request, the decision and the change are audited."""
    approval = approvals.claim(session, ctx, approval_id=approval_id, status=ApprovalStatus.APPROVED)
    done = _carry_out(session, ctx, approval)
    approvals.record(session, ctx, approval)
    return done


def _carry_out(session: Session, ctx: Context, approval: AccountApproval) -> Approved:
    payload = dict(approval.payload)
    if approval.action == ApprovalAction.USER_CREATE:
        data = UserCreate.model_validate(payload)
        roles = sorted(set(data.roles))
        _check_placement(session, ctx, roles=roles, org_unit=data.org_unit)
        _unique_username(session, data.username)
        # The approver receives the one-time password, so it alone is a maker: the requester
        # never learns the credentials (and two administrators approved by one are siblings,
        # whose shared maker `approvals.check_keys` refuses as both keys).
        made = _create_user(
            session,
            ctx,
            data=data,
            roles=roles,
            created_by=approval.requested_by,
            makers=[ctx.principal.account_id],
        )
        approval.account_id = made.account.id
        approvals.reseal(session, approval)
        return Approved(approval, made.account, made.one_time_password)
    assert approval.account_id is not None
    account = get_account(session, ctx.principal.scope, account_id=approval.account_id, lock=True)
    if account.version != approval.target_version:
        raise PreconditionFailed(
            "the user changed since the request was made: reject it and ask again",
            audit_as=Action.ACCOUNT_APPROVAL_APPROVE,
            targets=(str(approval.id), str(account.id)),
        )
    if approval.action == ApprovalAction.PASSWORD_RESET:
        _check_reset(ctx, account)
        return Approved(approval, account, _reset(session, ctx, account).one_time_password)
    roles, org_unit = _check_update(session, ctx, account, payload)
    grants = _grants(session, account, roles, org_unit)
    _apply_update(session, ctx, account, payload, roles=roles, org_unit=org_unit)
    if not grants:
        return Approved(approval, account, None)
    return Approved(approval, account, _reissue(session, ctx, account))


def _reissue(session: Session, ctx: Context, account: UserAccount) -> str:
    """New power, new credentials, through the approver: whoever knew the account's password
    or held its second factor before (its requester may have made it alone and set both)
    learns nothing that opens it now. A fresh one-time password goes to the approver, a
    maker from now on; tokens die; the owner enrols a second factor again."""
    account.totp_secret_wrapped, account.totp_enabled, account.totp_last_step = None, False, None
    one_time = _one_time(account)
    account.makers = sorted({*account.makers, str(ctx.principal.account_id)})
    _touch(account, ctx, revoke_tokens=True)
    event = ctx.event(Action.USER_PASSWORD_RESET, targets=(str(account.id),), reason="credentials_reissued_on_grant")
    ctx.audit.append(session, event)
    return one_time
