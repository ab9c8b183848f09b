"""Dwellings: an address in an org unit; for rentals, the landlord and the pledge date.

The address is sealed and blind-indexed (`dwelling/address`, NFKC with whitespace
removed) so that a bulk import can find an existing dwelling instead of duplicating it.

A dwelling changes by `update_dwelling` (PATCH with `If-Match`): a new landlord, a pledge
signed later, a corrected address. A landlord held by another unit is named by ID number:
the exact search answers its masked hit, and nothing else of that person reaches the caller.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session, col

from registry.access.policy import Permission
from registry.access.scope import Scope, get_org_unit, one_in_scope, scoped_select
from registry.audit.actions import Action
from registry.clock import today
from registry.context import Context
from registry.crypto import indexes
from registry.crypto.keyring import Compartment, Keyring
from registry.disclosure import disclose, matches
from registry.errors import NotFound, PreconditionFailed, RuleViolation
from registry.people.identifiers import normalise_address
from registry.people.models import Person
from registry.people.schemas import PersonSearch
from registry.people.service import search_persons
from registry.residence import measures
from registry.residence.models import DWELLING, Dwelling, Registration
from registry.residence.rules import RegistrationStatus, check_dwelling
from registry.residence.schemas import DwellingCreate, DwellingUpdate

__all__ = ["normalise_address"]  # the bulk importer's, too
ADDRESS_INDEX = "address"


def get_dwelling(session: Session, scope: Scope, *, dwelling_id: uuid.UUID, lock: bool = False) -> Dwelling:
    dwelling = session.exec(one_in_scope(Dwelling, scope, lock=lock), params={"id": dwelling_id}).first()
    if dwelling is None:
        raise NotFound("dwelling not found", targets=(str(dwelling_id),))
    return dwelling


def _landlord_in_scope(session: Session, ctx: Context, person_id: uuid.UUID) -> uuid.UUID:
    # Named by id from the caller's own records: a person held by another unit is the same
    # 404 as no person (a lookup by id never reads outside the scope).
    found = session.exec(one_in_scope(Person, ctx.principal.scope), params={"id": person_id}).first()
    if found is None:
        raise NotFound("landlord person not found", targets=(str(person_id),))
    return person_id


def create_dwelling(session: Session, ctx: Context, keyring: Keyring, *, data: DwellingCreate) -> Dwelling:
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    get_org_unit(session, ctx.principal.scope, code=data.org_unit)
    check_dwelling(
        kind=data.kind,
        has_landlord=data.landlord_person_id is not None,
        pledge_signed_on=data.pledge_signed_on,
        today=today(ctx.clock),
    )
    if data.landlord_person_id is not None:
        _landlord_in_scope(session, ctx, data.landlord_person_id)
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


def _landlord_by_id_number(
    session: Session, ctx: Context, keyring: Keyring, id_number: str
) -> tuple[uuid.UUID, dict[str, Any]]:
    """The one person with this ID number, wherever held, by the exact search persons use
    (audited as `person:search` with the blind-index token): its masked hit, nothing more."""
    hits = search_persons(session, ctx, keyring, query=PersonSearch(id_number=id_number))
    if not hits:
        raise NotFound("landlord person not found")
    return hits[0]["id"], hits[0]


def update_dwelling(
    session: Session, ctx: Context, keyring: Keyring, *, dwelling_id: uuid.UUID, data: DwellingUpdate, if_match: int
) -> tuple[Dwelling, dict[str, Any] | None]:
    """Apply the fields sent; the dwelling and, when the landlord was named by ID number, the
    exact-search hit. A new landlord signs a pledge of their own (租赁房屋治安管理规定 Art. 6):
    unless the request gives its date, the previous landlord's pledge date is cleared."""
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    dwelling = get_dwelling(session, ctx.principal.scope, dwelling_id=dwelling_id, lock=True)
    if dwelling.version != if_match:
        raise PreconditionFailed("the dwelling changed since it was read")
    changes = data.model_dump(exclude_unset=True)
    for required in ("address", "kind"):
        if required in changes and changes[required] is None:
            raise RuleViolation(f"{required}: cannot be removed")
    if "landlord_person_id" in changes and "landlord_id_number" in changes:
        raise RuleViolation("landlord: name the landlord by landlord_person_id or by landlord_id_number, not both")
    landlord, match = dwelling.landlord_person_id, None
    if changes.get("landlord_id_number") is not None:
        landlord, match = _landlord_by_id_number(session, ctx, keyring, changes["landlord_id_number"])
    elif "landlord_person_id" in changes:
        landlord = changes["landlord_person_id"]
        if landlord is not None and landlord != dwelling.landlord_person_id:
            _landlord_in_scope(session, ctx, landlord)
    pledge = changes.get("pledge_signed_on", dwelling.pledge_signed_on)
    if landlord != dwelling.landlord_person_id and "pledge_signed_on" not in changes:
        pledge = None
    kind = changes.get("kind", dwelling.kind)
    check_dwelling(kind=kind, has_landlord=landlord is not None, pledge_signed_on=pledge, today=today(ctx.clock))
    changed = []
    if "address" in changes:
        rid = str(dwelling.id)
        key = keyring.write_key(session, owner=rid, compartment=Compartment.RESIDENCE)
        dwelling.address_ct = DWELLING.seal(key, record_id=rid, name="address", value=changes["address"])
        indexes.put(
            session,
            keyring,
            table=DWELLING.name,
            field=ADDRESS_INDEX,
            record_id=rid,
            value=normalise_address(changes["address"]),
        )
        changed.append("address")
    before = dwelling.landlord_person_id
    for field, value in (("kind", kind), ("landlord_person_id", landlord), ("pledge_signed_on", pledge)):
        if getattr(dwelling, field) != value:
            setattr(dwelling, field, value)
            changed.append(field)
    if changed:
        dwelling.version += 1
        session.add(dwelling)
        # Both landlords are named: the change shows in each one's access report.
        named = dict.fromkeys(str(p) for p in (before, landlord) if p is not None)
        ctx.audit.append(
            session,
            ctx.event(Action.DWELLING_UPDATE, targets=(str(dwelling.id), *named), fields=tuple(sorted(changed))),
        )
    return dwelling, match


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


