"""Dwellings: an address in an org unit; for rentals, the landlord and the pledge date."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission
from registry.access.scope import Scope
from registry.audit.actions import Action
from registry.context import Context
from registry.crypto.fields import seal
from registry.crypto.keyring import Compartment, Keyring
from registry.disclosure import disclose
from registry.errors import NotFound, RuleViolation
from registry.people.models import Person
from registry.residence.models import Dwelling, Registration
from registry.residence.rules import RegistrationStatus
from registry.residence.schemas import DwellingCreate
from registry.residence.visibility import VISIBILITY

TABLE = "dwelling"


def in_scope_org_unit(session: Session, scope: Scope, code: str) -> OrgUnit:
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == code, scope.clause(OrgUnit.path))).first()
    if unit is None:
        raise NotFound("org unit not found")
    return unit


def get_dwelling(session: Session, scope: Scope, *, dwelling_id: uuid.UUID) -> Dwelling:
    dwelling = session.exec(
        select(Dwelling)
        .join(OrgUnit, OrgUnit.code == Dwelling.org_unit_code)
        .where(Dwelling.id == dwelling_id, scope.clause(OrgUnit.path))
    ).first()
    if dwelling is None:
        raise NotFound("dwelling not found")
    return dwelling


def create_dwelling(session: Session, ctx: Context, keyring: Keyring, *, data: DwellingCreate) -> Dwelling:
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    in_scope_org_unit(session, ctx.principal.scope, data.org_unit)
    if data.kind == "rental" and data.landlord_person_id is None:
        raise RuleViolation("landlord: a rental names its landlord (租赁房屋治安管理规定 Art. 6)")
    if data.kind != "rental" and (data.landlord_person_id or data.pledge_signed_on):
        raise RuleViolation("landlord: only rentals have a landlord and a pledge")
    if data.landlord_person_id is not None and session.get(Person, data.landlord_person_id) is None:
        raise NotFound("landlord person not found")
    dwelling_id = uuid.uuid4()
    key = keyring.write_key(session, owner=str(dwelling_id), compartment=Compartment.RESIDENCE)
    dwelling = Dwelling(
        id=dwelling_id,
        org_unit_code=data.org_unit,
        address_ct=seal(key, data.address, table=TABLE, column="address", record_id=str(dwelling_id)),
        kind=data.kind,
        landlord_person_id=data.landlord_person_id,
        pledge_signed_on=data.pledge_signed_on,
        created_at=ctx.clock.now(),
    )
    session.add(dwelling)
    targets = (str(dwelling_id), *((str(data.landlord_person_id),) if data.landlord_person_id else ()))
    ctx.audit.append(session, ctx.event(Action.DWELLING_CREATE, targets=targets, fields=("address",)))
    return dwelling


def read_dwelling(session: Session, ctx: Context, keyring: Keyring, *, dwelling_id: uuid.UUID) -> tuple[Dwelling, dict]:
    ctx.principal.require(Permission.RESIDENCE_READ)
    dwelling = get_dwelling(session, ctx.principal.scope, dwelling_id=dwelling_id)
    rid = str(dwelling.id)
    values = disclose(
        session,
        ctx,
        keyring,
        action=Action.DWELLING_READ,
        record_id=rid,
        owner=rid,
        compartment=Compartment.RESIDENCE,
        table=TABLE,
        sealed={"address": dwelling.address_ct},
        visibility=VISIBILITY,
    )
    return dwelling, values


def occupants(session: Session, ctx: Context, *, dwelling_id: uuid.UUID) -> list[Registration]:
    ctx.principal.require(Permission.RESIDENCE_READ)
    dwelling = get_dwelling(session, ctx.principal.scope, dwelling_id=dwelling_id)
    rows = list(
        session.exec(
            select(Registration)
            .where(Registration.dwelling_id == dwelling.id, Registration.status == RegistrationStatus.active)
            .order_by(Registration.arrived_on)
        )
    )
    ctx.audit.append(
        session, ctx.event(Action.DWELLING_OCCUPANTS, targets=(str(dwelling.id), *(str(r.person_id) for r in rows)))
    )
    return rows
