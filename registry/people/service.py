"""Persons: capture, read, exact search, erasure. Every personal field sealed under the
person's `identity` DEK; exact search through blind indexes; every access audited."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from registry.access.models import OrgUnit
from registry.access.policy import Permission
from registry.access.principal import Principal
from registry.access.scope import Scope, get_org_unit, in_scope, one_in_scope, scoped_select
from registry.audit.actions import Action
from registry.casefiles.access import held_file_query
from registry.clock import today
from registry.context import Context
from registry.crypto import indexes
from registry.crypto.keyring import Compartment, DataKey, Keyring
from registry.disclosure import disclose, matches, rule_inputs, search_hits
from registry.errors import Conflict, Gone, NotFound, PreconditionFailed, RuleViolation
from registry.people.holds import holds_anything_of
from registry.people.identifiers import (
    IdNumber,
    display_name,
    name_key,
    normalise_name,
    normalise_phone,
    parse_id_number,
)
from registry.people.models import PERSON, Person
from registry.people.retention import erase_identity, has_live_records
from registry.people.schemas import PersonCreate, PersonSearch, PersonUpdate


def get_person(session: Session, scope: Scope, *, person_id: uuid.UUID) -> Person:
    return _live(session.exec(one_in_scope(Person, scope), params={"id": person_id}).first())


def _live(person: Person | None) -> Person:
    """The person a scoped lookup found: 404 when none was, 410 when their identity is erased."""
    if person is None:
        raise NotFound("person not found")
    if person.erased_at is not None:
        raise Gone("the person's identity data was erased")
    return person


# The persons a search's index entries name, with their holding unit's path: built once.
_CANDIDATE_PERSONS = (
    sa.select(Person, col(OrgUnit.path))
    .join(OrgUnit, col(OrgUnit.code) == col(Person.org_unit_code))
    .where(col(Person.id).in_(sa.bindparam("ids", expanding=True)))
)


def _matches(
    session: Session,
    keyring: Keyring,
    *,
    index: str,
    value: str,
    check: Callable[[Person], bool],
) -> tuple[list[Person], str, dict[str, str]]:
    """Live persons whose `index` token equals `value`'s, each re-checked by `check` (a token
    is a bucket: other persons share it), the token searched, as hex for the audit, and the
    path of each one's holding unit (for a caller that tells in scope from out of it)."""
    version, token_value = indexes.read_token(session, keyring, table=PERSON.name, field=index, value=value)
    ids = indexes.candidates_with_keys(
        session,
        keyring,
        table=PERSON.name,
        field=index,
        version=version,
        token_value=token_value,
        keys=Compartment.IDENTITY,
    )
    if not ids:
        return [], token_value.hex(), {}
    found: list[Person] = []
    paths: dict[str, str] = {}
    for person, path in session.execute(_CANDIDATE_PERSONS, {"ids": [uuid.UUID(i) for i in ids]}):
        if person.erased_at is None and check(person):
            found.append(person)
            paths[person.org_unit_code] = path
    return found, token_value.hex(), paths


def person_by_id_number(session: Session, keyring: Keyring, id_number: IdNumber) -> tuple[Person | None, str]:
    """The live person with this ID number, wherever held (the caller decides what its scope
    lets it do with them), and the blind-index token searched, as hex for the caller's audit
    entry; only the row leaves."""
    found, token_hex, _ = _matches(
        session,
        keyring,
        index="id_number",
        value=id_number.value,
        check=_is(session, keyring, "id_number", id_number.value),
    )
    return (found[0] if found else None), token_hex


def _is(session: Session, keyring: Keyring, field: str, expected: str, normalise: Callable[[str], str] = str):
    # A yes/no check of one sealed value: nothing leaves `disclosure` but the answer.
    return lambda person: matches(session, keyring, PERSON, person, field=field, expected=expected, normalise=normalise)


def sealed_identity(
    key: DataKey, *, record_id: str, id_number: IdNumber, name: str, phone: str | None, hukou: str | None
) -> dict[str, bytes | None]:
    """A new person's sealed columns (`<column>_ct`) from checked values (`display_name`,
    `normalise_phone`): `create_person`'s, and the bulk importer's."""
    return PERSON.seal_row(
        key,
        record_id=record_id,
        values={
            "name": name,
            "id_number": id_number.value,
            "sex": id_number.sex,
            "birth_date": id_number.birth_date.isoformat(),
            "phone": phone,
            "hukou_address": hukou,
        },
    )


