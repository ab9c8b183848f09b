"""Dwellings: an address in an org unit; for rentals, the landlord and the pledge date.

The address is sealed and blind-indexed (`dwelling/address`, NFKC with whitespace
removed) so that a bulk import can find an existing dwelling instead of duplicating it.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from registry.access.policy import Permission
from registry.access.scope import Scope, get_org_unit, scoped_select
from registry.audit.actions import Action
from registry.context import Context
from registry.crypto import indexes
from registry.crypto.keyring import Compartment, Keyring
from registry.disclosure import disclose, matches
from registry.errors import NotFound, RuleViolation
from registry.people.identifiers import normalise_address
from registry.people.models import Person
from registry.residence.models import DWELLING, Dwelling, Registration
from registry.residence.rules import RegistrationStatus
from registry.residence.schemas import DwellingCreate

__all__ = ["normalise_address"]  # the bulk importer's, too
ADDRESS_INDEX = "address"


def get_dwelling(session: Session, scope: Scope, *, dwelling_id: uuid.UUID) -> Dwelling:
    dwelling = session.exec(scoped_select(session, Dwelling, scope).where(Dwelling.id == dwelling_id)).first()
    if dwelling is None:
        raise NotFound("dwelling not found", targets=(str(dwelling_id),))
    return dwelling


def create_dwelling(session: Session, ctx: Context, keyring: Keyring, *, data: DwellingCreate) -> Dwelling:
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    get_org_unit(session, ctx.principal.scope, code=data.org_unit)
    if data.kind == "rental" and data.landlord_person_id is None:
        raise RuleViolation("landlord: a rental names its landlord (租赁房屋治安管理规定 Art. 6)")
    if data.kind != "rental" and (data.landlord_person_id or data.pledge_signed_on):
        raise RuleViolation("landlord: only rentals have a landlord and a pledge")
    # The landlord is named by id from the caller's own records: a person held by another
    # unit is the same 404 as no person (a lookup by id never reads outside the scope).
    if (
        data.landlord_person_id is not None
        and session.exec(
            scoped_select(session, Person, ctx.principal.scope).where(Person.id == data.landlord_person_id)
        ).first()
        is None
    ):
        raise NotFound("landlord person not found", targets=(str(data.landlord_person_id),))
    dwelling_id = uuid.uuid4()
    key = keyring.new_owner_key(session, owner=str(dwelling_id), compartment=Compartment.RESIDENCE)
    dwelling = Dwelling(
        id=dwelling_id,
        org_unit_code=data.org_unit,
        address_ct=DWELLING.seal(key, record_id=str(dwelling_id), name="address", value=data.address),
        kind=data.kind,
        landlord_person_id=data.landlord_person_id,
        pledge_signed_on=data.pledge_signed_on,
        created_at=ctx.clock.now(),
    )
    session.add(dwelling)
    indexes.put(
        session,
        keyring,
        table=DWELLING.name,
        field=ADDRESS_INDEX,
        record_id=str(dwelling_id),
        value=normalise_address(data.address),
        fresh=True,
    )
    targets = (str(dwelling_id), *((str(data.landlord_person_id),) if data.landlord_person_id else ()))
    ctx.audit.append(session, ctx.event(Action.DWELLING_CREATE, targets=targets, fields=("address",)))
    return dwelling


def find_dwellings(session: Session, ctx: Context, keyring: Keyring, *, org_unit: str, address: str) -> list[Dwelling]:
    """Dwellings in `org_unit` (in the caller's scope) whose address equals `address` once
    normalised: the blind index gives candidates, each is opened and compared exactly.
    Only ids leave this function (to link a new record, which its own service audits)."""
    ctx.principal.require(Permission.RESIDENCE_READ)
    value = normalise_address(address)
    version, token_value = indexes.read_token(session, keyring, table=DWELLING.name, field=ADDRESS_INDEX, value=value)
    ids = indexes.candidates(
        session, table=DWELLING.name, field=ADDRESS_INDEX, version=version, token_value=token_value
    )
    if not ids:
        return []
    rows = session.exec(
        scoped_select(session, Dwelling, ctx.principal.scope).where(
            Dwelling.id.in_([uuid.UUID(i) for i in ids]),  # type: ignore[attr-defined]
            Dwelling.org_unit_code == org_unit,
        )
    )
    return [
        d
        for d in rows
        if matches(session, keyring, DWELLING, d, field="address", expected=value, normalise=normalise_address)
    ]


def read_dwelling(session: Session, ctx: Context, keyring: Keyring, *, dwelling_id: uuid.UUID) -> tuple[Dwelling, dict]:
    ctx.principal.require(Permission.RESIDENCE_READ)
    dwelling = get_dwelling(session, ctx.principal.scope, dwelling_id=dwelling_id)
    # An address is no one person's record; a rental's discloses where its landlord lets.
    landlord = str(dwelling.landlord_person_id) if dwelling.landlord_person_id else None
    return dwelling, disclose(session, ctx, keyring, DWELLING, dwelling, action=Action.DWELLING_READ, subject=landlord)


def occupants(session: Session, ctx: Context, *, dwelling_id: uuid.UUID) -> list[Registration]:
    ctx.principal.require(Permission.RESIDENCE_READ)
    dwelling = get_dwelling(session, ctx.principal.scope, dwelling_id=dwelling_id)
    rows = list(
        session.exec(
            scoped_select(session, Registration, ctx.principal.scope)
            .where(Registration.dwelling_id == dwelling.id, Registration.status == RegistrationStatus.active)
            .order_by(Registration.arrived_on)
        )
    )
    ctx.audit.append(
        session, ctx.event(Action.DWELLING_OCCUPANTS, targets=(str(dwelling.id), *(str(r.person_id) for r in rows)))
    )
    return rows
