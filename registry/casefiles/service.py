"""Casefiles: open, read, list, timeline, transitions, assignments, restrictions, break-glass.

The details and every event body are sealed under the person's `casefile` DEK, and every
plaintext leaves through `registry.disclosure`, after `access.open_casefile` decided."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlmodel import Session, select

from registry.access.models import OrgUnit, UserAccount
from registry.access.scope import get_org_unit
from registry.audit.actions import Action
from registry.casefiles import access, derived, event_counts
from registry.casefiles.access import HIDDEN, KIND_PERMISSION, MemberRole, Opened
from registry.casefiles.checklists import facts_for_rule, validated_checklist
from registry.casefiles.details import Opening, ResettlementDetails, details_model, error_summary
from registry.casefiles.models import (
    BREAK_GLASS_GRANT,
    CASEFILE,
    CASEFILE_EVENT,
    BreakGlassGrant,
    Casefile,
    CasefileClosure,
    CasefileEvent,
    CasefileMember,
    Transfer,
)
from registry.casefiles.schemas import (
    Assignments,
    BreakGlassRequest,
    CasefileCreate,
    EventCreate,
    Restrictions,
    Transition,
)
from registry.casefiles.workflows import WORKFLOWS
from registry.casefiles.workflows import correction as correction_workflow
from registry.casefiles.workflows import drug as drug_workflow
from registry.casefiles.workflows import resettlement as resettlement_workflow
from registry.casefiles.workflows.common import Kind, check_transition_date
from registry.clock import today
from registry.context import Context
from registry.crypto.keyring import Compartment, Keyring
from registry.disclosure import disclose, disclose_rows, rule_inputs
from registry.errors import Conflict, NotFound, RuleViolation
from registry.people.models import PERSON, Person
from registry.people.service import get_person, register_subject

DEFAULT_BACKDATE_DAYS = 30  # settings.casefile_backdate_days


def _require_kind(ctx: Context, kind: str) -> None:
    if kind not in access.kinds_known_to(ctx.principal) or access.assigned_only(ctx.principal):
        # Not 403: a role that may not know of this kind must not learn the route does anything.
        raise NotFound(HIDDEN)
    ctx.principal.require(KIND_PERMISSION[Kind(kind)])


def _validated_details(kind: str, details: dict, opening: Opening) -> BaseModel:  # type: ignore[type-arg]
    """The details of a new file, within the windows of the day it opens (`details.Opening`)."""
    try:
        return details_model(Kind(kind)).model_validate(details, context=opening)
    except ValidationError as exc:
        raise RuleViolation(f"details: invalid for {kind} ({error_summary(exc)})") from None


def _check_opened_on(opened_on: date, on: date, backdate_days: int) -> None:
    """Not in the future, back-dated at most `casefile_backdate_days` (as a transition): the
    opening date is the minor flag's reference when no offence date is recorded (刑事诉讼法
    Art. 286), so an old one would make anyone a minor."""
    if opened_on > on:
        raise RuleViolation("opened_on: in the future")
    if (on - opened_on).days > backdate_days:
        raise RuleViolation(f"opened_on: back-dated more than {backdate_days} days (casefile_backdate_days)")


def _initial_status(kind: Kind, details: dict) -> str:  # type: ignore[type-arg]
    if kind is Kind.resettlement:  # a correction case is already released; a prison one is notified first
        return resettlement_workflow.initial_status(details["source"])
    return WORKFLOWS[kind].initial


def _subject(session: Session, ctx: Context, keyring: Keyring, data: CasefileCreate) -> Person:
    """The file's person: a registered one in the caller's scope, or a new subject
    registered here, held by the file's unit (社区矫正法 Art. 22 intake)."""
    if data.subject is not None:
        return register_subject(session, ctx, keyring, data=data.subject.as_person(data.org_unit))
    assert data.person_id is not None
    try:
        return get_person(session, ctx.principal.scope, person_id=data.person_id)
    except NotFound:
        raise PersonHidden(data.person_id) from None


