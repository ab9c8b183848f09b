"""Break-glass is read-only (issue 13, finding 2), through HTTP on both engines.

Under a 60-minute grant a user could clear a file's restriction list, set its assignments,
propose a transfer to their own unit (which a colleague then accepted) or move its
workflow, and afterwards held the file without any grant. Now every write answers the
same 404 the caller gets without the grant, changes nothing, and is audited as a denied
use of the grant; reads of the file and its events still work, lists never show the file,
and the grant dies on the server's clock.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from registry.casefiles.models import CasefileMember
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user, refusal

SUP = {"X-Purpose": "supervision"}
EMERGENCY = {"X-Purpose": "emergency"}
GLASS = {"reason_code": "emergency", "justification": "subject reported missing at night"}
INTAKE = {"documents_checked": True, "identity_verified": True, "rules_read": True}
CORRECTION = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2025)测刑初7号",
    "judgment_effective_on": "2025-12-20",
    "term_starts_on": "2025-12-20",
    "term_ends_on": "2026-12-19",
}
USERS = [
    ("owner", "corrections", "320571"),  # holds the file
    ("inside", "corrections", "320571"),  # in scope, but the file is restricted to the owner
    ("far", "corrections", "320505"),  # another district: the grant is their only way in
    ("far.colleague", "corrections", "320505"),  # would accept a transfer to district B
    ("social", "social_worker", "320571"),  # not assigned to the file
    ("police", "police", "320571"),
]


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    ids = {name: create_user(client, admin, f"bg.{name}", [role], unit)["id"] for name, role, unit in USERS}
    heads = {name: as_user(client, f"bg.{name}", STRONG_PASSWORD) for name, _, _ in USERS}
    people = SyntheticPeople(4242)
    person = next(p for p in (people.person() for _ in range(1000)) if p.sex == "male")
    person_id = client.post(
        "/api/v1/persons",
        json={"id_number": person.id_number, "name": person.name},
        headers=heads["police"] | {"X-Purpose": "registration"},
    ).json()["id"]
    owner = heads["owner"] | SUP
    made = client.post(
        "/api/v1/casefiles",
        json={
            "person_id": person_id,
            "kind": "community_correction",
            "org_unit": "320571",
            "opened_on": "2025-12-21",
            "details": CORRECTION,
        },
        headers=owner,
    )
    assert made.status_code == 201, made.text
    file_id = made.json()["id"]
    path = f"/api/v1/casefiles/{file_id}"
    for step in ({"to": "received", "on": "2026-01-02", "facts": INTAKE}, {"to": "supervised", "on": "2026-01-03"}):
        assert client.post(f"{path}/transitions", json=step, headers=owner).status_code == 200
    team = client.put(f"{path}/assignments", json={"user_ids": [ids["owner"]]}, headers=owner)
    assert team.status_code == 200
    restricted = client.put(f"{path}/restrictions", json={"restricted_to_user_ids": [ids["owner"]]}, headers=owner)
    assert restricted.status_code == 204
    leave = client.post(
        f"{path}/leave-requests",
        json={"starts_on": "2026-01-20", "ends_on": "2026-01-22", "destination": "测试市", "reason": "探亲"},
        headers=owner,
    )
    assert leave.status_code == 201, leave.text

    def relogin() -> None:
        for name, _, _ in USERS:
            heads[name].update(as_user(client, f"bg.{name}", STRONG_PASSWORD))

    return {
        "heads": heads,
        "ids": ids,
        "file_id": file_id,
        "path": path,
        "leave_id": leave.json()["id"],
        "relogin": relogin,
    }


def _writes(world) -> list[tuple[str, str, dict, str]]:
    """Every write on the file, as (method, path, body, audited action)."""
    path, leave = world["path"], f"/api/v1/leave-requests/{world['leave_id']}"
    return [
        ("PUT", f"{path}/restrictions", {}, "casefile:restrict"),  # clear the restriction list
        ("PUT", f"{path}/assignments", {"user_ids": [world["ids"]["far"]]}, "casefile:assign"),
        ("POST", f"{path}/transfers", {"to_org_unit": "320505"}, "transfer:propose"),  # to their own unit
        (
            "POST",
            f"{path}/transitions",
            {"to": "detained", "on": "2026-01-05", "reason": "held"},
            "casefile:transition",
        ),
        ("POST", f"{path}/transitions", {"to": "deceased", "on": "2026-01-05"}, "casefile:transition"),
        ("POST", f"{path}/events", {"type": "visit", "occurred_on": "2026-01-05", "body": {}}, "casefile:event"),
        (
            "POST",
            f"{path}/leave-requests",
            {"starts_on": "2026-02-01", "ends_on": "2026-02-02", "destination": "测试市", "reason": "探亲"},
            "leave:request",
        ),
        ("POST", f"{leave}/decision", {"approve": True}, "leave:decide"),
        ("POST", f"{leave}/return", {"returned_on": "2026-01-05"}, "leave:return"),
        ("POST", f"{path}/closure/decision", {"approve": True}, "casefile:closure-decide"),
    ]


def _denied_with_grant(runtime, grant_id: str) -> list[tuple[str, str]]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT action, reason FROM audit_entry WHERE break_glass_grant = :g AND outcome = 'denied' ORDER BY id"
            ),
            {"g": grant_id},
        ).all()
    return [(action, reason) for action, reason in rows]


def _state(client, runtime, world) -> dict:
    """What the owner sees of the file, and its lists as stored."""
    owner = world["heads"]["owner"] | SUP
    body = client.get(world["path"], headers=owner).json()
    with runtime.engine.connect() as conn:
        members = conn.execute(
            sa.select(CasefileMember.role, CasefileMember.user_id).where(
                CasefileMember.casefile_id == uuid.UUID(world["file_id"])
            )
        ).all()
    return {k: body[k] for k in ("status", "org_unit", "assigned_user_ids", "version", "pending_closure")} | {
        "members": sorted((role, str(user)) for role, user in members)
    }


@pytest.mark.parametrize("who", ["far", "inside"])
def test_every_write_under_a_grant_is_the_404_without_it_and_audited(client, runtime, world, who):
    """`far` reaches the file only through the grant (another district); `inside` is in
    scope but off the restriction list. Both read it under the grant, and write nothing."""
    heads = world["heads"][who] | EMERGENCY
    before = _state(client, runtime, world)
    without = {(m, p): client.request(m, p, json=b, headers=heads) for m, p, b, _ in _writes(world)}
    assert all(r.status_code == 404 for r in without.values()), [r.text for r in without.values()]

    granted = client.post(f"{world['path']}/break-glass", json=GLASS, headers=heads)
    assert granted.status_code == 201
    grant_id = granted.json()["grant_id"]
    read = client.get(world["path"], headers=heads)
    assert read.status_code == 200 and read.json()["id"] == world["file_id"]
    assert client.get(f"{world['path']}/events", headers=heads).status_code == 200

    for method, path, body, _ in _writes(world):
        answer = client.request(method, path, json=body, headers=heads)
        assert answer.status_code == 404, (method, path, answer.text)
        # Exactly the answer of a caller without the grant: nothing tells them apart.
        assert refusal(answer) == refusal(without[(method, path)]), (method, path)
        assert answer.headers["content-type"] == without[(method, path)].headers["content-type"]

    assert _state(client, runtime, world) == before  # nothing moved: restricted, same team, same unit, same state
    denied = _denied_with_grant(runtime, grant_id)
    assert [action for action, _ in denied] == [action for *_, action in _writes(world)]
    assert all(reason.startswith("break_glass.read_only") for _, reason in denied)


def test_finding_2_a_grant_never_becomes_lasting_power(client, runtime, world, clock):
    """The attack as reported: out of district under a grant, clear the lists, assign
    oneself, propose a transfer to one's own unit for a colleague to accept, move the
    workflow; then wait for the grant to expire. The attacker holds nothing afterwards."""
    far, colleague = world["heads"]["far"] | EMERGENCY, world["heads"]["far.colleague"] | SUP
    path = world["path"]
    grant = client.post(f"{path}/break-glass", json=GLASS, headers=far)
    assert grant.status_code == 201
    assert client.put(f"{path}/restrictions", json={}, headers=far).status_code == 404
    assert client.put(f"{path}/assignments", json={"user_ids": [world["ids"]["far"]]}, headers=far).status_code == 404
    assert client.post(f"{path}/transfers", json={"to_org_unit": "320505"}, headers=far).status_code == 404
    assert (
        client.post(f"{path}/transitions", json={"to": "detained", "on": "2026-01-05"}, headers=far).status_code == 404
    )
    # Nothing awaits the colleague: no transfer was proposed.
    incoming = client.get("/api/v1/transfers?status=proposed", headers=colleague)
    assert incoming.status_code == 200 and incoming.json()["items"] == []
    # Grants never widen a list, for the grant holder either.
    for listing in ("/api/v1/casefiles", "/api/v1/transfers", "/api/v1/leave-requests?due=return_overdue"):
        page = client.get(listing, headers=far)
        assert page.status_code == 200 and world["file_id"] not in page.text, listing

    # A transfer the holder proposed: the grant holder can neither withdraw nor accept it.
    owner = world["heads"]["owner"] | SUP
    proposed = client.post(f"{path}/transfers", json={"to_org_unit": "320571001"}, headers=owner)
    assert proposed.status_code == 201
    transfer = f"/api/v1/transfers/{proposed.json()['id']}"
    assert client.post(f"{transfer}/cancel", headers=far).status_code == 404
    assert client.post(f"{transfer}/accept", headers=far).status_code == 404

    # Expiry is the server's: 61 minutes later the same (fresh) token reads nothing.
    assert client.get(path, headers=far).status_code == 200
    clock.advance(minutes=61)
    world["relogin"]()
    far = world["heads"]["far"] | EMERGENCY
    assert client.get(path, headers=far).status_code == 404
    assert client.get(f"{path}/events", headers=far).status_code == 404
    assert client.get(path, headers=world["heads"]["far.colleague"] | SUP).status_code == 404
    body = client.get(path, headers=world["heads"]["owner"] | SUP).json()
    assert body["org_unit"] == "320571" and body["status"] == "supervised"
    assert body["assigned_user_ids"] == [world["ids"]["owner"]]
    denied = _denied_with_grant(runtime, grant.json()["grant_id"])
    assert [a for a, _ in denied] == [
        "casefile:restrict",
        "casefile:assign",
        "transfer:propose",
        "casefile:transition",
        "transfer:cancel",
    ]


def test_a_social_worker_reads_an_unassigned_file_under_a_grant_but_records_nothing(client, runtime, world):
    social = world["heads"]["social"] | SUP
    path = world["path"]
    # The file is restricted to the owner; lift that so only the assignment gate remains.
    owner = world["heads"]["owner"] | SUP
    assert client.put(f"{path}/restrictions", json={}, headers=owner).status_code == 204
    assert client.get(path, headers=social).status_code == 404
    grant = client.post(f"{path}/break-glass", json=GLASS, headers=social)
    assert grant.status_code == 201
    read = client.get(path, headers=social)
    assert read.status_code == 200 and "document_no" not in read.json()["details"]
    event = {"type": "visit", "occurred_on": "2026-01-05", "body": {"note": "at home"}}
    assert client.post(f"{path}/events", json=event, headers=social).status_code == 404
    assert [a for a, _ in _denied_with_grant(runtime, grant.json()["grant_id"])] == ["casefile:event"]
    # Once assigned (by the holder, without any grant) the social worker records as before.
    assert (
        client.put(f"{path}/assignments", json={"user_ids": [world["ids"]["social"]]}, headers=owner).status_code == 200
    )
    assert client.post(f"{path}/events", json=event, headers=social).status_code == 201
