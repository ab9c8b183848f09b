"""Printing: open the record through the one path, gather what its kind reads, lay it out,
draw it, and audit it.

A document is a disclosure like a read: the record is opened as a read is (scope, purpose,
the file's lists and seal), but never on a break-glass grant (paper leaves the system; a
grant is for an emergency read on screen), and an official act of the agency (`authority`)
needs the kind's own permission. Each record's fields go through `registry.disclosure`
(entries `document:read`, each naming the document id); a last entry (`document:print`)
names the document, every record printed from and the fields on the page, so the audit
log resolves a document id to who printed what, where and when.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.access.models import OrgUnit, UserAccount
from registry.access.policy import Permission
from registry.audit.actions import Action
from registry.audit.reports import accesses_to, count_accesses_to
from registry.casefiles import access, leaves
from registry.casefiles.access import KIND_PERMISSION, MemberRole, held_file_of, was_past_intake
from registry.casefiles.models import (
    CASEFILE,
    CASEFILE_EVENT,
    LEAVE_REQUEST,
    Casefile,
    CasefileClosure,
    CasefileEvent,
    CasefileMember,
    Transfer,
)
from registry.casefiles.workflows.common import Kind
from registry.clock import today
from registry.context import Context
from registry.crypto.keyring import Keyring
from registry.documents import labels
from registry.documents.catalogue import DocumentKind, NoticeTo, Source
from registry.documents.facts import Facts
from registry.documents.paper import Imprint, Paper
from registry.documents.pdf import check_font, render
from registry.errors import BadRequest, Conflict, Forbidden, NotFound
from registry.people.models import PERSON, Person
from registry.people.service import get_person
from registry.residence import permits
from registry.residence.continuity import resident_since
from registry.residence.models import DWELLING, PERMIT, Dwelling, Registration
from registry.residence.policy import ResidencePolicy


def _refusals_as_prints(print_document: Callable[..., Printed]) -> Callable[..., Printed]:
    """A refused print is on the record as one: its denied entry (written by the request
    boundary after the rollback) is a `document:print` whose reason names the kind."""

    @functools.wraps(print_document)
    def wrapper(*args: Any, kind: DocumentKind, **kwargs: Any) -> Printed:
        try:
            return print_document(*args, kind=kind, **kwargs)
        except (NotFound, Forbidden) as refused:
            # The access report is an auditor's query: refused as one.
            refused.audit_as = Action.AUDIT_QUERY if kind.source is Source.ACCESSES else Action.DOCUMENT_PRINT
            refused.audit_reason = f"{kind.code}: {refused.audit_reason or refused.detail}"
            raise

    return wrapper


ACCESS_REPORT_ROWS = 500  # the newest entries on paper; the API pages through all of them


@dataclass(frozen=True)
class Printing:
    """What printing needs beyond the request: the font and the local time zone."""

    font: Path
    timezone: str
    closing_days: int


@dataclass(frozen=True)
class Printed:
    """A paper decided, gathered and audited; `draw` makes its PDF. The route draws it while
    sending the body, after the request's transaction committed: on SQLite the one writer's
    turn (held from a request's first statement) is not spent on fonts and layout."""

    document_id: uuid.UUID
    filename: str
    draw: Callable[[], bytes]


def _unit(session: Session, code: str | None) -> str | None:
    if code is None:
        return None
    unit = session.get(OrgUnit, code)
    return code if unit is None else f"{unit.name}（{code}）"


def _facts(session: Session, ctx: Context, keyring: Keyring, kind: DocumentKind, reason: str) -> Facts:
    return Facts(session, ctx, keyring, uuid.uuid4(), reason)


def _finish(
    session: Session, ctx: Context, printing: Printing, kind: DocumentKind, facts: Facts, *, subject: str | None
) -> Printed:
    paper = kind.build(facts)
    targets = (str(facts.document_id), *facts.records, *((subject,) if subject else ()))
    ctx.audit.append(
        session,
        ctx.event(
            Action.DOCUMENT_PRINT,
            targets=tuple(dict.fromkeys(targets)),
            fields=paper.printed_fields,
            reason=facts.kind,
        ),
    )
    return _draw(session, ctx, printing, kind, facts, paper)


def _draw(
    session: Session, ctx: Context, printing: Printing, kind: DocumentKind, facts: Facts, paper: Paper
) -> Printed:
    principal = ctx.principal
    imprint = Imprint(
        document_id=facts.document_id,
        kind=facts.kind,
        printed_by=principal.username,
        unit=_unit(session, principal.org_unit_code) or "全市",
        printed_at=ctx.clock.now().astimezone(ZoneInfo(printing.timezone)),
    )
    check_font(printing.font)  # a 503 now, before anything is sent
    return Printed(
        facts.document_id,
        f"{kind.code}-{facts.document_id}.pdf",
        lambda: render(paper, imprint, font=printing.font),
    )


def _not_ready(kind: DocumentKind, plain: dict[str, Any], record_id: uuid.UUID) -> None:
    why = kind.not_ready(plain)
    if why is not None:
        raise Conflict(why, targets=(str(record_id),))


def _person(session: Session, ctx: Context, person_id: uuid.UUID) -> Person | None:
    """The subject, when the caller may read it as `GET /persons/{id}` would: in the caller's
    scope (whatever files it holds) and not erased. Otherwise the paper has no identity."""
    try:
        return get_person(session, ctx.principal.scope, person_id=person_id)
    except NotFound:
        return None


def _details_wanted(kind: DocumentKind) -> tuple[str, ...]:
    return tuple(r for r in kind.record if r.startswith("details."))


# -- residence permits ----------------------------------------------------------------------


@_refusals_as_prints
def print_permit_document(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    policy: ResidencePolicy,
    printing: Printing,
    *,
    kind: DocumentKind,
    permit_id: uuid.UUID,
) -> Printed:
    ctx.principal.require(Permission.PERMIT_APPLY)  # the service point that takes applications
    permit = permits.get_permit(session, ctx.principal.scope, permit_id=permit_id)
    on = today(ctx.clock)
    view = permits.view(session, permit, policy, on=on)
    registration = session.get(Registration, permit.registration_id)
    assert registration is not None
    plain = {
        "status": str(view.status),
        "basis": permit.basis,
        "applied_on": permit.applied_on,
        "accepted_on": permit.accepted_on,
        "issue_due_on": view.issue_due_on,
        "issue_days": policy.issue_days,
        "resident_since": resident_since(session, registration),
        "permit_id": str(permit.id),
        "unit": _unit(session, permit.org_unit_code),
    }
    _not_ready(kind, plain, permit.id)
    facts = _facts(session, ctx, keyring, kind, kind.code)
    facts.plain = plain
    subject = str(permit.person_id)
    person = _person(session, ctx, permit.person_id)
    if person is not None:
        facts.open("person", PERSON, person, subject=subject, wanted=kind.person, also=(str(permit.id),))
    dwelling = session.get(Dwelling, registration.dwelling_id)
    if dwelling is not None:
        facts.open("dwelling", DWELLING, dwelling, subject=subject, wanted=("address",), also=(str(permit.id),))
    facts.open("permit", PERMIT, permit, subject=subject, wanted=kind.record)
    return _finish(session, ctx, printing, kind, facts, subject=subject)


# -- casefiles --------------------------------------------------------------------------------


def _reached_on(session: Session, casefile_id: uuid.UUID, states: tuple[str, ...]) -> date | None:
    """The first day the file reached one of `states` (a transition's plain `moved_to`)."""
    return session.exec(
        select(sa.func.min(CasefileEvent.occurred_on)).where(
            CasefileEvent.casefile_id == casefile_id,
            CasefileEvent.type == "transition",
            col(CasefileEvent.moved_to).in_(states),
        )
    ).one()


def _team(session: Session, casefile_id: uuid.UUID) -> list[str]:
    """The display names of the staff assigned to the file (staff, never residents)."""
    return list(
        session.exec(
            select(UserAccount.display_name)
            .join(CasefileMember, col(CasefileMember.user_id) == col(UserAccount.id))
            .where(CasefileMember.casefile_id == casefile_id, CasefileMember.role == MemberRole.ASSIGNED)
            .order_by(UserAccount.display_name)
        )
    )


def _approved_closure(session: Session, casefile_id: uuid.UUID) -> CasefileClosure | None:
    return session.exec(
        select(CasefileClosure)
        .where(CasefileClosure.casefile_id == casefile_id, CasefileClosure.status == "approved")
        .order_by(col(CasefileClosure.requested_at).desc())
    ).first()


def _casefile_plain(session: Session, casefile: Casefile) -> dict[str, Any]:
    intake_on = _reached_on(session, casefile.id, ("received", "active"))
    closure = _approved_closure(session, casefile.id)
    transfer = session.exec(
        select(Transfer)
        .where(Transfer.casefile_id == casefile.id, Transfer.status != "cancelled")
        .order_by(col(Transfer.proposed_on).desc(), col(Transfer.created_at).desc())
    ).first()
    plain: dict[str, Any] = {
        "status": casefile.status,
        "past_intake": was_past_intake(session, casefile.id),
        "opened_on": casefile.opened_on,
        "report_due_on": casefile.report_due_on,
        "term_ends_on": casefile.term_ends_on,
        "handover_due_on": casefile.handover_due_on,
        "released_on": casefile.released_on or _reached_on(session, casefile.id, ("released",)),
        "handed_over_on": _reached_on(session, casefile.id, ("handed_over",)),
        "intake_on": intake_on,
        "intake_timely": None
        if intake_on is None or casefile.report_due_on is None
        else intake_on <= casefile.report_due_on,
        "discharged_on": closure.declared_on if closure is not None and closure.to_status == "discharged" else None,
        "closure": closure,
        "unit": _unit(session, casefile.org_unit_code),
        "team": _team(session, casefile.id),
        "to_unit": None,
    }
    if transfer is not None:
        plain |= {
            "from_unit": _unit(session, transfer.from_org_unit),
            "to_unit": _unit(session, transfer.to_org_unit),
            "proposed_on": transfer.proposed_on,
            "accepted_on": transfer.accepted_on,
            "report_due_on": transfer.report_due_on or casefile.report_due_on,
        }
    return plain


def _certificate_no(facts: Facts, casefile: Casefile, closure: CasefileClosure | None, subject: str) -> None:
    """The certificate number the approved closure's request recorded (its sealed body)."""
    if closure is None:
        return
    closure_id = closure.id
    requests = facts.session.exec(
        select(CasefileEvent)
        .where(
            CasefileEvent.casefile_id == casefile.id,
            CasefileEvent.type == "closure_requested",
            CasefileEvent.occurred_on == closure.declared_on,  # the request's own date
        )
        .order_by(col(CasefileEvent.created_at).desc())
    )
    for event in requests:
        # Which request is the approved one is in the body too: open the closure id with it.
        facts.open(
            "event",
            CASEFILE_EVENT,
            event,
            subject=subject,
            wanted=("body.closure_id", "body.certificate_no"),
            also=(str(casefile.id),),
        )
        if facts.values.get("event.body.closure_id") == str(closure_id):
            return
    facts.values.pop("event.body.certificate_no", None)


def _open_details(facts: Facts, kind: DocumentKind, casefile: Casefile, subject: str) -> None:
    facts.open("casefile", CASEFILE, casefile, subject=subject, wanted=_details_wanted(kind))
    unit = facts.values.get("casefile.details.executing_org_unit")
    if unit is not None:
        facts.values["casefile.details.executing_org_unit"] = _unit(facts.session, str(unit))


def _subject(facts: Facts, kind: DocumentKind, casefile: Casefile, printing: Printing) -> str:
    """Opens the subject's identity as `GET /persons/{id}` shows it to the caller (in scope,
    else none): as to the file's holder when the caller holds this very file (a closing
    paper also shortly after it closed), as its role sees it otherwise."""
    subject = str(casefile.person_id)
    person = _person(facts.session, facts.ctx, casefile.person_id)
    if person is None:
        return subject
    closing = today(facts.ctx.clock) - timedelta(days=printing.closing_days) if kind.certificate else None
    held = held_file_of(
        facts.session, facts.ctx.principal, casefile.person_id, casefile_id=casefile.id, closed_since=closing
    )
    facts.open(
        "person",
        PERSON,
        person,
        subject=subject,
        wanted=kind.person,
        held_file=None if held is None else str(held),
        also=(str(casefile.id),),
    )
    return subject


@_refusals_as_prints
def print_casefile_document(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    printing: Printing,
    *,
    kind: DocumentKind,
    casefile_id: uuid.UUID,
    to: NoticeTo | None = None,
) -> Printed:
    opened = access.open_for_write(
        session, ctx.principal, ctx.clock, casefile_id=casefile_id, purpose=ctx.purpose, action=Action.DOCUMENT_PRINT
    )
    casefile = opened.casefile
    if kind.authority:
        ctx.principal.require(KIND_PERMISSION[Kind(casefile.kind)])
    if casefile.kind != kind.casefile_kind:
        raise NotFound(f"document.kind: a {casefile.kind} file has no {kind.code}", targets=(str(casefile.id),))
    plain = _casefile_plain(session, casefile)
    _not_ready(kind, plain, casefile.id)
    reason = kind.code if to is None else f"{kind.code}:{to}"
    if kind.code == "discharge-notice" and to is None:
        raise BadRequest("to: the notice's recipient is required (decision_authority, procuratorate or police)")
    facts = _facts(session, ctx, keyring, kind, reason)
    facts.plain = plain | {"to": to}
    subject = _subject(facts, kind, casefile, printing)
    _open_details(facts, kind, casefile, subject)
    if kind.certificate:
        _certificate_no(facts, casefile, plain["closure"], subject)
    return _finish(session, ctx, printing, kind, facts, subject=subject)


@_refusals_as_prints
def print_leave_document(
    session: Session, ctx: Context, keyring: Keyring, printing: Printing, *, kind: DocumentKind, leave_id: uuid.UUID
) -> Printed:
    leave, opened = leaves.open_leave(session, ctx, leave_id, lock=False, writing=Action.DOCUMENT_PRINT)
    casefile = opened.casefile
    plain = {
        "status": leave.status,
        "starts_on": leave.starts_on,
        "ends_on": leave.ends_on,
        "days": (leave.ends_on - leave.starts_on).days + 1,
        "required_level": leave.required_level,
        "decided_level": leave.decided_level,
        "decided_on": leave.decided_on,
        "returned_on": leave.returned_on,
        "unit": _unit(session, casefile.org_unit_code),
    }
    _not_ready(kind, plain, leave.id)
    facts = _facts(session, ctx, keyring, kind, kind.code)
    facts.plain = plain
    subject = _subject(facts, kind, casefile, printing)
    _open_details(facts, kind, casefile, subject)
    wanted = tuple(r for r in kind.record if not r.startswith("details."))
    facts.open("leave", LEAVE_REQUEST, leave, subject=subject, wanted=wanted, also=(str(casefile.id),))
    return _finish(session, ctx, printing, kind, facts, subject=subject)


# -- the access report (auditors) ---------------------------------------------------------------


@_refusals_as_prints
def print_access_report(
    session: Session,
    ctx: Context,
    printing: Printing,
    *,
    kind: DocumentKind,
    person_id: uuid.UUID,
    records_of: Callable[[uuid.UUID], list[str]],
) -> Printed:
    """`records_of`: the person's id and the ids of its records (the access report's key),
    looked up once the caller is known to be an auditor. An auditor's query, audited as one
    (`audit:query`, naming the document id); it opens no sealed value."""
    ctx.principal.require(Permission.AUDIT_READ)
    if session.get(Person, person_id) is None:
        raise NotFound("person not found", targets=(str(person_id),))
    records = records_of(person_id)
    rows = accesses_to(session, records, before_id=None, limit=ACCESS_REPORT_ROWS)
    zone = ZoneInfo(printing.timezone)
    entries = [
        (
            f"{e.at.astimezone(zone):%Y-%m-%d %H:%M}",
            _unit(session, e.actor_org_unit) or "全市",
            "、".join(labels.ROLE.get(r, r) for r in e.actor_roles),
            e.action,
            labels.PURPOSE.get(e.purpose or "", "—"),
            labels.OUTCOME.get(e.outcome, e.outcome),
        )
        for e in rows
    ]
    facts = Facts(session, ctx, None, uuid.uuid4(), kind.code)  # type: ignore[arg-type]  # opens nothing
    total = count_accesses_to(session, records)
    facts.plain = {"person_id": str(person_id), "entries": entries, "shown": len(entries), "total": total}
    ctx.audit.append(
        session,
        ctx.event(Action.AUDIT_QUERY, targets=(str(facts.document_id), str(person_id)), reason=kind.code),
    )
    return _draw(session, ctx, printing, kind, facts, kind.build(facts))
