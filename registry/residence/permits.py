"""Residence permits (居住证暂行条例): application, materials notice, acceptance, issue,
rejection, annual endorsement, cancellation; verification for partner services.

The stored status never says `suspended`: that is derived from the issue and
endorsement dates on the injected clock, so no cron job has to flip it.

A permit lives as long as the person's residence in the city (issue 14): it follows each
move to the new registration (a change of address, Art. 4; 浙江省流动人口居住登记条例
Art. 19 para. 3) and ends with a departure. One live permit per person, and only
county-level accounts issue (Art. 10)."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from registry.access.policy import Permission
from registry.access.scope import Scope, one_in_scope, scoped_select
from registry.audit.actions import Action, Outcome
from registry.audit.models import AuditEntry
from registry.clock import today
from registry.context import Context
from registry.crypto import indexes
from registry.crypto.keyring import Keyring
from registry.disclosure import disclose, matches
from registry.errors import Conflict, NotFound, RateLimited
from registry.people.identifiers import normalise_name
from registry.people.models import PERSON, Person
from registry.residence.continuity import resident_since
from registry.residence.models import PERMIT, Endorsement, Permit, Registration
from registry.residence.policy import ResidencePolicy
from registry.residence.rules import (
    LIVE_STATUSES,
    PermitAction,
    PermitState,
    PermitStatus,
    check_eligibility,
    check_endorsement,
    check_issuer_level,
    check_one_live_permit,
    issue_due_on,
    next_status,
    permit_state,
)
from registry.residence.schemas import PermitCreate

# Who may take each step: applications at service points, decisions by public security.
STEP_PERMISSION = {
    PermitAction.request_materials: Permission.PERMIT_APPLY,
    PermitAction.accept: Permission.PERMIT_APPLY,
    PermitAction.endorse: Permission.PERMIT_APPLY,
    PermitAction.issue: Permission.PERMIT_ISSUE,
    PermitAction.reject: Permission.PERMIT_ISSUE,
    PermitAction.cancel: Permission.PERMIT_ISSUE,
}
# What a departure records on the permit it ends (sealed like any decision's reason).
DEPARTED = "departed: the residence registration was cancelled on leaving the city"


@dataclass(frozen=True)
class PermitView:
    permit: Permit
    status: PermitStatus
    endorsements: list[date]
    state: PermitState | None
    issue_due_on: date | None


def get_permit(session: Session, scope: Scope, *, permit_id: uuid.UUID) -> Permit:
    row = session.exec(one_in_scope(Permit, scope), params={"id": permit_id}).first()
    if row is None:
        raise NotFound("permit not found", targets=(str(permit_id),))
    return row


def _endorsements(session: Session, permit_id: uuid.UUID) -> list[date]:
    return list(
        session.exec(
            select(Endorsement.endorsed_on).where(Endorsement.permit_id == permit_id).order_by(Endorsement.endorsed_on)
        )
    )


def view(session: Session, permit: Permit, policy: ResidencePolicy, *, on: date) -> PermitView:
    endorsements = _endorsements(session, permit.id) if permit.issued_on else []
    state = permit_state(permit.issued_on, endorsements, on) if permit.status == PermitStatus.issued else None
    status = state.status if state is not None else PermitStatus(permit.status)
    due = issue_due_on(permit.accepted_on, issue_days=policy.issue_days) if permit.accepted_on else None
    return PermitView(permit, status, endorsements, state, due)


def live_permits(session: Session, person_id: uuid.UUID, *, lock: bool = False) -> list[Permit]:
    """The person's live permits (at most one once the unique index holds), whatever the unit."""
    query = select(Permit).where(Permit.person_id == person_id, col(Permit.status).in_(LIVE_STATUSES))
    return list(session.exec(query.with_for_update() if lock else query))


def apply_for_permit(session: Session, ctx: Context, policy: ResidencePolicy, *, data: PermitCreate) -> Permit:
    ctx.principal.require(Permission.PERMIT_APPLY)
    registration = session.exec(
        one_in_scope(Registration, ctx.principal.scope), params={"id": data.registration_id}
    ).first()
    if registration is None or registration.person_id != data.person_id:
        raise NotFound("registration not found")
    on = today(ctx.clock)
    check_eligibility(
        registration_status=registration.status,
        # Art. 2: six months from the first registration in the city, whatever moves followed.
        registered_on=resident_since(session, registration),
        permit_basis=data.basis,
        today=on,
        min_months=policy.min_months,
    )
    check_one_live_permit(live_permits(session, data.person_id))
    permit = Permit(
        person_id=data.person_id,
        registration_id=registration.id,
        org_unit_code=registration.org_unit_code,
        basis=data.basis,
        status=PermitStatus.applied,
        applied_on=on,
        created_at=ctx.clock.now(),
    )
    session.add(permit)
    try:
        session.flush()
    except IntegrityError:
        # A concurrent application won the partial unique index: the same answer as above.
        raise Conflict("permit.one_live: the person already holds a live permit or application") from None
    ctx.audit.append(session, ctx.event(Action.PERMIT_APPLY, targets=(str(permit.id), str(data.person_id))))
    return permit


