"""One way to audit a refusal (issue 12): the error carries its event and the request
boundary writes it after the rollback. Each kind of refusal is on the record as a denied
entry naming its target, while the caller sees exactly what it would see anyway; probing
then reaches the denial-burst alert."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from registry.audit.models import AuditEntry
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user
from tests.support.sealed_world import REG, SUP, ok

CORRECTION = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2025)测刑初5号",
    "judgment_effective_on": "2025-12-20",
    "term_starts_on": "2025-12-20",
    "term_ends_on": "2026-12-19",
}


def _last(runtime, actor_id: str) -> AuditEntry:  # type: ignore[no-untyped-def]
    with runtime.engine.connect() as conn:
        row = conn.execute(
            sa.select(AuditEntry.__table__).where(AuditEntry.actor_id == actor_id).order_by(AuditEntry.id.desc())
        ).first()
    assert row is not None
    return row  # type: ignore[return-value]


def test_each_refusal_is_a_denied_entry_naming_its_target(client, runtime, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    ids = {
        name: create_user(client, admin, name, roles, unit)["id"]
        for name, roles, unit in (
            ("police.a", ["police"], "320571"),
            ("police.b", ["police"], "320505"),
            ("corrections.a", ["corrections"], "320571"),
            ("social.a", ["social_worker"], "320571"),
        )
    }
    heads = {name: as_user(client, name, STRONG_PASSWORD) for name in ids}
    p = SyntheticPeople(3).person()
    body = {"id_number": p.id_number, "name": p.name}
    person = ok(client.post("/api/v1/persons", json=body, headers=heads["police.a"] | REG), 201)["id"]

    # A scoped 404: another district's person is the same 404 as none, and on the record.
    other = heads["police.b"] | REG
    assert client.get(f"/api/v1/persons/{person}", headers=other).status_code == 404
    entry = _last(runtime, ids["police.b"])
    assert (entry.action, entry.outcome, list(entry.targets)) == ("access:denied", "denied", [person])
    missing = str(uuid.uuid4())
    assert client.get(f"/api/v1/persons/{missing}", headers=other).status_code == 404
    assert list(_last(runtime, ids["police.b"]).targets) == [missing]

    # A 409 hit tells the caller an ID number exists (maybe elsewhere): on the record too.
    assert client.post("/api/v1/persons", json=body | {"org_unit": "320505"}, headers=other).status_code == 409
    entry = _last(runtime, ids["police.b"])
    assert (entry.action, entry.outcome) == ("person:create", "denied") and person in entry.targets

    # A 403: the wrong role for the route, naming the record in the path.
    assert client.get(f"/api/v1/persons/{person}", headers=heads["social.a"] | SUP).status_code in (400, 403)
    entry = _last(runtime, ids["social.a"])
    assert entry.outcome == "denied" and person in entry.targets

    # A refused break-glass (an excluded user): the 404 of no file, the refusal on the record.
    file = {"person_id": person, "kind": "community_correction", "org_unit": "320571", "details": CORRECTION}
    casefile = ok(client.post("/api/v1/casefiles", json=file, headers=heads["corrections.a"] | SUP), 201)["id"]
    outsider_id = create_user(client, admin, "corrections.x", ["corrections"], "320505")["id"]
    outsider = as_user(client, "corrections.x", STRONG_PASSWORD) | {"X-Purpose": "emergency"}
    restrict = {"excluded_user_ids": [outsider_id]}
    ok(
        client.put(f"/api/v1/casefiles/{casefile}/restrictions", json=restrict, headers=heads["corrections.a"] | SUP),
        204,
    )
    grant = {"reason_code": "emergency", "justification": "need to check the file urgently"}
    assert client.post(f"/api/v1/casefiles/{casefile}/break-glass", json=grant, headers=outsider).status_code == 404
    entry = _last(runtime, outsider_id)
    assert (entry.action, entry.outcome, entry.reason) == ("casefile:break-glass", "denied", "excluded")
    assert list(entry.targets) == [casefile]
    assert client.post(f"/api/v1/casefiles/{missing}/break-glass", json=grant, headers=outsider).status_code == 404
    assert _last(runtime, outsider_id).reason == "not_found"

    def last_refused(action: str):  # type: ignore[no-untyped-def]
        with runtime.engine.connect() as conn:
            return conn.execute(
                sa.select(AuditEntry.reason, AuditEntry.targets)
                .where(AuditEntry.action == action)
                .order_by(AuditEntry.id.desc())
            ).first()

    # A missing token: refused and on the record (anonymously), naming what it asked for.
    assert client.get(f"/api/v1/persons/{person}").status_code == 401
    assert tuple(last_refused("auth:token-refused")) == ("missing_token", [person])

    # A token revoked by a password change, tried on a record: names the account and the record.
    change = {"current_password": STRONG_PASSWORD, "new_password": "the officer's next password"}
    stale = dict(heads["police.a"])
    assert client.post("/api/v1/auth/password", json=change, headers=stale).status_code == 204
    assert client.get(f"/api/v1/persons/{person}", headers=stale | REG).status_code == 401
    assert tuple(last_refused("auth:token-refused")) == ("revoked", [ids["police.a"], person])

    # A wrong password names the account tried (an unknown username names none).
    bad = {"username": "police.b", "password": "not the password", "grant_type": "password"}
    assert client.post("/api/v1/auth/token", data=bad).status_code == 401
    assert tuple(last_refused("auth:login")) == ("bad_password", [ids["police.b"]])


def test_probing_other_districts_raises_a_denial_burst(client, runtime, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.prober", ["police"], "320505")
    create_user(client, admin, "auditor.x", ["auditor"], None)
    prober = as_user(client, "police.prober", STRONG_PASSWORD) | REG
    for _ in range(10):
        assert client.get(f"/api/v1/persons/{uuid.uuid4()}", headers=prober).status_code == 404
    alerts = ok(client.get("/api/v1/audit/alerts", headers=as_user(client, "auditor.x", STRONG_PASSWORD)), 200)
    assert any(a["kind"] == "denial_burst" and a["count"] == 10 for a in alerts["items"])
