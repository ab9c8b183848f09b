"""Change of execution place (DOMAIN.md, Community correction): a two-step transfer.

    propose   a user of the supervising unit (one who can open the file and holds the
              kind's permission) names the receiving org unit. The unit must exist but may
              lie outside the proposer's scope; the same unit is 422 `transfer.same_unit`;
              a file with a transfer already awaiting acceptance is 409 `transfer.pending`;
              a closed file is 409 `transfer.closed`.
    accept    a user whose scope covers the receiving unit (with the kind's permission)
              accepts by the transfer's id. On acceptance the file's `org_unit_code` becomes
              the receiving unit, so access moves with the file: the old unit's users get
              404 from then on. `report_due_on = transfer_report_due_on(accepted_on)` (the
              subject reports to the new office within 7 days).
    cancel    either side, while the transfer is still `proposed`.

Decisions:
- Transfers are for community-correction files only (422 `transfer.kind`): DOMAIN.md defines
  the two-step change of execution place for that kind alone.
- Before acceptance the receiving unit can find the pending transfer (`list_transfers`) and
  accept or cancel it by its id, and sees only the transfer's plain fields (ids, org unit
  codes, dates): it cannot open the file until it has accepted.
- The proposer may not accept its own transfer (422 `transfer.same_user`): a city-level
  user covers both units, and the two steps are meant for two offices.
- On acceptance the file's `assigned` and `restricted_to` lists are cleared: they name the
  old unit's staff, who lose access anyway, and a restriction to them would lock the new
  unit out. The `excluded` list stays (an exclusion only ever narrows access), and an
  excluded user of the receiving unit gets the same 404 as for no transfer at all.
- Each step is audited (`transfer:propose|accept|cancel`, targets: file and transfer ids,
  reason: the org unit codes) and recorded on the file's sealed timeline
  (`transfer_proposed`, `transfer_accepted`, `transfer_cancelled`).
"""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission
from registry.audit.actions import Action
from registry.casefiles import access
from registry.casefiles.access import KIND_PERMISSION, MemberRole
from registry.casefiles.models import Casefile, CasefileMember, Transfer
from registry.casefiles.schemas import EventCreate
from registry.casefiles.service import add_event
from registry.casefiles.workflows import WORKFLOWS
from registry.casefiles.workflows.common import Kind
from registry.casefiles.workflows.correction import transfer_report_due_on
from registry.clock import today as today_of
from registry.context import Context
from registry.crypto.keyring import Keyring
from registry.errors import Conflict, NotFound, RuleViolation

HIDDEN = "transfer not found"


class TransferStatus:
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"


def _timeline(session: Session, ctx: Context, keyring: Keyring, transfer: Transfer, event_type: str, on: date) -> None:
    body: dict[str, str | None] = {
        "transfer_id": str(transfer.id),
        "from_org_unit": transfer.from_org_unit,
        "to_org_unit": transfer.to_org_unit,
    }
    if transfer.report_due_on is not None:
        body["report_due_on"] = transfer.report_due_on.isoformat()
    add_event(
        session,
        ctx,
        keyring,
        casefile_id=transfer.casefile_id,
        data=EventCreate(type=event_type, occurred_on=on, body=body),
    )


def _audit(session: Session, ctx: Context, action: Action, transfer: Transfer) -> None:
    ctx.audit.append(
        session,
        ctx.event(
            action,
            targets=(str(transfer.casefile_id), str(transfer.id)),
            reason=f"{transfer.from_org_unit}->{transfer.to_org_unit}",
        ),
    )


