"""Bulk import of residence registrations (`registry import residence FILE`).

Every row goes through the services — `create_person`, `create_dwelling`,
`create_registration` — so it is validated, sealed, blind-indexed and audited exactly as
an API request would be. The import is idempotent: a person is matched by ID number
(exact blind-index match), a dwelling by org unit and normalised address (the
`dwelling/address` blind index), and a row is skipped as a duplicate when the person
already has an active registration at that dwelling with the same `arrived_on`.

Rows are committed in batches of a few hundred; each row runs in its own SAVEPOINT, so
a rejected row leaves nothing behind and does not roll back its neighbours. A rejection
carries the row number and the error's `detail`, which names a rule and never a value
(`registry.errors`), so the rejects file holds no personal data.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from registry.access.models import OrgUnit
from registry.access.policy import Purpose, Role
from registry.access.principal import SYSTEM_ACCOUNT_ID, Principal
from registry.access.scope import Scope
from registry.audit.log import Actor, AuditTrail
from registry.clock import Clock, today
from registry.context import Context
from registry.crypto import indexes
from registry.crypto.keyring import Compartment, Keyring, forget
from registry.crypto.models import BlindIndexEntry
from registry.db import transaction
from registry.errors import Conflict, NotFound, RegistryError, RuleViolation
from registry.people import service as people
from registry.people.identifiers import InvalidIdentifier, normalise_phone, parse_id_number, parse_uscc
from registry.people.schemas import PersonCreate, PersonSearch
from registry.residence import dwellings, registrations
from registry.residence.models import Registration
from registry.residence.policy import ResidencePolicy
from registry.residence.rules import RegistrationStatus, check_registration_dates
from registry.residence.schemas import DwellingCreate, RegistrationCreate
from registry.settings import Settings

__all__ = [
    "COLUMNS",
    "DEFAULT_BATCH",
    "ImportCounts",
    "ImportFileError",
    "Rejection",
    "ResidenceRow",
    "count_rows",
    "import_file",
    "import_rows",
    "read_rows",
    "system_context",
]

COLUMNS = (
    "id_number",
    "name",
    "phone",
    "hukou_address",
    "dwelling_org_unit",
    "dwelling_address",
    "dwelling_kind",
    "landlord_id_number",
    "pledge_signed_on",
    "arrived_on",
    "registered_on",
    "basis",
    "employer_name",
    "employer_uscc",
    "reported_by",
)
REQUIRED = frozenset(
    ("id_number", "name", "dwelling_org_unit", "dwelling_address", "dwelling_kind", "arrived_on", "basis")
)
_DATES = ("pledge_signed_on", "arrived_on", "registered_on")
CSV_SUFFIXES = (".csv",)
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
DEFAULT_BATCH = 300  # rows per transaction: "a few hundred" keeps the SQLite write lock short
# The console operator: the audit log names it `system` (it has no account row).
SYSTEM_ACTOR_ID = "system"

Progress = Callable[[int, int], None]  # (rows done, rows in all)


class Runtime(Protocol):
    """What an import needs of the running service (`registry.runtime.Runtime` has it;
    named structurally because the domain layer sits below the runtime)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def keyring(self) -> Keyring: ...
    @property
    def clock(self) -> Clock: ...


class ImportFileError(RegistryError):
    """The file as a whole cannot be imported (format, encoding, header); nothing was written."""

    status = 400
    title = "Unusable import file"


@dataclass(frozen=True)
class ResidenceRow:
    """One row, parsed: text trimmed, empty optional fields None, dates as dates."""

    id_number: str
    name: str
    dwelling_org_unit: str
    dwelling_address: str
    dwelling_kind: str
    arrived_on: date
    basis: str
    phone: str | None = None
    hukou_address: str | None = None
    landlord_id_number: str | None = None
    pledge_signed_on: date | None = None
    registered_on: date | None = None
    employer_name: str | None = None
    employer_uscc: str | None = None
    reported_by: str | None = None


@dataclass(frozen=True)
class Rejection:
    row_number: int
    reason: str  # the error's `detail`: names a rule, never a value


@dataclass
class ImportCounts:
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    persons_created: int = 0
    dwellings_created: int = 0


class _Outcome(StrEnum):
    IMPORTED = "imported"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class _Done:
    outcome: _Outcome
    person_created: bool
    dwelling_created: bool


