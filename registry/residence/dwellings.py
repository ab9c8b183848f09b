"""Dwellings: an address in an org unit; for rentals, the landlord and the pledge date.

The address is sealed and blind-indexed (`dwelling/address`, NFKC with whitespace
removed) so that a bulk import can find an existing dwelling instead of duplicating it.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping

from sqlmodel import Session, select

from registry.access.policy import Permission
from registry.access.scope import Scope
from registry.accounts.orgunits import get_org_unit, scoped_select
from registry.audit.actions import Action
from registry.context import Context
from registry.crypto import indexes
from registry.crypto.fields import seal
from registry.crypto.keyring import Compartment, Keyring
from registry.crypto.rotation import SealedTable
from registry.disclosure import disclose, reveal_for_match
from registry.errors import NotFound, RuleViolation
from registry.people.models import Person
from registry.residence.models import Dwelling, Registration
from registry.residence.rules import RegistrationStatus
from registry.residence.schemas import DwellingCreate
from registry.residence.visibility import VISIBILITY

TABLE = "dwelling"
ADDRESS_INDEX = "address"


def normalise_address(value: str) -> str:
    """The blind-index form of an address: NFKC with all whitespace removed (PRIVACY.md).
    Normalised again after the join so the function is idempotent, as an index needs."""
    joined = "".join(unicodedata.normalize("NFKC", value).split())
    return unicodedata.normalize("NFKC", joined)


def get_dwelling(session: Session, scope: Scope, *, dwelling_id: uuid.UUID) -> Dwelling:
    dwelling = session.exec(scoped_select(session, Dwelling, scope).where(Dwelling.id == dwelling_id)).first()
    if dwelling is None:
        raise NotFound("dwelling not found")
    return dwelling


def create_dwelling(session: Session, ctx: Context, keyring: Keyring, *, data: DwellingCreate) -> Dwelling:
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    get_org_unit(session, ctx.principal.scope, code=data.org_unit)
    if data.kind == "rental" and data.landlord_person_id is None:
        raise RuleViolation("landlord: a rental names its landlord (租赁房屋治安管理规定 Art. 6)")
    if data.kind != "rental" and (data.landlord_person_id or data.pledge_signed_on):
        raise RuleViolation("landlord: only rentals have a landlord and a pledge")
    if data.landlord_person_id is not None and session.get(Person, data.landlord_person_id) is None:
        raise NotFound("landlord person not found")
    dwelling_id = uuid.uuid4()
    key = keyring.new_owner_key(session, owner=str(dwelling_id), compartment=Compartment.RESIDENCE)
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
    indexes.put(
        session,
        keyring,
        table=TABLE,
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
    version, token_value = indexes.read_token(session, keyring, table=TABLE, field=ADDRESS_INDEX, value=value)
    ids = indexes.candidates(session, table=TABLE, field=ADDRESS_INDEX, version=version, token_value=token_value)
    if not ids:
        return []
    rows = session.exec(
        scoped_select(session, Dwelling, ctx.principal.scope).where(
            Dwelling.id.in_([uuid.UUID(i) for i in ids]),  # type: ignore[attr-defined]
            Dwelling.org_unit_code == org_unit,
        )
    )
    found = []
    for dwelling in rows:
        rid = str(dwelling.id)
        stored = reveal_for_match(
            session,
            keyring,
            dwelling.address_ct,
            owner=rid,
            compartment=Compartment.RESIDENCE,
            table=TABLE,
            column="address",
            record_id=rid,
        )
        if normalise_address(stored) == value:
            found.append(dwelling)
    return found


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


def _index_address(opened: Mapping[str, str | None]) -> str | None:
    address = opened.get("address")
    return None if address is None else normalise_address(address)


# Where dwellings keep sealed values and blind indexes, for key rotation's sweeps
# (`registry.maintenance.SEALED_TABLES` must list it for rotation to cover dwellings).
SEALED = SealedTable(
    table=Dwelling.__table__,  # type: ignore[arg-type]
    id_column="id",
    owner_column="id",
    compartment=Compartment.RESIDENCE,
    columns=("address",),
    index_columns=("address",),
    indexes={ADDRESS_INDEX: _index_address},
)
