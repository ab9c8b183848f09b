"""Employers (以业管人): the legal entities registered residents work for.

An employer is held by the org unit that registered it, like a dwelling: its record is read
and written in that unit's subtree. It is found anywhere by the exact USCC (GB 32100), so
that a registration in another district links to the same employer instead of a copy; that
lookup answers an id and the holding unit, nothing sealed. The workers list of an employer
answers only the registrations in the caller's own scope, whoever holds the employer
(浙江省流动人口居住登记条例 Art. 8: the employer reports to the police where its workers live).

A registration with an employment basis links to the employer of its USCC, registering one
when none exists, held at the county level above the dwelling (never the street or community
a worker lives in, which a lookup from elsewhere would otherwise tell); a move keeps the
link; an employer's report of a leaver unlinks it (`registry.residence.employer_reports`).
The lookup tells another district only the id, not the holding unit."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission
from registry.access.scope import Scope, get_org_unit, one_in_scope, scoped_select
from registry.audit.actions import Action
from registry.context import Context
from registry.crypto import indexes
from registry.crypto.keyring import Compartment, Keyring
from registry.db import chunked, insert_many, table_of
from registry.disclosure import disclose, matches
from registry.errors import Conflict, NotFound, RuleViolation
from registry.people.identifiers import InvalidIdentifier, display_name, normalise_phone, parse_uscc
from registry.residence.models import EMPLOYER, Employer, Registration
from registry.residence.rules import RegistrationStatus
from registry.residence.schemas import NAME_MAX, EmployerCreate

USCC_INDEX = "uscc"
NOT_FOUND = "employer not found"
# pg_advisory_xact_lock key ("EMPLOYER"): one find-or-register of an employer at a time, so
# two registrations naming a new code at once make one employer, not two (SQLite has one
# writer anyway). The blind index cannot be unique: a truncated token is a bucket.
REGISTER_LOCK = 0x454D504C4F594552


def _serialise(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(REGISTER_LOCK)))


def holding_units(session: Session, codes: Collection[str]) -> dict[str, str]:
    """The unit an employer registered with a worker's registration is held by, for each
    dwelling unit code: the county level (the six-digit division code) above it when the
    tree has it, so that the holder names a district, never the street or community a
    worker lives in. One query for all."""
    # A county's own code is held by itself, whatever other codes the batch has.
    counties = sorted({code[:6] for code in codes if code[:6] != code})
    held = set(session.exec(select(OrgUnit.code).where(col(OrgUnit.code).in_(counties)))) if counties else set()
    return {code: code[:6] if code[:6] != code and code[:6] in held else code for code in codes}


def get_employer(session: Session, scope: Scope, *, employer_id: uuid.UUID) -> Employer:
    row = session.exec(one_in_scope(Employer, scope), params={"id": employer_id}).first()
    if row is None:
        raise NotFound(NOT_FOUND, targets=(str(employer_id),))
    return row


def find_by_uscc(session: Session, keyring: Keyring, uscc: str) -> Employer | None:
    """The employer with this (parsed) USCC, wherever held: the blind index gives candidates,
    each is opened and compared exactly. The caller audits what it does with it."""
    return find_many_by_uscc(session, keyring, [uscc]).get(uscc)


def find_many_by_uscc(session: Session, keyring: Keyring, usccs: Collection[str]) -> dict[str, Employer]:
    """`find_by_uscc` of many codes with one index query and one record query per thousand:
    USCC → the earliest registered employer with it (codes without one are left out)."""
    version, tokens = indexes.read_tokens(session, keyring, table=EMPLOYER.name, field=USCC_INDEX, values=usccs)
    bucket = indexes.candidates_of(
        session, table=EMPLOYER.name, field=USCC_INDEX, version=version, tokens=set(tokens.values())
    )
    ids = sorted({i for found in bucket.values() for i in found})
    candidates: dict[str, Employer] = {}
    for chunk in chunked(ids):
        rows = session.exec(select(Employer).where(col(Employer.id).in_([uuid.UUID(i) for i in chunk])))
        candidates.update((str(e.id), e) for e in rows)
    keyring.load_keys(session, owners=candidates.keys(), compartment=Compartment.RESIDENCE)
    found: dict[str, Employer] = {}
    for uscc, token_value in tokens.items():
        same = [
            e
            for i in bucket.get(token_value, [])
            if (e := candidates.get(i)) is not None
            and matches(session, keyring, EMPLOYER, e, field="uscc", expected=uscc)
        ]
        if same:
            found[uscc] = min(same, key=lambda e: e.created_at)
    return found


def _register(
    session: Session, ctx: Context, keyring: Keyring, new: list[tuple[str, dict[str, Any]]]
) -> list[uuid.UUID]:
    """New employers, each (holding unit, values): each with its own DEK, its fields sealed,
    its USCC indexed under every live index version, and on the record; one insert per table."""
    ids = [uuid.uuid4() for _ in new]
    keys = keyring.new_keys(session, [(str(i), Compartment.RESIDENCE, 1) for i in ids])
    now = ctx.clock.now()
    rows, index_rows, events = [], [], []
    for employer_id, key, (org_unit, values) in zip(ids, keys, new, strict=True):
        rid = str(employer_id)
        sealed = EMPLOYER.seal_row(key, record_id=rid, values=values)
        rows.append({"id": employer_id, "org_unit_code": org_unit, **sealed, "created_at": now, "version": 1})
        index_rows += indexes.entries(
            session, keyring, table=EMPLOYER.name, field=USCC_INDEX, record_id=rid, value=values["uscc"]
        )
        fields = tuple(sorted(k for k, v in values.items() if v))
        events.append(ctx.event(Action.EMPLOYER_CREATE, targets=(rid,), fields=fields))
    insert_many(session, table_of(Employer), rows)
    indexes.insert_entries(session, index_rows)
    ctx.audit.append_all(session, events)
    return ids


def create_employer(session: Session, ctx: Context, keyring: Keyring, *, data: EmployerCreate) -> Employer:
    ctx.principal.require(Permission.RESIDENCE_WRITE)
    get_org_unit(session, ctx.principal.scope, code=data.org_unit)
    uscc = parse_uscc(data.uscc)
    _serialise(session)
    existing = find_by_uscc(session, keyring, uscc)
    if existing is not None:
        # A legal entity's code, not a person's: the existing record's id is the answer,
        # and a lookup like `lookup`'s, on the record.
        _, token_value = indexes.read_token(session, keyring, table=EMPLOYER.name, field=USCC_INDEX, value=uscc)
        raise Conflict(
            "an employer with this unified social credit code exists",
            employer_id=str(existing.id),
            audit_as=Action.EMPLOYER_SEARCH,
            targets=(str(existing.id), token_value.hex()),  # as a person's duplicate is
        )
    values = {
        "name": employer_name(data.name),
        "uscc": uscc,
        "address": data.address,
        "contact_name": _contact_name(data.contact_name) if data.contact_name else None,
        "contact_phone": normalise_phone(data.contact_phone) if data.contact_phone else None,
    }
    employer = session.get(Employer, _register(session, ctx, keyring, [(data.org_unit, values)])[0])
    assert employer is not None  # inserted just now, in this transaction
    return employer


def employer_for(
    session: Session, ctx: Context, keyring: Keyring, *, name: str, uscc: str, dwelling_unit: str
) -> uuid.UUID:
    """The employer a registration or a report names (its USCC parsed), registered when the
    registry knows none, held at the county level above the worker's dwelling
    (`holding_units`): only its id leaves."""
    return employers_for(session, ctx, keyring, {uscc: (name, dwelling_unit)})[uscc]


def employers_for(
    session: Session, ctx: Context, keyring: Keyring, wanted: Mapping[str, tuple[str, str]]
) -> dict[str, uuid.UUID]:
    """`employer_for` of many codes at once (USCC → (name, the worker's dwelling unit)), for
    a bulk import: one lookup for them all, the missing ones registered with one insert per
    table, each with its own DEK, index entry and audit entry as `employer_for`'s."""
    if not wanted:
        return {}
    _serialise(session)
    ids = {uscc: e.id for uscc, e in find_many_by_uscc(session, keyring, wanted.keys()).items()}
    missing = [uscc for uscc in wanted if uscc not in ids]
    if not missing:
        return ids
    holder = holding_units(session, {wanted[u][1] for u in missing})
    new = [(holder[wanted[u][1]], _bare_values(wanted[u][0], u)) for u in missing]
    return ids | dict(zip(missing, _register(session, ctx, keyring, new), strict=True))


def _bare_values(name: str, uscc: str) -> dict[str, Any]:
    """An employer a registration names: its name and code, nothing else known yet."""
    return {"name": employer_name(name), "uscc": uscc, "address": None, "contact_name": None, "contact_phone": None}


def _contact_name(value: str) -> str:
    """A person's name, as every person's name is stored."""
    try:
        return display_name(value)
    except InvalidIdentifier as exc:
        raise RuleViolation(exc.detail.replace("name:", "contact_name:", 1)) from None


def employer_name(value: str) -> str:
    """An employer's name as stored: as a person's name is (NFKC, no control or invisible
    characters, whitespace collapsed; a sole trader's name is a person's), at most 200."""
    try:
        return display_name(value, max_length=NAME_MAX)
    except InvalidIdentifier as exc:
        raise RuleViolation(exc.detail.replace("name:", "employer_name:", 1)) from None


def read_employer(
    session: Session, ctx: Context, keyring: Keyring, *, employer_id: uuid.UUID
) -> tuple[Employer, dict[str, Any]]:
    ctx.principal.require(Permission.RESIDENCE_READ)
    employer = get_employer(session, ctx.principal.scope, employer_id=employer_id)
    return employer, disclose(session, ctx, keyring, EMPLOYER, employer, action=Action.EMPLOYER_READ, subject=None)


def lookup(session: Session, ctx: Context, keyring: Keyring, *, uscc: str) -> tuple[Employer, bool] | None:
    """The employer of an exact USCC, wherever held, and whether the caller's scope covers
    its holder (only then does its unit go out); audited with the blind-index token, as a
    person search is."""
    ctx.principal.require(Permission.RESIDENCE_READ)
    code = parse_uscc(uscc)
    _, token_value = indexes.read_token(session, keyring, table=EMPLOYER.name, field=USCC_INDEX, value=code)
    found = find_by_uscc(session, keyring, code)
    targets = (str(found.id),) if found else ()
    ctx.audit.append(session, ctx.event(Action.EMPLOYER_SEARCH, targets=targets, search_token=token_value.hex()))
    if found is None:
        return None
    in_scope = session.exec(one_in_scope(Employer, ctx.principal.scope), params={"id": found.id}).first()
    return found, in_scope is not None


def workers(
    session: Session, ctx: Context, *, employer_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> tuple[list[Registration], bool]:
    """A page of the active registrations linked to the employer, in the caller's scope
    only, by registration id, and whether more follow; the entry names this page's persons."""
    ctx.principal.require(Permission.RESIDENCE_READ)
    if session.get(Employer, employer_id) is None:
        raise NotFound(NOT_FOUND, targets=(str(employer_id),))
    query = scoped_select(session, Registration, ctx.principal.scope).where(
        Registration.employer_id == employer_id, Registration.status == RegistrationStatus.active
    )
    if after is not None:
        query = query.where(col(Registration.id) > after)
    found = list(session.exec(query.order_by(col(Registration.id)).limit(limit + 1)))
    rows = found[:limit]
    ctx.audit.append(
        session, ctx.event(Action.EMPLOYER_WORKERS, targets=(str(employer_id), *(str(r.person_id) for r in rows)))
    )
    return rows, len(found) > limit
