"""Auditor routes through HTTP: ids and metadata only, proofs that verify, access reports, alerts."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from registry.audit.actions import Action
from registry.audit.log import Actor, AuditTrail, Event
from registry.audit.merkle import verify_consistency, verify_inclusion
from registry.db import transaction
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}
ROUTES = [
    "/api/v1/audit/events",
    "/api/v1/audit/checkpoint",
    "/api/v1/audit/proofs/inclusion?seq=0&size=1",
    "/api/v1/audit/proofs/consistency?from=1&to=1",
    "/api/v1/audit/persons/6f1c1a52-2d0e-4f43-9d57-0a4f3a3c0b11/accesses",
    "/api/v1/audit/alerts",
    "/api/v1/audit/reviews/queue",
]


@pytest.fixture
def world(client, bootstrap, runtime):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "auditor.x", ["auditor"], None)
    police = as_user(client, "police.a", STRONG_PASSWORD)
    person = SyntheticPeople(5).person()
    created = client.post(
        "/api/v1/persons",
        json={"id_number": person.id_number, "name": person.name, "phone": person.phone},
        headers=police | REG,
    ).json()
    client.get(f"/api/v1/persons/{created['id']}", headers=police | {"X-Purpose": "investigation"})
    runtime.sequencer.drain()
    runtime.sequencer.checkpoint()
    return {
        "admin": admin,
        "police": police,
        "auditor": as_user(client, "auditor.x", STRONG_PASSWORD),
        "person": person,
        "person_id": created["id"],
    }


@pytest.mark.parametrize("path", ROUTES)
def test_audit_routes_refuse_anonymous_and_other_roles(client, world, path):
    assert client.get(path).status_code == 401
    for role in ("admin", "police"):
        assert client.get(path, headers=world[role]).status_code == 403


def test_events_filter_and_paginate_without_personal_values(client, world):
    page = client.get("/api/v1/audit/events?limit=5", headers=world["auditor"]).json()
    assert len(page["items"]) == 5 and page["next_cursor"]
    rest = client.get(f"/api/v1/audit/events?limit=500&cursor={page['next_cursor']}", headers=world["auditor"]).json()
    ids = [e["id"] for e in page["items"] + rest["items"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    reads = client.get("/api/v1/audit/events?action=person:read&limit=500", headers=world["auditor"]).json()["items"]
    assert reads and all(e["action"] == "person:read" for e in reads)
    assert any(e["purpose"] == "investigation" and e["seq"] is not None for e in reads)
    everything = json.dumps(page["items"] + rest["items"])
    person = world["person"]
    for value in (person.name, person.id_number, person.phone):
        assert value not in everything


def test_inclusion_and_consistency_proofs_verify_against_the_checkpoint(client, runtime, world):
    first = client.get("/api/v1/audit/checkpoint", headers=world["auditor"]).json()
    assert first["note"].startswith(first["origin"] + "\n") and first["key_id"] == runtime.provider.key_id
    root = base64.b64decode(first["root_hash"])
    for seq in (0, first["size"] // 2, first["size"] - 1):
        proof = client.get(
            f"/api/v1/audit/proofs/inclusion?seq={seq}&size={first['size']}", headers=world["auditor"]
        ).json()
        leaf = base64.b64decode(proof["leaf_hash"])
        hashes = [base64.b64decode(h) for h in proof["hashes"]]
        assert verify_inclusion(leaf, seq, first["size"], hashes, root)
        assert not verify_inclusion(leaf, seq, first["size"], hashes, bytes(32))
    runtime.clock.advance(seconds=10)
    client.get(f"/api/v1/persons/{world['person_id']}", headers=world["police"] | REG)
    runtime.sequencer.drain()
    runtime.sequencer.checkpoint()
    second = client.get("/api/v1/audit/checkpoint", headers=world["auditor"]).json()
    assert second["size"] > first["size"]
    proof = client.get(
        f"/api/v1/audit/proofs/consistency?from={first['size']}&to={second['size']}", headers=world["auditor"]
    ).json()
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    assert verify_consistency(first["size"], second["size"], root, base64.b64decode(second["root_hash"]), hashes)
    assert client.get("/api/v1/audit/proofs/inclusion?seq=0&size=3", headers=world["auditor"]).status_code == 422


def test_person_access_report_lists_who_when_and_why(client, world):
    path = f"/api/v1/audit/persons/{world['person_id']}/accesses"
    report = client.get(path, headers=world["auditor"]).json()["items"]
    actions = {(a["action"], a["purpose"]) for a in report}
    assert ("person:create", "registration") in actions and ("person:read", "investigation") in actions
    assert all(a["org_unit"] == "320571" for a in report if a["actor_roles"] == ["police"])
    assert any(a["action"] == "audit:query" and a["actor_roles"] == ["auditor"] for a in report)


def test_denial_burst_raises_an_alert(client, world):
    for _ in range(10):
        assert client.get("/api/v1/users", headers=world["police"]).status_code == 403
    alerts = client.get("/api/v1/audit/alerts", headers=world["auditor"]).json()["items"]
    assert any(a["kind"] == "denial_burst" and a["count"] == 10 for a in alerts)


def test_auditor_queries_are_audited(client, runtime, world):
    client.get("/api/v1/audit/events?action=person:read", headers=world["auditor"])
    runtime.sequencer.drain()
    mine = client.get("/api/v1/audit/events?action=audit:query&limit=500", headers=world["auditor"]).json()["items"]
    assert mine and all(e["actor_roles"] == ["auditor"] for e in mine)


def test_break_glass_uses_wait_in_the_review_queue_until_reviewed(client, runtime, world):
    with transaction(runtime.engine) as session:
        trail = AuditTrail(runtime.clock, Actor("some-officer", ("police",), "320571"))
        for _ in range(2):
            trail.append(
                session,
                Event(Action.PERSON_READ, targets=("record-1",), break_glass_grant="grant-1", purpose="emergency"),
            )
    auditor = world["auditor"]
    queue = client.get("/api/v1/audit/reviews/queue", headers=auditor).json()["items"]
    assert [(q["grant_id"], q["uses"]) for q in queue] == [("grant-1", 2)]
    assert any(a["kind"] == "break_glass" for a in client.get("/api/v1/audit/alerts", headers=auditor).json()["items"])
    assert (
        client.post(
            "/api/v1/audit/reviews", json={"grant_id": "grant-1", "outcome": "justified"}, headers=world["police"]
        ).status_code
        == 403
    )
    # A review is coded: free text (where a subject's name could land) is refused.
    for free_text in ({"note": "ok"}, {"follow_up": "spoke to the officer"}, {"reference": "see file 4711"}):
        refused = client.post(
            "/api/v1/audit/reviews", json={"grant_id": "grant-1", "outcome": "justified", **free_text}, headers=auditor
        )
        assert refused.status_code == 422, free_text
    made = client.post(
        "/api/v1/audit/reviews",
        json={
            "grant_id": "grant-1",
            "outcome": "justified",
            "follow_up": "user_instructed",
            "reference": "AUD-2026/17",
        },
        headers=auditor,
    )
    assert made.status_code == 201
    assert {k: made.json()[k] for k in ("outcome", "follow_up", "reference", "note")} == {
        "outcome": "justified",
        "follow_up": "user_instructed",
        "reference": "AUD-2026/17",
        "note": None,
    }
    assert (
        client.post(
            "/api/v1/audit/reviews", json={"grant_id": "grant-1", "outcome": "unjustified"}, headers=auditor
        ).status_code
        == 409
    )
    assert (
        client.post(
            "/api/v1/audit/reviews", json={"grant_id": "nope", "outcome": "justified"}, headers=auditor
        ).status_code
        == 404
    )
    assert client.get("/api/v1/audit/reviews/queue", headers=auditor).json()["items"] == []


def test_alerts_and_the_review_queue_page_with_stable_cursors(client, world):
    """Issue 21: every list that grows with data has API.md's paged shape."""
    for _ in range(12):  # twelve probes: a denial burst of ten, and more denials
        client.get(f"/api/v1/persons/{uuid.uuid4()}", headers=world["police"] | REG)
    seen, cursor = [], None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/audit/alerts", params=params, headers=world["auditor"])
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    whole = client.get("/api/v1/audit/alerts", params={"limit": 500}, headers=world["auditor"]).json()
    assert seen == whole["items"] and whole["next_cursor"] is None and seen
    assert client.get("/api/v1/audit/alerts", params={"cursor": "!!"}, headers=world["auditor"]).status_code == 400
    queue = client.get("/api/v1/audit/reviews/queue", params={"limit": 1}, headers=world["auditor"])
    assert queue.status_code == 200 and set(queue.json()) == {"items", "next_cursor"}
