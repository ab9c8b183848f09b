"""A world with a row in every sealed table, built over HTTP: two persons in district A,
a dwelling, two registrations with employers, an issued permit and one awaiting materials,
a community-correction file with an event, a refused leave and a break-glass grant from
district B. Used where a test must reach every descriptor (rotation, the access report)."""

from __future__ import annotations

from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, bearer, create_tree, create_user

REG, SUP = {"X-Purpose": "registration"}, {"X-Purpose": "supervision"}
ARRIVED = "2025-06-01"  # six months before the test clock (2026-01-05): a permit is possible
CORRECTION = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2025)测刑初9号",
    "judgment_effective_on": "2025-12-20",
    "term_starts_on": "2025-12-20",
    "term_ends_on": "2026-12-19",
}
INTAKE = {"documents_checked": True, "identity_verified": True, "rules_read": True}


def ok(response, status: int) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    return response.json() if response.content else {}


def build(client, bootstrap):  # type: ignore[no-untyped-def]
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "corrections.a", ["corrections"], "320571")
    create_user(client, admin, "corrections.b", ["corrections"], "320505")
    create_user(client, admin, "secadmin.x", ["security_admin"], None)
    service = {"name": "verifier.a", "roles": ["verifier"], "org_unit": "320571"}
    svc = ok(client.post("/api/v1/service-accounts", json=service, headers=admin), 201)
    form = {"grant_type": "client_credentials", "client_id": svc["client_id"], "client_secret": svc["client_secret"]}
    heads = {
        u: as_user(client, u, STRONG_PASSWORD) for u in ("police.a", "corrections.a", "corrections.b", "secadmin.x")
    }
    heads["verifier"] = bearer(ok(client.post("/api/v1/auth/token", data=form), 200)["access_token"])
    return heads


def male(people: SyntheticPeople):  # type: ignore[no-untyped-def]
    # A male subject: a female one's correction team would need a female member.
    return next(p for p in iter(people.person, None) if p.sex == "male")


def populate(client, heads) -> dict:  # type: ignore[no-untyped-def,type-arg]
    police, corrections = heads["police.a"] | REG, heads["corrections.a"] | SUP
    people = SyntheticPeople(20261206)
    w: dict = {"persons": {}}  # type: ignore[type-arg]
    for _ in range(2):
        p = male(people)
        body = {"id_number": p.id_number, "name": p.name, "phone": p.phone, "hukou_address": p.hukou_address}
        w["persons"][ok(client.post("/api/v1/persons", json=body, headers=police), 201)["id"]] = p
    (holder, holder_p), (other, _) = list(w["persons"].items())
    w["holder"] = holder
    w["address"] = people.address()
    dwelling = {"org_unit": "320571001", "address": w["address"], "kind": "owned"}
    w["dwelling"] = ok(client.post("/api/v1/dwellings", json=dwelling, headers=police), 201)["id"]
    registrations = {}
    w["employer"], uscc = people.company_name(), people.uscc()
    contact = male(people)
    employer = {
        "org_unit": "320571",
        "name": w["employer"],
        "uscc": uscc,
        "address": people.address(),
        "contact_name": contact.name,
        "contact_phone": contact.phone,
    }
    w["employer_id"] = ok(client.post("/api/v1/employers", json=employer, headers=police), 201)["id"]
    w["employer_contact"] = contact.name
    for person_id in (holder, other):
        body = {
            "person_id": person_id,
            "dwelling_id": w["dwelling"],
            "arrived_on": ARRIVED,
            "registered_on": ARRIVED,
            "basis": "employment",
            "employer_name": w["employer"],
            "employer_uscc": uscc,
        }
        registrations[person_id] = ok(client.post("/api/v1/residence-registrations", json=body, headers=police), 201)
    w["registration"] = registrations[holder]["id"]
    permit_body = {"person_id": holder, "registration_id": w["registration"], "basis": "residence"}
    w["permit"] = permit = ok(client.post("/api/v1/residence-permits", json=permit_body, headers=police), 201)["id"]
    base = f"/api/v1/residence-permits/{permit}"
    ok(client.post(f"{base}/request-materials", json={"missing": ["居住证明"]}, headers=police), 200)
    ok(client.post(f"{base}/accept", headers=police), 200)
    w["permit_no"] = ok(client.post(f"{base}/issue", headers=police), 200)["permit_no"]
    w["holder_name"] = holder_p.name
    rejected = {"person_id": other, "registration_id": registrations[other]["id"], "basis": "residence"}
    w["rejected"] = ok(client.post("/api/v1/residence-permits", json=rejected, headers=police), 201)["id"]
    w["pending_materials"] = w["rejected"]
    ok(
        client.post(
            f"/api/v1/residence-permits/{w['rejected']}/request-materials",
            json={"missing": ["就业证明"]},
            headers=police,
        ),
        200,
    )
    body = {"person_id": holder, "kind": "community_correction", "org_unit": "320571", "details": CORRECTION}
    w["casefile"] = casefile = ok(client.post("/api/v1/casefiles", json=body, headers=corrections), 201)["id"]
    path = f"/api/v1/casefiles/{casefile}"
    event = {"type": "visit", "occurred_on": "2026-01-05", "body": {"note": "家访，情况稳定"}}
    ok(client.post(f"{path}/events", json=event, headers=corrections), 201)
    ok(
        client.post(
            f"{path}/transitions", json={"to": "received", "on": "2026-01-05", "facts": INTAKE}, headers=corrections
        ),
        200,
    )
    leave = {"starts_on": "2026-01-10", "ends_on": "2026-01-12", "destination": "测试市", "reason": "探亲"}
    w["leave"] = ok(client.post(f"{path}/leave-requests", json=leave, headers=corrections), 201)["id"]
    decision = {"approve": False, "note": "时间与报到冲突"}
    ok(client.post(f"/api/v1/leave-requests/{w['leave']}/decision", json=decision, headers=corrections), 200)
    grant = {"reason_code": "emergency", "justification": "外区协查，需核对档案"}
    w["grant"] = ok(client.post(f"{path}/break-glass", json=grant, headers=heads["corrections.b"] | SUP), 201)[
        "grant_id"
    ]
    return w
