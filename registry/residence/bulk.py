"""One batch of the residence import, decided row by row in memory and written in bulk.

The services (`create_person`, `create_dwelling`, `create_registration`) spend about 23
statements on a row; a batch here spends about 15 in all. It keeps their rules, their
rejection reasons and their records, in three steps:

1. Look up, for the whole batch, the persons (by ID number, the rows' and the landlords'),
   the dwellings (by org unit and normalised address) and the registrations already
   stored: one blind-index query per kind, the candidates opened and compared exactly.
2. Decide each row in file order, with what earlier rows of the run decided, running the
   same checks in the same order as the services; a rejected row leaves no trace (its
   memo entries are undone, nothing of it was written), and its neighbours go on.
3. Make the DEKs, seal the fields, compute the blind-index tokens, and write each table
   with one executemany; then one audit entry per created record (and per landlord
   search), as the services append them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlmodel import Session, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission
from registry.audit.actions import Action
from registry.audit.log import Event
from registry.context import Context
from registry.crypto.keyring import Keyring
from registry.errors import Conflict, NotFound, RegistryError, RuleViolation
from registry.importfiles import validation_reason
from registry.people.identifiers import IdNumber, display_name, normalise_phone, parse_id_number, parse_uscc
from registry.people.schemas import PersonCreate
from registry.residence import dwellings, employers
from registry.residence.bulk_lookup import DwellingKey, Found, look_up
from registry.residence.bulk_write import NewPerson, NewRegistration, Plan, write_plan
from registry.residence.policy import ResidencePolicy
from registry.residence.rules import RegistrationStatus, check_registration_dates, is_late
from registry.residence.schemas import DwellingCreate, RegistrationCreate

if TYPE_CHECKING:
    from registry.residence.importer import ResidenceRow

__all__ = ["Done", "Outcome", "RunMemo", "import_batch", "safe_reason"]

_SEARCH_FIELDS = ("name_masked", "birth_year")  # what `search_persons` audits as shown

# Service-model field → the file's column, so that a reason names what the operator sees.
_COLUMN_OF = {
    "org_unit": "dwelling_org_unit",
    "address": "dwelling_address",
    "kind": "dwelling_kind",
    "landlord_person_id": "landlord_id_number",
}


def safe_reason(exc: ValidationError) -> str:
    """A service model's refusal as a rejection reason, named by the file's columns."""
    return validation_reason(exc, _COLUMN_OF)


class Outcome(StrEnum):
    IMPORTED = "imported"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Done:
    outcome: Outcome
    person_created: bool
    dwelling_created: bool


@dataclass
class RunMemo:
    """What this run learnt, so repeated persons, landlords and dwellings cost no lookup.
    Entries made by a row that is rejected are undone with it."""

    units: dict[str, bool] = field(default_factory=dict)
    persons: dict[str, uuid.UUID] = field(default_factory=dict)  # ID number → person id
    dwellings: dict[DwellingKey, uuid.UUID] = field(default_factory=dict)
    employers: dict[str, uuid.UUID] = field(default_factory=dict)  # USCC → employer id (`write` adds)
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


class _Batch:
    def __init__(
        self,
        session: Session,
        ctx: Context,
        keyring: Keyring,
        policy: ResidencePolicy,
        memo: RunMemo,
        *,
        today: date,
        id_numbers: dict[str, IdNumber],
    ) -> None:
        self.session, self.ctx, self.keyring, self.policy, self.memo = session, ctx, keyring, policy, memo
        self.today = today
        self.found = Found()
        self.plan = Plan()
        self._id_numbers = id_numbers

    def look_up(self, rows: list[ResidenceRow]) -> None:
        """Step 1 (`bulk_lookup`)."""
        self.found = look_up(self.session, self.ctx, self.keyring, self.memo, rows, id_number=self.id_number)

    def write(self) -> None:
        """Step 3 (`bulk_write`), after the employers the registrations name (found, or
        registered in the dwelling's unit, as `create_registration` does)."""
        wanted: dict[str, tuple[str, str]] = {}
        for r in self.plan.registrations:
            if r.employer_uscc is not None and r.employer_uscc not in self.memo.employers:
                assert r.data.employer_name is not None
                wanted.setdefault(r.employer_uscc, (r.data.employer_name, r.org_unit))
        self.memo.employers.update(employers.employers_for(self.session, self.ctx, self.keyring, wanted))
        self.session.flush()  # the employers before the registrations that refer to them
        write_plan(self.session, self.ctx, self.keyring, self.plan, employer_of=self.memo.employers)

    def id_number(self, text: str) -> IdNumber:
        """`parse_id_number`, once per text a batch (the rows were checked with it already)."""
        parsed = self._id_numbers.get(text)
        if parsed is None:
            parsed = self._id_numbers[text] = parse_id_number(text, today=self.today)
        return parsed

    # -- 2. decide ------------------------------------------------------------------------

    def _raise_lookup_error(self, key: object) -> None:
        """A row that needs a value whose stored candidate could not be opened fails as the
        service's lookup would have."""
        failed = self.found.errors.get(key)
        if failed is not None:
            raise failed

    def _person(self, person: PersonCreate) -> tuple[uuid.UUID, NewPerson | None]:
        """As `create_person`: the person with this ID number, or a new one."""
        id_number = self.id_number(person.id_number)
        key = id_number.value
        known = self.memo.persons.get(key)
        if known is not None:
            return known, None
        # The service checks the values before it looks for a duplicate.
        name = display_name(person.name)
        phone = normalise_phone(person.phone) if person.phone is not None else None
        self._raise_lookup_error(key)
        found = self.found.persons.get(key)
        if found:
            self.memo.remember(self.memo.persons, key, found[0])
            return found[0], None
        assert person.org_unit is not None  # the row's dwelling org unit
        new = NewPerson(uuid.uuid4(), person.org_unit, id_number, name, phone, person.hukou_address)
        self.memo.remember(self.memo.persons, key, new.id)
        return new.id, new

    def _landlord(self, id_number: str, events: list[Event]) -> uuid.UUID:
        """As the exact search by ID number, audited with its token like any other."""
        key = self.id_number(id_number).value
        known = self.memo.persons.get(key)
        if known is not None:
            return known
        self._raise_lookup_error(key)
        found = self.found.persons.get(key, [])
        events.append(
            self.ctx.event(
                Action.PERSON_SEARCH,
                targets=tuple(str(p) for p in found),
                fields=_SEARCH_FIELDS,
                search_token=self.found.person_tokens[key],
            )
        )
        if not found:
            raise NotFound("landlord: no person with this ID number (import the landlord's own row first)")
        self.memo.remember(self.memo.persons, key, found[0])
        return found[0]

    def _dwelling(self, row: ResidenceRow, landlord: uuid.UUID | None) -> tuple[uuid.UUID, DwellingCreate | None]:
        """As `find_dwellings`, then `create_dwelling` if there is none."""
        key = (row.dwelling_org_unit, dwellings.normalise_address(row.dwelling_address))
        known = self.memo.dwellings.get(key)
        if known is not None:
            return known, None
        self._raise_lookup_error(key)
        found = self.found.dwellings.get(key)
        if found is not None:
            self.memo.remember(self.memo.dwellings, key, found)
            return found, None
        data = DwellingCreate(
            org_unit=row.dwelling_org_unit,
            address=row.dwelling_address,
            kind=row.dwelling_kind,  # type: ignore[arg-type]
            landlord_person_id=landlord,
            pledge_signed_on=row.pledge_signed_on,
        )
        if data.kind == "rental" and data.landlord_person_id is None:
            raise RuleViolation("landlord: a rental names its landlord (租赁房屋治安管理规定 Art. 6)")
        if data.kind != "rental" and (data.landlord_person_id or data.pledge_signed_on):
            raise RuleViolation("landlord: only rentals have a landlord and a pledge")
        did = uuid.uuid4()
        self.memo.remember(self.memo.dwellings, key, did)
        return did, data

    def _registration(self, row: ResidenceRow, pid: uuid.UUID, did: uuid.UUID) -> NewRegistration:
        """As `create_registration`."""
        data = RegistrationCreate(
            person_id=pid,
            dwelling_id=did,
            arrived_on=row.arrived_on,
            registered_on=row.registered_on,
            basis=row.basis,  # type: ignore[arg-type]
            employer_name=row.employer_name,
            employer_uscc=row.employer_uscc,
            reported_by=row.reported_by or "self",  # type: ignore[arg-type]
        )
        if any(status == RegistrationStatus.active for _, _, status in self.found.held.get(pid, ())):
            raise Conflict("the person has an active registration: move or depart it first")
        registered_on = data.registered_on or self.today
        check_registration_dates(data.arrived_on, registered_on, today=self.today)
        if data.basis == "employment" and (data.employer_name is None or data.employer_uscc is None):
            raise RuleViolation("employer: employment needs the employer's name and unified social credit code")
        if data.basis != "employment" and (data.employer_name or data.employer_uscc):
            raise RuleViolation("employer: only an employment basis names an employer")
        if data.employer_name is not None:
            employers.employer_name(data.employer_name)  # refused with its row, not with the batch
        return NewRegistration(
            id=uuid.uuid4(),
            person_id=pid,
            dwelling_id=did,
            org_unit=row.dwelling_org_unit,
            data=data,
            registered_on=registered_on,
            employer_uscc=parse_uscc(data.employer_uscc) if data.employer_uscc else None,
            late=is_late(data.arrived_on, registered_on, report_days=self.policy.report_days),
        )

    def _check_holder(self, pid: uuid.UUID, unit: str) -> None:
        """Jurisdiction moves only by consent (PRIVACY.md §3): registering a person held by
        a unit outside the importing scope is refused here; through the API it becomes a
        transfer request to the holder. Inside the scope (a unit above both) it may move."""
        holder = self.found.holders.get(pid)
        if holder is None or holder == unit:
            return
        path = self.session.exec(select(OrgUnit.path).where(OrgUnit.code == holder)).first()
        if path is None or not self.ctx.principal.scope.covers(path):
            raise Conflict(
                "jurisdiction: the person is held by another unit; register the arrival through the API, "
                "which asks the holder to transfer them"
            )

    def decide(self, row: ResidenceRow, person: PersonCreate) -> Done:
        """One row, checked in the order the services check it; nothing is planned unless
        every check passes. Raises the error the services would."""
        events: list[Event] = []
        pid, new_person = self._person(person)
        if new_person is not None:
            written = [
                c
                for c, v in (("phone", new_person.phone), ("hukou_address", new_person.hukou_address))
                if v is not None
            ]
            fields = ("name", "id_number", "sex", "birth_date", *written)
            events.append(self.ctx.event(Action.PERSON_CREATE, targets=(str(pid),), fields=fields))
        landlord = self._landlord(row.landlord_id_number, events) if row.landlord_id_number else None
        did, new_dwelling = self._dwelling(row, landlord)
        if new_dwelling is not None:
            targets = (str(did), *((str(landlord),) if landlord else ()))
            events.append(self.ctx.event(Action.DWELLING_CREATE, targets=targets, fields=("address",)))
        held = self.found.held.setdefault(pid, [])
        duplicate = new_person is None and any(
            d == did and a == row.arrived_on and s == RegistrationStatus.active for d, a, s in held
        )
        registration = None if duplicate else self._registration(row, pid, did)
        if registration is not None and new_person is None:
            self._check_holder(pid, registration.org_unit)
        # Every check passed: the row's records join the plan.
        if new_person is not None:
            self.plan.persons.append(new_person)
        if new_dwelling is not None:
            self.plan.dwellings.append((did, new_dwelling))
        if registration is not None:
            held.append((did, registration.data.arrived_on, RegistrationStatus.active))
            self.plan.registrations.append(registration)
            fields = tuple(f for f in ("employer_name", "employer_uscc") if getattr(registration.data, f))
            events.append(
                self.ctx.event(Action.REGISTRATION_CREATE, targets=(str(registration.id), str(pid)), fields=fields)
            )
        self.plan.events.extend(events)
        outcome = Outcome.DUPLICATE if duplicate else Outcome.IMPORTED
        return Done(outcome, new_person is not None, new_dwelling is not None)

    # -- 3. write -------------------------------------------------------------------------


def import_batch(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    policy: ResidencePolicy,
    memo: RunMemo,
    rows: Iterable[tuple[ResidenceRow, PersonCreate]],
    *,
    today: date,
    id_numbers: dict[str, IdNumber],
) -> list[Done | str]:
    """Import prepared rows (parsed and pre-checked) in the batch's transaction: per row,
    what it did, or the reason it was rejected. `id_numbers`: parsed by the pre-check, by text."""
    needed = (Permission.PERSON_WRITE, Permission.PERSON_SEARCH, Permission.RESIDENCE_READ, Permission.RESIDENCE_WRITE)
    for permission in needed:
        ctx.principal.require(permission)
    rows = list(rows)
    batch = _Batch(session, ctx, keyring, policy, memo, today=today, id_numbers=id_numbers)
    batch.look_up([row for row, _ in rows])
    results: list[Done | str] = []
    for row, person in rows:
        try:
            results.append(batch.decide(row, person))
        except RegistryError as exc:
            memo.undo_row()
            results.append(exc.detail)
        except ValidationError as exc:
            memo.undo_row()
            results.append(safe_reason(exc))
        else:
            memo.commit_row()
    batch.write()
    return results