def follow_registration(session: Session, ctx: Context, *, registration: Registration) -> None:
    """A move keeps the permit: the person's live permit now reads the new registration's
    address (a change of address, Art. 4 lists 居住地住址 on the permit; 浙江省流动人口居住登记条例
    Art. 19 para. 3) and its unit. Called for a move inside the holder's unit and for an
    accepted transfer to another unit (`transfers.accept_transfer`)."""
    for permit in live_permits(session, registration.person_id):
        if permit.registration_id == registration.id:
            continue
        permit.registration_id, permit.org_unit_code = registration.id, registration.org_unit_code
        permit.version += 1
        session.add(permit)
        ctx.audit.append(
            session,
            ctx.event(
                Action.PERMIT_ADDRESS_CHANGE,
                targets=(str(permit.id), str(permit.person_id), str(registration.id)),
            ),
        )


def end_with_departure(
    session: Session, ctx: Context, keyring: Keyring, *, person_id: uuid.UUID, departed_on: date
) -> None:
    """A departure (the registration cancelled on leaving) ends the person's live permit:
    an issued one is `cancelled` on the day of departure, so verification answers not
    valid from that day; an application not yet issued is `rejected` (nothing to issue)."""
    for permit in live_permits(session, person_id, lock=True):
        issued = permit.status == PermitStatus.issued
        permit.status = PermitStatus.cancelled if issued else PermitStatus.rejected
        permit.cancelled_on = departed_on if issued else None
        permit.rejected_on = None if issued else departed_on
        key = keyring.write_key(session, owner=str(person_id), compartment=PERMIT.compartment)
        permit.decision_reason_ct = PERMIT.seal(key, record_id=str(permit.id), name="decision_reason", value=DEPARTED)
        permit.version += 1
        session.add(permit)
        action = PermitAction.cancel if issued else PermitAction.reject
        ctx.audit.append(
            session,
            ctx.event(
                Action.PERMIT_TRANSITION, targets=(str(permit.id), str(person_id)), reason=f"{action} (departed)"
            ),
        )


def _depth(ctx: Context) -> int:
    """The caller's org unit counted from the root (1 = the root); 0 for a tree-wide account."""
    path = ctx.principal.scope.path_prefix
    return 0 if path is None else len(path.strip("/").split("/"))


