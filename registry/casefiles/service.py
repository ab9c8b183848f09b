"""Casefiles: open, read, list, timeline, transitions, assignments, restrictions, break-glass.

The details and every event body are sealed under the person's `casefile` DEK, and every
plaintext leaves through `registry.disclosure`, after `access.open_casefile` decided."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, select

from registry.access.models import OrgUnit, UserAccount
from registry.access.policy import Role
from registry.accounts.orgunits import get_org_unit
from registry.audit.actions import Action, Outcome
from registry.casefiles import access
from registry.casefiles.access import HIDDEN, KIND_PERMISSION, MemberRole, Opened
from registry.casefiles.details import OFFENCE_FIELDS, details_model
from registry.casefiles.models import BreakGlassGrant, Casefile, CasefileEvent, CasefileMember
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
from registry.casefiles.workflows.common import Kind
from registry.clock import today
from registry.context import Context
from registry.crypto.fields import seal
from registry.crypto.keyring import Compartment, Keyring
from registry.disclosure import Visibility, disclose, disclose_rows, reveal_for_match
from registry.errors import NotFound, RuleViolation
from registry.people.models import Person
from registry.people.service import identity_field

TABLE, EVENTS = "casefile", "casefile_event"
# Roles that may hold casefiles see the details in full once `access.open_casefile` let them
# in; social workers then lose the offence fields (OFFENCE_FIELDS).
VISIBILITY = {
    role: {"details": Visibility.FULL}
    for role in (Role.CORRECTIONS, Role.CIVIL_AFFAIRS, Role.POLICE, Role.SOCIAL_WORKER)
}
ADULT_AGE = 18


def _require_kind(ctx: Context, kind: str) -> None:
    if kind not in access.kinds_known_to(ctx.principal) or access.assigned_only(ctx.principal):
        # Not 403: a role that may not know of this kind must not learn the route does anything.
        raise NotFound(HIDDEN)
    ctx.principal.require(KIND_PERMISSION[Kind(kind)])


def _age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _validated_details(kind: str, details: dict) -> dict:  # type: ignore[type-arg]
    try:
        return details_model(Kind(kind)).model_validate(details).model_dump(mode="json")
    except ValidationError as exc:
        # Field locations only: a detail value may be personal.
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise RuleViolation(f"details: invalid for {kind} ({where})") from None


def _initial_status(kind: Kind, details: dict) -> str:  # type: ignore[type-arg]
    if kind is Kind.resettlement:  # a correction case is already released; a prison one is notified first
        return resettlement_workflow.initial_status(details["source"])
    return WORKFLOWS[kind].initial


def _deadlines(kind: Kind, details: dict) -> dict:  # type: ignore[type-arg]
    """The dates worklists need, kept plain: report due, term end, handover due."""
    typed = details_model(kind).model_validate(details)
    if kind is Kind.community_correction:
        return {
            "report_due_on": correction_workflow.report_due_on(typed.judgment_effective_on),  # type: ignore[attr-defined]
            "term_ends_on": typed.term_ends_on,
        }  # type: ignore[attr-defined]
    if kind is Kind.drug_rehabilitation:
        served = typed.order_served_on  # type: ignore[attr-defined]
        return {"report_due_on": drug_workflow.report_due_on(served) if served else None}
    # Key persons are met at the gate on release day (安置帮教: 必接必送).
    return {"handover_due_on": typed.release_on if typed.key_person else None}  # type: ignore[attr-defined]


def create_casefile(session: Session, ctx: Context, keyring: Keyring, *, data: CasefileCreate) -> Casefile:
    _require_kind(ctx, data.kind)
    get_org_unit(session, ctx.principal.scope, code=data.org_unit)
    person = session.get(Person, data.person_id)
    if person is None or person.erased_at is not None:
        raise NotFound("person not found")
    details = _validated_details(data.kind, data.details)
    opened_on = data.opened_on or today(ctx.clock)
    if opened_on > today(ctx.clock):
        raise RuleViolation("opened_on: in the future")
    owner = str(person.id)
    birth = identity_field(session, keyring, person, "birth_date")
    casefile_id = uuid.uuid4()
    key = keyring.write_key(session, owner=owner, compartment=Compartment.CASEFILE)
    casefile = Casefile(
        id=casefile_id,
        person_id=person.id,
        kind=data.kind,
        org_unit_code=data.org_unit,
        status=_initial_status(Kind(data.kind), details),
        opened_on=opened_on,
        **_deadlines(Kind(data.kind), details),
        # Minor at opening (社区矫正法 Art. 54): the file is sealed soon after discharge.
        minor=_age_on(date.fromisoformat(birth), opened_on) < ADULT_AGE,
        details_ct=seal(
            key, json.dumps(details, ensure_ascii=False), table=TABLE, column="details", record_id=str(casefile_id)
        ),
        created_at=ctx.clock.now(),
    )
    session.add(casefile)
    ctx.audit.append(session, ctx.event(Action.CASEFILE_CREATE, targets=(str(casefile_id), owner), fields=("details",)))
    return casefile


def _open(session: Session, ctx: Context, casefile_id: uuid.UUID) -> Opened:
    return access.open_casefile(session, ctx.principal, ctx.clock, casefile_id=casefile_id, purpose=ctx.purpose)


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
    values = disclose(
        session,
        ctx,
        keyring,
        action=Action.CASEFILE_READ,
        record_id=str(casefile.id),
        owner=str(casefile.person_id),
        compartment=Compartment.CASEFILE,
        table=TABLE,
        sealed={"details": casefile.details_ct},
        visibility=VISIBILITY,
        break_glass_grant=str(opened.grant_id) if opened.grant_id else None,
    )
    details = json.loads(values["details"] or "{}")
    found_hints = hints(session, casefile, details)
    if opened.hide_offence:
        details = {k: v for k, v in details.items() if k not in OFFENCE_FIELDS[Kind(casefile.kind)]}
    return casefile, details, _assigned(session, casefile.id), found_hints


# Event types the counting hints read (plain types, so no body is opened for them). An
# `absence_unauthorised` is recorded only for absences of 3 days or more (戒毒条例 Art. 19).
DRUG_TESTS = {"test_negative": True, "test_missed": False, "test_positive": "positive"}
ABSENCE_MIN_DAYS = 3


def hints(session: Session, casefile: Casefile, details: dict) -> list[str]:  # type: ignore[type-arg]
    """Counting hints (sanctions, missed tests, absences): shown, never acted on; a person decides."""
    events = session.exec(
        select(CasefileEvent.type, CasefileEvent.occurred_on).where(CasefileEvent.casefile_id == casefile.id)
    ).all()
    if casefile.kind == Kind.community_correction:
        return correction_workflow.sanction_hints(list(events), category=details.get("category"))
    if casefile.kind == Kind.drug_rehabilitation:
        tests = [(on, DRUG_TESTS[kind]) for kind, on in events if kind in DRUG_TESTS]
        absences = [
            (on, on + timedelta(days=ABSENCE_MIN_DAYS - 1), False)
            for kind, on in events
            if kind == "absence_unauthorised"
        ]
        return drug_workflow.violation_hints(tests, absences)
    return []


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
    """Minimal rows in scope; `due` picks a worklist (DOMAIN.md): report_overdue, missing,
    terms_ending (within 30 days), handover_due (within 7 days). Overdue leave returns are
    `GET /api/v1/leave-requests?due=return_overdue`."""
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
        query = query.where(_worklist(due, today(ctx.clock)))
    if after is not None:
        query = query.where(Casefile.id > uuid.UUID(after))
    rows = list(session.exec(query.order_by(Casefile.id).limit(limit)))
    ctx.audit.append(session, ctx.event(Action.CASEFILE_LIST, targets=tuple(str(c.id) for c in rows)))
    return rows


WORKLISTS = ("report_overdue", "missing", "terms_ending", "handover_due")
OPEN_UNDER_TERM = ("received", "supervised", "detained", "active", "suspended")


def _worklist(due: str, on: date):  # type: ignore[no-untyped-def]
    if due == "report_overdue":
        return sa.and_(Casefile.status == "awaiting_report", Casefile.report_due_on < on)  # type: ignore[operator]
    if due == "missing":
        return Casefile.status == "missing"
    if due == "terms_ending":
        return sa.and_(
            Casefile.status.in_(OPEN_UNDER_TERM),  # type: ignore[attr-defined]
            Casefile.term_ends_on.between(on, on + timedelta(days=30)),
        )  # type: ignore[union-attr]
    if due == "handover_due":
        return sa.and_(
            Casefile.status == "released",
            Casefile.handover_due_on.between(on - timedelta(days=30), on + timedelta(days=7)),
        )  # type: ignore[union-attr]
    raise RuleViolation(f"due: one of {', '.join(WORKLISTS)}")


def add_event(
    session: Session, ctx: Context, keyring: Keyring, *, casefile_id: uuid.UUID, data: EventCreate
) -> CasefileEvent:
    opened = _open(session, ctx, casefile_id)
    casefile = opened.casefile
    if data.occurred_on > today(ctx.clock):
        raise RuleViolation("occurred_on: in the future")
    event_id = uuid.uuid4()
    key = keyring.write_key(session, owner=str(casefile.person_id), compartment=Compartment.CASEFILE)
    event = CasefileEvent(
        id=event_id,
        casefile_id=casefile.id,
        type=data.type,
        occurred_on=data.occurred_on,
        body_ct=seal(
            key, json.dumps(data.body, ensure_ascii=False), table=EVENTS, column="body", record_id=str(event_id)
        ),
        recorded_by=str(ctx.principal.account_id),
        created_at=ctx.clock.now(),
    )
    session.add(event)
    ctx.audit.append(
        session,
        ctx.event(
            Action.CASEFILE_EVENT,
            targets=(str(casefile.id), str(event_id)),
            fields=("body",),
            reason=data.type,
            break_glass_grant=str(opened.grant_id) if opened.grant_id else None,
        ),
    )
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
        action=Action.CASEFILE_EVENTS_READ,
        targets=(str(casefile.id),),
        owner=str(casefile.person_id),
        compartment=Compartment.CASEFILE,
        table=EVENTS,
        column="body",
        rows={str(e.id): e.body_ct for e in events},
        break_glass_grant=str(opened.grant_id) if opened.grant_id else None,
    )
    return [(e, json.loads(bodies[str(e.id)])) for e in events]


def transition(
    session: Session, ctx: Context, keyring: Keyring, *, casefile_id: uuid.UUID, data: Transition
) -> Casefile:
    opened = _open(session, ctx, casefile_id)
    casefile = opened.casefile
    ctx.principal.require(KIND_PERMISSION[Kind(casefile.kind)])  # social workers record, they do not decide
    if data.on > today(ctx.clock):
        raise RuleViolation("on: in the future")
    workflow = WORKFLOWS[Kind(casefile.kind)]
    # The file's own details (term dates, key-person flag…) are facts the rules read; they
    # are opened for the check only and never returned from here.
    owner = str(casefile.person_id)
    details = json.loads(
        reveal_for_match(
            session,
            keyring,
            casefile.details_ct,
            owner=owner,
            compartment=Compartment.CASEFILE,
            table=TABLE,
            column="details",
            record_id=str(casefile.id),
        )
    )
    typed = details_model(Kind(casefile.kind)).model_validate(details).model_dump()  # dates as dates
    facts = {**typed, **data.facts, "reason": data.reason, "certificate_no": data.certificate_no}
    workflow.check_transition(casefile.status, data.to, on=data.on, facts=facts)
    previous, casefile.status = casefile.status, data.to
    if data.to in workflow.terminal:
        casefile.closed_on = data.on
    casefile.version += 1
    add_event(
        session,
        ctx,
        keyring,
        casefile_id=casefile.id,
        data=EventCreate(
            type="transition",
            occurred_on=data.on,
            body={"from": previous, "to": data.to, "reason": data.reason, "certificate_no": data.certificate_no},
        ),
    )
    ctx.audit.append(
        session, ctx.event(Action.CASEFILE_TRANSITION, targets=(str(casefile.id),), reason=f"{previous}->{data.to}")
    )
    return casefile


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
    casefile = _open(session, ctx, casefile_id).casefile
    ctx.principal.require(KIND_PERMISSION[Kind(casefile.kind)])
    _users_exist(session, data.user_ids)
    if casefile.kind == Kind.community_correction:
        person = session.get(Person, casefile.person_id)
        assert person is not None
        subject_sex = identity_field(session, keyring, person, "sex")
        team = session.exec(select(UserAccount.sex).where(UserAccount.id.in_(data.user_ids))).all()  # type: ignore[attr-defined]
        correction_workflow.check_team(subject_sex, team)
    _replace_members(session, casefile.id, MemberRole.ASSIGNED, data.user_ids)
    ctx.audit.append(session, ctx.event(Action.CASEFILE_ASSIGN, targets=(str(casefile.id), *map(str, data.user_ids))))
    return data.user_ids


def set_restrictions(session: Session, ctx: Context, *, casefile_id: uuid.UUID, data: Restrictions) -> None:
    casefile = _open(session, ctx, casefile_id).casefile
    ctx.principal.require(KIND_PERMISSION[Kind(casefile.kind)])
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
    if not kinds:
        raise NotFound(HIDDEN)
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
        if excluded:
            ctx.audit.append(
                session,
                ctx.event(
                    Action.CASEFILE_BREAK_GLASS, outcome=Outcome.DENIED, targets=(str(casefile_id),), reason="excluded"
                ),
            )
        raise NotFound(HIDDEN)
    grant_id = uuid.uuid4()
    key = keyring.write_key(session, owner=str(casefile.person_id), compartment=Compartment.CASEFILE)
    now = ctx.clock.now()
    grant = BreakGlassGrant(
        id=grant_id,
        casefile_id=casefile.id,
        user_id=ctx.principal.account_id,
        reason_code=data.reason_code,
        justification_ct=seal(
            key, data.justification, table="break_glass_grant", column="justification", record_id=str(grant_id)
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
