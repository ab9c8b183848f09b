"""Residence registrations: arrival, move (closes one, opens the next), departure.

A person's record follows their residence: registering (or moving) them into a
dwelling makes its org unit the person's jurisdiction, so the staff there can read them.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlmodel import Session, select

from registry.access.policy import Permission
from registry.access.scope import Scope
from registry.accounts.orgunits import scoped_select
from registry.audit.actions import Action
from registry.clock import today
from registry.context import Context
from registry.crypto.fields import seal_optional
from registry.crypto.keyring import Compartment, Keyring
from registry.disclosure import disclose
from registry.errors import Conflict, NotFound, RuleViolation
from registry.people.identifiers import parse_uscc
from registry.people.models import Person
from registry.residence.dwellings import get_dwelling
from registry.residence.models import Registration
from registry.residence.policy import ResidencePolicy
from registry.residence.rules import RegistrationStatus, check_registration_dates, is_late
from registry.residence.schemas import Depart, Move, RegistrationCreate
from registry.residence.visibility import VISIBILITY

TABLE = "residence_registration"


def get_registration(session: Session, scope: Scope, *, registration_id: uuid.UUID) -> Registration:
    row = session.exec(scoped_select(session, Registration, scope).where(Registration.id == registration_id)).first()
    if row is None:
        raise NotFound("registration not found")
    return row


def _active_of(session: Session, person_id: uuid.UUID) -> Registration | None:
    # By person only (indexed), then the state: SQLite would otherwise walk the status index.
    rows = session.exec(select(Registration).where(Registration.person_id == person_id))
    return next((r for r in rows if r.status == RegistrationStatus.active), None)


def _open(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    *,
    person: Person,
    dwelling_id: uuid.UUID,
    arrived_on: date,
    registered_on: date,
    basis: str,
    employer_name: str | None,
    employer_uscc: str | None,
    reported_by: str,
    report_days: int,
    previous_id: uuid.UUID | None,
) -> Registration:
    dwelling = get_dwelling(session, ctx.principal.scope, dwelling_id=dwelling_id)
    check_registration_dates(arrived_on, registered_on, today=today(ctx.clock))
    if basis == "employment" and (employer_name is None or employer_uscc is None):
        raise RuleViolation("employer: employment needs the employer's name and unified social credit code")
    if basis != "employment" and (employer_name or employer_uscc):
        raise RuleViolation("employer: only an employment basis names an employer")
    uscc = parse_uscc(employer_uscc) if employer_uscc else None
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
        employer_name_ct=seal_optional(key, employer_name, table=TABLE, column="employer_name", record_id=rid),
        employer_uscc_ct=seal_optional(key, uscc, table=TABLE, column="employer_uscc", record_id=rid),
        reported_by=reported_by,
        status=RegistrationStatus.active,
        late=is_late(arrived_on, registered_on, report_days=report_days),
        previous_id=previous_id,
        created_at=ctx.clock.now(),
    )
    session.add(registration)
    person.org_unit_code = dwelling.org_unit_code  # the record follows the residence
    return registration


def create_registration(
    session: Session, ctx: Context, keyring: Keyring, policy: ResidencePolicy, *, data: RegistrationCreate
) -> Registration:
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    # Any existing person may be registered here (found by exact search); the id is opaque.
    person = session.get(Person, data.person_id)
    if person is None or person.erased_at is not None:
        raise NotFound("person not found")
    if _active_of(session, person.id) is not None:
        raise Conflict("the person has an active registration: move or depart it first")
    registration = _open(
        session,
        ctx,
        keyring,
        person=person,
        dwelling_id=data.dwelling_id,
        arrived_on=data.arrived_on,
        registered_on=data.registered_on or today(ctx.clock),
        basis=data.basis,
        employer_name=data.employer_name,
        employer_uscc=data.employer_uscc,
        reported_by=data.reported_by,
        report_days=policy.report_days,
        previous_id=None,
    )
    fields = [f for f in ("employer_name", "employer_uscc") if getattr(data, f)]
    ctx.audit.append(
        session,
        ctx.event(Action.REGISTRATION_CREATE, targets=(str(registration.id), str(person.id)), fields=tuple(fields)),
    )
    return registration


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
    person = session.get(Person, old.person_id)
    assert person is not None
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
        dwelling_id=data.dwelling_id,
        arrived_on=data.moved_on,
        registered_on=today(ctx.clock),
        basis=old.basis,
        employer_name=employer_name,
        employer_uscc=employer_uscc,
        reported_by=old.reported_by,
        report_days=policy.move_report_days,
        previous_id=old.id,
    )
    ctx.audit.append(session, ctx.event(Action.REGISTRATION_MOVE, targets=(str(old.id), str(new.id), str(person.id))))
    return new


def depart_registration(session: Session, ctx: Context, *, registration_id: uuid.UUID, data: Depart) -> Registration:
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
    return registration


def _disclosed(session: Session, ctx: Context, keyring: Keyring, registration: Registration, *, action: Action):  # type: ignore[no-untyped-def]
    rid = str(registration.id)
    return registration, disclose(
        session,
        ctx,
        keyring,
        action=action,
        record_id=rid,
        owner=str(registration.person_id),
        compartment=Compartment.RESIDENCE,
        table=TABLE,
        visibility=VISIBILITY,
        sealed={"employer_name": registration.employer_name_ct, "employer_uscc": registration.employer_uscc_ct},
    )


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
