"""Jurisdiction over a person changes only by consent (issue 13, finding 1), over HTTP on
both engines.

The finding: an officer of unit B found an ID number by exact search (`in_scope: false`),
created a dwelling in B, registered the person there (201) and from then on held the
person while unit A got 404. Now the registration waits as `pending_transfer` (202) and
the person moves only when A (or a unit above both) accepts.

Tree (tests.api_helpers.create_tree, plus a district C):
    320500 city ─┬─ 320571 district A ── 320571001 street A1   (the person lives here)
                 ├─ 320505 district B                          (the person arrives here)
                 └─ 320506 district C                          (a bystander)
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.audit.models import AuditEntry
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}
USERS = {
    "police.a": "320571",
    "police.b": "320505",
    "police.c": "320506",
    "police.city": "320500",
}


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    made = client.post(
        "/api/v1/org-units", json={"code": "320506", "name": "C", "parent_code": "320500"}, headers=admin
    )
    assert made.status_code == 201, made.text
    for name, unit in USERS.items():
        create_user(client, admin, name, ["police"], unit)
    create_user(client, admin, "auditor.x", ["auditor"], None)
    heads = {name: as_user(client, name, STRONG_PASSWORD) for name in [*USERS, "auditor.x"]}
    people = SyntheticPeople(1313)
    subject = people.person()
    created = client.post(
        "/api/v1/persons", json={"id_number": subject.id_number, "name": subject.name}, headers=heads["police.a"] | REG
    )
    assert created.status_code == 201, created.text
    person_id = created.json()["id"]

    def dwelling(who: str, unit: str, address: str) -> str:
        response = client.post(
            "/api/v1/dwellings",
            json={"org_unit": unit, "address": address, "kind": "owned"},
            headers=heads[who] | REG,
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    home_a = dwelling("police.a", "320571001", "甲街1号")
    home_b = dwelling("police.b", "320505", "乙路2号")
    registered = client.post(
        "/api/v1/residence-registrations",
        json={"person_id": person_id, "dwelling_id": home_a, "arrived_on": "2025-06-01", "basis": "family"},
        headers=heads["police.a"] | REG,
    )
    assert registered.status_code == 201, registered.text

    def relogin() -> None:
        """After the clock moves days ahead, the old tokens have (rightly) expired."""
        for name in heads:
            heads[name].update(as_user(client, name, STRONG_PASSWORD))

    return {
        "heads": heads,
        "subject": subject,
        "person_id": person_id,
        "home_a": home_a,
        "home_b": home_b,
        "registration_a": registered.json()["id"],
        "relogin": relogin,
    }


def _arrive_in_b(client, world, who="police.b"):
    return client.post(
        "/api/v1/residence-registrations",
        json={
            "person_id": world["person_id"],
            "dwelling_id": world["home_b"],
            "arrived_on": "2026-01-03",
            "basis": "family",
        },
        headers=world["heads"][who] | REG,
    )


def _get(client, world, who, path):
    return client.get(f"/api/v1{path}", headers=world["heads"][who] | REG)


def _post(client, world, who, path, body=None):
    return client.post(f"/api/v1{path}", json=body, headers=world["heads"][who] | REG)


def _audited(client, world, target):
    response = client.get(f"/api/v1/audit/events?target={target}&limit=500", headers=world["heads"]["auditor.x"])
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_finding_1_arrival_from_another_unit_waits_for_the_holder(client, runtime, world):
    pid = world["person_id"]
    # The finding's first step still works: exact search finds the person outside B's scope.
    found = client.post(
        "/api/v1/persons/search",
        json={"id_number": world["subject"].id_number},
        headers=world["heads"]["police.b"] | REG,
    ).json()["items"]
    assert [(f["id"], f["in_scope"]) for f in found] == [(pid, False)]

    arrived = _arrive_in_b(client, world)
    assert arrived.status_code == 202, arrived.text
    body = arrived.json()
    assert body["status"] == "pending_transfer" and body["org_unit"] == "320505"
    transfer = body["transfer"]
    assert transfer["status"] == "requested" and transfer["to_org_unit"] == "320505"
    assert transfer["registration_id"] == body["id"] and transfer["person_id"] == pid
    # Which unit holds the person is not the requester's to know.
    assert transfer["from_org_unit"] is None and transfer["escalated_to"] is None
    assert transfer["escalates_on"] == "2026-01-20" and transfer["escalated"] is False
    assert arrived.headers["Location"] == f"/api/v1/person-transfers/{transfer['id']}"

    # B still cannot read the identity, nor A's registration; A still can.
    assert _get(client, world, "police.b", f"/persons/{pid}").status_code == 404
    assert _get(client, world, "police.b", f"/residence-registrations/{world['registration_a']}").status_code == 404
    assert _get(client, world, "police.a", f"/persons/{pid}").status_code == 200
    # B reads its own pending registration (what B itself recorded), nothing more.
    assert (
        _get(client, world, "police.b", f"/residence-registrations/{body['id']}").json()["status"] == "pending_transfer"
    )
    # The pending registration is no occupant, and the person has one request at a time.
    assert _get(client, world, "police.b", f"/dwellings/{world['home_b']}/occupants").json()["items"] == []
    again = _arrive_in_b(client, world)
    assert again.status_code == 409 and "transfer.pending" in again.json()["detail"]
    with runtime.engine.connect() as conn:  # the hit is on the record, naming the person
        hit = conn.execute(
            sa.select(AuditEntry.action, AuditEntry.outcome, AuditEntry.targets).order_by(AuditEntry.id.desc())
        ).first()
    assert hit is not None and (hit.action, hit.outcome) == ("person_transfer:request", "denied")
    assert pid in hit.targets

    # A sees the request on its worklist, with the holding unit named.
    incoming = _get(client, world, "police.a", "/person-transfers?status=requested").json()
    assert [(t["id"], t["from_org_unit"], t["to_org_unit"]) for t in incoming["items"]] == [
        (transfer["id"], "320571001", "320505")
    ]
    assert incoming["next_cursor"] is None
    # B sees it among its outgoing requests, not its incoming ones; C sees nothing at all.
    assert [t["id"] for t in _get(client, world, "police.b", "/person-transfers?box=outgoing").json()["items"]] == [
        transfer["id"]
    ]
    assert _get(client, world, "police.b", "/person-transfers").json()["items"] == []
    assert _get(client, world, "police.c", "/person-transfers").json()["items"] == []
    assert _get(client, world, "police.c", "/person-transfers?box=outgoing").json()["items"] == []

    # Neither the requester nor a bystander may decide: the same 404 as for no request.
    tid = transfer["id"]
    for who in ("police.b", "police.c"):
        assert _post(client, world, who, f"/person-transfers/{tid}/accept").status_code == 404
        assert _post(client, world, who, f"/person-transfers/{tid}/refuse", {"reason": "other"}).status_code == 404
    assert _get(client, world, "police.c", f"/person-transfers/{tid}").status_code == 404
    assert _post(client, world, "police.c", f"/person-transfers/{tid}/withdraw").status_code == 404
    assert _get(client, world, "police.b", f"/persons/{pid}").status_code == 404  # nothing moved

    accepted = _post(client, world, "police.a", f"/person-transfers/{tid}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["decided_on"] == "2026-01-05"
    assert _post(client, world, "police.a", f"/person-transfers/{tid}/accept").status_code == 409  # answered

    # The person and their residence records moved together: B reads them, A gets 404.
    identity = _get(client, world, "police.b", f"/persons/{pid}")
    assert identity.status_code == 200 and identity.json()["id_number"] == world["subject"].id_number
    assert _get(client, world, "police.a", f"/persons/{pid}").status_code == 404
    assert _get(client, world, "police.a", f"/residence-registrations/{world['registration_a']}").status_code == 404
    old = _get(client, world, "police.b", f"/residence-registrations/{world['registration_a']}").json()
    assert old["status"] == "moved" and old["departed_on"] == "2026-01-03" and old["org_unit"] == "320505"
    new = _get(client, world, "police.b", f"/residence-registrations/{body['id']}").json()
    assert new["status"] == "active" and new["previous_id"] == world["registration_a"]
    assert [
        o["person_id"]
        for o in _get(client, world, "police.b", f"/dwellings/{world['home_b']}/occupants").json()["items"]
    ] == [pid]
    assert _get(client, world, "police.a", f"/dwellings/{world['home_a']}/occupants").json()["items"] == []
    # The requester now sees the outcome; A's answered request left its worklist.
    assert _get(client, world, "police.b", f"/person-transfers/{tid}").json()["status"] == "accepted"
    assert _get(client, world, "police.a", "/person-transfers?status=requested").json()["items"] == []

    # Every step is in the audit log, with the units (never a personal value).
    steps = {(e["action"], e["actor_org_unit"], e["outcome"]) for e in _audited(client, world, tid)}
    assert {
        ("person_transfer:request", "320505", "allowed"),
        ("person_transfer:list", "320571", "allowed"),
        ("person_transfer:accept", "320571", "allowed"),
    } <= steps
    moves = [e for e in _audited(client, world, pid) if e["action"] == "person:jurisdiction-move"]
    assert [m["reason"].split(" ")[0] for m in moves] == ["320571->320571001", "320571001->320505"]
    assert world["registration_a"] in moves[-1]["targets"]
    denied = [e for e in _audited(client, world, tid) if e["outcome"] == "denied"]
    assert {e["actor_org_unit"] for e in denied} >= {"320505", "320506"}


def test_refusal_carries_a_reason_and_moves_nothing(client, world):
    arrived = _arrive_in_b(client, world)
    assert arrived.status_code == 202, arrived.text
    tid, rid = arrived.json()["transfer"]["id"], arrived.json()["id"]
    no_reason = _post(client, world, "police.a", f"/person-transfers/{tid}/refuse", {})
    assert no_reason.status_code == 422
    free_text = _post(client, world, "police.a", f"/person-transfers/{tid}/refuse", {"reason": "lives here still"})
    assert free_text.status_code == 422  # a closed list: no free text beside a person's record
    refused = _post(client, world, "police.a", f"/person-transfers/{tid}/refuse", {"reason": "still_resident"})
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == "refused" and refused.json()["reason"] == "still_resident"
    assert _post(client, world, "police.a", f"/person-transfers/{tid}/refuse", {"reason": "other"}).status_code == 409
    assert _post(client, world, "police.a", f"/person-transfers/{tid}/accept").status_code == 409

    seen_by_b = _get(client, world, "police.b", f"/person-transfers/{tid}").json()
    assert seen_by_b["status"] == "refused" and seen_by_b["reason"] == "still_resident"
    assert _get(client, world, "police.b", f"/residence-registrations/{rid}").json()["status"] == "refused"
    assert _get(client, world, "police.b", f"/persons/{world['person_id']}").status_code == 404
    assert _get(client, world, "police.a", f"/persons/{world['person_id']}").status_code == 200
    assert _get(client, world, "police.a", f"/residence-registrations/{world['registration_a']}").json()["status"] == (
        "active"
    )
    refusals = [e for e in _audited(client, world, tid) if e["action"] == "person_transfer:refuse"]
    assert [(e["actor_org_unit"], e["reason"]) for e in refusals] == [("320571", "still_resident")]

    # Once answered, B may ask again (the person is free of pending requests).
    assert _arrive_in_b(client, world).status_code == 202


def test_unanswered_request_escalates_to_the_nearest_common_parent(client, clock, world):
    arrived = _arrive_in_b(client, world)
    tid = arrived.json()["transfer"]["id"]
    clock.advance(days=14)
    world["relogin"]()
    assert _get(client, world, "police.city", "/person-transfers?escalated=true").json()["items"] == []
    waiting = _get(client, world, "police.a", f"/person-transfers/{tid}").json()
    assert waiting["escalated"] is False and waiting["escalated_to"] is None

    clock.advance(days=1)  # the 15th day: unanswered for the setting's default
    world["relogin"]()
    escalated = _get(client, world, "police.city", "/person-transfers?escalated=true").json()["items"]
    assert [(t["id"], t["escalated"], t["escalated_to"]) for t in escalated] == [(tid, True, "320500")]
    assert _get(client, world, "police.city", "/person-transfers?escalated=false").json()["items"] == []
    # The holder still sees (and may still answer) it; the requester learns only that it escalated.
    assert _get(client, world, "police.a", f"/person-transfers/{tid}").json()["escalated_to"] == "320500"
    by_b = _get(client, world, "police.b", f"/person-transfers/{tid}").json()
    assert by_b["escalated"] is True and by_b["escalated_to"] is None
    # Escalation gives no one else a say: district C still gets 404.
    assert _post(client, world, "police.c", f"/person-transfers/{tid}/accept").status_code == 404

    # The city, a unit above both, accepts.
    accepted = _post(client, world, "police.city", f"/person-transfers/{tid}/accept")
    assert accepted.status_code == 200 and accepted.json()["escalated"] is False
    assert _get(client, world, "police.b", f"/persons/{world['person_id']}").status_code == 200
    assert _get(client, world, "police.a", f"/persons/{world['person_id']}").status_code == 404
    steps = [(e["action"], e["actor_org_unit"]) for e in _audited(client, world, tid)]
    assert ("person_transfer:accept", "320500") in steps


def test_withdrawal_and_direct_registration_by_a_unit_above_both(client, world):
    arrived = _arrive_in_b(client, world)
    tid, rid = arrived.json()["transfer"]["id"], arrived.json()["id"]
    assert _post(client, world, "police.a", f"/person-transfers/{tid}/withdraw").status_code == 404  # not A's request
    withdrawn = _post(client, world, "police.b", f"/person-transfers/{tid}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert _get(client, world, "police.b", f"/residence-registrations/{rid}").json()["status"] == "withdrawn"
    assert _post(client, world, "police.a", f"/person-transfers/{tid}/accept").status_code == 409
    assert _get(client, world, "police.a", "/person-transfers?status=requested").json()["items"] == []

    # The city covers the holder and B's dwelling: its registration is consent by itself.
    # (A's active registration is moved first: one active registration per person.)
    moved = _post(
        client,
        world,
        "police.city",
        f"/residence-registrations/{world['registration_a']}/move",
        {"dwelling_id": world["home_b"], "moved_on": "2026-01-04"},
    )
    assert moved.status_code == 201, moved.text
    assert moved.json()["status"] == "active" and moved.json()["org_unit"] == "320505"
    assert _get(client, world, "police.b", f"/persons/{world['person_id']}").status_code == 200
    assert _get(client, world, "police.a", f"/persons/{world['person_id']}").status_code == 404
    # B's own earlier, withdrawn attempt stays B's record; the history moved with the person.
    assert _get(client, world, "police.b", f"/residence-registrations/{world['registration_a']}").status_code == 200
    moves = [e for e in _audited(client, world, world["person_id"]) if e["action"] == "person:jurisdiction-move"]
    assert moves[-1]["actor_org_unit"] == "320500" and moves[-1]["reason"].startswith("320571001->320505")


def test_lookups_by_id_stay_in_scope(client, world):
    pid = world["person_id"]
    # A landlord held by another unit is the same 404 as no person.
    rental = client.post(
        "/api/v1/dwellings",
        json={
            "org_unit": "320505",
            "address": "乙路3号",
            "kind": "rental",
            "landlord_person_id": pid,
            "pledge_signed_on": "2025-12-01",
        },
        headers=world["heads"]["police.b"] | REG,
    )
    assert rental.status_code == 404
    # Another unit's dwelling, registration or occupants: 404, audited as denied.
    assert _get(client, world, "police.b", f"/dwellings/{world['home_a']}").status_code == 404
    assert _get(client, world, "police.b", f"/dwellings/{world['home_a']}/occupants").status_code == 404
    into_a = client.post(
        "/api/v1/residence-registrations",
        json={"person_id": pid, "dwelling_id": world["home_a"], "arrived_on": "2026-01-03", "basis": "family"},
        headers=world["heads"]["police.b"] | REG,
    )
    assert into_a.status_code == 404  # the dwelling is decided first: nothing about the person
    unknown = client.post(
        "/api/v1/residence-registrations",
        json={
            "person_id": "00000000-0000-4000-8000-000000000000",
            "dwelling_id": world["home_b"],
            "arrived_on": "2026-01-03",
            "basis": "family",
        },
        headers=world["heads"]["police.b"] | REG,
    )
    assert unknown.status_code == 404
    permit = client.post(
        "/api/v1/residence-permits",
        json={"person_id": pid, "registration_id": world["registration_a"], "basis": "residence"},
        headers=world["heads"]["police.b"] | REG,
    )
    assert permit.status_code == 404
    denied = [e for e in _audited(client, world, pid) if e["outcome"] == "denied"]
    assert denied, "a refused lookup by id names its target in the audit log"


def test_a_move_by_the_holder_leaves_the_pending_arrival_with_its_unit(client, world):
    arrived = _arrive_in_b(client, world)
    tid, rid = arrived.json()["transfer"]["id"], arrived.json()["id"]
    district_home = client.post(
        "/api/v1/dwellings",
        json={"org_unit": "320571", "address": "甲区3号", "kind": "owned"},
        headers=world["heads"]["police.a"] | REG,
    ).json()["id"]
    moved = _post(
        client,
        world,
        "police.a",
        f"/residence-registrations/{world['registration_a']}/move",
        {"dwelling_id": district_home, "moved_on": "2026-01-04"},
    )
    assert moved.status_code == 201, moved.text
    # B's waiting registration is B's record: it did not move with the person inside A.
    pending = _get(client, world, "police.b", f"/residence-registrations/{rid}").json()
    assert pending["status"] == "pending_transfer" and pending["org_unit"] == "320505"
    assert _get(client, world, "police.a", f"/residence-registrations/{rid}").status_code == 404
    # The request named the holder of that day: accepting it now is stale; refusing still works.
    stale = _post(client, world, "police.a", f"/person-transfers/{tid}/accept")
    assert stale.status_code == 409 and "transfer.stale" in stale.json()["detail"]
    assert _get(client, world, "police.b", f"/persons/{world['person_id']}").status_code == 404
    refused = _post(client, world, "police.a", f"/person-transfers/{tid}/refuse", {"reason": "duplicate"})
    assert refused.status_code == 200 and refused.json()["reason"] == "duplicate"
