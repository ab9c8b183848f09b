"""Dual control: account changes that wait for a second administrator.

The rule, once (`check_keys`): an account's makers are the administrators who could have
learned its credentials, i.e. who received a one-time password of it (its creator when made
alone, the approver of its creation, whoever reset its password or approved a grant that
re-issued it). A request and its approval are two keys only if requester and approver are
different logged-in administrators, the approver is not the account concerned, neither is a
maker of the other, directly or through a chain (the maker of a maker: `made_by`), and they
share no maker: else one person could hold both (make an administrator alone, set its
password, approve as it, as the one it made, or as a sibling made by the same hand).
The requester must still be an active administrator when the request is approved.
The system account (the console) is never a key. A request expires at `expires_at`.
A request is sealed as accounts are (`seal.seal_approval`): every writer here reseals it,
and a decision on a request whose seal does not verify is refused (409, integrity:failure).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from registry.access.models import (
    AccountApproval,
    AccountKind,
    AccountStatus,
    ApprovalAction,
    ApprovalStatus,
    OrgUnit,
    UserAccount,
)
from registry.access.policy import Permission, Role
from registry.access.principal import SYSTEM_ACCOUNT_ID
from registry.access.scope import Scope
from registry.accounts import seal
from registry.accounts.orgunits import PAGE_MAX
from registry.audit.actions import Action
from registry.context import Context
from registry.errors import BadRequest, Conflict, Forbidden, NotFound


def request(
    session: Session,
    ctx: Context,
    *,
    action: ApprovalAction,
    account: UserAccount | None,
    org_unit: str | None,
    payload: dict[str, Any],
    ttl: timedelta,
) -> AccountApproval:
    if ctx.principal.kind != AccountKind.HUMAN or ctx.principal.account_id == SYSTEM_ACCOUNT_ID:
        raise Forbidden("dual_control: a request needs a logged-in administrator (the console is not one)")
    now = ctx.clock.now()
    approval = AccountApproval(
        action=action,
        account_id=account.id if account is not None else None,
        org_unit_code=org_unit,
        payload=payload,
        target_version=account.version if account is not None else None,
        requested_by=ctx.principal.account_id,
        requested_at=now,
        expires_at=now + ttl,
    )
    reseal(session, approval)
    session.add(approval)
    session.flush()
    targets = (str(approval.id), str(account.id)) if account is not None else (str(approval.id),)
    ctx.audit.append(
        session,
        ctx.event(Action.ACCOUNT_APPROVAL_REQUEST, targets=targets, fields=tuple(sorted(payload)), reason=action),
    )
    return approval


def _scoped(scope: Scope):  # type: ignore[no-untyped-def]
    # Like accounts: a request without an org unit (tree-wide) is visible only tree-wide.
    query = select(AccountApproval).outerjoin(OrgUnit, OrgUnit.code == AccountApproval.org_unit_code)
    if scope.path_prefix is None:
        return query
    return query.where(scope.clause(OrgUnit.path))


def reseal(session: Session, approval: AccountApproval) -> None:
    seal.seal_approval(session, seal.keyring_of(session), approval)


def expire_due(session: Session, now: datetime) -> None:
    """Pending requests past their expiry are `expired` from now on (set when read); a
    request whose seal is broken is expired too, and left broken (never laundered)."""
    due = session.exec(
        select(AccountApproval).where(
            AccountApproval.status == ApprovalStatus.PENDING,
            AccountApproval.expires_at <= now,  # type: ignore[operator]
        )
    )
    keyring = seal.keyring_of(session)
    for approval in due:
        was_intact = seal.approval_intact(session, keyring, approval)
        approval.status = ApprovalStatus.EXPIRED
        if was_intact:
            seal.seal_approval(session, keyring, approval)
    session.flush()


def get(session: Session, scope: Scope, *, approval_id: uuid.UUID, now: datetime | None = None) -> AccountApproval:
    if now is not None:
        expire_due(session, now)
    approval = session.exec(_scoped(scope).where(AccountApproval.id == approval_id)).first()
    if approval is None:
        raise NotFound("approval request not found")
    return approval


def listed(
    session: Session,
    scope: Scope,
    *,
    status: ApprovalStatus | None,
    after: str | None,
    limit: int,
    now: datetime | None = None,
) -> list[AccountApproval]:
    if now is not None:
        expire_due(session, now)
    query = _scoped(scope).order_by(AccountApproval.id).limit(min(limit, PAGE_MAX))
    if status is not None:
        query = query.where(AccountApproval.status == status)
    if after is not None:
        try:
            query = query.where(AccountApproval.id > uuid.UUID(after))
        except ValueError:
            raise BadRequest("cursor: not a cursor of this list") from None
    return list(session.exec(query))


def makers(session: Session, account_id: uuid.UUID | None) -> frozenset[uuid.UUID]:
    """The administrators who could have learned the account's credentials."""
    account = session.get(UserAccount, account_id) if account_id is not None else None
    return frozenset(uuid.UUID(m) for m in account.makers) if account is not None else frozenset()