def create_casefile(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    *,
    data: CasefileCreate,
    backdate_days: int = DEFAULT_BACKDATE_DAYS,
) -> Casefile:
    _require_kind(ctx, data.kind)
    get_org_unit(session, ctx.principal.scope, code=data.org_unit)
    # Access to the person is decided before any rule reads their identity (the minor flag
    # reads the birth date, the team rule the sex): out of scope is the 404 of no person.
    person = _subject(session, ctx, keyring, data)
    on = today(ctx.clock)
    opened_on = data.opened_on or on
    _check_opened_on(opened_on, on, backdate_days)
    owner = str(person.id)
    birth = date.fromisoformat(
        rule_inputs(
            session, ctx, keyring, PERSON, person, fields=("birth_date",), serving=Action.CASEFILE_CREATE, subject=owner
        )["birth_date"]
    )
    typed = _validated_details(data.kind, data.details, Opening(today=on, opened_on=opened_on, birth=birth))
    details = typed.model_dump(mode="json")
    casefile_id = uuid.uuid4()
    key = keyring.write_key(session, owner=owner, compartment=Compartment.CASEFILE)
    deadlines = derived.at_opening(typed)
    casefile = Casefile(
        id=casefile_id,
        person_id=person.id,
        kind=data.kind,
        org_unit_code=data.org_unit,
        status=_initial_status(Kind(data.kind), details),
        opened_on=opened_on,
        report_due_on=deadlines.report_due_on,
        term_ends_on=deadlines.term_ends_on,
        handover_due_on=deadlines.handover_due_on,
        # Under 18 at the offence (刑事诉讼法 Art. 286), else at opening: sealed after discharge (社区矫正法 Art. 54).
        minor=derived.is_minor(birth, typed, opened_on),
        details_ct=CASEFILE.seal(
            key, record_id=str(casefile_id), name="details", value=json.dumps(details, ensure_ascii=False)
        ),
        created_at=ctx.clock.now(),
    )
    if isinstance(typed, ResettlementDetails):
        derived.reached(casefile, typed.release_on)  # a discharged correction subject starts released
    session.add(casefile)
    ctx.audit.append(session, ctx.event(Action.CASEFILE_CREATE, targets=(str(casefile_id), owner), fields=("details",)))
    return casefile


class PersonHidden(NotFound):
    """The person of a new file is out of the caller's scope or does not exist: one 404,
    audited as a denied access naming the person id."""

    audit_as = Action.ACCESS_DENIED

    def __init__(self, person_id: uuid.UUID) -> None:
        super().__init__("person not found")
        self.targets = (str(person_id),)


def _open(session: Session, ctx: Context, casefile_id: uuid.UUID) -> Opened:
    return access.open_casefile(session, ctx.principal, ctx.clock, casefile_id=casefile_id, purpose=ctx.purpose)


def _open_for_write(session: Session, ctx: Context, casefile_id: uuid.UUID, action: Action) -> Opened:
    """Writes never rest on a break-glass grant (`access.open_for_write`)."""
    return access.open_for_write(
        session, ctx.principal, ctx.clock, casefile_id=casefile_id, purpose=ctx.purpose, action=action
    )


def open_to_decide(session: Session, ctx: Context, casefile_id: uuid.UUID, action: Action, *, lock: bool) -> Opened:
    """`access.open_to_decide` for this request."""
    return access.open_to_decide(
        session, ctx.principal, ctx.clock, casefile_id=casefile_id, purpose=ctx.purpose, action=action, lock=lock
    )


def _assigned(session: Session, casefile_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        session.exec(
            select(CasefileMember.user_id).where(
                CasefileMember.casefile_id == casefile_id, CasefileMember.role == MemberRole.ASSIGNED
            )
        )
    )