def _is_excluded(session: Session, casefile_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return (
        session.exec(
            select(CasefileMember).where(
                CasefileMember.casefile_id == casefile_id,
                CasefileMember.user_id == user_id,
                CasefileMember.role == MemberRole.EXCLUDED,
            )
        ).first()
        is not None
    )


def propose_transfer(
    session: Session, ctx: Context, *, keyring: Keyring, casefile_id: uuid.UUID, to_org_unit: str
) -> Transfer:
    # Never on a break-glass grant: a grant holder's transfer to their own unit, accepted by
    # a colleague, would turn a read-only hour into lasting power over the file (issue 13).
    casefile = access.open_to_decide(
        session,
        ctx.principal,
        ctx.clock,
        casefile_id=casefile_id,
        purpose=ctx.purpose,
        action=Action.TRANSFER_PROPOSE,
    ).casefile
    if casefile.kind != Kind.community_correction:
        raise RuleViolation("transfer.kind: a change of execution place is for community correction casefiles only")
    if WORKFLOWS[Kind(casefile.kind)].is_terminal(casefile.status):
        raise Conflict(f"transfer.closed: the casefile is {casefile.status}")
    if session.get(OrgUnit, to_org_unit) is None:  # any unit of the tree: the receiver may be out of scope
        raise RuleViolation("to_org_unit: no such org unit")
    if to_org_unit == casefile.org_unit_code:
        raise RuleViolation("transfer.same_unit: the casefile is already supervised by this org unit")
    session.refresh(casefile, with_for_update={"key_share": True})  # one pending transfer per file
    pending = session.exec(
        select(Transfer).where(Transfer.casefile_id == casefile.id, Transfer.status == TransferStatus.PROPOSED)
    ).first()
    if pending is not None:
        raise Conflict("transfer.pending: a transfer of this casefile awaits acceptance")
    on = today_of(ctx.clock)
    transfer = Transfer(
        casefile_id=casefile.id,
        from_org_unit=casefile.org_unit_code,
        to_org_unit=to_org_unit,
        status=TransferStatus.PROPOSED,
        proposed_by=ctx.principal.account_id,
        proposed_on=on,
        created_at=ctx.clock.now(),
    )
    session.add(transfer)
    session.flush()
    _timeline(session, ctx, keyring, transfer, "transfer_proposed", on)
    _audit(session, ctx, Action.TRANSFER_PROPOSE, transfer)
    return transfer


def _may_know_corrections(ctx: Context) -> bool:
    return ctx.principal.can(Permission.CASEFILE_CORRECTION) and not access.assigned_only(ctx.principal)


def _receivable(session: Session, ctx: Context, transfer_id: uuid.UUID) -> tuple[Transfer, Casefile] | None:
    """The transfer and its file if the caller stands at the receiving end: the receiving
    unit is in scope, the role may know of the kind, the file is open and not excluded."""
    if not _may_know_corrections(ctx):
        return None
    row = session.exec(
        select(Transfer, Casefile)
        .join(Casefile, Casefile.id == Transfer.casefile_id)
        .join(OrgUnit, OrgUnit.code == Transfer.to_org_unit)
        .where(
            Transfer.id == transfer_id,
            ctx.principal.scope.clause(OrgUnit.path),
            Casefile.kind.in_(access.kinds_known_to(ctx.principal)),  # type: ignore[attr-defined]
            Casefile.erased_at.is_(None),  # type: ignore[union-attr]
            Casefile.sealed.is_(False),  # type: ignore[attr-defined]
        )
        .with_for_update(of=Transfer, key_share=True)  # type: ignore[arg-type]
    ).first()
    if row is None or _is_excluded(session, row[1].id, ctx.principal.account_id):
        return None
    return row[0], row[1]


def accept_transfer(session: Session, ctx: Context, *, keyring: Keyring, transfer_id: uuid.UUID) -> Transfer:
    found = _receivable(session, ctx, transfer_id)
    if found is None:
        raise NotFound(HIDDEN)
    transfer, casefile = found
    ctx.principal.require(KIND_PERMISSION[Kind(casefile.kind)])
    if transfer.status != TransferStatus.PROPOSED:
        raise Conflict(f"transfer: already {transfer.status}")
    if casefile.org_unit_code != transfer.from_org_unit or WORKFLOWS[Kind(casefile.kind)].is_terminal(casefile.status):
        raise Conflict("transfer.stale: the casefile changed since the proposal")
    if transfer.proposed_by == ctx.principal.account_id:
        raise RuleViolation("transfer.same_user: the proposer cannot accept its own transfer")
    on = today_of(ctx.clock)
    transfer.status = TransferStatus.ACCEPTED
    transfer.accepted_by = ctx.principal.account_id
    transfer.accepted_on = on
    transfer.report_due_on = transfer_report_due_on(on)
    transfer.version += 1
    casefile.org_unit_code = transfer.to_org_unit
    casefile.version += 1
    session.add_all([transfer, casefile])
    cleared = session.exec(
        select(CasefileMember).where(
            CasefileMember.casefile_id == casefile.id,
            CasefileMember.role.in_([MemberRole.ASSIGNED, MemberRole.RESTRICTED_TO]),  # type: ignore[attr-defined]
        )
    ).all()
    for member in cleared:
        session.delete(member)
    session.flush()
    if cleared:
        ctx.audit.append(
            session,
            ctx.event(
                Action.CASEFILE_ASSIGN,
                targets=(str(casefile.id), *sorted({str(m.user_id) for m in cleared})),
                reason="cleared_by_transfer",
            ),
        )
    _timeline(session, ctx, keyring, transfer, "transfer_accepted", on)
    _audit(session, ctx, Action.TRANSFER_ACCEPT, transfer)
    return transfer


def cancel_transfer(session: Session, ctx: Context, *, keyring: Keyring, transfer_id: uuid.UUID) -> Transfer:
    """Either end may withdraw a proposal: the receiving unit, or whoever can open the file."""
    found = _receivable(session, ctx, transfer_id)
    if found is not None:
        transfer = found[0]
    else:
        transfer = session.get(Transfer, transfer_id)
        if transfer is None:
            raise NotFound(HIDDEN)
        try:
            opened = access.open_casefile(
                session, ctx.principal, ctx.clock, casefile_id=transfer.casefile_id, purpose=ctx.purpose
            )
        except NotFound:
            raise NotFound(HIDDEN) from None
        if opened.grant_id is not None:  # a grant reads; it withdraws nothing
            raise access.ReadOnlyGrant(
                action=Action.TRANSFER_CANCEL,
                casefile_id=transfer.casefile_id,
                grant_id=opened.grant_id,
                detail=HIDDEN,
                record_id=transfer.id,
            )
        session.refresh(transfer, with_for_update={"key_share": True})  # once access is decided
    ctx.principal.require(Permission.CASEFILE_CORRECTION)
    if transfer.status != TransferStatus.PROPOSED:
        raise Conflict(f"transfer: already {transfer.status}")
    on = today_of(ctx.clock)
    transfer.status = TransferStatus.CANCELLED
    transfer.cancelled_by = ctx.principal.account_id
    transfer.cancelled_on = on
    transfer.version += 1
    session.add(transfer)
    session.flush()
    if found is None:  # the receiving side cannot open the file, so its timeline is left alone
        _timeline(session, ctx, keyring, transfer, "transfer_cancelled", on)
    _audit(session, ctx, Action.TRANSFER_CANCEL, transfer)
    return transfer


def list_transfers(
    session: Session, ctx: Context, *, status: str | None = None, after: str | None = None, limit: int = 50
) -> list[Transfer]:
    """Transfers of the files the caller may list, and those awaiting the caller's units.
    Plain fields only; a role that may not know of the kind gets an empty list."""
    rows: list[Transfer] = []
    if _may_know_corrections(ctx):
        receiving = aliased(OrgUnit)
        me = ctx.principal.account_id
        excluded = sa.select(CasefileMember.casefile_id).where(
            CasefileMember.user_id == me, CasefileMember.role == MemberRole.EXCLUDED
        )
        awaiting_me = sa.and_(
            Transfer.status == TransferStatus.PROPOSED,
            ctx.principal.scope.clause(receiving.path),
            Casefile.kind.in_(access.kinds_known_to(ctx.principal)),  # type: ignore[attr-defined]
            Casefile.id.not_in(excluded),  # type: ignore[attr-defined]
            Casefile.sealed.is_(False),  # type: ignore[attr-defined]
            Casefile.erased_at.is_(None),  # type: ignore[union-attr]
        )
        query = (
            select(Transfer)
            .join(Casefile, Casefile.id == Transfer.casefile_id)
            .join(OrgUnit, OrgUnit.code == Casefile.org_unit_code)
            .join(receiving, receiving.code == Transfer.to_org_unit)
            .where(sa.or_(access.visible_list_filter(ctx.principal), awaiting_me))
        )
        if status is not None:
            query = query.where(Transfer.status == status)
        if after is not None:
            query = query.where(Transfer.id > uuid.UUID(after))
        rows = list(session.exec(query.order_by(Transfer.id).limit(limit)))
    # Each row names its file: the file's person's access report finds the listing.
    targets = tuple(t for r in rows for t in (str(r.id), str(r.casefile_id)))
    ctx.audit.append(session, ctx.event(Action.TRANSFER_LIST, targets=targets))
    return rows
