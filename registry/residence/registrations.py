"""Residence registrations: arrival, move (closes one, opens the next), departure.

A move keeps the person's permit (it follows the new registration) and the six-month clock
of 居住证暂行条例 Art. 2 (`continuity.resident_since` walks the moves back); a departure
cancels the permit (`permits.end_with_departure`).

The unit of a person's active registration holds the person (`registry.residence.transfers`).
A registration takes effect at once only when the caller's scope covers the holder as
well as the dwelling (the holder, or a unit above both, consents by acting); the person
and their residence records then follow the new registration. An arrival of a person
held elsewhere is stored as `pending_transfer` with a request to the holder, and the
arriving unit gets nothing of the person until the holder accepts.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlmodel import Session

from registry.access.policy import Permission
from registry.access.scope import Scope, one_in_scope, scoped_select
from registry.audit.actions import Action
from registry.clock import today
from registry.context import Context
from registry.crypto.keyring import Compartment, Keyring
from registry.disclosure import disclose
from registry.errors import Conflict, NotFound, RuleViolation
from registry.people.identifiers import parse_uscc
from registry.people.models import Person
from registry.people.service import get_person
from registry.residence import employers, permits, transfers
from registry.residence.dwellings import get_dwelling
from registry.residence.models import REGISTRATION, Dwelling, PersonTransfer, Registration
from registry.residence.policy import ResidencePolicy
from registry.residence.rules import RegistrationStatus, check_registration_dates, is_late
from registry.residence.schemas import Depart, Move, RegistrationCreate


def get_registration(session: Session, scope: Scope, *, registration_id: uuid.UUID) -> Registration:
    row = session.exec(one_in_scope(Registration, scope), params={"id": registration_id}).first()
    if row is None:
        raise NotFound("registration not found", targets=(str(registration_id),))
    return row


def _open(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    *,
    person: Person,
    dwelling: Dwelling,
    arrived_on: date,
    registered_on: date,
    basis: str,
    employer_name: str | None,
    employer_uscc: str | None,
    reported_by: str,
    report_days: int,
    previous_id: uuid.UUID | None,
    status: RegistrationStatus = RegistrationStatus.active,
    employer_id: uuid.UUID | None = None,
    link_employer: bool = True,
) -> Registration:
    check_registration_dates(arrived_on, registered_on, today=today(ctx.clock))
    if basis == "employment" and (employer_name is None or employer_uscc is None):
        raise RuleViolation("employer: employment needs the employer's name and unified social credit code")
    if basis != "employment" and (employer_name or employer_uscc):
        raise RuleViolation("employer: only an employment basis names an employer")
    uscc = parse_uscc(employer_uscc) if employer_uscc else None
    if link_employer and uscc is not None:
        assert employer_name is not None
        employer_id = employers.employer_for(
            session, ctx, keyring, name=employer_name, uscc=uscc, dwelling_unit=dwelling.org_unit_code
        )
    registration_id = uuid.uuid4()
    rid, owner = str(registration_id), str(person.id)
    key = keyring.write_key(session, owner=owner, compartment=Compartment.RESIDENCE)
    registration = Registration(
        id=registration_id,
        person_id=person.id,
        dwelling_id=dwelling.id,
        org_unit_code=dwelling.org_unit_code,
        arrived_on=arrived_on,
        registered_on=registered_on,
        basis=basis,
        **REGISTRATION.seal_row(key, record_id=rid, values={"employer_name": employer_name, "employer_uscc": uscc}),
        reported_by=reported_by,
        employer_id=employer_id,
        status=status,
        late=is_late(arrived_on, registered_on, report_days=report_days),
        previous_id=previous_id,
        created_at=ctx.clock.now(),
    )
    session.add(registration)
    if status == RegistrationStatus.active:
        # The caller covers the holder and the dwelling: a unit above both, which may move
        # the person (and their residence records) by acting, as it could accept a request.
        session.flush()
        transfers.rehome(session, ctx, person=person, to_org_unit=dwelling.org_unit_code, reason="registration")
    return registration


def create_registration(
    session: Session, ctx: Context, keyring: Keyring, policy: ResidencePolicy, *, data: RegistrationCreate
) -> tuple[Registration, PersonTransfer | None]:
    """The registration, and the request to the holder when the person is held elsewhere
    (then the registration is `pending_transfer` and nothing of the person is disclosed)."""
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    dwelling = get_dwelling(session, ctx.principal.scope, dwelling_id=data.dwelling_id)  # 404 before any person lookup
    try:
        person = get_person(session, ctx.principal.scope, person_id=data.person_id)
        holder = None
    except NotFound:
        # Found by exact search in another unit's records (the id is opaque): ask its holder.
        person = transfers.locate(session, person_id=data.person_id)
        holder = transfers.holder_of(session, person)
    if holder is None and transfers.active_registration(session, person.id) is not None:
        raise Conflict("the person has an active registration: move or depart it first")
    registered_on = data.registered_on or today(ctx.clock)
    registration = _open(
        session,
        ctx,
        keyring,
        person=person,
        dwelling=dwelling,
        arrived_on=data.arrived_on,
        registered_on=registered_on,
        basis=data.basis,
        employer_name=data.employer_name,
        employer_uscc=data.employer_uscc,
        reported_by=data.reported_by,
        report_days=policy.report_days,
        previous_id=None,
        status=RegistrationStatus.active if holder is None else RegistrationStatus.pending_transfer,
    )
    fields = [f for f in ("employer_name", "employer_uscc") if getattr(data, f)]
    # DOMAIN.md lets `registered_on` go back for records taken over from paper, and Art. 2's
    # six months count from it: a back-dated registration says so in its entry, for review.
    backdated = registered_on < today(ctx.clock)
    ctx.audit.append(
        session,
        ctx.event(
            Action.REGISTRATION_CREATE,
            # The employer linked is named: its workers' list shows this registration.
            targets=(
                str(registration.id),
                str(person.id),
                *((str(registration.employer_id),) if registration.employer_id else ()),
            ),
            fields=tuple(fields),
            reason="backdated" if backdated else None,
        ),
    )
    if holder is None:
        return registration, None
    session.flush()
    return registration, transfers.request_transfer(
        session, ctx, person=person, holder=holder, registration=registration
    )


def move_registration(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    policy: ResidencePolicy,
    *,
    registration_id: uuid.UUID,
    data: Move,
) -> Registration:
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    old = get_registration(session, ctx.principal.scope, registration_id=registration_id)
    if old.status != RegistrationStatus.active:
        raise Conflict(f"transition: cannot move a registration that is {old.status}")
    if data.moved_on < old.arrived_on:
        raise RuleViolation("moved_on: before the arrival it ends")
    person = get_person(session, ctx.principal.scope, person_id=old.person_id)
    employer_name = employer_uscc = None
    if old.basis == "employment":
        _, values = _disclosed(session, ctx, keyring, old, action=Action.REGISTRATION_MOVE)
        employer_name, employer_uscc = values.get("employer_name"), values.get("employer_uscc")
    old.status, old.departed_on, old.version = RegistrationStatus.moved, data.moved_on, old.version + 1
    new = _open(
        session,
        ctx,
        keyring,
        person=person,
        dwelling=get_dwelling(session, ctx.principal.scope, dwelling_id=data.dwelling_id),
        arrived_on=data.moved_on,
        registered_on=today(ctx.clock),
        basis=old.basis,
        employer_name=employer_name,
        employer_uscc=employer_uscc,
        reported_by=old.reported_by,
        report_days=policy.move_report_days,
        previous_id=old.id,
        # A move changes the home, not the job: the link as it stands (none after a
        # reported leaving), not the employer the first registration named.
        employer_id=old.employer_id,
        link_employer=False,
    )
    permits.follow_registration(session, ctx, registration=new)
    ctx.audit.append(session, ctx.event(Action.REGISTRATION_MOVE, targets=(str(old.id), str(new.id), str(person.id))))
    return new


def depart_registration(
    session: Session, ctx: Context, keyring: Keyring, *, registration_id: uuid.UUID, data: Depart
) -> Registration:
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    registration = get_registration(session, ctx.principal.scope, registration_id=registration_id)
    if registration.status != RegistrationStatus.active:
        raise Conflict(f"transition: cannot depart a registration that is {registration.status}")
    if data.departed_on < registration.arrived_on or data.departed_on > today(ctx.clock):
        raise RuleViolation("departed_on: must lie between arrival and today")
    registration.status, registration.departed_on = RegistrationStatus.departed, data.departed_on
    registration.version += 1
    ctx.audit.append(
        session, ctx.event(Action.REGISTRATION_DEPART, targets=(str(registration.id), str(registration.person_id)))
    )
    permits.end_with_departure(session, ctx, keyring, person_id=registration.person_id, departed_on=data.departed_on)
    return registration


def _disclosed(session: Session, ctx: Context, keyring: Keyring, registration: Registration, *, action: Action):  # type: ignore[no-untyped-def]
    subject = str(registration.person_id)
    return registration, disclose(session, ctx, keyring, REGISTRATION, registration, action=action, subject=subject)


def shown_registration(session: Session, ctx: Context, keyring: Keyring, registration: Registration) -> dict:
    """A registration as `read_registration` shows it (and audits its read): the one a write
    just made, answered from the values in hand."""
    ctx.principal.require(Permission.RESIDENCE_READ)
    return _disclosed(session, ctx, keyring, registration, action=Action.REGISTRATION_READ)[1]


def read_registration(
    session: Session, ctx: Context, keyring: Keyring, *, registration_id: uuid.UUID
) -> tuple[Registration, dict]:
    ctx.principal.require(Permission.RESIDENCE_READ)
    registration = get_registration(session, ctx.principal.scope, registration_id=registration_id)
    return _disclosed(session, ctx, keyring, registration, action=Action.REGISTRATION_READ)


def list_registrations(
    session: Session, ctx: Context, *, org_unit: str | None, status: str | None, after: str | None, limit: int
) -> list[Registration]:
    ctx.principal.require(Permission.RESIDENCE_READ)
    query = scoped_select(session, Registration, ctx.principal.scope, org_unit=org_unit)
    if status is not None:
        query = query.where(Registration.status == status)
    if after is not None:
        query = query.where(Registration.id > uuid.UUID(after))
    rows = list(session.exec(query.order_by(Registration.id).limit(limit)))
    ctx.audit.append(session, ctx.event(Action.REGISTRATION_LIST, targets=tuple(str(r.id) for r in rows)))
    return rows