def identity_indexes(id_number: IdNumber, *, name: str, phone: str | None) -> dict[str, str]:
    """Blind-index field → normalised value for a new person (what exact search looks up)."""
    values = {"id_number": id_number.value, "name_birth": name_key(name, id_number.birth_date)}
    if phone is not None:
        values["phone"] = phone
    return values


def create_person(session: Session, ctx: Context, keyring: Keyring, *, data: PersonCreate) -> Person:
    ctx.principal.require(Permission.PERSON_WRITE)
    return _create_person(session, ctx, keyring, data=data)


def register_subject(session: Session, ctx: Context, keyring: Keyring, *, data: PersonCreate) -> Person:
    """A casefile's subject registered as the file opens (社区矫正法 Art. 22: 核实身份、办理接收
    登记): `person:register` (corrections) or `person:write`, held by the file's unit, which
    the caller's scope covers. Only `casefiles.service.create_casefile` calls this."""
    if not ctx.principal.can(Permission.PERSON_WRITE):
        ctx.principal.require(Permission.PERSON_REGISTER)
    if data.org_unit is None:
        raise RuleViolation("org_unit: the file's unit holds its subject")
    return _create_person(session, ctx, keyring, data=data)


def _create_person(session: Session, ctx: Context, keyring: Keyring, *, data: PersonCreate) -> Person:
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
    existing, token_hex, _ = _matches(
        session,
        keyring,
        index="id_number",
        value=id_number.value,
        check=_is(session, keyring, "id_number", id_number.value),
    )
    if existing:
        # A hit tells the caller the ID number exists, maybe elsewhere: on the record.
        raise Conflict(
            "a person with this ID number exists",
            person_id=str(existing[0].id),
            audit_as=Action.PERSON_CREATE,
            targets=(str(existing[0].id), token_hex),
        )

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
    indexes.put_new(
        session, keyring, table=PERSON.name, record_id=rid, values=identity_indexes(id_number, name=name, phone=phone)
    )
    written = [c for c, v in (("phone", phone), ("hukou_address", data.hukou_address)) if v is not None]
    fields = ("name", "id_number", "sex", "birth_date", *written)
    ctx.audit.append(session, ctx.event(Action.PERSON_CREATE, targets=(rid,), fields=fields))
    return person


def created_person(session: Session, ctx: Context, keyring: Keyring, person: Person) -> dict:
    """The person this request created, shown as `read_person` would (and audited as its
    read), from the values in hand: no casefile can hold someone created just now."""
    ctx.principal.require(Permission.PERSON_READ)
    rid = str(person.id)
    return disclose(session, ctx, keyring, PERSON, person, action=Action.PERSON_READ, subject=rid)


@functools.lru_cache(maxsize=256)
def _read_query(principal: Principal) -> sa.Select[Any]:
    """`read_person`'s one statement: the person in the principal's scope, the casefile it
    holds of them, their newest key row; the person bound at each run. Built once per
    principal (a principal is its account's powers as read for this request, so a changed
    account is another key): building it and its cache key cost more than running it."""
    person_id = sa.bindparam("person_id", type_=Person.__table__.c.id.type)  # type: ignore[attr-defined]
    owner = sa.bindparam("owner", type_=sa.String())
    return (
        in_scope(Person, principal.scope)
        .where(col(Person.id) == person_id)
        .add_columns(
            held_file_query(principal, person_id).scalar_subquery(),
            *Keyring.newest_key_columns(owner=owner, compartment=Compartment.IDENTITY),
        )
    )


