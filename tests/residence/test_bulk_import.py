"""The bulk-written import reads back through the services exactly as if the services had
written it: sealed values open with their AAD, blind indexes find them, persons stored
before are matched (and follow their new residence), a landlord found in the database is
an audited search, and every created record has the entry its service would append.

As in `test_importer.py`, personal values are compared into booleans or counts first.
"""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import select

from registry.audit.models import AuditEntry
from registry.clock import today
from registry.crypto.keyring import Compartment
from registry.crypto.models import DataKeyRecord
from registry.db import transaction
from registry.demo import ensure_demo_tree, seed_rows
from registry.people import service as people
from registry.people.identifiers import display_name, parse_id_number, parse_uscc
from registry.people.models import Person
from registry.people.schemas import PersonCreate, PersonSearch
from registry.people.synthetic import SyntheticPeople
from registry.residence import dwellings, employers, registrations
from registry.residence.importer import import_rows, system_context
from registry.residence.models import Employer, Registration
from registry.residence.schemas import EmployerCreate

UNITS = ["990171001", "990105002"]


def _entries(runtime, action: str) -> list[AuditEntry]:
    with transaction(runtime.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


def test_bulk_written_records_read_back_through_the_services(runtime):
    ensure_demo_tree(runtime)
    rows = seed_rows(24, seed=31, units=UNITS, on=today(runtime.clock))
    counts = import_rows(runtime, enumerate(rows, start=1), batch_size=10)
    assert (counts.imported, counts.rejected, counts.persons_created) == (24, 0, 24)

    wrong: list[str] = []
    with transaction(runtime.engine) as session:
        ctx = system_context(session, runtime)
        keyring = runtime.keyring
        for row in rows:
            on = today(runtime.clock)
            number = parse_id_number(row.id_number, today=on)
            by_id = people.search_persons(session, ctx, keyring, query=PersonSearch(id_number=row.id_number))
            if len(by_id) != 1:
                wrong.append("id_number search")
                continue
            pid = by_id[0]["id"]
            by_phone = people.search_persons(session, ctx, keyring, query=PersonSearch(phone=row.phone))
            by_name = people.search_persons(
                session, ctx, keyring, query=PersonSearch(name=row.name, birth_date=number.birth_date)
            )
            if pid not in {m["id"] for m in by_phone} or pid not in {m["id"] for m in by_name}:
                wrong.append("phone or name search")
            _, shown = people.read_person(session, ctx, keyring, person_id=pid)
            expected = {
                "name": display_name(row.name),
                "id_number": number.value,
                "sex": number.sex,
                "birth_date": number.birth_date.isoformat(),
                "phone": row.phone,
                "hukou_address": row.hukou_address,
            }
            if shown != expected:
                wrong.append("person fields")
            registration = session.exec(select(Registration).where(Registration.person_id == pid)).one()
            _, held = registrations.read_registration(session, ctx, keyring, registration_id=registration.id)
            if held != {"employer_name": row.employer_name, "employer_uscc": row.employer_uscc}:
                wrong.append("registration fields")
            if (registration.arrived_on, registration.registered_on, registration.basis, registration.reported_by) != (
                row.arrived_on,
                row.registered_on,
                row.basis,
                row.reported_by,
            ):
                wrong.append("registration dates or basis")
            dwelling, place = dwellings.read_dwelling(session, ctx, keyring, dwelling_id=registration.dwelling_id)
            if place["address"] != row.dwelling_address or dwelling.org_unit_code != row.dwelling_org_unit:
                wrong.append("dwelling fields")
            found = dwellings.find_dwellings(
                session, ctx, keyring, org_unit=row.dwelling_org_unit, address=row.dwelling_address
            )
            if [d.id for d in found] != [dwelling.id]:
                wrong.append("dwelling address index")
        session.rollback()  # the reads' own audit entries are not under test
    assert not wrong, wrong

    # One entry per created record, by `system` for `registration`, naming what its service names.
    created = _entries(runtime, "person:create")
    assert len(created) == 24 and {e.purpose for e in created} == {"registration"}
    assert {tuple(e.fields) for e in created} == {("name", "id_number", "sex", "birth_date", "phone", "hukou_address")}
    assert len(_entries(runtime, "dwelling:create")) == counts.dwellings_created
    registered = _entries(runtime, "registration:create")
    employed = sum(1 for r in rows if r.employer_name)
    assert len(registered) == 24
    assert sum(1 for e in registered if e.fields == ["employer_name", "employer_uscc"]) == employed
    assert all(len(e.targets) == 2 for e in registered)


def test_bulk_import_matches_persons_stored_before_and_audits_the_landlord_search(runtime):
    ensure_demo_tree(runtime)
    on = today(runtime.clock)
    resident, landlord, tenant = seed_rows(3, seed=47, units=[UNITS[0]], on=on)
    with transaction(runtime.engine) as session:
        ctx = system_context(session, runtime)
        stored = {}
        for row in (resident, landlord):
            data = PersonCreate(id_number=row.id_number, name=row.name, org_unit=UNITS[0])
            stored[row.id_number] = people.create_person(session, ctx, runtime.keyring, data=data).id
    resident_id, landlord_id = stored[resident.id_number], stored[landlord.id_number]
    # The resident moves to another district; the tenant rents from a landlord not in the file.
    resident = replace(resident, dwelling_org_unit=UNITS[1], dwelling_kind="owned", landlord_id_number=None)
    tenant = replace(
        tenant, dwelling_kind="rental", landlord_id_number=landlord.id_number, pledge_signed_on=resident.arrived_on
    )
    counts = import_rows(runtime, enumerate([resident, tenant], start=1))
    assert (counts.imported, counts.rejected, counts.persons_created, counts.dwellings_created) == (2, 0, 1, 2)

    with transaction(runtime.engine) as session:
        person = session.get(Person, resident_id)
        assert person is not None and person.org_unit_code == UNITS[1]  # the record follows the residence
        keys = session.exec(select(DataKeyRecord.compartment).where(DataKeyRecord.owner_id == str(resident_id)))
        assert sorted(keys) == [Compartment.IDENTITY, Compartment.RESIDENCE]
        ctx = system_context(session, runtime)
        registration = session.exec(select(Registration).where(Registration.person_id == resident_id)).one()
        _, held = registrations.read_registration(session, ctx, runtime.keyring, registration_id=registration.id)
        assert held == {"employer_name": resident.employer_name, "employer_uscc": resident.employer_uscc}
        session.rollback()
    searches = _entries(runtime, "person:search")
    assert [(e.targets, e.fields, e.purpose) for e in searches] == [
        ([str(landlord_id)], ["name_masked", "birth_year"], "registration")
    ]
    assert searches[0].search_token  # the token of the ID number, never the value
    rented = [e for e in _entries(runtime, "dwelling:create") if len(e.targets) == 2]
    assert [e.targets[1] for e in rented] == [str(landlord_id)]

    again = import_rows(runtime, enumerate([resident, tenant], start=1))
    assert (again.imported, again.duplicates, again.persons_created, again.dwellings_created) == (0, 2, 0, 0)


def test_bulk_import_registers_each_employer_once_at_the_county_and_links_the_stored_one(runtime):
    """The batch's employers are found and registered together (`employers_for`): a code
    named in several batches and twice in one makes one employer, a code stored before
    the import is linked, not copied, and each new one is held by the county above the
    first worker's dwelling, sealed, indexed and on the record as `employer_for` makes it."""
    ensure_demo_tree(runtime)
    employed = [r for r in seed_rows(80, seed=53, units=UNITS, on=today(runtime.clock)) if r.employer_uscc][:12]
    assert len(employed) == 12
    made_up = SyntheticPeople(59)  # the demo's rows share a handful of employers: one code each here
    rows = [replace(r, employer_name=made_up.company_name(), employer_uscc=made_up.uscc()) for r in employed]
    for again, first in ((5, 0), (9, 0), (2, 1)):  # batches of 4: rows 0, 5, 9 in three; 1 and 2 in one
        rows[again] = replace(
            rows[again], employer_name=rows[first].employer_name, employer_uscc=rows[first].employer_uscc
        )
    # One batch with a dwelling at a county itself and one at a street under it: each
    # new employer is held by the county all the same.
    rows[4] = replace(rows[4], dwelling_org_unit="990171001")
    rows[6] = replace(rows[6], dwelling_org_unit="990171")
    stored_row = rows[3]
    with transaction(runtime.engine) as session:
        ctx = system_context(session, runtime)
        data = EmployerCreate(org_unit=UNITS[1], name=stored_row.employer_name, uscc=stored_row.employer_uscc)
        stored = employers.create_employer(session, ctx, runtime.keyring, data=data).id
    counts = import_rows(runtime, enumerate(rows, start=1), batch_size=4)
    assert (counts.imported, counts.rejected) == (12, 0)

    codes = {parse_uscc(r.employer_uscc): r for r in reversed(rows)}  # each code's first row
    wrong: list[str] = []
    with transaction(runtime.engine) as session:
        ctx = system_context(session, runtime)
        assert len(session.exec(select(Employer)).all()) == len(codes)
        found = employers.find_many_by_uscc(session, runtime.keyring, codes.keys())
        assert set(found) == set(codes)
        if found[parse_uscc(stored_row.employer_uscc)].id != stored:
            wrong.append("stored employer copied")
        for r in rows:
            registration = session.exec(
                select(Registration).where(Registration.employer_id == found[parse_uscc(r.employer_uscc)].id)
            ).all()
            if not registration:
                wrong.append("registration not linked")
        for code, first in codes.items():
            employer, shown = employers.read_employer(session, ctx, runtime.keyring, employer_id=found[code].id)
            if shown["uscc"] != code or shown["name"] != display_name(first.employer_name):
                wrong.append("employer fields")
            if employer.id != stored and employer.org_unit_code != first.dwelling_org_unit[:6]:
                wrong.append("held below the county")
        session.rollback()
    assert not wrong, wrong
    made = _entries(runtime, "employer:create")
    assert len(made) == len(codes)  # the stored one's by `create_employer`, the rest by the import
    assert all(e.fields == ["name", "uscc"] and len(e.targets) == 1 for e in made if e.targets != [str(stored)])
