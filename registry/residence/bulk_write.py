"""Step 3 of a bulk import batch (`registry.residence.bulk`): the records the accepted rows
create, sealed, indexed and inserted with one executemany per table, and their audit entries.

The sealed columns, AADs and blind-index values are the services' own (`people.sealed_identity`,
`people.identity_indexes`, the dwelling and registration columns as `create_dwelling` and
`create_registration` seal them), so the normal read paths open and find them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session

from registry.audit.log import Event
from registry.context import Context
from registry.crypto import indexes
from registry.crypto.keyring import Compartment, Keyring
from registry.db import insert_many
from registry.people import service as people
from registry.people.identifiers import IdNumber
from registry.people.models import PERSON, Person
from registry.residence import dwellings, transfers
from registry.residence.models import DWELLING, REGISTRATION, Dwelling, Registration
from registry.residence.rules import RegistrationStatus
from registry.residence.schemas import DwellingCreate, RegistrationCreate

__all__ = ["NewPerson", "NewRegistration", "Plan", "write_plan"]


@dataclass(frozen=True)
class NewPerson:
    id: uuid.UUID
    org_unit: str
    id_number: IdNumber
    name: str  # display form
    phone: str | None  # normalised
    hukou_address: str | None


@dataclass(frozen=True)
class NewRegistration:
    id: uuid.UUID
    person_id: uuid.UUID
    dwelling_id: uuid.UUID
    org_unit: str
    data: RegistrationCreate
    registered_on: date
    employer_uscc: str | None  # parsed
    late: bool


@dataclass
class Plan:
    """Everything the accepted rows create, written in step 3."""

    persons: list[NewPerson] = field(default_factory=list)
    dwellings: list[tuple[uuid.UUID, DwellingCreate]] = field(default_factory=list)
    registrations: list[NewRegistration] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def write_plan(
    session: Session, ctx: Context, keyring: Keyring, plan: Plan, *, employer_of: Mapping[str, uuid.UUID]
) -> None:
    """Make the DEKs, seal, index and insert every record of the plan, then its audit entries.
    `employer_of`: the employer id of each (parsed) USCC the registrations name."""
    now = ctx.clock.now()  # one transaction, one creation time
    created = {p.id for p in plan.persons}
    existing = {str(r.person_id) for r in plan.registrations if r.person_id not in created}
    residence = keyring.load_keys(session, owners=existing, compartment=Compartment.RESIDENCE)
    owners = [(str(p.id), c) for p in plan.persons for c in (Compartment.IDENTITY, Compartment.RESIDENCE)]
    owners += [(str(did), Compartment.RESIDENCE) for did, _ in plan.dwellings]
    # A person captured elsewhere may have no residence key yet: `write_key` makes one.
    owners += [(o, Compartment.RESIDENCE) for o in sorted(existing - residence.keys())]
    made = keyring.new_keys(session, [(owner, compartment, 1) for owner, compartment in owners])
    keys = dict(zip(owners, made, strict=True))
    residence.update({owner: key for (owner, c), key in keys.items() if c == Compartment.RESIDENCE})

    index_rows: list[dict] = []  # type: ignore[type-arg]
    for p in plan.persons:
        for name, value in people.identity_indexes(p.id_number, name=p.name, phone=p.phone).items():
            index_rows += indexes.entries(
                session, keyring, table=PERSON.name, field=name, record_id=str(p.id), value=value
            )
    for did, d in plan.dwellings:
        index_rows += indexes.entries(
            session,
            keyring,
            table=DWELLING.name,
            field=dwellings.ADDRESS_INDEX,
            record_id=str(did),
            value=dwellings.normalise_address(d.address),
        )
    person_rows = [_person_row(p, keys, now) for p in plan.persons]
    dwelling_rows = [_dwelling_row(did, d, keys, now) for did, d in plan.dwellings]
    registration_rows = [_registration_row(r, residence, now, employer_of) for r in plan.registrations]
    insert_many(session, Person.__table__, person_rows)  # type: ignore[arg-type]
    insert_many(session, Dwelling.__table__, dwelling_rows)  # type: ignore[arg-type]
    insert_many(session, Registration.__table__, registration_rows)  # type: ignore[arg-type]
    indexes.insert_entries(session, index_rows)
    ctx.audit.append_all(session, plan.events)
    # A person stored before, registered in another unit that the importing scope also
    # covers (`decide` refused the rest): the move is explicit and audited, as the API's is.
    for r in plan.registrations:
        if r.person_id not in created:
            person = session.get(Person, r.person_id)  # `decide` checked the holder is in scope
            if person is not None and person.org_unit_code != r.org_unit:
                transfers.rehome(session, ctx, person=person, to_org_unit=r.org_unit, reason="import")


def _person_row(p: NewPerson, keys: dict, now: datetime) -> dict:  # type: ignore[type-arg]
    rid = str(p.id)
    sealed = people.sealed_identity(
        keys[(rid, Compartment.IDENTITY)],
        record_id=rid,
        id_number=p.id_number,
        name=p.name,
        phone=p.phone,
        hukou=p.hukou_address,
    )
    return {"id": p.id, "org_unit_code": p.org_unit, **sealed} | {
        "erased_at": None,
        "legal_hold": False,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def _dwelling_row(did: uuid.UUID, d: DwellingCreate, keys: dict, now: datetime) -> dict:  # type: ignore[type-arg]
    rid = str(did)
    return {
        "id": did,
        "org_unit_code": d.org_unit,
        "address_ct": DWELLING.seal(keys[(rid, Compartment.RESIDENCE)], record_id=rid, name="address", value=d.address),
        "kind": d.kind,
        "landlord_person_id": d.landlord_person_id,
        "pledge_signed_on": d.pledge_signed_on,
        "created_at": now,
        "version": 1,
    }


def _registration_row(r: NewRegistration, keys: dict, now: datetime, employer_of: Mapping[str, uuid.UUID]) -> dict:  # type: ignore[type-arg]
    rid, key = str(r.id), keys[str(r.person_id)]
    sealed = REGISTRATION.seal_row(
        key, record_id=rid, values={"employer_name": r.data.employer_name, "employer_uscc": r.employer_uscc}
    )
    return {
        "id": r.id,
        "person_id": r.person_id,
        "dwelling_id": r.dwelling_id,
        "org_unit_code": r.org_unit,
        "arrived_on": r.data.arrived_on,
        "registered_on": r.registered_on,
        "departed_on": None,
        "basis": r.data.basis,
        **sealed,
        "reported_by": r.data.reported_by,
        "employer_id": employer_of[r.employer_uscc] if r.employer_uscc else None,
        "status": RegistrationStatus.active,
        "late": r.late,
        "previous_id": None,
        "erased_at": None,
        "legal_hold": False,
        "created_at": now,
        "version": 1,
    }