def made_by(session: Session, account_id: uuid.UUID | None) -> frozenset[uuid.UUID]:
    """Its makers, their makers, and so on: whoever held a maker's credentials could have
    learned this account's too (W made by Y made by A: A holds W)."""
    found: set[uuid.UUID] = set()
    todo = list(makers(session, account_id))
    while todo:
        maker = todo.pop()
        if maker not in found:
            found.add(maker)
            todo.extend(makers(session, maker))
    return frozenset(found)


def check_keys(session: Session, *, requester: uuid.UUID, approver: uuid.UUID, concerned: uuid.UUID | None) -> None:
    """The two-key rule (module docstring); every refusal is a Forbidden the boundary audits."""
    if SYSTEM_ACCOUNT_ID in (requester, approver):
        raise Forbidden("dual_control: the console's system account is never one of the two administrators")
    if approver == requester:
        raise Forbidden("dual_control: a request needs a second administrator, not its requester")
    if approver == concerned:
        raise Forbidden("dual_control: a request about your own account needs another administrator")
    if approver in made_by(session, requester):
        raise Forbidden("dual_control: an administrator that made the requester cannot approve its requests")
    if requester in made_by(session, approver):
        raise Forbidden("dual_control: an administrator made by the requester cannot approve its requests")
    # Siblings: two administrators whose credentials went to the same maker (both approved,
    # or both reset, by one administrator) are one person's two accounts.
    if made_by(session, requester) & made_by(session, approver):
        raise Forbidden("dual_control: requester and approver share a maker: ask an administrator made apart")


def _check_approver(session: Session, ctx: Context, approval: AccountApproval) -> None:
    me = ctx.principal
    if me.kind != AccountKind.HUMAN:
        raise Forbidden("dual_control: an approval needs a logged-in administrator")
    check_keys(session, requester=approval.requested_by, approver=me.account_id, concerned=approval.account_id)
    requester = session.get(UserAccount, approval.requested_by)
    if requester is None or requester.status != AccountStatus.ACTIVE or Role.ADMIN not in requester.roles:
        raise Forbidden("dual_control: the requester is no longer an active administrator: ask again")


def claim(session: Session, ctx: Context, *, approval_id: uuid.UUID, status: ApprovalStatus) -> AccountApproval:
    """Decide a pending request once: a conditional update, so two racing decisions cannot both win.

    Approval checks the approver; a rejection may come from any administrator who sees the
    request, the requester included (withdrawal)."""
    ctx.principal.require(Permission.USER_MANAGE)
    now = ctx.clock.now()
    approval = get(session, ctx.principal.scope, approval_id=approval_id)
    if approval.status == ApprovalStatus.PENDING and approval.expires_at is not None and approval.expires_at <= now:
        # Refused (the boundary audits it); the list shows it expired from its next read.
        raise Conflict("the request expired: ask again", audit_as=_decision(status), targets=_targets(approval))
    if status is ApprovalStatus.APPROVED:
        _check_approver(session, ctx, approval)
    if not seal.approval_intact(session, seal.keyring_of(session), approval):
        # Requester, payload, status or expiry written outside the service.
        raise Conflict(
            "the request's seal does not verify: it was changed outside the service",
            audit_as=Action.INTEGRITY_FAILURE,
            targets=_targets(approval),
        )
    decided = session.execute(
        sa.update(AccountApproval)
        .where(AccountApproval.id == approval.id, AccountApproval.status == ApprovalStatus.PENDING)
        .values(status=status, decided_by=ctx.principal.account_id, decided_at=now)
    )
    if decided.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(approval)
        raise Conflict(
            f"the request is already {approval.status}",
            audit_as=_decision(status),
            targets=_targets(approval),
        )
    session.refresh(approval)
    reseal(session, approval)
    return approval


def _decision(status: ApprovalStatus | str) -> Action:
    approved = status == ApprovalStatus.APPROVED
    return Action.ACCOUNT_APPROVAL_APPROVE if approved else Action.ACCOUNT_APPROVAL_REJECT


def _targets(approval: AccountApproval) -> tuple[str, ...]:
    return (str(approval.id), str(approval.account_id)) if approval.account_id else (str(approval.id),)


def record(session: Session, ctx: Context, approval: AccountApproval) -> None:
    """The decision's audit entry, once the approved change is made (a create's account id is known then)."""
    ctx.audit.append(session, ctx.event(_decision(approval.status), targets=_targets(approval), reason=approval.action))


def reject(session: Session, ctx: Context, *, approval_id: uuid.UUID) -> AccountApproval:
    approval = claim(session, ctx, approval_id=approval_id, status=ApprovalStatus.REJECTED)
    record(session, ctx, approval)
    return approval
