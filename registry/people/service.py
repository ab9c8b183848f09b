"""Persons: capture, read, exact search, erasure. Every personal field sealed under the
person's `identity` DEK; exact search through blind indexes; every access audited."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import date

from sqlmodel import Session, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission, Role
from registry.access.scope import Scope
from registry.accounts.orgunits import get_org_unit, scoped_select
from registry.audit.actions import Action
from registry.clock import today
from registry.context import Context
from registry.crypto import indexes
from registry.crypto.fields import seal, seal_optional
from registry.crypto.keyring import Compartment, DataKey, Keyring
from registry.crypto.rotation import SealedTable
from registry.disclosure import Visibility, disclose, mask_name, reveal_for_match
from registry.errors import Conflict, Gone, NotFound, PreconditionFailed, RuleViolation
from registry.people.identifiers import IdNumber, display_name, normalise_name, normalise_phone, parse_id_number
from registry.people.models import Person
from registry.people.schemas import PersonCreate, PersonSearch, PersonUpdate

TABLE = "person"
V = Visibility
# Who sees which identity field (PRIVACY.md §3 masking). Roles absent here see nothing.
VISIBILITY: dict[Role, dict[str, Visibility]] = {
    Role.POLICE: dict.fromkeys(("name", "id_number", "sex", "birth_date", "phone", "hukou_address"), V.FULL),
    Role.CIVIL_AFFAIRS: dict.fromkeys(("name", "id_number", "sex", "birth_date", "phone", "hukou_address"), V.FULL),
    # Corrections need to recognise the subject and reach them, not the full ID number.
    Role.CORRECTIONS: {
        "name": V.FULL,
        "id_number": V.MASKED,
        "sex": V.FULL,
        "birth_date": V.FULL,
        "phone": V.FULL,
        "hukou_address": V.FULL,
    },
}


def get_person(session: Session, scope: Scope, *, person_id: uuid.UUID) -> Person:
    person = session.exec(scoped_select(session, Person, scope).where(Person.id == person_id)).first()
    if person is None:
        raise NotFound("person not found")
    if person.erased_at is not None:
        raise Gone("the person's identity data was erased")
    return person


def identity_field(session: Session, keyring: Keyring, person: Person, column: str) -> str:
    """One of a person's sealed identity values, for a rule check or an exact match inside
    the service (the caller never returns it): ages, sexes, names compared, not shown."""
    rid = str(person.id)
    return reveal_for_match(
        session,
        keyring,
        getattr(person, f"{column}_ct"),
        owner=rid,
        compartment=Compartment.IDENTITY,
        table=TABLE,
        column=column,
        record_id=rid,
    )


def _name_key(name: str, birth_date: date) -> str:
    return f"{normalise_name(name)}|{birth_date.isoformat()}"


def _matches(
    session: Session, keyring: Keyring, *, field: str, value: str, column: str, normalise: Callable[[str], str]
) -> tuple[list[Person], str]:
    version, token_value = indexes.read_token(session, keyring, table=TABLE, field=field, value=value)
    ids = indexes.candidates(session, table=TABLE, field=field, version=version, token_value=token_value)
    found: list[Person] = []
    for person in session.exec(select(Person).where(Person.id.in_([uuid.UUID(i) for i in ids]))):  # type: ignore[attr-defined]
        if person.erased_at is not None:
            continue
        # A token is a bucket: open the candidate's own value and compare exactly.
        stored = identity_field(session, keyring, person, column)
        if normalise(stored) == value:
            found.append(person)
    return found, token_value.hex()


def sealed_identity(
    key: DataKey, *, record_id: str, id_number: IdNumber, name: str, phone: str | None, hukou: str | None
) -> dict[str, bytes | None]:
    """A new person's sealed columns (`<column>_ct`) from checked values (`display_name`,
    `normalise_phone`): `create_person`'s, and the bulk importer's."""
    return {
        "name_ct": seal(key, name, table=TABLE, column="name", record_id=record_id),
        "id_number_ct": seal(key, id_number.value, table=TABLE, column="id_number", record_id=record_id),
        "sex_ct": seal(key, id_number.sex, table=TABLE, column="sex", record_id=record_id),
        "birth_date_ct": seal(
            key, id_number.birth_date.isoformat(), table=TABLE, column="birth_date", record_id=record_id
        ),
        "phone_ct": seal_optional(key, phone, table=TABLE, column="phone", record_id=record_id),
        "hukou_address_ct": seal_optional(key, hukou, table=TABLE, column="hukou_address", record_id=record_id),
    }


def identity_indexes(id_number: IdNumber, *, name: str, phone: str | None) -> dict[str, str]:
    """Blind-index field → normalised value for a new person (what exact search looks up)."""
    values = {"id_number": id_number.value, "name_birth": _name_key(name, id_number.birth_date)}
    if phone is not None:
        values["phone"] = phone
    return values


def create_person(session: Session, ctx: Context, keyring: Keyring, *, data: PersonCreate) -> Person:
    ctx.principal.require(Permission.PERSON_WRITE)
    id_number = parse_id_number(data.id_number, today=today(ctx.clock))
    if data.sex is not None and data.sex != id_number.sex:
        raise RuleViolation("sex: disagrees with the ID number")
    if data.birth_date is not None and data.birth_date != id_number.birth_date:
        raise RuleViolation("birth_date: disagrees with the ID number")
    name = display_name(data.name)
    phone = normalise_phone(data.phone) if data.phone is not None else None
    org_unit = data.org_unit or ctx.principal.org_unit_code
    if org_unit is None:
        raise RuleViolation("org_unit: required for a tree-wide account")
    get_org_unit(session, ctx.principal.scope, code=org_unit)
    existing, _ = _matches(
        session, keyring, field="id_number", value=id_number.value, column="id_number", normalise=lambda v: v
    )
    if existing:
        raise Conflict("a person with this ID number exists", person_id=str(existing[0].id))

    person_id = uuid.uuid4()
    rid = str(person_id)
    key = keyring.new_owner_key(session, owner=rid, compartment=Compartment.IDENTITY)
    now = ctx.clock.now()
    person = Person(
        id=person_id,
        org_unit_code=org_unit,
        **sealed_identity(key, record_id=rid, id_number=id_number, name=name, phone=phone, hukou=data.hukou_address),
        created_at=now,
        updated_at=now,
    )
    session.add(person)
    for field, value in identity_indexes(id_number, name=name, phone=phone).items():
        indexes.put(session, keyring, table=TABLE, field=field, record_id=rid, value=value, fresh=True)
    written = [c for c, v in (("phone", phone), ("hukou_address", data.hukou_address)) if v is not None]
    fields = ("name", "id_number", "sex", "birth_date", *written)
    ctx.audit.append(session, ctx.event(Action.PERSON_CREATE, targets=(rid,), fields=fields))
    return person


def read_person(session: Session, ctx: Context, keyring: Keyring, *, person_id: uuid.UUID) -> tuple[Person, dict]:
    ctx.principal.require(Permission.PERSON_READ)
    person = get_person(session, ctx.principal.scope, person_id=person_id)
    rid = str(person.id)
    values = disclose(
        session,
        ctx,
        keyring,
        action=Action.PERSON_READ,
        record_id=rid,
        owner=rid,
        compartment=Compartment.IDENTITY,
        table=TABLE,
        visibility=VISIBILITY,
        sealed={
            "name": person.name_ct,
            "id_number": person.id_number_ct,
            "sex": person.sex_ct,
            "birth_date": person.birth_date_ct,
            "phone": person.phone_ct,
            "hukou_address": person.hukou_address_ct,
        },
    )
    return person, values


def update_person(
    session: Session, ctx: Context, keyring: Keyring, *, person_id: uuid.UUID, data: PersonUpdate, if_match: int
) -> Person:
    ctx.principal.require(Permission.PERSON_WRITE)
    person = get_person(session, ctx.principal.scope, person_id=person_id)
    if person.version != if_match:
        raise PreconditionFailed("the person changed since it was read")
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise RuleViolation("name: cannot be removed")
    rid = str(person.id)
    key = keyring.write_key(session, owner=rid, compartment=Compartment.IDENTITY)
    if "name" in changes:
        name = display_name(changes["name"])
        person.name_ct = seal(key, name, table=TABLE, column="name", record_id=rid)
        birth = identity_field(session, keyring, person, "birth_date")
        indexes.put(
            session,
            keyring,
            table=TABLE,
            field="name_birth",
            record_id=rid,
            value=_name_key(name, date.fromisoformat(birth)),
        )
    if "phone" in changes:
        phone = normalise_phone(changes["phone"]) if changes["phone"] is not None else None
        person.phone_ct = seal_optional(key, phone, table=TABLE, column="phone", record_id=rid)
        indexes.drop_record(session, table=TABLE, record_id=rid, field="phone")
        if phone is not None:
            indexes.put(session, keyring, table=TABLE, field="phone", record_id=rid, value=phone)
    if "hukou_address" in changes:
        person.hukou_address_ct = seal_optional(
            key, changes["hukou_address"], table=TABLE, column="hukou_address", record_id=rid
        )
    if changes:
        person.version += 1
        person.updated_at = ctx.clock.now()
        ctx.audit.append(session, ctx.event(Action.PERSON_UPDATE, targets=(rid,), fields=tuple(sorted(changes))))
    return person


def search_persons(session: Session, ctx: Context, keyring: Keyring, *, query: PersonSearch) -> list[dict]:
    """Exact search, wider than capture scope (to avoid duplicates): outside the caller's
    subtree a match shows only its id, a masked name and the birth year."""
    ctx.principal.require(Permission.PERSON_SEARCH)
    if query.id_number is not None:
        value = parse_id_number(query.id_number, today=today(ctx.clock)).value
        found, token_hex = _matches(
            session, keyring, field="id_number", value=value, column="id_number", normalise=lambda v: v
        )
    elif query.phone is not None:
        value = normalise_phone(query.phone)
        found, token_hex = _matches(
            session, keyring, field="phone", value=value, column="phone", normalise=normalise_phone
        )
    else:
        assert query.name is not None and query.birth_date is not None
        value = _name_key(query.name, query.birth_date)
        found, token_hex = _matches(
            session,
            keyring,
            field="name_birth",
            value=value,
            column="name",
            normalise=lambda stored: _name_key(stored, query.birth_date),  # type: ignore[arg-type]
        )
    paths = dict(
        session.exec(select(OrgUnit.code, OrgUnit.path).where(OrgUnit.code.in_({p.org_unit_code for p in found}))).all()
    )  # type: ignore[attr-defined]
    ctx.audit.append(
        session,
        ctx.event(
            Action.PERSON_SEARCH,
            targets=tuple(str(p.id) for p in found),
            fields=("name_masked", "birth_year"),
            search_token=token_hex,
        ),
    )
    items = []
    for person in found:
        name = identity_field(session, keyring, person, "name")
        birth = identity_field(session, keyring, person, "birth_date")
        items.append(
            {
                "id": person.id,
                "name_masked": mask_name(name),
                "birth_year": int(birth[:4]),
                "in_scope": ctx.principal.scope.covers(paths[person.org_unit_code]),
            }
        )
    return items


def erase_person(session: Session, ctx: Context, keyring: Keyring, *, person_id: uuid.UUID, reason: str) -> None:
    """Crypto-shredding of the identity compartment: the DEKs go, the ciphertext stays
    unreadable (also in backups), the blind-index entries go so nothing can match it."""
    ctx.principal.require(Permission.RETENTION_RUN)
    person = session.exec(
        scoped_select(session, Person, ctx.principal.scope).where(Person.id == person_id).with_for_update()
    ).first()
    if person is None:
        raise NotFound("person not found")
    if person.erased_at is not None:
        raise Gone("the person's identity data was erased")
    rid = str(person.id)
    keyring.shred(session, owner=rid, compartment=Compartment.IDENTITY)
    indexes.drop_record(session, table=TABLE, record_id=rid)
    person.erased_at = ctx.clock.now()
    person.version += 1
    ctx.audit.append(session, ctx.event(Action.PERSON_ERASE, targets=(rid,), reason=reason))


def _index_name_birth(opened: Mapping[str, str | None]) -> str | None:
    name, birth = opened.get("name"), opened.get("birth_date")
    return None if name is None or birth is None else _name_key(name, date.fromisoformat(birth))


# Where persons keep sealed values and blind indexes, for key rotation's sweeps.
SEALED = SealedTable(
    table=Person.__table__,  # type: ignore[arg-type]
    id_column="id",
    owner_column="id",
    compartment=Compartment.IDENTITY,
    columns=("name", "id_number", "sex", "birth_date", "phone", "hukou_address"),
    index_columns=("name", "id_number", "birth_date", "phone"),
    indexes={
        "id_number": lambda opened: opened.get("id_number"),
        "phone": lambda opened: opened.get("phone"),
        "name_birth": _index_name_birth,
    },
    skip_column="erased_at",
)
