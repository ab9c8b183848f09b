"""Who may open a casefile, decided inside the query and then by the file's own lists.

Order of the checks (PRIVACY.md §3): compartment (the kinds the role may know of) and
jurisdiction in SQL — anything else is the same 404 as a file that does not exist; then
the exclusion list (refused even with break-glass); then jurisdiction (which a live grant
lets the query skip), assignment (social workers), the restriction list and the seal, each
of which only a live break-glass grant opens (a sealed file only with purpose
`court_request`). Access that rests on a grant names it, so every use is audited as one;
a grant widens which files a role opens, never which fields it sees.

A grant is read-only (PRIVACY.md §3): `open_for_write` refuses access that rests on one
with the same 404 the caller gets without it, so no write (exclusion and restriction lists, assignments, transfers,
transitions, events, leave, closure decisions) ever rests on a grant and a grant cannot
become lasting power over the file. Expiry is compared with the server's clock on every
use (`live_grant`), never taken from the client.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission, Purpose
from registry.access.principal import Principal
from registry.audit.actions import Action
from registry.casefiles.models import BreakGlassGrant, Casefile, CasefileClosure, CasefileEvent, CasefileMember
from registry.casefiles.workflows.common import Kind
from registry.clock import Clock
from registry.errors import NotFound

KIND_PERMISSION = {
    Kind.community_correction: Permission.CASEFILE_CORRECTION,
    Kind.resettlement: Permission.CASEFILE_RESETTLEMENT,
    Kind.drug_rehabilitation: Permission.CASEFILE_DRUG,
}
GRANT_LIFETIME = timedelta(minutes=60)
HIDDEN = "casefile not found"


class MemberRole:
    ASSIGNED = "assigned"
    EXCLUDED = "excluded"
    RESTRICTED_TO = "restricted_to"


def kinds_known_to(principal: Principal) -> frozenset[str]:
    """The casefile kinds a role may even learn exist (compartment hiding)."""
    if principal.can(Permission.CASEFILE_ASSIGNED):
        return frozenset(Kind)
    return frozenset(k for k, p in KIND_PERMISSION.items() if principal.can(p))


def assigned_only(principal: Principal) -> bool:
    return principal.can(Permission.CASEFILE_ASSIGNED) and not any(principal.can(p) for p in KIND_PERMISSION.values())


@dataclass(frozen=True)
class Opened:
    casefile: Casefile
    grant_id: uuid.UUID | None  # set when the access rests on a break-glass grant
    hide_offence: bool  # social workers see no offence details


def _members(session: Session, casefile_id: uuid.UUID) -> dict[str, set[uuid.UUID]]:
    out: dict[str, set[uuid.UUID]] = {}
    for member in session.exec(select(CasefileMember).where(CasefileMember.casefile_id == casefile_id)):
        out.setdefault(member.role, set()).add(member.user_id)
    return out


def live_grant(session: Session, clock: Clock, *, casefile_id: uuid.UUID, user_id: uuid.UUID) -> BreakGlassGrant | None:
    return session.exec(
        select(BreakGlassGrant)
        .where(
            BreakGlassGrant.casefile_id == casefile_id,
            BreakGlassGrant.user_id == user_id,
            BreakGlassGrant.expires_at > clock.now(),
        )
        .order_by(BreakGlassGrant.expires_at.desc())  # type: ignore[attr-defined]
    ).first()


def addressable(session: Session, principal: Principal, casefile_id: uuid.UUID, *, any_scope: bool) -> Casefile:
    """The file if its kind is known to the role (and, unless `any_scope`, in jurisdiction)."""
    kinds = kinds_known_to(principal)
    if not kinds:
        raise NotFound(HIDDEN)
    query = (
        select(Casefile)
        .join(OrgUnit, OrgUnit.code == Casefile.org_unit_code)
        .where(Casefile.id == casefile_id, Casefile.kind.in_(kinds), Casefile.erased_at.is_(None))
    )  # type: ignore[attr-defined,union-attr]
    if not any_scope and not assigned_only(principal):
        query = query.where(principal.scope.clause(OrgUnit.path))
    casefile = session.exec(query).first()
    if casefile is None:
        raise NotFound(HIDDEN)
    return casefile


def open_casefile(
    session: Session, principal: Principal, clock: Clock, *, casefile_id: uuid.UUID, purpose: Purpose | None
) -> Opened:
    grant = live_grant(session, clock, casefile_id=casefile_id, user_id=principal.account_id)
    casefile = addressable(session, principal, casefile_id, any_scope=grant is not None)
    members = _members(session, casefile.id)
    me = principal.account_id
    if me in members.get(MemberRole.EXCLUDED, set()):
        raise NotFound(HIDDEN)
    unit = session.get(OrgUnit, casefile.org_unit_code)
    # Out of jurisdiction the file was addressable only through the grant: its use is audited as such.
    out_of_scope = not assigned_only(principal) and (unit is None or not principal.scope.covers(unit.path))
    needs_grant = (
        out_of_scope
        or (assigned_only(principal) and me not in members.get(MemberRole.ASSIGNED, set()))
        or (members.get(MemberRole.RESTRICTED_TO) and me not in members[MemberRole.RESTRICTED_TO])
        or casefile.sealed
    )
    if not needs_grant:
        return Opened(casefile, None, hide_offence=assigned_only(principal))
    if grant is None or (casefile.sealed and purpose is not Purpose.COURT_REQUEST):
        raise NotFound(HIDDEN)
    # A grant widens which files, never which fields: social workers still see no offence details.
    return Opened(casefile, grant.id, hide_offence=assigned_only(principal))


class ReadOnlyGrant(NotFound):
    """A write that would rest on a break-glass grant. The caller gets exactly the 404 of a
    file they cannot reach (which, without the grant, it is); the request boundary audits
    the refusal as a denied `action` naming the file and the grant."""

    def __init__(
        self,
        *,
        action: Action,
        casefile_id: uuid.UUID,
        grant_id: uuid.UUID,
        detail: str = HIDDEN,
        record_id: uuid.UUID | None = None,
    ) -> None:
        super().__init__(detail)
        self.audit_as = str(action)
        # The record the request named (a leave, a transfer), beside its file.
        self.targets = (str(casefile_id),) if record_id is None else (str(record_id), str(casefile_id))
        self.audit_reason = "break_glass.read_only: a grant opens the file for reading only"
        self.audit_grant = str(grant_id)


def open_for_write(
    session: Session,
    principal: Principal,
    clock: Clock,
    *,
    casefile_id: uuid.UUID,
    purpose: Purpose | None,
    action: Action,
) -> Opened:
    """`open_casefile` for a write: only access that needs no grant."""
    opened = open_casefile(session, principal, clock, casefile_id=casefile_id, purpose=purpose)
    if opened.grant_id is not None:
        raise ReadOnlyGrant(action=action, casefile_id=opened.casefile.id, grant_id=opened.grant_id)
    return opened


def open_to_decide(
    session: Session,
    principal: Principal,
    clock: Clock,
    *,
    casefile_id: uuid.UUID,
    purpose: Purpose | None,
    action: Action,
    lock: bool = False,
) -> Opened:
    """A decision on a file (a move, a ruling, a closure, a transfer, its team or lists):
    opened for writing (never on a grant), by staff holding the kind's own permission (a
    social worker records, never decides), and, with `lock`, locked against a concurrent
    decision on the same file."""
    opened = open_for_write(session, principal, clock, casefile_id=casefile_id, purpose=purpose, action=action)
    principal.require(KIND_PERMISSION[Kind(opened.casefile.kind)])
    if lock:
        session.refresh(opened.casefile, with_for_update={"key_share": True})
    return opened


def visible_list_filter(principal: Principal):  # type: ignore[no-untyped-def]
    """The SQL condition for lists: kind, jurisdiction (or assignment), not excluded, not
    restricted away, not sealed. Break-glass never widens a list."""
    me = principal.account_id
    member = sa.select(CasefileMember.casefile_id).where(CasefileMember.user_id == me)
    excluded = member.where(CasefileMember.role == MemberRole.EXCLUDED)
    restricted = sa.select(CasefileMember.casefile_id).where(CasefileMember.role == MemberRole.RESTRICTED_TO)
    allowed_restricted = member.where(CasefileMember.role == MemberRole.RESTRICTED_TO)
    conditions = [
        Casefile.kind.in_(kinds_known_to(principal)),  # type: ignore[attr-defined]
        Casefile.id.not_in(excluded),  # type: ignore[attr-defined]
        sa.or_(Casefile.id.not_in(restricted), Casefile.id.in_(allowed_restricted)),  # type: ignore[attr-defined]
        Casefile.sealed.is_(False),  # type: ignore[attr-defined]
        Casefile.erased_at.is_(None),  # type: ignore[union-attr]
    ]
    if assigned_only(principal):
        conditions.append(Casefile.id.in_(member.where(CasefileMember.role == MemberRole.ASSIGNED)))  # type: ignore[attr-defined]
    else:
        conditions.append(principal.scope.clause(OrgUnit.path))
    return sa.and_(*conditions)


BEFORE_INTAKE = ("awaiting_report", "missing", "notified")
# The states a file reaches when its subject was seen in person (intake, the report, the
# release): a transition's plain `moved_to` says a closed file once passed one.
INTAKE_STATES = ("received", "active", "released")


def past_intake():  # type: ignore[no-untyped-def]
    """SQL: the file's subject was seen in person. An open file says so by its state; a
    closed one (whose state no longer tells: a file may close from `awaiting_report`) by the
    state it closed from (an approved closure's plain `from_status`), or by its timeline."""
    seen = (
        sa.select(CasefileEvent.id)
        .where(
            CasefileEvent.casefile_id == Casefile.id,
            CasefileEvent.type == "transition",
            CasefileEvent.moved_to.in_(INTAKE_STATES),  # type: ignore[union-attr]
        )
        .exists()
    )
    closed_after = (
        sa.select(CasefileClosure.id)
        .where(
            CasefileClosure.casefile_id == Casefile.id,
            CasefileClosure.status == "approved",
            CasefileClosure.from_status.not_in(BEFORE_INTAKE),  # type: ignore[attr-defined]
        )
        .exists()
    )
    open_past = sa.and_(Casefile.closed_on.is_(None), Casefile.status.not_in(BEFORE_INTAKE))  # type: ignore[union-attr,attr-defined]
    return sa.or_(open_past, closed_after, seen)


def was_past_intake(session: Session, casefile_id: uuid.UUID) -> bool:
    return session.exec(select(Casefile.id).where(Casefile.id == casefile_id, past_intake())).first() is not None


def held_file_of(
    session: Session,
    principal: Principal,
    person_id: uuid.UUID,
    *,
    casefile_id: uuid.UUID | None = None,
    closed_since: date | None = None,
) -> uuid.UUID | None:
    """A casefile of `person_id` that `principal` opens without a break-glass grant (the
    conditions of `visible_list_filter`: kind, jurisdiction or assignment, exclusion,
    restriction, seal; not erased), or None. The one rule for issue 13's "holding a casefile
    gives that file's staff the identity reads the file needs, never the person": the
    person's identity is shown as to a holder (PERSON's `holder` visibility: corrections
    read the full ID number, 社区矫正法 Art. 22, 26) only with such a file, which the read's
    audit entry names. A grant never counts: it widens which files, never which fields.
    `casefile_id`: only that file counts (a document printed from it); `closed_since`: a
    file closed on or after that day still counts (the papers that close a file are
    printed from it, `registry.documents`)."""
    return session.exec(
        held_file_query(principal, person_id, casefile_id=casefile_id, closed_since=closed_since)
    ).first()


def held_file_query(
    principal: Principal,
    person_id: uuid.UUID,
    *,
    casefile_id: uuid.UUID | None = None,
    closed_since: date | None = None,
):  # type: ignore[no-untyped-def]
    """`held_file_of` as a query (its first row), for a caller that reads it in the same
    statement as the person (`people.service.read_person`)."""
    still_open = Casefile.closed_on.is_(None)  # type: ignore[union-attr]
    if closed_since is not None:
        still_open = sa.or_(still_open, Casefile.closed_on >= closed_since)  # type: ignore[operator]
    query = (
        select(Casefile.id)
        .join(OrgUnit, OrgUnit.code == Casefile.org_unit_code)
        .where(
            Casefile.person_id == person_id,
            visible_list_filter(principal),
            # Only a file past intake, where the identity was verified in person (Art. 22),
            # and not yet closed: opening a file on someone is not a way to read them.
            past_intake(),
            still_open,
        )
    )
    if casefile_id is not None:
        query = query.where(Casefile.id == casefile_id)
    return query.order_by(Casefile.id).limit(1)  # type: ignore[arg-type]
