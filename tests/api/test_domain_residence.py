"""DOMAIN.md residence rules that had no test of their own, over HTTP on both engines:
the 10-day report of a move, the rejection reason (居住证暂行条例 Art. 9), the opaque permit
number (Art. 17) and the never-stored fields of a person."""

from __future__ import annotations

import re
from datetime import date

import pytest

from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

V1 = "/api/v1"
REG = {"X-Purpose": "registration"}
# The permit number alphabet: no I, O or Z, so it reads back unambiguously.
PERMIT_NO = re.compile(r"RP[0-9A-HJ-NP-Y]{14}")


@pytest.fixture
def world(client, bootstrap, clock):  # type: ignore[no-untyped-def]
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "civil.a", ["civil_affairs"], "320571")
    heads: dict[str, dict[str, str]] = {}

    def relogin() -> None:
        """After the clock moves days ahead, the old tokens have (rightly) expired."""
        for name in ("police.a", "civil.a"):
            heads[name] = as_user(client, name, STRONG_PASSWORD) | REG

    relogin()
    people = SyntheticPeople(77)

    def person(p) -> str:  # type: ignore[no-untyped-def]
        made = client.post(f"{V1}/persons", json={"id_number": p.id_number, "name": p.name}, headers=heads["police.a"])
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    def dwelling(address: str) -> str:
        body = {"org_unit": "320571001", "address": address, "kind": "owned"}
        made = client.post(f"{V1}/dwellings", json=body, headers=heads["police.a"])
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    return {"heads": heads, "relogin": relogin, "people": people, "person": person, "dwelling": dwelling}


def _register(client, w, person_id: str, dwelling_id: str, *, arrived_on: str, registered_on: str | None = None):  # type: ignore[no-untyped-def]
    body = {"person_id": person_id, "dwelling_id": dwelling_id, "arrived_on": arrived_on, "basis": "study"}
    if registered_on:
        body["registered_on"] = registered_on
    made = client.post(f"{V1}/residence-registrations", json=body, headers=w["heads"]["police.a"])
    assert made.status_code == 201, made.text
    return made.json()


def _move(client, w, registration_id: str, dwelling_id: str, moved_on: str):  # type: ignore[no-untyped-def]
    body = {"dwelling_id": dwelling_id, "moved_on": moved_on}
    made = client.post(
        f"{V1}/residence-registrations/{registration_id}/move", json=body, headers=w["heads"]["police.a"]
    )
    assert made.status_code == 201, made.text
    return made.json()


def _apply(client, w, person_id: str, registration_id: str) -> str:  # type: ignore[no-untyped-def]
    body = {"person_id": person_id, "registration_id": registration_id, "basis": "study"}
    made = client.post(f"{V1}/residence-permits", json=body, headers=w["heads"]["civil.a"])
    assert made.status_code == 201, made.text
    return f"{V1}/residence-permits/{made.json()['id']}"


def test_a_move_reported_within_10_days_is_timely_and_later_is_late(client, world, clock):  # type: ignore[no-untyped-def]
    """DOMAIN.md: a move is reported within 10 days (setting `move_report_days`), the
    registration it opens records whether it was late (浙江省流动人口居住登记条例)."""
    w = world
    pid, home, second, third = (
        w["person"](w["people"].person()),
        w["dwelling"]("甲1"),
        w["dwelling"]("甲2"),
        w["dwelling"]("甲3"),
    )
    first = _register(client, w, pid, home, arrived_on="2025-12-01", registered_on="2025-12-01")
    # Today is 2026-01-05: moved on 2025-12-26, the 10th day is today.
    timely = _move(client, w, first["id"], second, "2025-12-26")
    assert timely["registered_on"] == "2026-01-05" and timely["late"] is False
    clock.advance(days=11)  # 2026-01-16: moved on 2026-01-05, 11 days ago
    w["relogin"]()
    late = _move(client, w, timely["id"], third, "2026-01-05")
    assert late["registered_on"] == "2026-01-16" and late["late"] is True


def test_art9_a_rejection_needs_a_reason(client, world):  # type: ignore[no-untyped-def]
    """居住证暂行条例 Art. 9 / DOMAIN.md: `rejected` (reason required)."""
    w = world
    pid = w["person"](w["people"].person())
    reg = _register(client, w, pid, w["dwelling"]("乙1"), arrived_on="2025-06-01", registered_on="2025-06-01")
    path = _apply(client, w, pid, reg["id"])
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        refused = client.post(f"{path}/reject", json=body, headers=w["heads"]["police.a"])
        assert refused.status_code == 422, (body, refused.text)
    assert client.get(path, headers=w["heads"]["police.a"]).json()["status"] == "applied"
    rejected = client.post(f"{path}/reject", json={"reason": "材料不实"}, headers=w["heads"]["police.a"])
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"


def test_art17_permit_numbers_are_unique_opaque_and_not_derived_from_personal_data(client, world):  # type: ignore[no-untyped-def]
    """居住证暂行条例 Art. 17 (confidentiality) / DOMAIN.md: the permit number is unique, opaque
    and not derived from personal data: two holders with the same dates get unrelated numbers."""
    w = world
    numbers, ids = [], []
    for n in range(2):
        p = w["people"].person()
        pid = w["person"](p)
        reg = _register(client, w, pid, w["dwelling"](f"丙{n}"), arrived_on="2025-06-01", registered_on="2025-06-01")
        path = _apply(client, w, pid, reg["id"])
        assert client.post(f"{path}/accept", headers=w["heads"]["civil.a"]).status_code == 200
        issued = client.post(f"{path}/issue", headers=w["heads"]["police.a"])
        assert issued.status_code == 200, issued.text
        number = issued.json()["permit_no"]
        assert PERMIT_NO.fullmatch(number), number
        # No run of 4 digits of the ID number (region, birth date, sequence) appears in it.
        digits = p.id_number[:17]
        assert not any(digits[i : i + 4] in number for i in range(len(digits) - 3)), number
        assert date.fromisoformat(reg["registered_on"]).strftime("%y%m%d") not in number
        numbers.append(number)
        ids.append(issued.json()["id"])
    assert len(set(numbers)) == 2 and all(
        i.replace("-", "").upper() not in n for i, n in zip(ids, numbers, strict=True)
    )


@pytest.mark.parametrize("field", ["ethnicity", "religion", "political_affiliation", "petition_history", "location"])
def test_a_person_field_outside_the_domain_is_refused_pipl_art_6(client, world, field):  # type: ignore[no-untyped-def]
    """DOMAIN.md "Never stored" (PIPL Art. 6 minimum necessary): a person carrying ethnicity,
    religion, belief, political affiliation, petition history or location is a 422, and
    nothing is created."""
    w = world
    p = w["people"].person()
    body = {"id_number": p.id_number, "name": p.name, field: "x"}
    refused = client.post(f"{V1}/persons", json=body, headers=w["heads"]["police.a"])
    assert refused.status_code == 422, refused.text
    assert p.id_number not in refused.text
    created = client.post(
        f"{V1}/persons", json={"id_number": p.id_number, "name": p.name}, headers=w["heads"]["police.a"]
    )
    assert created.status_code == 201  # the refused request stored nothing: no duplicate
