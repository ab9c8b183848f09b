"""Jurisdiction over a person changes only by consent (issue 13, PRIVACY.md §3).

Who holds a person: the unit of their active residence registration; with none, the
unit recorded on the person (the one that captured the identity, or the last one it was
transferred to). `person.org_unit_code` is kept equal to that holder, so every scoped
person query asks the holder.

A registration by a unit whose scope does not cover the holder is an *arrival from
another unit*, the shape of a casefile transfer (`registry.casefiles.transfers`) with
the roles turned round:

    request   the arriving unit registers the person: the registration is stored as
              `pending_transfer` in the arriving unit and a request names the holder; the
              arriving unit learns nothing more of the person (the identity stays 404).
    accept    a user whose scope covers the holding unit (the holder, or any unit above
              it, which includes every unit above both) accepts: in one transaction the
              person, all their registrations and permits move to the arriving unit, the
              pending registration becomes `active` and the holder's active one ends as
              `moved`.
    refuse    the same users refuse with a reason code; the registration becomes `refused`.
    withdraw  the arriving side withdraws its own request; the registration `withdrawn`.

Unanswered after `person_transfer_escalation_days` (default 15) a request is `escalated`
to the nearest common parent unit: derived from the dates when read, never a stored flag.
Whoever cannot decide a request sees it as 404, like any record outside their scope.
A caller whose scope covers both the holder and the new dwelling is itself a unit above
both: its registration (or move) takes effect at once, and the move is audited as
`person:jurisdiction-move` like an accepted request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission
from registry.audit.actions import Action
from registry.clock import today as today_of
from registry.context import Context
from registry.errors import Conflict, NotFound
from registry.people.models import Person
from registry.residence import permits
from registry.residence.models import Permit, PersonTransfer, Registration
from registry.residence.rules import RegistrationStatus

HIDDEN = "person transfer not found"
# Arrivals other units recorded (waiting, refused, withdrawn): theirs, never moved with the person.
OTHER_UNITS_ATTEMPTS = (RegistrationStatus.pending_transfer, RegistrationStatus.refused, RegistrationStatus.withdrawn)


class TransferStatus:
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class TransferView:
    """A request as one caller may see it: the requesting side is not told which unit
    holds the person (that would place the person), only its own side and the outcome."""

    transfer: PersonTransfer
    holder_side: bool
    escalates_on: date
    escalated: bool
    escalated_to: str | None


def active_registration(session: Session, person_id: uuid.UUID) -> Registration | None:
    # By person only (indexed), then the state: SQLite would otherwise walk the status index.
    rows = session.exec(select(Registration).where(Registration.person_id == person_id))
    return next((r for r in rows if r.status == RegistrationStatus.active), None)


def holder_of(session: Session, person: Person) -> str:
    active = active_registration(session, person.id)
    return active.org_unit_code if active is not None else person.org_unit_code


def locate(session: Session, *, person_id: uuid.UUID) -> Person:
    """The person to be asked for, read without the caller's scope: only to name the holder
    in a request (nothing of it reaches the caller). Locked, so two arrivals serialise."""
    person = session.exec(select(Person).where(Person.id == person_id).with_for_update()).first()
    if person is None or person.erased_at is not None:
        raise NotFound("person not found", targets=(str(person_id),))
    return person


def rehome(session: Session, ctx: Context, *, person: Person, to_org_unit: str, reason: str) -> None:
    """Move the person and every residence record of theirs to `to_org_unit`. Casefiles stay:
    they have their own transfer, and holding one never gives the person."""
    from_org_unit = person.org_unit_code
    moved: list[str] = []
    for model in (Registration, Permit):
        for row in session.exec(select(model).where(model.person_id == person.id)):  # type: ignore[attr-defined]
            if row.org_unit_code != to_org_unit and row.status not in OTHER_UNITS_ATTEMPTS:
                row.org_unit_code, row.version = to_org_unit, row.version + 1
                session.add(row)
                moved.append(str(row.id))
    if from_org_unit == to_org_unit and not moved:
        return
    # The person's version (its ETag) stays: it guards the identity fields, and the holding
    # unit is not one of them (a read never shows it).
    person.org_unit_code = to_org_unit
    session.add(person)
    ctx.audit.append(
        session,
        ctx.event(
            Action.PERSON_JURISDICTION_MOVE,
            targets=(str(person.id), *moved),
            reason=f"{from_org_unit}->{to_org_unit} ({reason})",
        ),
    )
    session.flush()  # the move is written here, not left to the commit: a failure is this request's error


def _audit(session: Session, ctx: Context, action: Action, transfer: PersonTransfer, reason: str | None = None) -> None:
    ctx.audit.append(
        session,
        ctx.event(
            action,
            targets=(str(transfer.id), str(transfer.person_id), str(transfer.registration_id)),
            reason=reason or f"{transfer.from_org_unit}->{transfer.to_org_unit}",
        ),
    )


def request_transfer(
    session: Session, ctx: Context, *, person: Person, holder: str, registration: Registration
) -> PersonTransfer:
    """Record the request beside the arriving unit's pending registration (already added)."""
    pending = session.exec(
        select(PersonTransfer.id).where(
            PersonTransfer.person_id == person.id, PersonTransfer.status == TransferStatus.REQUESTED
        )
    ).first()
    if pending is not None:
        # It tells the caller another unit asked first: a hit on the record, like a duplicate's.
        raise Conflict(
            "transfer.pending: a request to take over this person awaits an answer",
            audit_as=Action.PERSON_TRANSFER_REQUEST,
            targets=(str(person.id), str(pending)),
        )
    transfer = PersonTransfer(
        person_id=person.id,
        registration_id=registration.id,
        from_org_unit=holder,
        to_org_unit=registration.org_unit_code,
        status=TransferStatus.REQUESTED,
        requested_by=ctx.principal.account_id,
        requested_on=today_of(ctx.clock),
        created_at=ctx.clock.now(),
    )
    session.add(transfer)
    session.flush()
    _audit(session, ctx, Action.PERSON_TRANSFER_REQUEST, transfer)
    return transfer


