"""Leave outside the city or county (社区矫正法 Art. 27): request, decide, return, worklist.

The rules themselves (days, approval level, states) are pure functions in
`registry.casefiles.leave`; this module stores, seals and audits. Destination, reason and
the decision note are sealed under the person's `casefile` DEK and leave only through
`registry.disclosure` (`read_leave`). Messages and audit entries name rules, states,
levels and opaque ids, never a personal value.

Scope and access. Every call opens the casefile through `access.open_casefile` (a leave of a
file the caller may not open is the same 404 as no leave at all) and needs the kind's
permission (`casefile:community_correction`), so assigned-only social workers record
events but neither request nor decide leave. Leave exists for community-correction files
only (any other kind → 422 `leave.kind`), while the subject is `received` or `supervised`
(otherwise 409 `leave.status`).

Approver level: the level of the deciding user's own org unit (DOMAIN.md codes):
    street/town unit (9 digits)                 → justice_office (司法所)
    district/county unit (6 digits, has a parent) → county (县级社区矫正机构)
    city unit (a 6-digit root)                  → above_county
    account without an org unit (tree-wide)     → above_county
    community/village or deeper (12+ digits)    → no approving authority
The user must also be able to open the file, i.e. the file is in their subtree, without
a break-glass grant: a grant reads a file's leaves, it never requests, decides or records
a return (same 404 as without it, audited as a denied use of the grant).

Decisions. Approving *and* refusing both belong to the authority the leave needs: a user
below the required level gets 422 `approval.level: this leave needs approval at <level>
level` (a rule refusal per API.md, the same rule and message as `leave.WORKFLOW`); that
refusal is still audited (`leave:decide`, outcome `denied`) although the request's own
transaction rolls back. The required level is computed at request time and again at
decision time, counting the file's leaves approved by then (so two pending requests that
together break the 30-days-in-60 rule cannot both pass at county level); the stored level
only ever rises. A leave whose period has ended can no longer be approved.

Counting prior leaves (`prior_leaves` of `leave.approval_level`): every approved leave of
the file; one that has been returned counts the days actually taken (`starts_on` to
`returned_on`, so an early return frees days and a late one counts its overrun).

Return. `returned_on` on or before `ends_on` stores `returned`; after it stores `overdue`
with its `returned_on` (the record of an overrun, `leave.WORKFLOW` `approved → overdue`)
and adds a `leave_overdue` event to the file's timeline. A return before `starts_on` is 422
(`return.period`); a second return is 409. `on_leave` is never stored: clients see it
through `leave.effective_status`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlmodel import Session, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission
from registry.access.principal import Principal
from registry.audit.actions import Action
from registry.casefiles import access
from registry.casefiles.access import KIND_PERMISSION, Opened
from registry.casefiles.leave import (
    ApprovalLevel,
    LeaveStatus,
    approval_level,
    check_leave,
    check_transition,
    is_return_overdue,
    may_approve,
)
from registry.casefiles.models import LEAVE_REQUEST, Casefile, LeaveRequest
from registry.casefiles.schemas import EventCreate
from registry.casefiles.service import add_event
from registry.casefiles.workflows.common import Kind
from registry.casefiles.workflows.correction import Status as CorrectionStatus
from registry.clock import today as today_of
from registry.context import Context
from registry.crypto.keyring import Compartment, Keyring
from registry.disclosure import disclose
from registry.errors import Conflict, NotFound, RuleViolation

HIDDEN = "leave request not found"
# The subject is under supervision: reported and not detained, missing or closed.
LEAVE_STATES = frozenset({CorrectionStatus.received, CorrectionStatus.supervised})
# Leaves that may still take the subject away: an overlapping request is a conflict.
OPEN_STATES = frozenset({LeaveStatus.requested, LeaveStatus.approved, LeaveStatus.on_leave})
# Leaves that were approved (whatever happened next): they count towards the 60-day window.
APPROVED_STATES = frozenset({LeaveStatus.approved, LeaveStatus.on_leave, LeaveStatus.returned, LeaveStatus.overdue})
_RANK = {level: rank for rank, level in enumerate(ApprovalLevel)}


class ApprovalRefused(RuleViolation):
    """The decider's level is below the one the leave needs (422, naming the rule). Audited
    by the request boundary as a denied `leave:decide`, since the request rolls back."""

    audit_as = Action.LEAVE_DECIDE

    def __init__(self, detail: str, *, targets: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.targets = targets


# -- levels -------------------------------------------------------------------------------


def approver_level(session: Session, principal: Principal) -> ApprovalLevel | None:
    """The level at which `principal` decides leave (see the module docstring), or None."""
    code = principal.org_unit_code
    if code is None:
        return ApprovalLevel.above_county
    unit = session.get(OrgUnit, code)
    if unit is None:
        return None
    if len(code) == 9:
        return ApprovalLevel.justice_office
    if len(code) == 6:
        return ApprovalLevel.county if unit.parent_code is not None else ApprovalLevel.above_county
    return None


def _higher(a: ApprovalLevel | str, b: ApprovalLevel | str) -> ApprovalLevel:
    a, b = ApprovalLevel(a), ApprovalLevel(b)
    return a if _RANK[a] >= _RANK[b] else b


def _prior_leaves(leaves: Sequence[LeaveRequest], *, excluding: uuid.UUID | None = None) -> list[tuple[date, date]]:
    return [
        (leave.starts_on, leave.returned_on if leave.returned_on is not None else leave.ends_on)
        for leave in leaves
        if leave.status in APPROVED_STATES and leave.id != excluding
    ]


def _leaves_of(session: Session, casefile_id: uuid.UUID) -> list[LeaveRequest]:
    return list(session.exec(select(LeaveRequest).where(LeaveRequest.casefile_id == casefile_id)))


# -- opening ------------------------------------------------------------------------------


def _open_casefile(session: Session, ctx: Context, casefile_id: uuid.UUID, *, writing: Action | None) -> Opened:
    """`writing`: the audit action of a write, which never rests on a break-glass grant."""
    if writing is None:
        opened = access.open_casefile(session, ctx.principal, ctx.clock, casefile_id=casefile_id, purpose=ctx.purpose)
    else:
        opened = access.open_for_write(
            session, ctx.principal, ctx.clock, casefile_id=casefile_id, purpose=ctx.purpose, action=writing
        )
    ctx.principal.require(KIND_PERMISSION[Kind(opened.casefile.kind)])
    return opened


def open_leave(
    session: Session, ctx: Context, leave_id: uuid.UUID, *, lock: bool, writing: Action | None
) -> tuple[LeaveRequest, Opened]:
    """The leave and its file, if the caller may open the file; one 404 otherwise. A write
    (`writing`) that would rest on a break-glass grant is that same 404, audited."""
    leave = session.get(LeaveRequest, leave_id)
    if leave is None:
        raise NotFound(HIDDEN)
    try:
        opened = access.open_casefile(
            session, ctx.principal, ctx.clock, casefile_id=leave.casefile_id, purpose=ctx.purpose
        )
    except NotFound:
        raise NotFound(HIDDEN) from None
    if writing is not None and opened.grant_id is not None:
        raise access.ReadOnlyGrant(
            action=writing, casefile_id=opened.casefile.id, grant_id=opened.grant_id, detail=HIDDEN, record_id=leave.id
        )
    ctx.principal.require(KIND_PERMISSION[Kind(opened.casefile.kind)])
    if lock:  # only once access is decided; then re-read under the row lock
        session.refresh(leave, with_for_update={"key_share": True})
    return leave, opened


def _grant(opened: Opened) -> str | None:
    return str(opened.grant_id) if opened.grant_id else None


# -- services -----------------------------------------------------------------------------


def request_leave(
    session: Session,
    ctx: Context,
    *,
    keyring: Keyring,
    casefile_id: uuid.UUID,
    starts_on: date,
    ends_on: date,
    destination: str,
    reason: str,
) -> LeaveRequest:
    opened = _open_casefile(session, ctx, casefile_id, writing=Action.LEAVE_REQUEST)
    casefile = opened.casefile
    if casefile.kind != Kind.community_correction:
        raise RuleViolation("leave.kind: leave is for community correction casefiles only (社区矫正法 Art. 27)")
    if casefile.status not in LEAVE_STATES:
        raise Conflict(f"leave.status: no leave while the casefile is {casefile.status}")
    check_leave(starts_on, ends_on, today=today_of(ctx.clock))
    session.refresh(casefile, with_for_update={"key_share": True})  # one request at a time per file
    leaves = _leaves_of(session, casefile.id)
    if any(
        leave.status in OPEN_STATES
        and leave.returned_on is None
        and leave.starts_on <= ends_on
        and starts_on <= leave.ends_on
        for leave in leaves
    ):
        raise Conflict("leave.overlap: another open leave of this casefile covers these dates")
    required = approval_level(starts_on, ends_on, prior_leaves=_prior_leaves(leaves))
    leave_id = uuid.uuid4()
    key = keyring.write_key(session, owner=str(casefile.person_id), compartment=Compartment.CASEFILE)
    leave = LeaveRequest(
        id=leave_id,
        casefile_id=casefile.id,
        starts_on=starts_on,
        ends_on=ends_on,
        **LEAVE_REQUEST.seal_row(key, record_id=str(leave_id), values={"destination": destination, "reason": reason}),
        status=LeaveStatus.requested,
        required_level=required,
        requested_by=ctx.principal.account_id,
        created_at=ctx.clock.now(),
    )
    session.add(leave)
    ctx.audit.append(
        session,
        ctx.event(
            Action.LEAVE_REQUEST,
            targets=(str(casefile.id), str(leave_id)),
            fields=("destination", "reason"),
            reason=str(required),
            break_glass_grant=_grant(opened),
        ),
    )
    return leave


def decide_leave(
    session: Session,
    ctx: Context,
    *,
    keyring: Keyring,
    leave_id: uuid.UUID,
    approve: bool,
    note: str | None = None,
) -> LeaveRequest:
    leave, opened = open_leave(session, ctx, leave_id, lock=True, writing=Action.LEAVE_DECIDE)
    casefile = opened.casefile
    on = today_of(ctx.clock)
    to = LeaveStatus.approved if approve else LeaveStatus.refused
    if LeaveStatus(leave.status) is not LeaveStatus.requested:
        check_transition(leave.status, to, on=on)  # a Conflict naming both states
        raise Conflict(f"transition: cannot go from {leave.status} to {to}")
    prior = _prior_leaves(_leaves_of(session, casefile.id), excluding=leave.id)  # approved by now
    required = _higher(leave.required_level, approval_level(leave.starts_on, leave.ends_on, prior_leaves=prior))
    level = approver_level(session, ctx.principal)
    targets = (str(casefile.id), str(leave.id))
    if level is None:
        raise ApprovalRefused("approval.level: the caller's org unit has no approving authority", targets=targets)
    if not may_approve(level, required):
        raise ApprovalRefused(
            f"approval.level: this leave needs approval at {required} level (社区矫正法 Art. 27)", targets=targets
        )
    if approve:
        if on > leave.ends_on:
            raise RuleViolation("approval.period: the leave period has ended")
        check_transition(leave.status, to, on=on, facts={"approver_level": str(level), "required_level": str(required)})
    leave.status = to
    leave.required_level = required
    leave.decided_by = ctx.principal.account_id
    leave.decided_level = level
    leave.decided_on = on
    if note is not None:
        key = keyring.write_key(session, owner=str(casefile.person_id), compartment=Compartment.CASEFILE)
        leave.decision_note_ct = LEAVE_REQUEST.seal(key, record_id=str(leave.id), name="decision_note", value=note)
    leave.version += 1
    session.add(leave)
    ctx.audit.append(
        session,
        ctx.event(
            Action.LEAVE_DECIDE,
            targets=targets,
            fields=("decision_note",) if note is not None else (),
            reason=f"{to}@{level}",
            break_glass_grant=_grant(opened),
        ),
    )
    return leave


def record_return(
    session: Session, ctx: Context, *, keyring: Keyring, leave_id: uuid.UUID, returned_on: date
) -> LeaveRequest:
    leave, opened = open_leave(session, ctx, leave_id, lock=True, writing=Action.LEAVE_RETURN)
    casefile = opened.casefile
    today = today_of(ctx.clock)
    if returned_on > today:
        raise RuleViolation("returned_on: in the future")
    if leave.returned_on is not None:
        raise Conflict("return: already recorded")
    late = is_return_overdue(leave.ends_on, returned_on, today)
    to = LeaveStatus.overdue if late else LeaveStatus.returned
    facts = {"starts_on": leave.starts_on, "ends_on": leave.ends_on}
    if LeaveStatus(leave.status) in (LeaveStatus.approved, LeaveStatus.on_leave):
        check_transition(leave.status, LeaveStatus.returned, on=returned_on, facts=facts)  # not before the start
    check_transition(leave.status, to, on=returned_on, facts=facts)
    leave.status = to
    leave.returned_on = returned_on
    leave.version += 1
    session.add(leave)
    if late:
        add_event(
            session,
            ctx,
            keyring,
            casefile_id=casefile.id,
            data=EventCreate(
                type="leave_overdue",
                occurred_on=returned_on,
                body={
                    "leave_request_id": str(leave.id),
                    "ends_on": leave.ends_on.isoformat(),
                    "returned_on": returned_on.isoformat(),
                    "days_late": (returned_on - leave.ends_on).days,
                },
            ),
        )
    ctx.audit.append(
        session,
        ctx.event(
            Action.LEAVE_RETURN,
            targets=(str(casefile.id), str(leave.id)),
            reason=str(to),
            break_glass_grant=_grant(opened),
        ),
    )
    return leave


def read_leave(
    session: Session, ctx: Context, *, keyring: Keyring, leave_id: uuid.UUID
) -> tuple[LeaveRequest, dict[str, str | None]]:
    """The leave with its destination, reason and decision note, through `disclose`."""
    leave, opened = open_leave(session, ctx, leave_id, lock=False, writing=None)
    values = disclose(
        session,
        ctx,
        keyring,
        LEAVE_REQUEST,
        leave,
        action=Action.LEAVE_READ,
        subject=str(opened.casefile.person_id),
        also=(str(opened.casefile.id),),
        grant=_grant(opened),
    )
    return leave, values


def list_leaves(
    session: Session, ctx: Context, *, casefile_id: uuid.UUID, after: str | None = None, limit: int = 50
) -> list[LeaveRequest]:
    """One file's leaves (plain fields only), in id order."""
    opened = _open_casefile(session, ctx, casefile_id, writing=None)
    query = select(LeaveRequest).where(LeaveRequest.casefile_id == opened.casefile.id)
    if after is not None:
        query = query.where(LeaveRequest.id > uuid.UUID(after))
    rows = list(session.exec(query.order_by(LeaveRequest.id).limit(limit)))
    ctx.audit.append(
        session,
        ctx.event(
            Action.LEAVE_LIST,
            targets=(str(opened.casefile.id), *(str(r.id) for r in rows)),
            break_glass_grant=_grant(opened),
        ),
    )
    return rows