def read_casefile(
    session: Session, ctx: Context, keyring: Keyring, *, casefile_id: uuid.UUID
) -> tuple[Casefile, dict, list[uuid.UUID], list[str]]:  # type: ignore[type-arg]
    opened = _open(session, ctx, casefile_id)
    casefile = opened.casefile
    subject = str(casefile.person_id)
    # Offence fields are withheld inside `disclose` for roles that may not see them.
    details = (
        disclose(
            session,
            ctx,
            keyring,
            CASEFILE,
            casefile,
            action=Action.CASEFILE_READ,
            subject=subject,
            grant=_grant(opened),
        ).get("details")
        or {}
    )
    if casefile.kind == Kind.community_correction and "category" not in details:
        # The sanction hints count by category, which this caller may not see: a rule input,
        # and the hint names no sanction (which one would tell the category: 管制 or not).
        facts = rule_inputs(
            session, ctx, keyring, CASEFILE, casefile, fields=("details",), serving=Action.CASEFILE_READ
        )["details"]
        found = ["sanction_may_be_proposed" for _ in hints(session, casefile, facts)]
    else:
        found = hints(session, casefile, details)
    return casefile, details, _assigned(session, casefile.id), found


def _grant(opened: Opened) -> str | None:
    return str(opened.grant_id) if opened.grant_id else None


def hints(session: Session, casefile: Casefile, details: dict) -> list[str]:  # type: ignore[type-arg]
    """Counting hints (sanctions, missed tests, absences in days, relapse): shown, never acted
    on; a person decides (`registry.casefiles.event_counts`)."""
    return event_counts.hints(session, casefile, details)


def list_casefiles(
    session: Session,
    ctx: Context,
    *,
    kind: str | None,
    status: str | None,
    org_unit: str | None,
    after: str | None,
    limit: int,
    due: str | None = None,
) -> list[Casefile]:
    """Minimal rows in scope; `due` picks a worklist (`WORKLISTS`, README "Worklists").
    Overdue leave returns are `GET /api/v1/leave-requests?due=return_overdue`."""
    query = (
        select(Casefile)
        .join(OrgUnit, OrgUnit.code == Casefile.org_unit_code)
        .where(access.visible_list_filter(ctx.principal))
    )
    if kind is not None:
        query = query.where(Casefile.kind == kind)
    if status is not None:
        query = query.where(Casefile.status == status)
    if org_unit is not None:
        unit = get_org_unit(session, ctx.principal.scope, code=org_unit)
        query = query.where(OrgUnit.path.startswith(unit.path))  # type: ignore[attr-defined]
    if due is not None:
        query = query.where(_worklist(due, today(ctx.clock), ctx.principal.account_id))
    if after is not None:
        query = query.where(Casefile.id > uuid.UUID(after))
    rows = list(session.exec(query.order_by(Casefile.id).limit(limit)))
    ctx.audit.append(session, ctx.event(Action.CASEFILE_LIST, targets=tuple(str(c.id) for c in rows)))
    return rows


# Each worklist once, by name: what the district works from (README "Worklists").
WORKLISTS = (
    "mine",  # the files the caller is assigned to
    "report_overdue",  # correction: past the report deadline, not yet marked missing
    "missing",
    "terms_ending",  # within 30 days: correction and drug terms, resettlement assistance
    "handover_due",  # key persons released, to be met (7 days ahead, 30 days back)
    "release_due",  # key persons due for release within 30 days (必接必送)
    "transfer_report_due",  # correction: transferred in, the subject not yet reported (7 days)
    "tests_missed",  # drug: a test missed within the last 30 days
    "closure_pending",  # for the supervising level: closures awaiting its approval
    "street_notice_due",  # 戒毒条例 Art. 23, 40: discharged, the street/town not yet told
)
# Open files whose term (correction, drug) or assistance period (resettlement) runs out.
OPEN_UNDER_TERM = ("received", "supervised", "detained", "active", "suspended", "released", "handed_over", "assisting")
DRUG_OPEN = ("awaiting_report", "active", "suspended")
WINDOW_DAYS = 30


