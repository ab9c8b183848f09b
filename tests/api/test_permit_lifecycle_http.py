"""A residence permit over HTTP on both engines and a simulated clock, from the first
registration in the city to each end (issue 14). Articles are of 居住证暂行条例 unless named.

- Art. 2: the six-month clock runs from the first registration in the city; moves keep it.
- Art. 4 (and 浙江省流动人口居住登记条例 Art. 19 para. 3): a move keeps the permit, which
  follows the new registration (change of address); an accepted transfer to another unit
  moves it with the residence records (issue 13's consent).
- Departure cancels the permit: verification answers not valid from that day.
- Art. 11: one live permit per person (409; a partial unique index holds it too).
- Art. 10: only county-level public security issues (org-unit depth, a setting): 403, audited.
"""

from __future__ import annotations

import threading
import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from registry.people.synthetic import SyntheticPeople
from registry.residence.models import Permit
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}
V1 = "/api/v1"
POLICE = {"police.a": "320571", "police.b": "320505", "police.street": "320571001"}


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    for name, unit in POLICE.items():
        create_user(client, admin, name, ["police"], unit)
    create_user(client, admin, "auditor.x", ["auditor"], None)
    service = {"name": "school-svc", "roles": ["verifier"], "org_unit": "320571"}
    svc = client.post(f"{V1}/service-accounts", json=service, headers=admin).json()
    people = SyntheticPeople(1414)
    heads: dict[str, dict[str, str]] = {}

    def relogin() -> None:
        """After the clock moves days ahead, the old tokens have (rightly) expired."""
        for name in [*POLICE, "auditor.x"]:
            heads[name] = as_user(client, name, STRONG_PASSWORD)
        form = {"grant_type": "client_credentials", "client_id": svc["client_id"]}
        form["client_secret"] = svc["client_secret"]
        token = client.post(f"{V1}/auth/token", data=form).json()["access_token"]
        heads["verifier"] = {"Authorization": f"Bearer {token}", "X-Purpose": "verification"}

    relogin()
    tenant = people.person()
    created = client.post(
        f"{V1}/persons", json={"id_number": tenant.id_number, "name": tenant.name}, headers=heads["police.a"] | REG
    )
    assert created.status_code == 201, created.text
    w = {"heads": heads, "relogin": relogin, "tenant": tenant, "person_id": created.json()["id"]}
    w["home_1"] = _dwelling(client, w, "police.a", "320571001", "甲街1号")
    w["home_2"] = _dwelling(client, w, "police.a", "320571001", "甲街2号")
    w["home_b"] = _dwelling(client, w, "police.b", "320505", "乙路3号")
    return w


def _dwelling(client, w, who, unit, address):
    body = {"org_unit": unit, "address": address, "kind": "owned"}
    made = client.post(f"{V1}/dwellings", json=body, headers=w["heads"][who] | REG)
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _call(client, w, who, method, path, body=None, status=200):
    response = client.request(method, f"{V1}{path}", json=body, headers=w["heads"][who] | REG)
    assert response.status_code == status, (path, response.text)
    return response.json()


def _register(client, w, dwelling, on, who="police.a", status=201):
    body = {"person_id": w["person_id"], "dwelling_id": dwelling, "arrived_on": on, "registered_on": on}
    return _call(client, w, who, "POST", "/residence-registrations", body | {"basis": "family"}, status)


def _apply(client, w, registration_id, who="police.a", status=201):
    body = {"person_id": w["person_id"], "registration_id": registration_id, "basis": "residence"}
    return _call(client, w, who, "POST", "/residence-permits", body, status)


def _depart(client, w, who, registration_id, on):
    return _call(client, w, who, "POST", f"/residence-registrations/{registration_id}/depart", {"departed_on": on})


def _valid(client, w, permit_no):
    body = {"permit_no": permit_no, "holder_name": w["tenant"].name}
    return client.post(f"{V1}/permit-verifications", json=body, headers=w["heads"]["verifier"]).json()["valid"]


