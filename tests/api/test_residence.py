"""Residence through HTTP on both engines: dwellings, registrations, permits, verification."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}


@pytest.fixture
def world(client, bootstrap, clock):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "police.b", ["police"], "320505")
    create_user(client, admin, "civil.a", ["civil_affairs"], "320571")
    svc = client.post(
        "/api/v1/service-accounts",
        json={"name": "school-svc", "roles": ["verifier"], "org_unit": "320571"},
        headers=admin,
    ).json()
    verifier = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": svc["client_id"], "client_secret": svc["client_secret"]},
    ).json()["access_token"]
    heads = {name: as_user(client, name, STRONG_PASSWORD) for name in ("police.a", "police.b", "civil.a")}
    heads["admin"], heads["verifier"] = admin, {"Authorization": f"Bearer {verifier}"}
    people = SyntheticPeople(21)
    landlord, tenant = people.person(), people.person()

    def person(p):
        return client.post(
            "/api/v1/persons", json={"id_number": p.id_number, "name": p.name}, headers=heads["police.a"] | REG
        ).json()["id"]

    dwelling = client.post(
        "/api/v1/dwellings",
        json={
            "org_unit": "320571001",
            "address": "测试路1号101室",
            "kind": "rental",
            "landlord_person_id": person(landlord),
            "pledge_signed_on": "2025-12-01",
        },
        headers=heads["police.a"] | REG,
    )
    assert dwelling.status_code == 201, dwelling.text

    def relogin() -> None:
        """After the clock moves days ahead, the old tokens have (rightly) expired."""
        for name in ("police.a", "police.b", "civil.a"):
            heads[name].update(as_user(client, name, STRONG_PASSWORD))

    return {
        "heads": heads,
        "tenant": tenant,
        "tenant_id": person(tenant),
        "dwelling": dwelling.json(),
        "uscc": people.uscc(),
        "people": people,
        "relogin": relogin,
    }


def _register(client, world, *, arrived_on, registered_on=None, basis="employment", who="police.a"):
    body = {
        "person_id": world["tenant_id"],
        "dwelling_id": world["dwelling"]["id"],
        "arrived_on": arrived_on,
        "basis": basis,
    }
    if registered_on:
        body["registered_on"] = registered_on
    if basis == "employment":
        body |= {"employer_name": "测试科技有限公司", "employer_uscc": world["uscc"]}
    return client.post("/api/v1/residence-registrations", json=body, headers=world["heads"][who] | REG)


def test_dwelling_read_occupants_and_rules(client, world):
    police = world["heads"]["police.a"]
    dwelling = client.get(f"/api/v1/dwellings/{world['dwelling']['id']}", headers=police | REG).json()
    assert dwelling["address"] == "测试路1号101室" and dwelling["kind"] == "rental"
    no_landlord = client.post(
        "/api/v1/dwellings", json={"org_unit": "320571", "address": "x", "kind": "rental"}, headers=police | REG
    )
    assert no_landlord.status_code == 422 and "landlord" in no_landlord.json()["detail"]
    assert (
        client.get(f"/api/v1/dwellings/{world['dwelling']['id']}", headers=world["heads"]["police.b"] | REG).status_code
        == 404
    )
    assert client.get(f"/api/v1/dwellings/{world['dwelling']['id']}", headers=police).status_code == 400
    _register(client, world, arrived_on="2026-01-02", registered_on="2026-01-04")
    occupants = client.get(f"/api/v1/dwellings/{world['dwelling']['id']}/occupants", headers=police | REG).json()[
        "items"
    ]
    assert [o["person_id"] for o in occupants] == [world["tenant_id"]]


def test_registration_lateness_rules_and_transitions(client, world):
    on_time = _register(client, world, arrived_on="2026-01-02", registered_on="2026-01-05")
    assert on_time.status_code == 201, on_time.text
    body = on_time.json()
    assert body["status"] == "active" and body["late"] is False and body["org_unit"] == "320571001"
    assert body["employer_name"] == "测试科技有限公司"
    assert _register(client, world, arrived_on="2026-01-02").status_code == 409  # already active
    rid = body["id"]
    police = world["heads"]["police.a"]
    moved = client.post(
        f"/api/v1/residence-registrations/{rid}/move",
        json={"dwelling_id": world["dwelling"]["id"], "moved_on": "2026-01-04"},
        headers=police | REG,
    )
    assert moved.status_code == 201 and moved.json()["previous_id"] == rid
    old = client.get(f"/api/v1/residence-registrations/{rid}", headers=police | REG).json()
    assert old["status"] == "moved"
    again = client.post(
        f"/api/v1/residence-registrations/{rid}/move",
        json={"dwelling_id": world["dwelling"]["id"], "moved_on": "2026-01-04"},
        headers=police | REG,
    )
    assert again.status_code == 409
    new_id = moved.json()["id"]
    departed = client.post(
        f"/api/v1/residence-registrations/{new_id}/depart", json={"departed_on": "2026-01-05"}, headers=police | REG
    )
    assert departed.status_code == 200 and departed.json()["status"] == "departed"
    listed = client.get("/api/v1/residence-registrations?org_unit=320571&status=departed", headers=police | REG).json()
    assert [r["id"] for r in listed["items"]] == [new_id]


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"registered_on": "2026-01-01", "arrived_on": "2026-01-02"}, "registered_on"),
        ({"arrived_on": "2027-01-01"}, "arrived_on"),
        ({"basis": "study", "employer_name": "x"}, "employer"),
        ({"employer_uscc": "91350100M000100Y44"}, "uscc"),
    ],
)
def test_registration_rule_refusals(client, world, change, rule):
    body = {
        "person_id": world["tenant_id"],
        "dwelling_id": world["dwelling"]["id"],
        "arrived_on": "2026-01-02",
        "basis": "employment",
        "employer_name": "测试科技有限公司",
        "employer_uscc": world["uscc"],
    } | change
    response = client.post("/api/v1/residence-registrations", json=body, headers=world["heads"]["police.a"] | REG)
    assert response.status_code == 422 and rule in response.json()["detail"]


def test_late_registration_is_flagged(client, world):
    late = _register(client, world, arrived_on="2025-12-20", registered_on="2026-01-05")
    assert late.status_code == 201 and late.json()["late"] is True


def test_permit_eligibility_needs_six_months(client, world, clock):
    reg = _register(client, world, arrived_on="2025-12-30", registered_on="2026-01-05").json()
    body = {"person_id": world["tenant_id"], "registration_id": reg["id"], "basis": "employment"}
    early = client.post("/api/v1/residence-permits", json=body, headers=world["heads"]["civil.a"] | REG)
    assert early.status_code == 422 and "six_months" in early.json()["detail"]
    clock.advance(days=181)  # 2026-07-05
    world["relogin"]()
    ok = client.post("/api/v1/residence-permits", json=body, headers=world["heads"]["civil.a"] | REG)
    assert ok.status_code == 201 and ok.json()["status"] == "applied"


def _issued_permit(client, world, clock):
    reg = _register(client, world, arrived_on="2025-06-01", registered_on="2025-06-01").json()
    body = {"person_id": world["tenant_id"], "registration_id": reg["id"], "basis": "employment"}
    civil, police = world["heads"]["civil.a"] | REG, world["heads"]["police.a"] | REG
    permit = client.post("/api/v1/residence-permits", json=body, headers=civil).json()
    path = f"/api/v1/residence-permits/{permit['id']}"
    asked = client.post(f"{path}/request-materials", json={"missing": ["photo", "lease"]}, headers=civil).json()
    assert asked["status"] == "needs_materials" and asked["materials_missing"] == ["photo", "lease"]
    assert client.post(f"{path}/issue", headers=police).status_code == 409  # not accepted yet
    accepted = client.post(f"{path}/accept", headers=civil).json()
    assert accepted["issue_due_on"] == (date.fromisoformat(accepted["accepted_on"]) + timedelta(days=15)).isoformat()
    assert client.post(f"{path}/issue", headers=civil).status_code == 403  # issuing is for police
    issued = client.post(f"{path}/issue", headers=police).json()
    assert issued["status"] == "issued" and issued["permit_no"].startswith("RP")
    return path, issued


def test_permit_life_over_two_simulated_years(client, world, clock):
    path, issued = _issued_permit(client, world, clock)
    police = world["heads"]["police.a"] | REG
    assert issued["issued_on"] == "2026-01-05" and issued["valid_until_next_endorsement"] == "2027-01-05"
    assert issued["endorsement_window"] == {"opens_on": "2026-12-05", "closes_on": "2027-01-05"}
    early = client.post(f"{path}/endorse", json={}, headers=police)
    assert early.status_code == 422 and "too_early" in early.json()["detail"]
    clock.advance(days=340)  # 2026-12-11: inside the window
    world["relogin"]()
    police = world["heads"]["police.a"] | REG
    due = client.get("/api/v1/residence-permits?due=endorsement_due", headers=police).json()["items"]
    assert [p["id"] for p in due] == [issued["id"]]
    on_time = client.post(f"{path}/endorse", json={}, headers=police).json()
    assert on_time["status"] == "issued" and on_time["valid_until_next_endorsement"] == "2028-01-05"
    clock.advance(days=400)  # 2028-01-15: the 2028 anniversary passed unendorsed
    world["relogin"]()
    police = world["heads"]["police.a"] | REG
    suspended = client.get(path, headers=police).json()
    assert suspended["status"] == "suspended" and suspended["continuous_since"] == "2026-01-05"
    listed = client.get("/api/v1/residence-permits?status=suspended", headers=police).json()["items"]
    assert [p["id"] for p in listed] == [issued["id"]]
    late = client.post(f"{path}/endorse", json={}, headers=police).json()
    assert late["status"] == "issued" and late["continuous_since"] == "2028-01-15"
    cancelled = client.post(f"{path}/cancel", json={"reason": "departed"}, headers=police).json()
    assert cancelled["status"] == "cancelled"
    assert client.post(f"{path}/endorse", json={}, headers=police).status_code == 409


def test_issue_overdue_worklist(client, world, clock):
    reg = _register(client, world, arrived_on="2025-06-01", registered_on="2025-06-01").json()
    civil = world["heads"]["civil.a"] | REG
    permit = client.post(
        "/api/v1/residence-permits",
        json={"person_id": world["tenant_id"], "registration_id": reg["id"], "basis": "employment"},
        headers=civil,
    ).json()
    client.post(f"/api/v1/residence-permits/{permit['id']}/accept", headers=civil)
    assert client.get("/api/v1/residence-permits?due=issue_overdue", headers=civil).json()["items"] == []
    clock.advance(days=16)
    world["relogin"]()
    civil = world["heads"]["civil.a"] | REG
    overdue = client.get("/api/v1/residence-permits?due=issue_overdue", headers=civil).json()["items"]
    assert [p["id"] for p in overdue] == [permit["id"]]


def test_verifier_learns_only_yes_or_no_and_is_rate_limited(client, runtime, world, clock):
    _, issued = _issued_permit(client, world, clock)
    verifier = world["heads"]["verifier"]
    name = world["tenant"].name
    yes = client.post(
        "/api/v1/permit-verifications", json={"permit_no": issued["permit_no"], "holder_name": name}, headers=verifier
    )
    assert yes.status_code == 200 and set(yes.json()) == {"valid", "checked_at"} and yes.json()["valid"] is True
    wrong_name = client.post(
        "/api/v1/permit-verifications",
        json={"permit_no": issued["permit_no"], "holder_name": "某某某"},
        headers=verifier,
    )
    unknown = client.post(
        "/api/v1/permit-verifications", json={"permit_no": "RP00000000000000", "holder_name": name}, headers=verifier
    )
    assert wrong_name.json()["valid"] is False and unknown.json()["valid"] is False
    assert set(wrong_name.json()) == {"valid", "checked_at"}
    # The verifier can read nothing else.
    assert client.get(f"/api/v1/persons/{world['tenant_id']}", headers=verifier | REG).status_code in (400, 403)
    statuses = [
        client.post(
            "/api/v1/permit-verifications",
            json={"permit_no": issued["permit_no"], "holder_name": f"{i}"},
            headers=verifier,
        ).status_code
        for i in range(30)
    ]
    assert statuses.count(429) >= 1 and 200 in statuses
    clock.advance(minutes=2)
    assert (
        client.post(
            "/api/v1/permit-verifications",
            json={"permit_no": issued["permit_no"], "holder_name": name},
            headers=verifier,
        ).status_code
        == 200
    )
    police = world["heads"]["police.a"]
    assert (
        client.post(
            "/api/v1/permit-verifications", json={"permit_no": issued["permit_no"], "holder_name": name}, headers=police
        ).status_code
        == 403
    )


def test_other_district_gets_404_everywhere_but_finds_masked_by_exact_id(client, world):
    reg = _register(client, world, arrived_on="2026-01-02", registered_on="2026-01-04").json()
    other = world["heads"]["police.b"] | REG
    assert client.get(f"/api/v1/residence-registrations/{reg['id']}", headers=other).status_code == 404
    assert client.get(f"/api/v1/persons/{world['tenant_id']}", headers=other).status_code == 404
    found = client.post("/api/v1/persons/search", json={"id_number": world["tenant"].id_number}, headers=other).json()
    assert found["items"][0]["in_scope"] is False and set(found["items"][0]) == {
        "id",
        "name_masked",
        "birth_year",
        "in_scope",
    }
    assert client.get("/api/v1/residence-registrations", headers=other).json()["items"] == []


def test_anonymous_and_wrong_role(client, world):
    assert client.get("/api/v1/residence-permits").status_code == 401
    assert client.post("/api/v1/dwellings", json={}).status_code == 401
    assert client.get("/api/v1/residence-permits", headers=world["heads"]["admin"]).status_code in (400, 403)
    assert (
        client.get(
            "/api/v1/residence-permits", headers=world["heads"]["verifier"] | {"X-Purpose": "verification"}
        ).status_code
        == 403
    )


def test_departed_registration_and_cancelled_permit_are_erased_five_years_on(client, runtime, world, clock, bootstrap):
    path, issued = _issued_permit(client, world, clock)
    police = world["heads"]["police.a"] | REG
    registration_id = issued["registration_id"]
    assert client.post(f"{path}/cancel", json={"reason": "departed"}, headers=police).status_code == 200
    departed = client.post(
        f"/api/v1/residence-registrations/{registration_id}/depart", json={"departed_on": "2026-01-05"}, headers=police
    )
    assert departed.status_code == 200
    admin = as_user(client, *bootstrap)
    create_user(client, admin, "secadmin.r", ["security_admin"], None)
    clock.advance(days=365 * 5 + 2)
    world["relogin"]()
    secadmin = as_user(client, "secadmin.r", STRONG_PASSWORD)
    job = client.post("/api/v1/retention/runs", headers=secadmin).json()["job_id"]
    runtime.jobs.wait(uuid.UUID(job), timeout=60)
    police = world["heads"]["police.a"] | REG
    registration = client.get(f"/api/v1/residence-registrations/{registration_id}", headers=police).json()
    assert registration["employer_name"] is None and registration["status"] == "departed"
    permit = client.get(path, headers=police).json()
    assert permit["permit_no"] is None and permit["status"] == "cancelled"
    with runtime.engine.connect() as conn:
        keys = conn.exec_driver_sql(
            f"SELECT count(*) FROM data_key WHERE compartment = 'residence' AND owner_id = '{world['tenant_id']}'"
        ).scalar()
    assert keys == 0