# -- reading ------------------------------------------------------------------------------


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in NDJSON_SUFFIXES:
        return "ndjson"
    raise ImportFileError("the file must end in .csv, .ndjson or .jsonl")


def _check_header(header: list[str] | None) -> None:
    if header is None:
        raise ImportFileError("the file is empty: a header row is required")
    names = [h.strip() for h in header]
    missing = sorted(REQUIRED - set(names))
    if missing:
        raise ImportFileError(f"the header lacks required columns: {', '.join(missing)}")
    # Not echoed: a mangled header can hold anything, including a personal value.
    if set(names) - set(COLUMNS) or len(set(names)) != len(names):
        raise ImportFileError(f"the header has unknown or repeated columns; the columns are: {', '.join(COLUMNS)}")


def read_rows(path: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    """(row number, raw fields) per data row. Rows are numbered from 1 after the CSV
    header (an NDJSON row's number is its line number); blank rows are skipped but
    counted. A row the reader cannot use at all yields a mapping with the key `None`
    holding the reason."""
    kind = _kind(path)
    try:
        # utf-8-sig: spreadsheets often save a byte-order mark first.
        with path.open(encoding="utf-8-sig", newline="") as handle:
            if kind == "csv":
                reader = csv.reader(handle)
                header = next(reader, None)
                _check_header(header)
                assert header is not None
                names = [h.strip() for h in header]
                for number, values in enumerate(reader, start=1):
                    if not any(v.strip() for v in values):
                        continue  # a blank row: skipped, but counted so numbers match the file
                    if len(values) > len(names):
                        yield number, {None: "row: more fields than the header"}  # type: ignore[dict-item]
                        continue
                    yield number, dict(zip(names, values, strict=False))
                return
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                except ValueError:
                    yield number, {None: "row: not valid JSON"}  # type: ignore[dict-item]
                    continue
                if not isinstance(raw, dict):
                    yield number, {None: "row: not a JSON object"}  # type: ignore[dict-item]
                    continue
                yield number, raw
    except UnicodeDecodeError:
        raise ImportFileError("the file is not valid UTF-8") from None
    except csv.Error:
        raise ImportFileError("the file is not valid CSV") from None


def count_rows(path: Path) -> int:
    """Rows in the file; reads it once, so encoding and header problems surface before
    anything is written."""
    return sum(1 for _ in read_rows(path))


def _text(raw: Mapping[str, object], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RuleViolation(f"{name}: must be text")
    text = str(value).strip()
    return text or None


def _date(raw: Mapping[str, object], name: str) -> date | None:
    text = _text(raw, name)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RuleViolation(f"{name}: not a date (YYYY-MM-DD)") from None


def parse_row(raw: Mapping[str, object], *, default_org_unit: str | None = None) -> ResidenceRow:
    """Shape only (presence, text, dates); the rules are the services'."""
    if None in raw:
        raise RuleViolation(str(raw[None]))  # type: ignore[index]
    if set(raw) - set(COLUMNS):
        raise RuleViolation("row: unknown fields")  # not named: a key can hold anything
    values: dict[str, object] = {}
    for name in COLUMNS:
        values[name] = _date(raw, name) if name in _DATES else _text(raw, name)
    if values["dwelling_org_unit"] is None:
        values["dwelling_org_unit"] = default_org_unit
    for name in sorted(REQUIRED):
        if values[name] is None:
            raise RuleViolation(f"{name}: required")
    return ResidenceRow(**values)  # type: ignore[arg-type]


# -- importing ----------------------------------------------------------------------------


def system_context(session: Session, runtime: Runtime, *, org_unit: str | None = None) -> Context:
    """The console operator acting as `police` over the whole tree, or over `org_unit`'s
    subtree; audited as actor `system` with purpose `registration`."""
    scope, unit_code = Scope(None), None
    if org_unit is not None:
        unit = session.exec(select(OrgUnit).where(OrgUnit.code == org_unit)).first()
        if unit is None:
            raise NotFound("org unit not found")
        scope, unit_code = Scope(unit.path), unit.code
    principal = Principal(SYSTEM_ACCOUNT_ID, "system", "system", frozenset({Role.POLICE}), unit_code, scope)
    actor = Actor(SYSTEM_ACTOR_ID, (Role.POLICE.value,), unit_code)
    return Context(principal, AuditTrail(runtime.clock, actor), runtime.clock, Purpose.REGISTRATION)


def policy_of(runtime: Runtime) -> ResidencePolicy:
    s = runtime.settings
    return ResidencePolicy(
        report_days=s.registration_report_days,
        move_report_days=s.move_report_days,
        issue_days=s.permit_issue_days,
        verifications_per_minute=s.verifications_per_minute,
    )


# Service-model field → the file's column, so that a reason names what the operator sees.
_COLUMN_OF = {
    "org_unit": "dwelling_org_unit",
    "address": "dwelling_address",
    "kind": "dwelling_kind",
    "landlord_person_id": "landlord_id_number",
}


def _safe_reason(exc: ValidationError) -> str:
    """Field and message of each error; pydantic keeps the input out of `msg`, and a
    message that quotes the input anyway falls back to the error type."""
    parts = []
    for error in exc.errors(include_url=False, include_context=False):
        loc = ".".join(_COLUMN_OF.get(str(p), str(p)) for p in error["loc"]) or "row"
        msg, given = error["msg"], error.get("input")
        if isinstance(given, str) and given and given in msg:
            msg = error["type"]
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


@dataclass
class _RunMemo:
    """What this run learnt, so repeated persons, landlords and dwellings cost no query.
    Entries made by a row that fails are undone with it (its SAVEPOINT rolled back)."""

    units: dict[str, bool] = field(default_factory=dict)
    persons: dict[str, uuid.UUID] = field(default_factory=dict)  # ID number → person id
    dwellings: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)  # (org unit, address) → id
    added: list[tuple[dict, object]] = field(default_factory=list)  # type: ignore[type-arg]

    def remember(self, table: dict, key: object, value: uuid.UUID) -> None:  # type: ignore[type-arg]
        table[key] = value
        self.added.append((table, key))

    def commit_row(self) -> None:
        self.added.clear()

    def undo_row(self) -> None:
        for table, key in self.added:
            table.pop(key, None)
        self.added.clear()


class _Importer:
    def __init__(self, runtime: Runtime, ctx: Context, policy: ResidencePolicy, *, org_unit: str | None) -> None:
        self.keyring: Keyring = runtime.keyring
        self.ctx, self.policy, self.default_org_unit = ctx, policy, org_unit
        self.today = today(ctx.clock)
        self.memo = _RunMemo()
        # Dwelling keys whose address token has no blind-index entry at all, learnt with
        # one query per batch (`prefetch`): those rows skip the per-row lookup. Valid for
        # the batch's transaction only.
        self.absent: set[tuple[str, str]] = set()

    def unit_in_scope(self, session: Session, code: str) -> bool:
        known = self.memo.units.get(code)
        if known is None:
            known = (
                session.exec(
                    select(OrgUnit.code).where(OrgUnit.code == code, self.ctx.principal.scope.clause(OrgUnit.path))
                ).first()
                is not None
            )
            self.memo.units[code] = known  # org units are never deleted: safe for the run
        return known

    def precheck(self, session: Session, row: ResidenceRow) -> PersonCreate:
        """The services' own pure checks, run before any write so that a bad row costs no
        SAVEPOINT; the services run them again (and everything else) on the good rows."""
        person = PersonCreate(
            id_number=row.id_number,
            name=row.name,
            phone=row.phone,
            hukou_address=row.hukou_address,
            org_unit=row.dwelling_org_unit,
        )
        parse_id_number(row.id_number, today=self.today)
        if row.phone is not None:
            normalise_phone(row.phone)
        if row.landlord_id_number is not None:
            try:
                parse_id_number(row.landlord_id_number, today=self.today)
            except InvalidIdentifier as exc:
                raise InvalidIdentifier(f"landlord_{exc.detail}") from None
        if row.employer_uscc is not None:
            parse_uscc(row.employer_uscc)
        check_registration_dates(row.arrived_on, row.registered_on or self.today, today=self.today)
        if not self.unit_in_scope(session, row.dwelling_org_unit):
            raise NotFound("dwelling_org_unit: org unit not found (or outside the import's org unit)")
        return person

    def person_id(self, session: Session, data: PersonCreate) -> tuple[uuid.UUID, bool]:
        """(id, created): the person with this ID number, created if there is none."""
        key = parse_id_number(data.id_number, today=self.today).value
        known = self.memo.persons.get(key)
        if known is not None:
            return known, False
        try:
            pid, created = people.create_person(session, self.ctx, self.keyring, data=data).id, True
        except Conflict as exc:  # matched by the ID number's blind index, re-checked exactly
            pid, created = uuid.UUID(str(exc.extra["person_id"])), False
        if created:
            # A new person has no residence key yet: make it now, so the registration's
            # `write_key` finds it memoised instead of querying for one that cannot exist.
            self.keyring.new_owner_key(session, owner=str(pid), compartment=Compartment.RESIDENCE)
        self.memo.remember(self.memo.persons, key, pid)
        return pid, created

    def landlord_id(self, session: Session, id_number: str) -> uuid.UUID:
        key = parse_id_number(id_number, today=self.today).value
        known = self.memo.persons.get(key)
        if known is not None:
            return known
        # An exact search, audited with its blind-index token like any other.
        found = people.search_persons(session, self.ctx, self.keyring, query=PersonSearch(id_number=key))
        if not found:
            raise NotFound("landlord: no person with this ID number (import the landlord's own row first)")
        pid = found[0]["id"]
        self.memo.remember(self.memo.persons, key, pid)
        return pid

    def dwelling_id(self, session: Session, row: ResidenceRow, landlord: uuid.UUID | None) -> tuple[uuid.UUID, bool]:
        """(id, created): the dwelling at this address in this org unit, created if none."""
        key = (row.dwelling_org_unit, dwellings.normalise_address(row.dwelling_address))
        known, created = self.memo.dwellings.get(key), False
        if known is None:
            found = (
                []
                if key in self.absent
                else dwellings.find_dwellings(
                    session, self.ctx, self.keyring, org_unit=row.dwelling_org_unit, address=row.dwelling_address
                )
            )
            if found:
                known = found[0].id
            else:
                known, created = (
                    dwellings.create_dwelling(
                        session,
                        self.ctx,
                        self.keyring,
                        data=DwellingCreate(
                            org_unit=row.dwelling_org_unit,
                            address=row.dwelling_address,
                            kind=row.dwelling_kind,  # type: ignore[arg-type]
                            landlord_person_id=landlord,
                            pledge_signed_on=row.pledge_signed_on,
                        ),
                    ).id,
                    True,
                )
            self.memo.remember(self.memo.dwellings, key, known)
        return known, created

    def row(self, session: Session, row: ResidenceRow, person: PersonCreate) -> _Done:
        pid, new_person = self.person_id(session, person)
        landlord = self.landlord_id(session, row.landlord_id_number) if row.landlord_id_number else None
        did, new_dwelling = self.dwelling_id(session, row, landlord)
        if not new_person:
            # Filtered on `person_id` alone: with `status` in the WHERE clause SQLite (no
            # statistics) walks the status index, i.e. every active registration.
            held = session.exec(
                select(Registration.dwelling_id, Registration.arrived_on, Registration.status).where(
                    Registration.person_id == pid
                )
            ).all()
            if any(d == did and a == row.arrived_on and status == RegistrationStatus.active for d, a, status in held):
                return _Done(_Outcome.DUPLICATE, new_person, new_dwelling)
        registrations.create_registration(
            session,
            self.ctx,
            self.keyring,
            self.policy,
            data=RegistrationCreate(
                person_id=pid,
                dwelling_id=did,
                arrived_on=row.arrived_on,
                registered_on=row.registered_on,
                basis=row.basis,  # type: ignore[arg-type]
                employer_name=row.employer_name,
                employer_uscc=row.employer_uscc,
                reported_by=row.reported_by or "self",  # type: ignore[arg-type]
            ),
        )
        return _Done(_Outcome.IMPORTED, new_person, new_dwelling)

    def prepare(
        self, session: Session, raw: Mapping[str, object] | ResidenceRow
    ) -> tuple[ResidenceRow, PersonCreate] | str:
        """The parsed row and its person, or the rejection reason."""
        try:
            row = raw if isinstance(raw, ResidenceRow) else parse_row(raw, default_org_unit=self.default_org_unit)
            return row, self.precheck(session, row)
        except RegistryError as exc:
            return exc.detail
        except ValidationError as exc:
            return _safe_reason(exc)

    def prefetch(self, session: Session, rows: list[ResidenceRow]) -> None:
        """One query for the whole batch: which dwelling addresses have no index entry."""
        tokens: dict[tuple[str, str], bytes] = {}
        version = 0
        for row in rows:
            key = (row.dwelling_org_unit, dwellings.normalise_address(row.dwelling_address))
            if key not in self.memo.dwellings and key not in tokens:
                version, tokens[key] = indexes.read_token(
                    session, self.keyring, table=dwellings.TABLE, field=dwellings.ADDRESS_INDEX, value=key[1]
                )
        if not tokens:
            self.absent = set()
            return
        present = set(
            session.exec(
                select(BlindIndexEntry.token).where(
                    BlindIndexEntry.record_table == dwellings.TABLE,
                    BlindIndexEntry.field == dwellings.ADDRESS_INDEX,
                    BlindIndexEntry.version == version,
                    BlindIndexEntry.token.in_(set(tokens.values())),  # type: ignore[attr-defined]
                )
            )
        )
        self.absent = {key for key, token in tokens.items() if token not in present}

    def apply(self, session: Session, row: ResidenceRow, person: PersonCreate, counts: ImportCounts) -> str | None:
        """Import one row in its own SAVEPOINT; returns the rejection reason, or None."""
        try:
            with session.begin_nested():
                done = self.row(session, row, person)
                session.flush()  # a constraint failure belongs to this row, inside its SAVEPOINT
        except (RegistryError, ValidationError) as exc:
            self.memo.undo_row()
            # Keys memoised inside the rolled-back SAVEPOINT no longer exist in the database.
            forget(session)
            return exc.detail if isinstance(exc, RegistryError) else _safe_reason(exc)
        self.memo.commit_row()
        counts.persons_created += done.person_created
        counts.dwellings_created += done.dwelling_created
        if done.outcome is _Outcome.DUPLICATE:
            counts.duplicates += 1
        else:
            counts.imported += 1
        return None


def _batches(rows: Iterable[tuple[int, object]], size: int) -> Iterator[list[tuple[int, object]]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def import_rows(
    runtime: Runtime,
    rows: Iterable[tuple[int, Mapping[str, object] | ResidenceRow]],
    *,
    org_unit: str | None = None,
    total: int = 0,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
) -> ImportCounts:
    """Import numbered rows; each batch commits on its own, so an interrupted run is
    finished by running it again (the rows already in are skipped as duplicates)."""
    with transaction(runtime.engine) as session:
        ctx = system_context(session, runtime, org_unit=org_unit)
    importer = _Importer(runtime, ctx, policy_of(runtime), org_unit=org_unit)
    counts = ImportCounts()
    for batch in _batches(rows, batch_size):
        rejected: list[Rejection] = []
        with transaction(runtime.engine) as session:
            prepared = [(number, importer.prepare(session, raw)) for number, raw in batch]  # type: ignore[arg-type]
            importer.prefetch(session, [p[0] for _, p in prepared if not isinstance(p, str)])
            for number, ready in prepared:
                reason = ready if isinstance(ready, str) else importer.apply(session, *ready, counts)
                if reason is not None:
                    rejected.append(Rejection(number, reason))
        counts.rows += len(batch)
        counts.rejected += len(rejected)
        if on_reject is not None:
            for rejection in rejected:
                on_reject(rejection)
        if progress is not None:
            progress(counts.rows, max(total, counts.rows))
    return counts


def import_file(
    runtime: Runtime,
    path: Path,
    *,
    rejects: Path | None = None,
    org_unit: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
) -> ImportCounts:
    """Import a CSV or NDJSON file; rejections go to `rejects` (CSV: row_number, reason)."""
    total = count_rows(path)
    if progress is not None:
        progress(0, total)
    if rejects is None:
        return import_rows(
            runtime,
            read_rows(path),
            org_unit=org_unit,
            total=total,
            batch_size=batch_size,
            progress=progress,
            on_reject=on_reject,
        )
    with rejects.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("row_number", "reason"))

        def write(rejection: Rejection) -> None:
            writer.writerow((rejection.row_number, rejection.reason))
            if on_reject is not None:
                on_reject(rejection)

        return import_rows(
            runtime,
            read_rows(path),
            org_unit=org_unit,
            total=total,
            batch_size=batch_size,
            progress=progress,
            on_reject=write,
        )
