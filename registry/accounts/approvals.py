"""Dual control: account changes that wait for a second administrator.

Who may approve (issue 13, "Decisions already taken"): an active human administrator with
the request in its scope who is not the requester, not the account the request concerns,
and not an administrator the requester made (`UserAccount.created_by`): the first
administrator may make the second alone, and that second one must not then be the other
key of its maker's requests. The console operator requests as the system account; an
approval always comes from a logged-in administrator.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from registry.access.models import (
    AccountApproval,
    AccountKind,
    ApprovalAction,
    ApprovalStatus,
    OrgUnit,
    UserAccount,
)
from registry.access.policy import Permission
from registry.access.scope import Scope
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
) -> AccountApproval:
    approval = AccountApproval(
        action=action,
        account_id=account.id if account is not None else None,
        org_unit_code=org_unit,
        payload=payload,
        target_version=account.version if account is not None else None,
        requested_by=ctx.principal.account_id,
        requested_at=ctx.clock.now(),
    )
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


def get(session: Session, scope: Scope, *, approval_id: uuid.UUID) -> AccountApproval:
    approval = session.exec(_scoped(scope).where(AccountApproval.id == approval_id)).first()
    if approval is None:
        raise NotFound("approval request not found")
    return approval


def listed(
    session: Session, scope: Scope, *, status: ApprovalStatus | None, after: str | None, limit: int
) -> list[AccountApproval]:
    query = _scoped(scope).order_by(AccountApproval.id).limit(min(limit, PAGE_MAX))
    if status is not None:
        query = query.where(AccountApproval.status == status)
    if after is not None:
        try:
            query = query.where(AccountApproval.id > uuid.UUID(after))
        except ValueError:
            raise BadRequest("cursor: not a cursor of this list") from None
    return list(session.exec(query))


def _check_approver(session: Session, ctx: Context, approval: AccountApproval) -> None:
    me = ctx.principal
    if me.kind != AccountKind.HUMAN:
        raise Forbidden("dual_control: an approval needs a logged-in administrator")
    if me.account_id == approval.requested_by:
        raise Forbidden("dual_control: a request needs a second administrator, not its requester")
    if me.account_id == approval.account_id:
        raise Forbidden("dual_control: a request about your own account needs another administrator")
    account = session.get(UserAccount, me.account_id)
    if account is None or account.created_by == approval.requested_by:
        raise Forbidden("dual_control: an administrator made by the requester cannot approve its requests")


def claim(session: Session, ctx: Context, *, approval_id: uuid.UUID, status: ApprovalStatus) -> AccountApproval:
    """Decide a pending request once: a conditional update, so two racing decisions cannot both win.

    Approval checks the approver; a rejection may come from any administrator who sees the
    request, the requester included (withdrawal)."""
    ctx.principal.require(Permission.USER_MANAGE)
    approval = get(session, ctx.principal.scope, approval_id=approval_id)
    if status is ApprovalStatus.APPROVED:
        _check_approver(session, ctx, approval)
    now = ctx.clock.now()
    decided = session.execute(
        sa.update(AccountApproval)
        .where(AccountApproval.id == approval.id, AccountApproval.status == ApprovalStatus.PENDING)
        .values(status=status, decided_by=ctx.principal.account_id, decided_at=now)
    )
    if decided.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"the request is already {approval.status}")
    session.refresh(approval)
    return approval


def record(session: Session, ctx: Context, approval: AccountApproval) -> None:
    """The decision's audit entry, once the approved change is made (a create's account id is known then)."""
    approved = approval.status == ApprovalStatus.APPROVED
    action = Action.ACCOUNT_APPROVAL_APPROVE if approved else Action.ACCOUNT_APPROVAL_REJECT
    targets = (str(approval.id), str(approval.account_id)) if approval.account_id else (str(approval.id),)
    ctx.audit.append(session, ctx.event(action, targets=targets, reason=approval.action))


def reject(session: Session, ctx: Context, *, approval_id: uuid.UUID) -> AccountApproval:
    approval = claim(session, ctx, approval_id=approval_id, status=ApprovalStatus.REJECTED)
    record(session, ctx, approval)
    return approval