def read_person(session: Session, ctx: Context, keyring: Keyring, *, person_id: uuid.UUID) -> tuple[Person, dict]:
    """The person in the caller's scope (else 404, whatever files they hold), shown as the
    role sees it; as to a file's holder (corrections: the full ID number) only when the
    caller opens a casefile of this person (`casefiles.access.held_file_of`), which the
    audit entry then names."""
    ctx.principal.require(Permission.PERSON_READ)
    rid = str(person_id)
    row = session.execute(_read_query(ctx.principal), {"person_id": person_id, "owner": rid}).first()
    person, held, version, wrapped = row if row is not None else (None, None, None, None)
    person = _live(person)
    keyring.remember(session, owner=rid, compartment=Compartment.IDENTITY, version=version, wrapped=wrapped)
    return person, disclose(
        session,
        ctx,
        keyring,
        PERSON,
        person,
        action=Action.PERSON_READ,
        subject=rid,
        held_file=None if held is None else str(held),
    )


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
        person.name_ct = PERSON.seal(key, record_id=rid, name="name", value=name)
        # The birth date is sealed too: the new name's index entry needs it (a rule input).
        birth = rule_inputs(
            session, ctx, keyring, PERSON, person, fields=("birth_date",), serving=Action.PERSON_UPDATE, subject=rid
        )["birth_date"]
        indexes.put(
            session,
            keyring,
            table=PERSON.name,
            field="name_birth",
            record_id=rid,
            value=name_key(name, date.fromisoformat(birth)),
        )
    if "phone" in changes:
        phone = normalise_phone(changes["phone"]) if changes["phone"] is not None else None
        person.phone_ct = PERSON.seal(key, record_id=rid, name="phone", value=phone)
        indexes.drop_record(session, table=PERSON.name, record_id=rid, field="phone")
        if phone is not None:
            indexes.put(session, keyring, table=PERSON.name, field="phone", record_id=rid, value=phone)
    if "hukou_address" in changes:
        person.hukou_address_ct = PERSON.seal(key, record_id=rid, name="hukou_address", value=changes["hukou_address"])
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
        found, token_hex, paths = _matches(
            session, keyring, index="id_number", value=value, check=_is(session, keyring, "id_number", value)
        )
    elif query.phone is not None:
        value = normalise_phone(query.phone)
        found, token_hex, paths = _matches(
            session, keyring, index="phone", value=value, check=_is(session, keyring, "phone", value)
        )
    else:
        assert query.name is not None and query.birth_date is not None
        name, birth = normalise_name(query.name), query.birth_date.isoformat()
        # Name and birth date both re-checked: the bucket is keyed on the pair.
        found, token_hex, paths = _matches(
            session,
            keyring,
            index="name_birth",
            value=name_key(query.name, query.birth_date),
            check=lambda p: (
                _is(session, keyring, "name", name, normalise_name)(p) and _is(session, keyring, "birth_date", birth)(p)
            ),
        )
    hits = search_hits(session, ctx, keyring, PERSON, found, action=Action.PERSON_SEARCH, search_token=token_hex)
    return [
        {
            "id": person.id,
            "name_masked": hit["name"],
            "birth_year": int(hit["birth_date"] or 0),
            "in_scope": ctx.principal.scope.covers(paths[person.org_unit_code]),
        }
        for person, hit in zip(found, hits, strict=True)
    ]


def erase_person(session: Session, ctx: Context, keyring: Keyring, *, person_id: uuid.UUID, reason: str) -> None:
    """Crypto-shredding of the identity on request: refused while a hold covers the person
    or anything of theirs is live (a registration, permit, casefile... still relies on it);
    retention erases it by itself once nothing is (`people.retention`)."""
    ctx.principal.require(Permission.RETENTION_RUN)
    # FOR UPDATE of the person and its unit's row, as it has always been: not a hot path,
    # and the unit's lock also waits for an uncommitted insert into that unit.
    person = _live(
        session.exec(
            scoped_select(session, Person, ctx.principal.scope).where(Person.id == person_id).with_for_update()
        ).first()
    )
    rid = str(person.id)
    if holds_anything_of(session, person.id):
        raise Conflict(
            "legal_hold: a legal hold covers this person or a record of theirs",
            audit_as=Action.PERSON_ERASE,
            targets=(rid,),
        )
    if has_live_records(session, person.id):
        raise Conflict(
            "records_live: records of this person still rely on the identity",
            audit_as=Action.PERSON_ERASE,
            targets=(rid,),
        )
    erase_identity(session, keyring, person, at=ctx.clock.now())
    ctx.audit.append(session, ctx.event(Action.PERSON_ERASE, targets=(rid,), reason=reason))
