"""Approval of the transitions that end a casefile (DOMAIN.md: a closing date is the date
the closure was approved; issue 13).

A transition into a terminal state (`discharged`, `revoked`, `deceased`, `closed`,
`transferred`, `terminated`) is recorded by `service.transition` as a pending closure: the
file keeps its state, shows `pending_closure`, and takes no other transition until the
closure is decided. Here the supervising level decides:

- The approver is a user of the parent org unit of the file's supervising unit (the
  county agency for a 司法所, the county police bureau for a station) who holds the file's
  kind permission and can open it for writing (no break-glass grant). A file held at a
  root unit has no level above it; a different user of that same unit approves. Tree-wide
  accounts (no org unit) are no level at all. Anyone else: 422 `closure.approver`, audited
  as a denied `casefile:closure-decide`.
- Whoever requested the closure never approves it (422 `closure.same_user`).
- Approval applies the transition: the state becomes the requested one and `closed_on`
  is the approval date (today), whatever date the request declared; retention counts from
  it. The timeline gets the `transition` entry (occurred on the approval date, its body
  names the declared date); refusal leaves the state and records `closure_refused`.
- Nothing pending: 409 `closure: nothing pending`.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from registry.access.models import OrgUnit
from registry.access.principal import Principal
from registry.audit.actions import Action
from registry.casefiles import access
from registry.casefiles.models import Casefile, CasefileClosure
from registry.casefiles.schemas import EventCreate
from registry.casefiles.service import ClosureStatus, add_event, pending_closure
from registry.clock import today as today_of
from registry.context import Context
from registry.crypto.keyring import Keyring
from registry.errors import Conflict, RuleViolation


class ClosureRefused(RuleViolation):
    """The caller may not decide this closure (422, naming the rule). Audited by the request
    boundary as a denied `casefile:closure-decide`, since the request rolls back."""

    audit_as = Action.CASEFILE_CLOSURE_DECIDE

    def __init__(self, detail: str, *, targets: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.targets = targets


def supervising_unit(session: Session, casefile: Casefile) -> str:
    """The org unit whose users approve the file's closure: the parent of its unit, or the
    unit itself at the root of the tree."""
    unit = session.get(OrgUnit, casefile.org_unit_code)
    assert unit is not None  # a foreign key
    return unit.parent_code or unit.code


def _check_approver(session: Session, principal: Principal, casefile: Casefile, closure: CasefileClosure) -> None:
    targets = (str(casefile.id), str(closure.id))
    if closure.requested_by == principal.account_id:
        raise ClosureRefused("closure.same_user: whoever requested a closure cannot approve it", targets=targets)
    if principal.org_unit_code is None or principal.org_unit_code != supervising_unit(session, casefile):
        raise ClosureRefused(
            "closure.approver: a closure is approved by the supervising level (the parent org unit)", targets=targets
        )


def decide_closure(
    session: Session, ctx: Context, keyring: Keyring, *, casefile_id: uuid.UUID, approve: bool, note: str | None
) -> CasefileClosure:
    casefile = access.open_to_decide(
        session,
        ctx.principal,
        ctx.clock,
        casefile_id=casefile_id,
        purpose=ctx.purpose,
        action=Action.CASEFILE_CLOSURE_DECIDE,
        lock=True,
    ).casefile
    closure = pending_closure(session, casefile.id)
    if closure is None:
        raise Conflict("closure: nothing pending")
    _check_approver(session, ctx.principal, casefile, closure)
    if casefile.status != closure.from_status:
        raise Conflict("closure.stale: the casefile changed since the request")
    on = today_of(ctx.clock)
    closure.status = ClosureStatus.APPROVED if approve else ClosureStatus.REFUSED
    closure.decided_by = ctx.principal.account_id
    closure.decided_on = on
    closure.version += 1
    transition = f"{closure.from_status}->{closure.to_status}"
    body: dict[str, str | None] = {"closure_id": str(closure.id), "declared_on": closure.declared_on.isoformat()}
    if note is not None:
        body["note"] = note
    if approve:
        casefile.status = closure.to_status
        casefile.closed_on = on  # the approval date: retention counts from here (DOMAIN.md)
        body |= {"from": closure.from_status, "to": closure.to_status}
    casefile.version += 1
    session.add_all([closure, casefile])
    session.flush()
    add_event(
        session,
        ctx,
        keyring,
        casefile_id=casefile.id,
        data=EventCreate(type="transition" if approve else "closure_refused", occurred_on=on, body=body),
    )
    targets = (str(casefile.id), str(closure.id))
    ctx.audit.append(
        session,
        ctx.event(
            Action.CASEFILE_CLOSURE_DECIDE,
            targets=targets,
            fields=("note",) if note is not None else (),
            reason=f"{closure.status}:{transition}",
        ),
    )
    if approve:
        ctx.audit.append(session, ctx.event(Action.CASEFILE_TRANSITION, targets=(str(casefile.id),), reason=transition))
    return closure