def overdue_leaves(
    session: Session, ctx: Context, *, today: date | None = None, after: str | None = None, limit: int = 50
) -> list[LeaveRequest]:
    """Worklist: approved leaves whose last day is before `today` and whose return is not
    recorded, on the files the caller may list (scope, compartment and file lists in SQL)."""
    if not ctx.principal.can(Permission.CASEFILE_CORRECTION):
        rows: list[LeaveRequest] = []  # a role that may not know of the kind sees an empty list
    else:
        day = today if today is not None else today_of(ctx.clock)
        query = (
            select(LeaveRequest)
            .join(Casefile, Casefile.id == LeaveRequest.casefile_id)
            .join(OrgUnit, OrgUnit.code == Casefile.org_unit_code)
            .where(
                access.visible_list_filter(ctx.principal),
                Casefile.kind == Kind.community_correction,
                LeaveRequest.status.in_([LeaveStatus.approved, LeaveStatus.on_leave]),  # type: ignore[attr-defined]
                LeaveRequest.returned_on.is_(None),  # type: ignore[union-attr]
                LeaveRequest.ends_on < day,
            )
        )
        if after is not None:
            query = query.where(LeaveRequest.id > uuid.UUID(after))
        rows = list(session.exec(query.order_by(LeaveRequest.id).limit(limit)))
    ctx.audit.append(
        session,
        ctx.event(
            Action.LEAVE_LIST,
            targets=tuple(t for r in rows for t in (str(r.id), str(r.casefile_id))),
            reason="return_overdue",
        ),
    )
    return rows