def _audited(client, w, target):
    response = client.get(f"{V1}/audit/events?target={target}&limit=500", headers=w["heads"]["auditor.x"])
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_art2_clock_from_first_registration_in_city_survives_a_move(client, clock, world):
    w = world
    first = _register(client, w, w["home_1"], "2025-09-01")
    assert first["resident_since"] == "2025-09-01"
    # A move opens a new registration (registered today) but keeps the clock.
    moved = _call(
        client,
        w,
        "police.a",
        "POST",
        f"/residence-registrations/{first['id']}/move",
        {"dwelling_id": w["home_2"], "moved_on": "2026-01-04"},
        201,
    )
    assert moved["registered_on"] == "2026-01-05" and moved["previous_id"] == first["id"]
    assert moved["resident_since"] == "2025-09-01"
    early = _apply(client, w, moved["id"], status=422)
    assert "eligibility.six_months" in early["detail"] and "Art. 2" in early["detail"]
    clock.advance(days=57)  # 2026-03-03: six months after 2025-09-01, two after the move
    w["relogin"]()
    assert _apply(client, w, moved["id"])["status"] == "applied"


def test_art2_clock_restarts_where_the_chain_crosses_into_another_city(client, runtime, world):
    """The chain is compared city by city (the root of each dwelling's unit tree): the earlier
    registration's dwelling placed under another city breaks the run at the move."""
    w = world
    first = _register(client, w, w["home_1"], "2025-09-01")
    body = {"dwelling_id": w["home_2"], "moved_on": "2026-01-04"}
    moved = _call(client, w, "police.a", "POST", f"/residence-registrations/{first['id']}/move", body, 201)
    assert moved["resident_since"] == "2025-09-01"
    with runtime.engine.begin() as conn:  # another city's tree, and the first home in it
        conn.execute(
            sa.text("INSERT INTO org_unit (code, name, parent_code, path, created_at) VALUES (:c, :n, NULL, :p, :t)"),
            {"c": "330100", "n": "another city", "p": "/330100/", "t": "2025-01-01 00:00:00"},
        )
        conn.execute(
            sa.text("UPDATE dwelling SET org_unit_code = '330100' WHERE id = :d"),
            {"d": uuid.UUID(w["home_1"]).hex if runtime.engine.dialect.name == "sqlite" else w["home_1"]},
        )
    again = _call(client, w, "police.a", "GET", f"/residence-registrations/{moved['id']}")
    assert again["previous_id"] == first["id"] and again["resident_since"] == moved["registered_on"]


def test_art2_departure_restarts_the_clock(client, clock, world):
    w = world
    first = _register(client, w, w["home_1"], "2025-01-10")
    _depart(client, w, "police.a", first["id"], "2025-12-01")
    again = _register(client, w, w["home_2"], "2025-12-20")
    assert again["resident_since"] == "2025-12-20" and again["previous_id"] is None
    assert "eligibility.six_months" in _apply(client, w, again["id"], status=422)["detail"]


