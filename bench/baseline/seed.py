"""Seed the baseline with plain inserts: the same residents `registry demo seed` creates
(`registry.demo.seed_rows`, same seed, same org-unit tree), as one person, one dwelling
per distinct (org unit, address) and one active registration per row."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

from bench.baseline.app import REPORT_DAYS
from bench.baseline.models import Dwelling, OrgUnit, Person, Registration
from registry.demo import DEMO_TREE
from registry.people.identifiers import parse_id_number
from registry.residence.importer import ResidenceRow

CHUNK = 5000


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:  # type: ignore[type-arg]
    for start in range(0, len(rows), CHUNK):
        conn.execute(sa.insert(table), rows[start : start + CHUNK])


def seed_baseline(engine: sa.Engine, rows: Iterable[ResidenceRow]) -> dict[str, int]:
    """Insert the org-unit tree and `rows`; returns the counts (persons, dwellings, registrations)."""
    now = datetime.now(UTC)
    today = now.date()
    persons: dict[str, dict] = {}  # type: ignore[type-arg]
    dwellings: dict[tuple[str, str], dict] = {}  # type: ignore[type-arg]
    registrations: list[dict] = []  # type: ignore[type-arg]
    for row in rows:
        parsed = parse_id_number(row.id_number, today=today)
        person = {
            "id": uuid.uuid4(),
            "org_unit_code": row.dwelling_org_unit,
            "name": row.name,
            "id_number": parsed.value,
            "sex": parsed.sex,
            "birth_date": parsed.birth_date,
            "phone": row.phone,
            "hukou_address": row.hukou_address,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        persons[parsed.value] = person
        key = (row.dwelling_org_unit, row.dwelling_address)
        if key not in dwellings:
            landlord = persons[row.landlord_id_number]["id"] if row.landlord_id_number else None
            dwellings[key] = {
                "id": uuid.uuid4(),
                "org_unit_code": row.dwelling_org_unit,
                "address": row.dwelling_address,
                "kind": row.dwelling_kind,
                "landlord_person_id": landlord,
                "pledge_signed_on": row.pledge_signed_on,
                "created_at": now,
                "version": 1,
            }
        registered = row.registered_on or today
        registrations.append(
            {
                "id": uuid.uuid4(),
                "person_id": person["id"],
                "dwelling_id": dwellings[key]["id"],
                "org_unit_code": row.dwelling_org_unit,
                "arrived_on": row.arrived_on,
                "registered_on": registered,
                "departed_on": None,
                "basis": row.basis,
                "employer_name": row.employer_name,
                "employer_uscc": row.employer_uscc,
                "reported_by": row.reported_by,
                "status": "active",
                "late": (registered - row.arrived_on).days > REPORT_DAYS,
                "previous_id": None,
                "created_at": now,
                "version": 1,
            }
        )
    with engine.begin() as conn:
        units = [{"code": code, "name": name, "parent_code": parent} for code, name, parent in DEMO_TREE]
        _insert(conn, OrgUnit.__table__, units)  # type: ignore[arg-type]
        _insert(conn, Person.__table__, list(persons.values()))  # type: ignore[arg-type]
        _insert(conn, Dwelling.__table__, list(dwellings.values()))  # type: ignore[arg-type]
        _insert(conn, Registration.__table__, registrations)  # type: ignore[arg-type]
    return {"persons": len(persons), "dwellings": len(dwellings), "registrations": len(registrations)}