DWELLING_WORKLISTS = ("pledge_missing",)  # rentals lived in whose landlord has not signed the pledge


def list_dwellings(
    session: Session, ctx: Context, *, due: str, org_unit: str | None, after: str | None, limit: int
) -> list[Dwelling]:
    """A worklist of dwellings in scope: ids, unit and kind only (no address)."""
    ctx.principal.require(Permission.RESIDENCE_READ)
    if due not in DWELLING_WORKLISTS:
        raise RuleViolation(f"due: one of {', '.join(DWELLING_WORKLISTS)}")
    on = today(ctx.clock)
    query = scoped_select(session, Dwelling, ctx.principal.scope, org_unit=org_unit).where(
        measures.let_rental(on), ~measures.pledged(on)
    )
    if after is not None:
        query = query.where(col(Dwelling.id) > uuid.UUID(after))
    rows = list(session.exec(query.order_by(col(Dwelling.id)).limit(limit)))
    ctx.audit.append(session, ctx.event(Action.DWELLING_LIST, targets=tuple(str(d.id) for d in rows), reason=due))
    return rows


def read_dwelling(session: Session, ctx: Context, keyring: Keyring, *, dwelling_id: uuid.UUID) -> tuple[Dwelling, dict]:
    ctx.principal.require(Permission.RESIDENCE_READ)
    dwelling = get_dwelling(session, ctx.principal.scope, dwelling_id=dwelling_id)
    return dwelling, shown_dwelling(session, ctx, keyring, dwelling)


def shown_dwelling(session: Session, ctx: Context, keyring: Keyring, dwelling: Dwelling) -> dict:
    """A dwelling in the caller's scope as `read_dwelling` shows it (and audits its read): the
    one a write just made answered from the values in hand, without reading it back."""
    ctx.principal.require(Permission.RESIDENCE_READ)
    # An address is no one person's record; a rental's discloses where its landlord lets.
    landlord = str(dwelling.landlord_person_id) if dwelling.landlord_person_id else None
    return disclose(session, ctx, keyring, DWELLING, dwelling, action=Action.DWELLING_READ, subject=landlord)


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