def _paths(session: Session, *codes: str) -> dict[str, str]:
    return dict(session.exec(select(OrgUnit.code, OrgUnit.path).where(OrgUnit.code.in_(codes))).all())  # type: ignore[attr-defined]


def nearest_common_parent(path_a: str, path_b: str) -> str | None:
    """The deepest unit whose subtree holds both paths ("/320500/320571/" and
    "/320500/320505/" → "320500"); None when they share no root."""
    common = None
    for a, b in zip(path_a.strip("/").split("/"), path_b.strip("/").split("/"), strict=False):
        if a != b:
            break
        common = a
    return common


def view(session: Session, ctx: Context, transfer: PersonTransfer, *, escalation_days: int) -> TransferView:
    """The request as the caller may see it (no audit entry: the caller's service writes it)."""
    paths = _paths(session, transfer.from_org_unit, transfer.to_org_unit)
    holder_side = ctx.principal.scope.covers(paths[transfer.from_org_unit])
    escalates_on = transfer.requested_on + timedelta(days=escalation_days)
    escalated = transfer.status == TransferStatus.REQUESTED and today_of(ctx.clock) >= escalates_on
    to = nearest_common_parent(paths[transfer.from_org_unit], paths[transfer.to_org_unit]) if escalated else None
    return TransferView(transfer, holder_side, escalates_on, escalated, to if holder_side else None)


def _decidable(
    session: Session, ctx: Context, transfer_id: uuid.UUID, *, side: str = "from_org_unit"
) -> PersonTransfer:
    """The open request if the caller's scope covers its `side`: the holding unit (to accept
    or refuse: the holder or a unit above it, so also every unit above both) or the arriving
    unit (to withdraw); anyone else gets the same 404 as for no request."""
    transfer = session.exec(
        select(PersonTransfer)
        .join(OrgUnit, OrgUnit.code == getattr(PersonTransfer, side))
        .where(PersonTransfer.id == transfer_id, ctx.principal.scope.clause(OrgUnit.path))
        .with_for_update(of=PersonTransfer)  # type: ignore[arg-type]
    ).first()
    if transfer is None:
        raise NotFound(HIDDEN, targets=(str(transfer_id),))
    if transfer.status != TransferStatus.REQUESTED:
        raise Conflict(f"transfer: already {transfer.status}")
    return transfer


def _pending_registration(session: Session, transfer: PersonTransfer) -> Registration:
    registration = session.exec(
        select(Registration).where(Registration.id == transfer.registration_id).with_for_update()
    ).one()
    if registration.status != RegistrationStatus.pending_transfer:
        raise Conflict("transfer.stale: the registration changed since the request")
    return registration


def accept_transfer(session: Session, ctx: Context, *, transfer_id: uuid.UUID, escalation_days: int) -> TransferView:
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    transfer = _decidable(session, ctx, transfer_id)
    person = locate(session, person_id=transfer.person_id)
    if holder_of(session, person) != transfer.from_org_unit:
        raise Conflict("transfer.stale: the person changed hands since the request")
    registration = _pending_registration(session, transfer)
    old = active_registration(session, person.id)
    if old is not None:
        # Ends where the new residence begins (never before the old arrival).
        old.status, old.departed_on = RegistrationStatus.moved, max(old.arrived_on, registration.arrived_on)
        old.version += 1
        registration.previous_id = old.id
        session.add(old)
    registration.status, registration.version = RegistrationStatus.active, registration.version + 1
    session.add(registration)
    on = today_of(ctx.clock)
    transfer.status, transfer.decided_by, transfer.decided_on = TransferStatus.ACCEPTED, ctx.principal.account_id, on
    transfer.version += 1
    session.add(transfer)
    session.flush()
    rehome(session, ctx, person=person, to_org_unit=transfer.to_org_unit, reason=f"person_transfer {transfer.id}")
    # The live permit moves with the residence records and reads the new address (issue 14).
    permits.follow_registration(session, ctx, registration=registration)
    _audit(session, ctx, Action.PERSON_TRANSFER_ACCEPT, transfer)
    return view(session, ctx, transfer, escalation_days=escalation_days)