def _new_permit_no() -> str:
    # Random and opaque: never derived from the holder's data (DOMAIN.md).
    return "RP" + "".join(secrets.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXY") for _ in range(14))


def take_step(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    policy: ResidencePolicy,
    *,
    permit_id: uuid.UUID,
    action: PermitAction,
    missing: list[str] | None = None,
    reason: str | None = None,
    endorsed_on: date | None = None,
) -> Permit:
    ctx.principal.require(STEP_PERMISSION[action])
    if STEP_PERMISSION[action] is Permission.PERMIT_ISSUE:
        # Issue, and the issuing authority's other decisions (reject, cancel): Art. 10.
        check_issuer_level(_depth(ctx), max_depth=policy.issue_max_depth)
    permit = get_permit(session, ctx.principal.scope, permit_id=permit_id)
    on = today(ctx.clock)
    current = view(session, permit, policy, on=on).status
    permit.status = next_status(current, action)  # 409 for a step not allowed from here
    rid = str(permit.id)
    key = keyring.write_key(session, owner=str(permit.person_id), compartment=PERMIT.compartment)
    if action is PermitAction.request_materials:
        listed = json.dumps(list(dict.fromkeys(missing or [])), ensure_ascii=False)
        permit.materials_missing_ct = PERMIT.seal(key, record_id=rid, name="materials_missing", value=listed)
    elif action is PermitAction.accept:
        permit.accepted_on, permit.materials_missing_ct = on, None
    elif action is PermitAction.issue:
        permit.issued_on = on
        number = _new_permit_no()
        permit.permit_no_ct = PERMIT.seal(key, record_id=rid, name="permit_no", value=number)
        indexes.put(session, keyring, table=PERMIT.name, field="permit_no", record_id=rid, value=number, fresh=True)
    elif action in (PermitAction.reject, PermitAction.cancel):
        permit.decision_reason_ct = PERMIT.seal(key, record_id=rid, name="decision_reason", value=reason)
        permit.cancelled_on = on if action is PermitAction.cancel else None
        permit.rejected_on = on if action is PermitAction.reject else None
    elif action is PermitAction.endorse:
        assert permit.issued_on is not None
        when = endorsed_on or on
        check_endorsement(permit.issued_on, _endorsements(session, permit.id), when, on)
        session.add(Endorsement(permit_id=permit.id, endorsed_on=when, created_at=ctx.clock.now()))
    permit.version += 1
    ctx.audit.append(
        session,
        ctx.event(Action.PERMIT_TRANSITION, targets=(str(permit.id), str(permit.person_id)), reason=str(action)),
    )
    return permit


def read_permit(
    session: Session, ctx: Context, keyring: Keyring, policy: ResidencePolicy, *, permit_id: uuid.UUID
) -> tuple[PermitView, dict]:
    ctx.principal.require(Permission.RESIDENCE_READ)
    permit = get_permit(session, ctx.principal.scope, permit_id=permit_id)
    values = disclose(session, ctx, keyring, PERMIT, permit, action=Action.PERMIT_READ, subject=str(permit.person_id))
    return view(session, permit, policy, on=today(ctx.clock)), values


def list_permits(
    session: Session,
    ctx: Context,
    policy: ResidencePolicy,
    *,
    org_unit: str | None,
    status: str | None,
    due: str | None,
    after: str | None,
    limit: int,
) -> list[PermitView]:
    """Lists and worklists (`due`: issue_overdue | endorsement_due). Status filters use the
    effective status, so `suspended` lists permits past an unendorsed anniversary."""
    ctx.principal.require(Permission.RESIDENCE_READ)
    on = today(ctx.clock)
    query = scoped_select(session, Permit, ctx.principal.scope, org_unit=org_unit)
    stored = {"suspended": PermitStatus.issued}.get(status or "", status)
    if stored is not None:
        query = query.where(Permit.status == stored)
    if due == "issue_overdue":
        query = query.where(
            Permit.status == PermitStatus.accepted, Permit.accepted_on < on - timedelta(days=policy.issue_days)
        )  # type: ignore[operator]
    elif due == "endorsement_due":
        query = query.where(Permit.status == PermitStatus.issued)
    if after is not None:
        query = query.where(Permit.id > uuid.UUID(after))
    views = []
    for permit in session.exec(query.order_by(Permit.id)):
        v = view(session, permit, policy, on=on)
        if status is not None and v.status != status:
            continue
        if due == "endorsement_due" and not (v.state and v.state.endorsement_due_within(on, 30)):
            continue
        views.append(v)
        if len(views) == limit:
            break
    ctx.audit.append(session, ctx.event(Action.PERMIT_LIST, targets=tuple(str(v.permit.id) for v in views)))
    return views


def verify_permit(
    session: Session, ctx: Context, keyring: Keyring, policy: ResidencePolicy, *, permit_no: str, holder_name: str
) -> bool:
    """Minimal disclosure (Art. 12-13, 17): yes or no, nothing else; each check audited and
    rate limited per account, so names cannot be enumerated."""
    ctx.principal.require(Permission.PERMIT_VERIFY)
    now = ctx.clock.now()
    recent = session.exec(
        select(sa.func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.actor_id == str(ctx.principal.account_id),
            AuditEntry.action == Action.PERMIT_VERIFY,
            AuditEntry.at >= now - timedelta(minutes=1),
        )
    ).one()
    if recent >= policy.verifications_per_minute:
        raise RateLimited("too many verifications; try again in a minute", retry_after=60)
    number = permit_no.strip().upper()
    version, token_value = indexes.read_token(session, keyring, table=PERMIT.name, field="permit_no", value=number)
    valid = False
    matched: list[str] = []
    for rid in indexes.candidates(
        session, table=PERMIT.name, field="permit_no", version=version, token_value=token_value
    ):
        # City-wide on purpose: a verifier checks any permit of the city, and only yes/no leaves.
        permit = session.get(Permit, uuid.UUID(rid))
        person = session.get(Person, permit.person_id) if permit else None
        if permit is None or person is None or permit.permit_no_ct is None or person.erased_at is not None:
            continue
        if not matches(session, keyring, PERMIT, permit, field="permit_no", expected=number):
            continue
        # The check names the permit and its holder: it is in the holder's access report.
        matched += [rid, str(person.id)]
        status = view(session, permit, policy, on=today(ctx.clock)).status
        valid = status is PermitStatus.issued and matches(
            session,
            keyring,
            PERSON,
            person,
            field="name",
            expected=normalise_name(holder_name),
            normalise=normalise_name,
        )
    ctx.audit.append(
        session,
        ctx.event(
            Action.PERMIT_VERIFY,
            targets=tuple(matched),
            search_token=token_value.hex(),
            outcome=Outcome.ALLOWED,
            reason="valid" if valid else "not_valid",
        ),
    )
    return valid
