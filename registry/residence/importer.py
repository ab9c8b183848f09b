"""Bulk import of residence registrations (`registry import residence FILE`).

Every row is validated, sealed, blind-indexed and audited as the services —
`create_person`, `create_dwelling`, `create_registration` — would do it for an API
request, in batches written in bulk (`registry.residence.bulk`). The import is idempotent:
a person is matched by ID number (exact blind-index match), a dwelling by org unit and
normalised address (the `dwelling/address` blind index), and a row is skipped as a
duplicate when the person already has an active registration at that dwelling with the
same `arrived_on`.

Rows are committed in batches of a few hundred; a rejected row leaves nothing behind and
does not hold back its neighbours. A rejection carries the row number and the error's
`detail`, which names a rule and never a value (`registry.errors`), so the rejects file
holds no personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from registry import importfiles
from registry.access.models import OrgUnit
from registry.access.policy import Purpose, Role
from registry.access.principal import SYSTEM_ACCOUNT_ID, Principal
from registry.access.scope import Scope
from registry.audit.log import Actor, AuditTrail
from registry.clock import Clock, today
from registry.context import Context
from registry.crypto.keyring import Keyring
from registry.db import transaction
from registry.errors import NotFound, RegistryError, RuleViolation
from registry.importfiles import (
    ImportFileError,
    Progress,
    Rejection,
    batches,
    check_keys,
    date_field,
    text_field,
)
from registry.people.identifiers import IdNumber, InvalidIdentifier, normalise_phone, parse_id_number, parse_uscc
from registry.people.schemas import PersonCreate
from registry.residence.bulk import Done, Outcome, RunMemo, import_batch, safe_reason
from registry.residence.policy import ResidencePolicy
from registry.residence.rules import check_registration_dates
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
DEFAULT_BATCH = 300  # rows per transaction: "a few hundred" keeps the SQLite write lock short
# The console operator: the audit log names it `system` (it has no account row).
SYSTEM_ACTOR_ID = "system"


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


@dataclass
class ImportCounts:
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    persons_created: int = 0
    dwellings_created: int = 0


# -- reading ------------------------------------------------------------------------------


def read_rows(path: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    return importfiles.read_rows(path, COLUMNS, REQUIRED)


def count_rows(path: Path) -> int:
    return importfiles.count_rows(path, COLUMNS, REQUIRED)


def parse_row(raw: Mapping[str, object], *, default_org_unit: str | None = None) -> ResidenceRow:
    """Shape only (presence, text, dates); the rules are the services'."""
    check_keys(raw, COLUMNS)
    values: dict[str, object] = {}
    for name in COLUMNS:
        values[name] = date_field(raw, name) if name in _DATES else text_field(raw, name)
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
    return ResidencePolicy.from_settings(runtime.settings)


class _Importer:
    """The run: rows parsed and pre-checked here, then imported a batch at a time."""

    def __init__(self, runtime: Runtime, ctx: Context, policy: ResidencePolicy, *, org_unit: str | None) -> None:
        self.keyring: Keyring = runtime.keyring
        self.ctx, self.policy, self.default_org_unit = ctx, policy, org_unit
        self.today = today(ctx.clock)
        self.memo = RunMemo()
        # ID numbers parsed in this batch, by text: the batch reads them again.
        self.id_numbers: dict[str, IdNumber] = {}

    def id_number(self, text: str) -> IdNumber:
        parsed = self.id_numbers.get(text)
        if parsed is None:
            parsed = self.id_numbers[text] = parse_id_number(text, today=self.today)
        return parsed

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
        """The services' own pure checks, first, so that a bad row costs no lookup; the
        batch runs the rest (`bulk`) on the rows that pass."""
        person = PersonCreate(
            id_number=row.id_number,
            name=row.name,
            phone=row.phone,
            hukou_address=row.hukou_address,
            org_unit=row.dwelling_org_unit,
        )
        self.id_number(row.id_number)
        if row.phone is not None:
            normalise_phone(row.phone)
        if row.landlord_id_number is not None:
            try:
                self.id_number(row.landlord_id_number)
            except InvalidIdentifier as exc:
                raise InvalidIdentifier(f"landlord_{exc.detail}") from None
        if row.employer_uscc is not None:
            parse_uscc(row.employer_uscc)
        check_registration_dates(row.arrived_on, row.registered_on or self.today, today=self.today)
        if not self.unit_in_scope(session, row.dwelling_org_unit):
            raise NotFound("dwelling_org_unit: org unit not found (or outside the import's org unit)")
        return person

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
            return safe_reason(exc)

    def run_batch(self, session: Session, batch: list[tuple[int, object]]) -> list[tuple[int, Done | str]]:
        """Each row's number and what it did, or why it was rejected, in file order."""
        self.id_numbers = {}
        prepared = [(number, self.prepare(session, raw)) for number, raw in batch]  # type: ignore[arg-type]
        ready = [p for _, p in prepared if not isinstance(p, str)]
        done = iter(
            import_batch(
                session, self.ctx, self.keyring, self.policy, self.memo, ready,
                today=self.today, id_numbers=self.id_numbers,
            )
        )  # fmt: skip
        return [(number, p if isinstance(p, str) else next(done)) for number, p in prepared]


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
    for batch in batches(rows, batch_size):
        rejected: list[Rejection] = []
        with transaction(runtime.engine) as session:
            results = importer.run_batch(session, batch)
        for number, result in results:
            if isinstance(result, str):
                rejected.append(Rejection(number, result))
                continue
            counts.persons_created += result.person_created
            counts.dwellings_created += result.dwelling_created
            counts.imported += result.outcome is Outcome.IMPORTED
            counts.duplicates += result.outcome is Outcome.DUPLICATE
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
    return importfiles.import_path(
        path,
        COLUMNS,
        REQUIRED,
        lambda rows, total, write: import_rows(
            runtime, rows, org_unit=org_unit, total=total, batch_size=batch_size, progress=progress, on_reject=write
        ),
        rejects=rejects,
        progress=progress,
        on_reject=on_reject,
    )
