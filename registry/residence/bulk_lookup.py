"""Step 1 of a bulk import batch (`registry.residence.bulk`): what the database already
holds for the whole batch, with one blind-index query per kind instead of one per row.

Persons are found by ID number (the rows' and the landlords'), dwellings by org unit and
normalised address, as `create_person`, `search_persons` and `find_dwellings` find them:
the tokens give candidates, each candidate is opened and compared exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import Session

from registry.access.scope import scoped_select
from registry.context import Context
from registry.crypto import indexes
from registry.crypto.keyring import Keyring
from registry.crypto.sealed import SealedTable
from registry.db import chunked
from registry.disclosure import matches
from registry.errors import RegistryError
from registry.people.identifiers import IdNumber
from registry.people.models import PERSON, Person
from registry.residence import dwellings
from registry.residence.models import DWELLING, Dwelling, Registration

if TYPE_CHECKING:
    from registry.residence.bulk import RunMemo
    from registry.residence.importer import ResidenceRow

__all__ = ["DwellingKey", "Found", "look_up"]

DwellingKey = tuple[str, str]  # (org unit, normalised address)


@dataclass
class Found:
    """What step 1 found in the database. A stored value that cannot be opened (an erased
    key, an altered ciphertext) is kept as its error, for the rows that need that value."""

    persons: dict[str, list[uuid.UUID]] = field(default_factory=dict)  # ID number → matching persons
    person_tokens: dict[str, str] = field(default_factory=dict)  # ID number → its token, hex (for the audit)
    dwellings: dict[DwellingKey, uuid.UUID] = field(default_factory=dict)
    errors: dict[object, RegistryError] = field(default_factory=dict)
    holders: dict[uuid.UUID, str] = field(default_factory=dict)  # person → the unit holding them
    # Registrations of persons known before the batch (and those the batch adds, as rows go).
    held: dict[uuid.UUID, list[tuple[uuid.UUID, date, str]]] = field(default_factory=dict)


class _Lookup:
    def __init__(
        self, session: Session, ctx: Context, keyring: Keyring, memo: RunMemo, id_number: Callable[[str], IdNumber]
    ) -> None:
        self.session, self.ctx, self.keyring, self.memo, self._id_number = session, ctx, keyring, memo, id_number
        self.found = Found()

    def look_up(self, rows: list[ResidenceRow]) -> None:
        numbers = {
            self._id_number(n).value for row in rows for n in (row.id_number, row.landlord_id_number) if n is not None
        }
        self._find_persons({n for n in numbers if n not in self.memo.persons})
        places = {(row.dwelling_org_unit, dwellings.normalise_address(row.dwelling_address)) for row in rows}
        self._find_dwellings({k for k in places if k not in self.memo.dwellings})
        known = {*(self.memo.persons[n] for n in numbers if n in self.memo.persons)}
        known.update(pid for ids in self.found.persons.values() for pid in ids)
        self._find_registrations(known)

    def _matches(self, descriptor: SealedTable, row: object, field: str, expected: str) -> bool | RegistryError:
        """Whether a candidate's indexed value is `expected` (a bucket holds others too), or
        the error that kept it from being opened (an erased key, an altered ciphertext)."""
        normalise = dwellings.normalise_address if descriptor is DWELLING else str
        try:
            return matches(
                self.session, self.keyring, descriptor, row, field=field, expected=expected, normalise=normalise
            )
        except RegistryError as exc:
            return exc

    def _find_persons(self, numbers: set[str]) -> None:
        """As `create_person`'s duplicate check and `search_persons` by ID number."""
        if not numbers:
            return
        version, tokens = indexes.read_tokens(
            self.session, self.keyring, table=PERSON.name, field="id_number", values=numbers
        )
        by_token = indexes.candidates_of(
            self.session, table=PERSON.name, field="id_number", version=version, tokens=set(tokens.values())
        )
        ids = sorted({uuid.UUID(i) for ids in by_token.values() for i in ids})
        live = {}
        for chunk in chunked(ids):
            query = sa.select(Person.id, Person.id_number_ct, Person.org_unit_code).where(
                Person.id.in_(chunk),  # type: ignore[attr-defined]
                Person.erased_at.is_(None),  # type: ignore[union-attr]
            )
            for row in self.session.execute(query):
                live[str(row.id)] = row
                self.found.holders[row.id] = row.org_unit_code
        self.keyring.load_keys(self.session, owners=live, compartment=PERSON.compartment)
        for number, token in tokens.items():
            self.found.person_tokens[number] = token.hex()
            checked = {
                i: self._matches(PERSON, live[i], "id_number", number) for i in by_token.get(token, ()) if i in live
            }
            failed = next((c for c in checked.values() if isinstance(c, RegistryError)), None)
            if failed is not None:
                self.found.errors[number] = failed
            self.found.persons[number] = [uuid.UUID(i) for i, hit in checked.items() if hit is True]

    def _find_dwellings(self, places: set[DwellingKey]) -> None:
        """As `find_dwellings`: in the row's org unit, in scope, the address compared exactly."""
        if not places:
            return
        version, tokens = indexes.read_tokens(
            self.session,
            self.keyring,
            table=DWELLING.name,
            field=dwellings.ADDRESS_INDEX,
            values={address for _, address in places},
        )
        by_token = indexes.candidates_of(
            self.session,
            table=DWELLING.name,
            field=dwellings.ADDRESS_INDEX,
            version=version,
            tokens=set(tokens.values()),
        )
        ids = sorted({uuid.UUID(i) for ids in by_token.values() for i in ids})
        rows: dict[str, Dwelling] = {}
        for chunk in chunked(ids):
            query = scoped_select(self.session, Dwelling, self.ctx.principal.scope).where(
                Dwelling.id.in_(chunk)  # type: ignore[attr-defined]
            )
            rows.update({str(d.id): d for d in self.session.exec(query)})
        self.keyring.load_keys(self.session, owners=rows, compartment=DWELLING.compartment)
        for unit, address in places:
            for rid in by_token.get(tokens[address], ()):
                dwelling = rows.get(rid)
                if dwelling is None or dwelling.org_unit_code != unit:
                    continue
                hit = self._matches(DWELLING, dwelling, "address", address)
                if isinstance(hit, RegistryError):
                    self.found.errors[(unit, address)] = hit
                    break
                if hit:
                    self.found.dwellings[(unit, address)] = dwelling.id
                    break

    def _find_registrations(self, persons: set[uuid.UUID]) -> None:
        held = self.found.held
        for chunk in chunked(sorted(persons)):
            query = sa.select(
                Registration.person_id, Registration.dwelling_id, Registration.arrived_on, Registration.status
            ).where(Registration.person_id.in_(chunk))  # type: ignore[attr-defined]
            for pid, did, arrived_on, status in self.session.execute(query):
                held.setdefault(pid, []).append((did, arrived_on, status))


def look_up(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    memo: RunMemo,
    rows: list[ResidenceRow],
    *,
    id_number: Callable[[str], IdNumber],
) -> Found:
    """What is stored for these rows' persons, landlords and dwellings that this run has not
    met yet, and the registrations of every person the rows name who is stored already."""
    lookup = _Lookup(session, ctx, keyring, memo, id_number)
    lookup.look_up(rows)
    return lookup.found