def test_permit_life_move_transfer_departure_over_simulated_clock(client, runtime, clock, world):
    """Art. 2, 4, 10, 11 and departure in one life, on the simulated clock."""
    w, pid = world, world["person_id"]
    first = _register(client, w, w["home_1"], "2025-06-01")
    permit = _apply(client, w, first["id"])
    path = f"/residence-permits/{permit['id']}"
    # Art. 11: one live permit per person, whatever its state.
    assert "permit.one_live" in _apply(client, w, first["id"], status=409)["detail"]
    _call(client, w, "police.a", "POST", f"{path}/request-materials", {"missing": ["lease"]})
    _call(client, w, "police.street", "POST", f"{path}/accept")  # the station accepts (Art. 9)
    # Art. 10: a street-level account may not issue; refused 403 and audited.
    refused = _call(client, w, "police.street", "POST", f"{path}/issue", status=403)
    assert "Art. 10" in refused["detail"]
    denied = [e for e in _audited(client, w, permit["id"]) if e["outcome"] == "denied"]
    assert [(e["action"], e["actor_org_unit"]) for e in denied] == [("access:denied", "320571001")]
    issued = _call(client, w, "police.a", "POST", f"{path}/issue")
    assert issued["status"] == "issued" and issued["issued_on"] == "2026-01-05"
    assert _valid(client, w, issued["permit_no"]) is True

    # Art. 4: a move inside the unit keeps the permit; it reads the new registration.
    clock.advance(days=60)  # 2026-03-06
    w["relogin"]()
    moved = _call(
        client,
        w,
        "police.a",
        "POST",
        f"/residence-registrations/{first['id']}/move",
        {"dwelling_id": w["home_2"], "moved_on": "2026-03-01"},
        201,
    )
    after_move = _call(client, w, "police.a", "GET", path)
    assert after_move["registration_id"] == moved["id"] and after_move["status"] == "issued"
    assert after_move["permit_no"] == issued["permit_no"] and after_move["org_unit"] == "320571001"
    assert "permit:address-change" in {e["action"] for e in _audited(client, w, permit["id"])}
    assert _valid(client, w, issued["permit_no"]) is True

    # Another unit: the consented transfer of issue 13. Until accepted the permit stays with A.
    arrived = _register(client, w, w["home_b"], "2026-03-05", who="police.b", status=202)
    assert _call(client, w, "police.b", "GET", path, status=404)
    tid = arrived["transfer"]["id"]
    _call(client, w, "police.a", "POST", f"/person-transfers/{tid}/accept")
    in_b = _call(client, w, "police.b", "GET", path)
    assert in_b["org_unit"] == "320505" and in_b["registration_id"] == arrived["id"] and in_b["status"] == "issued"
    assert _call(client, w, "police.a", "GET", path, status=404)
    registration_b = _call(client, w, "police.b", "GET", f"/residence-registrations/{arrived['id']}")
    assert registration_b["previous_id"] == moved["id"] and registration_b["resident_since"] == "2025-06-01"
    assert _valid(client, w, issued["permit_no"]) is True

    # Departure cancels the permit on the day of departure: from then on, not valid.
    clock.advance(days=10)  # 2026-03-16
    w["relogin"]()
    _depart(client, w, "police.b", arrived["id"], "2026-03-14")
    cancelled = _call(client, w, "police.b", "GET", path)
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_on"] == "2026-03-14"
    assert cancelled["decision_reason"].startswith("departed")
    assert _valid(client, w, issued["permit_no"]) is False
    # One permit was ever made for the person: the move and the transfer kept it.
    with Session(runtime.engine) as session:
        count = session.exec(
            sa.select(sa.func.count()).select_from(Permit).where(Permit.person_id == uuid.UUID(pid))
        ).one()
    assert count == (1,)


def test_departure_ends_an_application_not_yet_issued(client, world):
    w = world
    first = _register(client, w, w["home_1"], "2025-06-01")
    permit = _apply(client, w, first["id"])
    _depart(client, w, "police.a", first["id"], "2026-01-05")
    ended = _call(client, w, "police.a", "GET", f"/residence-permits/{permit['id']}")
    assert ended["status"] == "rejected" and ended["cancelled_on"] is None
    _call(client, w, "police.a", "POST", f"/residence-permits/{permit['id']}/issue", status=409)


def test_art11_rejected_application_frees_the_person_for_a_new_one(client, world):
    w = world
    first = _register(client, w, w["home_1"], "2025-06-01")
    permit = _apply(client, w, first["id"])
    _call(client, w, "police.a", "POST", f"/residence-permits/{permit['id']}/reject", {"reason": "materials"})
    assert _apply(client, w, first["id"])["status"] == "applied"


def test_art11_one_live_permit_held_by_the_database(client, runtime, world):
    """The partial unique index refuses a second live permit even past the service."""
    w = world
    first = _register(client, w, w["home_1"], "2025-06-01")
    permit = _apply(client, w, first["id"])
    with Session(runtime.engine) as session:
        row = session.get(Permit, uuid.UUID(permit["id"]))
        twin = Permit(
            person_id=row.person_id,
            registration_id=row.registration_id,
            org_unit_code=row.org_unit_code,
            basis="residence",
            status="accepted",
            applied_on=date(2026, 1, 5),
            created_at=row.created_at,
        )
        session.add(twin)
        with pytest.raises(sa.exc.IntegrityError):
            session.commit()


def test_art11_concurrent_applications_make_one_permit(client, runtime, world):
    w = world
    first = _register(client, w, w["home_1"], "2025-06-01")
    body = {"person_id": w["person_id"], "registration_id": first["id"], "basis": "residence"}
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def apply() -> None:
        barrier.wait()
        response = client.post(f"{V1}/residence-permits", json=body, headers=w["heads"]["police.a"] | REG)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=apply) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 409, 409, 409]
    with Session(runtime.engine) as session:
        count = session.exec(
            sa.select(sa.func.count()).select_from(Permit).where(Permit.person_id == uuid.UUID(w["person_id"]))
        ).one()
    assert count == (1,)