def _worklist(due: str, on: date, me: uuid.UUID):  # type: ignore[no-untyped-def]
    if due == "mine":
        mine = sa.select(CasefileMember.casefile_id).where(
            CasefileMember.user_id == me, CasefileMember.role == MemberRole.ASSIGNED
        )
        return Casefile.id.in_(mine)  # type: ignore[attr-defined]
    if due == "report_overdue":
        return sa.and_(Casefile.status == "awaiting_report", Casefile.report_due_on < on)  # type: ignore[operator]
    if due == "missing":
        return Casefile.status == "missing"
    if due == "terms_ending":
        return sa.and_(
            Casefile.status.in_(OPEN_UNDER_TERM),  # type: ignore[attr-defined]
            Casefile.term_ends_on.between(on, on + timedelta(days=WINDOW_DAYS)),
        )  # type: ignore[union-attr]
    if due == "handover_due":
        return sa.and_(
            Casefile.status == "released",
            Casefile.handover_due_on.between(on - timedelta(days=WINDOW_DAYS), on + timedelta(days=7)),
        )  # type: ignore[union-attr]
    if due == "release_due":  # `handover_due_on` is the release day, set for key persons only
        return sa.and_(
            Casefile.kind == Kind.resettlement,
            Casefile.status == "notified",
            Casefile.handover_due_on.between(on, on + timedelta(days=WINDOW_DAYS)),  # type: ignore[union-attr]
        )
    if due == "transfer_report_due":
        reported = sa.exists().where(
            CasefileEvent.casefile_id == Transfer.casefile_id,
            CasefileEvent.type == "report",
            CasefileEvent.occurred_on >= Transfer.accepted_on,
        )
        awaiting = sa.select(Transfer.casefile_id).where(Transfer.status == "accepted", ~reported)
        return sa.and_(Casefile.status.in_(("received", "supervised")), Casefile.id.in_(awaiting))  # type: ignore[attr-defined]
    if due == "tests_missed":
        missed = sa.select(CasefileEvent.casefile_id).where(
            CasefileEvent.type == "test_missed", CasefileEvent.occurred_on >= on - timedelta(days=WINDOW_DAYS)
        )
        return sa.and_(
            Casefile.kind == Kind.drug_rehabilitation,
            Casefile.status.in_(DRUG_OPEN),  # type: ignore[attr-defined]
            Casefile.id.in_(missed),  # type: ignore[attr-defined]
        )
    if due == "closure_pending":  # for the supervising level: closures awaiting its approval
        pending = sa.select(CasefileClosure.casefile_id).where(CasefileClosure.status == ClosureStatus.PENDING)
        return Casefile.id.in_(pending)  # type: ignore[attr-defined]
    if due == "street_notice_due":
        told = sa.select(CasefileEvent.casefile_id).where(CasefileEvent.type == "street_notified")
        return sa.and_(
            Casefile.kind == Kind.drug_rehabilitation,
            Casefile.status == "discharged",
            Casefile.id.not_in(told),  # type: ignore[attr-defined]
        )
    raise RuleViolation(f"due: one of {', '.join(WORKLISTS)}")


def add_event(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    *,
    casefile_id: uuid.UUID,
    data: EventCreate,
    ends_on: date | None = None,
) -> CasefileEvent:
    """Writes one timeline entry. The service's own entries come straight here; a caller's
    goes through `registry.casefiles.events.record_event`, which checks it against the
    catalogue first (`ends_on`: the last day of a period type)."""
    opened = _open_for_write(session, ctx, casefile_id, Action.CASEFILE_EVENT)
    casefile = opened.casefile
    if data.occurred_on > today(ctx.clock):
        raise RuleViolation("occurred_on: in the future")
    by, now = str(ctx.principal.account_id), ctx.clock.now()
    event = sealed_event(session, keyring, casefile, data, ends_on=ends_on, recorded_by=by, now=now)
    ctx.audit.append(
        session,
        ctx.event(
            Action.CASEFILE_EVENT,
            targets=(str(casefile.id), str(event.id), str(casefile.person_id)),
            fields=("body",),
            reason=data.type,
            break_glass_grant=str(opened.grant_id) if opened.grant_id else None,
        ),
    )
    return event


