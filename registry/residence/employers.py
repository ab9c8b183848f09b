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
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission
from registry.access.scope import Scope, get_org_unit, scoped_select
from registry.audit.actions import Action
from registry.context import Context
from registry.crypto import indexes
from registry.crypto.keyring import Compartment, Keyring
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


def holding_unit(session: Session, code: str) -> str:
    """The unit an employer registered with a worker's registration is held by: the county
    level (the six-digit division code) above the dwelling's unit when the tree has it, so
    that the holder names a district, never the street or community a worker lives in."""
    county = code[:6]
    return county if county != code and session.get(OrgUnit, county) is not None else code


def get_employer(session: Session, scope: Scope, *, employer_id: uuid.UUID) -> Employer:
    row = session.exec(scoped_select(session, Employer, scope).where(Employer.id == employer_id)).first()
    if row is None:
        raise NotFound(NOT_FOUND, targets=(str(employer_id),))
    return row


def find_by_uscc(session: Session, keyring: Keyring, uscc: str) -> Employer | None:
    """The employer with this (parsed) USCC, wherever held: the blind index gives candidates,
    each is opened and compared exactly. The caller audits what it does with it."""
    version, token_value = indexes.read_token(session, keyring, table=EMPLOYER.name, field=USCC_INDEX, value=uscc)
    ids = indexes.candidates(session, table=EMPLOYER.name, field=USCC_INDEX, version=version, token_value=token_value)
    if not ids:
        return None
    rows = session.exec(select(Employer).where(col(Employer.id).in_([uuid.UUID(i) for i in ids])))
    found = [e for e in rows if matches(session, keyring, EMPLOYER, e, field="uscc", expected=uscc)]
    return min(found, key=lambda e: e.created_at) if found else None


def _insert(session: Session, ctx: Context, keyring: Keyring, *, org_unit: str, values: dict[str, Any]) -> Employer:
    employer_id = uuid.uuid4()
    rid = str(employer_id)
    key = keyring.new_owner_key(session, owner=rid, compartment=Compartment.RESIDENCE)
    employer = Employer(
        id=employer_id,
        org_unit_code=org_unit,
        **EMPLOYER.seal_row(key, record_id=rid, values=values),  # type: ignore[arg-type]
        created_at=ctx.clock.now(),
    )
    session.add(employer)
    indexes.put(
        session, keyring, table=EMPLOYER.name, field=USCC_INDEX, record_id=rid, value=values["uscc"], fresh=True
    )
    ctx.audit.append(
        session,
        ctx.event(Action.EMPLOYER_CREATE, targets=(rid,), fields=tuple(sorted(k for k, v in values.items() if v))),
    )
    return employer


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
    return _insert(session, ctx, keyring, org_unit=data.org_unit, values=values)


def employer_for(
    session: Session, ctx: Context, keyring: Keyring, *, name: str, uscc: str, dwelling_unit: str
) -> uuid.UUID:
    """The employer a registration or a report names (its USCC parsed), registered when the
    registry knows none, held at the county level above the worker's dwelling
    (`holding_unit`): only its id leaves."""
    _serialise(session)
    existing = find_by_uscc(session, keyring, uscc)
    if existing is not None:
        return existing.id
    values = {"name": employer_name(name), "uscc": uscc, "address": None, "contact_name": None, "contact_phone": None}
    return _insert(session, ctx, keyring, org_unit=holding_unit(session, dwelling_unit), values=values).id


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
    in_scope = session.exec(
        scoped_select(session, Employer, ctx.principal.scope).where(Employer.id == found.id)
    ).first()
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