def refuse_transfer(
    session: Session, ctx: Context, *, transfer_id: uuid.UUID, reason: str, escalation_days: int
) -> TransferView:
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    transfer = _decidable(session, ctx, transfer_id)
    registration = _pending_registration(session, transfer)
    registration.status, registration.version = RegistrationStatus.refused, registration.version + 1
    transfer.status, transfer.decided_by = TransferStatus.REFUSED, ctx.principal.account_id
    transfer.decided_on, transfer.reason, transfer.version = today_of(ctx.clock), reason, transfer.version + 1
    session.add_all([registration, transfer])
    session.flush()
    _audit(session, ctx, Action.PERSON_TRANSFER_REFUSE, transfer, reason=reason)
    return view(session, ctx, transfer, escalation_days=escalation_days)


def withdraw_transfer(session: Session, ctx: Context, *, transfer_id: uuid.UUID, escalation_days: int) -> TransferView:
    """The arriving side takes its request back (the person did not come after all)."""
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    transfer = _decidable(session, ctx, transfer_id, side="to_org_unit")
    registration = _pending_registration(session, transfer)
    registration.status, registration.version = RegistrationStatus.withdrawn, registration.version + 1
    transfer.status, transfer.decided_by = TransferStatus.WITHDRAWN, ctx.principal.account_id
    transfer.decided_on, transfer.version = today_of(ctx.clock), transfer.version + 1
    session.add_all([registration, transfer])
    session.flush()
    _audit(session, ctx, Action.PERSON_TRANSFER_WITHDRAW, transfer)
    return view(session, ctx, transfer, escalation_days=escalation_days)


def read_transfer(session: Session, ctx: Context, *, transfer_id: uuid.UUID, escalation_days: int) -> TransferView:
    ctx.principal.require(Permission.RESIDENCE_READ)
    holder, arriving = aliased(OrgUnit), aliased(OrgUnit)
    transfer = session.exec(
        select(PersonTransfer)
        .join(holder, holder.code == PersonTransfer.from_org_unit)
        .join(arriving, arriving.code == PersonTransfer.to_org_unit)
        .where(
            PersonTransfer.id == transfer_id,
            sa.or_(ctx.principal.scope.clause(holder.path), ctx.principal.scope.clause(arriving.path)),
        )
    ).first()
    if transfer is None:
        raise NotFound(HIDDEN, targets=(str(transfer_id),))
    ctx.audit.append(
        session,
        ctx.event(Action.PERSON_TRANSFER_READ, targets=(str(transfer.id), str(transfer.person_id))),
    )
    return view(session, ctx, transfer, escalation_days=escalation_days)


def list_transfers(
    session: Session,
    ctx: Context,
    *,
    box: str,
    status: str | None,
    escalated: bool | None,
    escalation_days: int,
    after: str | None,
    limit: int,
) -> list[TransferView]:
    """The worklist: `incoming` are requests for persons the caller's units hold (a unit
    above the holder sees them too, and `escalated=true` picks those unanswered for
    `escalation_days`); `outgoing` are the caller's units' own requests."""
    ctx.principal.require(Permission.RESIDENCE_READ)
    side = PersonTransfer.from_org_unit if box == "incoming" else PersonTransfer.to_org_unit
    query = select(PersonTransfer).join(OrgUnit, OrgUnit.code == side).where(ctx.principal.scope.clause(OrgUnit.path))
    if status is not None:
        query = query.where(PersonTransfer.status == status)
    if escalated is not None:
        due = today_of(ctx.clock) - timedelta(days=escalation_days)
        waiting = PersonTransfer.status == TransferStatus.REQUESTED
        query = query.where(
            sa.and_(waiting, PersonTransfer.requested_on <= due)
            if escalated
            else sa.or_(sa.not_(waiting), PersonTransfer.requested_on > due)
        )
    if after is not None:
        query = query.where(PersonTransfer.id > uuid.UUID(after))
    rows = list(session.exec(query.order_by(PersonTransfer.id).limit(limit)))
    ctx.audit.append(
        # Each row names its person: a list shows where they are moving (the access report).
        session,
        ctx.event(
            Action.PERSON_TRANSFER_LIST,
            targets=tuple(t for r in rows for t in (str(r.id), str(r.person_id))),
            reason=box,
        ),
    )
    return [view(session, ctx, r, escalation_days=escalation_days) for r in rows]