def sealed_event(
    session: Session,
    keyring: Keyring,
    casefile: Casefile,
    data: EventCreate,
    *,
    recorded_by: str,
    now: datetime,
    ends_on: date | None = None,
) -> CasefileEvent:
    """The timeline row, its body sealed under the subject's casefile key (the caller audits)."""
    event_id = uuid.uuid4()
    key = keyring.write_key(session, owner=str(casefile.person_id), compartment=Compartment.CASEFILE)
    event = CasefileEvent(
        id=event_id,
        casefile_id=casefile.id,
        type=data.type,
        occurred_on=data.occurred_on,
        ends_on=ends_on,
        moved_to=data.body["to"] if data.type == "transition" else None,
        body_ct=CASEFILE_EVENT.seal(
            key, record_id=str(event_id), name="body", value=json.dumps(data.body, ensure_ascii=False)
        ),
        recorded_by=recorded_by,
        created_at=now,
    )
    session.add(event)
    return event


def list_events(
    session: Session, ctx: Context, keyring: Keyring, *, casefile_id: uuid.UUID, limit: int = 20
) -> list[tuple[CasefileEvent, dict]]:  # type: ignore[type-arg]
    """The newest `limit` events, newest first, in one audited disclosure."""
    opened = _open(session, ctx, casefile_id)
    casefile = opened.casefile
    events = list(
        session.exec(
            select(CasefileEvent)
            .where(CasefileEvent.casefile_id == casefile.id)
            .order_by(CasefileEvent.occurred_on.desc(), CasefileEvent.created_at.desc())  # type: ignore[attr-defined]
            .limit(limit)
        )
    )
    bodies = disclose_rows(
        session,
        ctx,
        keyring,
        CASEFILE_EVENT,
        events,
        field="body",
        action=Action.CASEFILE_EVENTS_READ,
        subject=str(casefile.person_id),
        also=(str(casefile.id),),
        grant=_grant(opened),
    )
    return [(e, bodies[str(e.id)]) for e in events]


class ClosureStatus:
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


def pending_closure(session: Session, casefile_id: uuid.UUID) -> CasefileClosure | None:
    return session.exec(
        select(CasefileClosure).where(
            CasefileClosure.casefile_id == casefile_id, CasefileClosure.status == ClosureStatus.PENDING
        )
    ).first()


def transition(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    *,
    casefile_id: uuid.UUID,
    data: Transition,
    backdate_days: int = DEFAULT_BACKDATE_DAYS,
) -> Casefile:
    """Moves the file, or, for a state that ends it, records a pending closure that the
    supervising level approves (`registry.casefiles.closures`): the state stays until then."""
    opened = open_to_decide(session, ctx, casefile_id, Action.CASEFILE_TRANSITION, lock=True)
    casefile = opened.casefile
    last_event_on = session.exec(
        select(sa.func.max(CasefileEvent.occurred_on)).where(CasefileEvent.casefile_id == casefile.id)
    ).one()
    try:
        check_transition_date(
            data.on,
            opened_on=casefile.opened_on,
            last_event_on=last_event_on,
            today=today(ctx.clock),
            backdate_days=backdate_days,
        )
    except RuleViolation as refused:
        # Audited although the request rolls back: a back-dated closure is how a file was
        # destroyed before its time (issue 13, finding 5).
        raise RuleViolation(refused.detail, audit_as=Action.CASEFILE_TRANSITION, targets=(str(casefile.id),)) from None
    if pending_closure(session, casefile.id) is not None:
        raise Conflict("closure.pending: a closure of this casefile awaits approval")
    workflow = WORKFLOWS[Kind(casefile.kind)]
    rule = workflow.rule_for(casefile.status, data.to)  # 409 for a move not in the table
    validated_checklist(casefile.kind, rule, data.facts)  # 422 before any sealed value is opened
    # The file's own details (term dates, key-person flag…) and the values derived from them
    # are facts the rules read; opened for the check only, never returned from here.
    details = rule_inputs(
        session, ctx, keyring, CASEFILE, casefile, fields=("details",), serving=Action.CASEFILE_TRANSITION
    )["details"]
    typed = details_model(Kind(casefile.kind)).model_validate(details)
    recorded = derived.recorded_facts(casefile.kind, typed.model_dump(), casefile.term_ends_on)  # dates as dates
    # `facts` is the checklist of this one move (422 for any other key); the record wins.
    facts = facts_for_rule(
        casefile.kind, rule, data.facts, recorded, reason=data.reason, certificate_no=data.certificate_no
    )
    workflow.check_transition(casefile.status, data.to, on=data.on, facts=facts)
    if data.to in workflow.terminal:
        _request_closure(session, ctx, keyring, casefile, data)
        return casefile
    previous, casefile.status = casefile.status, data.to
    casefile.version += 1
    derived.reached(casefile, data.on)
    body = {"from": previous, "to": data.to, "reason": data.reason, "certificate_no": data.certificate_no}
    if _move_term(casefile, typed, previous, data.to, data.on):
        body["term_ends_on"] = casefile.term_ends_on.isoformat()  # type: ignore[union-attr]
    add_event(
        session,
        ctx,
        keyring,
        casefile_id=casefile.id,
        data=EventCreate(type="transition", occurred_on=data.on, body=body),
    )
    ctx.audit.append(
        session, ctx.event(Action.CASEFILE_TRANSITION, targets=(str(casefile.id),), reason=f"{previous}->{data.to}")
    )
    return casefile


def _move_term(casefile: Casefile, details: BaseModel, frm: str, to: str, on: date) -> bool:
    """A drug file's term follows its moves: it starts at the report (戒毒条例 Art. 14: 自报到之日
    起计算) and a suspension does not count (Art. 24). True when the term end moved."""
    if casefile.kind != Kind.drug_rehabilitation:
        return False
    Status = drug_workflow.Status  # noqa: N806  (the workflow's state names)
    if (frm, to) == (Status.awaiting_report, Status.active):
        casefile.term_ends_on = derived.drug_term_ends_on(details, on)
        return True
    if (frm, to) == (Status.active, Status.suspended):
        casefile.term_paused_on = on
        return False
    if (frm, to) == (Status.suspended, Status.active) and casefile.term_paused_on and casefile.term_ends_on:
        casefile.term_ends_on = derived.after_suspension(casefile.term_ends_on, casefile.term_paused_on, on)
        casefile.term_paused_on = None
        return True
    return False


def _request_closure(session: Session, ctx: Context, keyring: Keyring, casefile: Casefile, data: Transition) -> None:
    closure = CasefileClosure(
        casefile_id=casefile.id,
        from_status=casefile.status,
        to_status=data.to,
        declared_on=data.on,
        status=ClosureStatus.PENDING,
        requested_by=ctx.principal.account_id,
        requested_at=ctx.clock.now(),
    )
    session.add(closure)
    casefile.version += 1
    session.flush()
    transition = f"{casefile.status}->{data.to}"
    add_event(
        session,
        ctx,
        keyring,
        casefile_id=casefile.id,
        data=EventCreate(
            type="closure_requested",
            occurred_on=data.on,
            body={
                "closure_id": str(closure.id),
                "from": casefile.status,
                "to": data.to,
                "reason": data.reason,
                "certificate_no": data.certificate_no,
            },
        ),
    )
    ctx.audit.append(
        session,
        ctx.event(Action.CASEFILE_CLOSURE_REQUEST, targets=(str(casefile.id), str(closure.id)), reason=transition),
    )


def _users_exist(session: Session, user_ids: list[uuid.UUID]) -> None:
    found = set(session.exec(select(UserAccount.id).where(UserAccount.id.in_(user_ids))))  # type: ignore[attr-defined]
    if found != set(user_ids):
        raise RuleViolation("user_ids: unknown user")


def _replace_members(session: Session, casefile_id: uuid.UUID, role: str, user_ids: list[uuid.UUID]) -> None:
    for member in session.exec(
        select(CasefileMember).where(CasefileMember.casefile_id == casefile_id, CasefileMember.role == role)
    ):
        session.delete(member)
    session.flush()
    session.add_all([CasefileMember(casefile_id=casefile_id, user_id=u, role=role) for u in dict.fromkeys(user_ids)])


def set_assignments(
    session: Session, ctx: Context, keyring: Keyring, *, casefile_id: uuid.UUID, data: Assignments
) -> list[uuid.UUID]:
    casefile = open_to_decide(session, ctx, casefile_id, Action.CASEFILE_ASSIGN, lock=False).casefile
    _users_exist(session, data.user_ids)
    if casefile.kind == Kind.community_correction:
        # The opened file's own subject: holding the file gives the identity reads it needs.
        person = session.get(Person, casefile.person_id)
        assert person is not None
        subject_sex = rule_inputs(
            session,
            ctx,
            keyring,
            PERSON,
            person,
            fields=("sex",),
            serving=Action.CASEFILE_ASSIGN,
            subject=str(person.id),
        )["sex"]
        team = session.exec(select(UserAccount.sex).where(UserAccount.id.in_(data.user_ids))).all()  # type: ignore[attr-defined]
        correction_workflow.check_team(subject_sex, team)
    _replace_members(session, casefile.id, MemberRole.ASSIGNED, data.user_ids)
    ctx.audit.append(session, ctx.event(Action.CASEFILE_ASSIGN, targets=(str(casefile.id), *map(str, data.user_ids))))
    return data.user_ids


def set_restrictions(session: Session, ctx: Context, *, casefile_id: uuid.UUID, data: Restrictions) -> None:
    casefile = open_to_decide(session, ctx, casefile_id, Action.CASEFILE_RESTRICT, lock=False).casefile
    if ctx.principal.account_id in data.excluded_user_ids:
        raise RuleViolation("excluded_user_ids: you cannot exclude yourself")
    if set(data.excluded_user_ids) & set(data.restricted_to_user_ids):
        raise RuleViolation("restrictions: a user cannot be both excluded and restricted-to")
    _users_exist(session, [*data.excluded_user_ids, *data.restricted_to_user_ids])
    _replace_members(session, casefile.id, MemberRole.EXCLUDED, data.excluded_user_ids)
    _replace_members(session, casefile.id, MemberRole.RESTRICTED_TO, data.restricted_to_user_ids)
    ctx.audit.append(session, ctx.event(Action.CASEFILE_RESTRICT, targets=(str(casefile.id),)))


def break_glass(
    session: Session, ctx: Context, keyring: Keyring, *, casefile_id: uuid.UUID, data: BreakGlassRequest
) -> BreakGlassGrant:
    """A time-boxed grant on one file outside the caller's normal access; audited, reviewed
    by auditors. Never for an excluded user; only roles that may know of casefiles."""
    kinds = access.kinds_known_to(ctx.principal)
    refused = NotFound(HIDDEN, audit_as=Action.CASEFILE_BREAK_GLASS, targets=(str(casefile_id),))
    if not kinds:
        raise refused
    # A kind the role may not know of is the same 404 as no file (compartment hiding).
    casefile = session.exec(
        select(Casefile).where(Casefile.id == casefile_id, Casefile.kind.in_(kinds), Casefile.erased_at.is_(None))  # type: ignore[attr-defined,union-attr]
    ).first()
    excluded = (
        casefile is not None
        and session.exec(
            select(CasefileMember).where(
                CasefileMember.casefile_id == casefile_id,
                CasefileMember.user_id == ctx.principal.account_id,
                CasefileMember.role == MemberRole.EXCLUDED,
            )
        ).first()
        is not None
    )
    if casefile is None or excluded:
        # The refusal is on the record (written after the rollback, by the request boundary);
        # the caller sees the 404 of a file that does not exist.
        refused.audit_reason = "excluded" if excluded else "not_found"
        raise refused
    grant_id = uuid.uuid4()
    key = keyring.write_key(session, owner=str(casefile.person_id), compartment=Compartment.CASEFILE)
    now = ctx.clock.now()
    grant = BreakGlassGrant(
        id=grant_id,
        casefile_id=casefile.id,
        user_id=ctx.principal.account_id,
        reason_code=data.reason_code,
        justification_ct=BREAK_GLASS_GRANT.seal(
            key, record_id=str(grant_id), name="justification", value=data.justification
        ),
        created_at=now,
        expires_at=now + access.GRANT_LIFETIME,
    )
    session.add(grant)
    ctx.audit.append(
        session,
        ctx.event(
            Action.CASEFILE_BREAK_GLASS,
            targets=(str(casefile.id),),
            break_glass_grant=str(grant_id),
            reason=data.reason_code,
        ),
    )
    return grant
