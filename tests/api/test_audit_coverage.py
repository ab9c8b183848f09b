"""Every route that exists writes the audit entry it should: checked by reading the log."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from registry.audit.models import AuditEntry
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    ids = {
        "police": create_user(client, admin, "police.a", ["police"], "320571")["id"],
        "auditor": create_user(client, admin, "auditor.x", ["auditor"], None)["id"],
        "secadmin": create_user(client, admin, "secadmin.x", ["security_admin"], None)["id"],
    }
    heads = {
        name: as_user(client, user, STRONG_PASSWORD)
        for name, user in (("police", "police.a"), ("auditor", "auditor.x"), ("secadmin", "secadmin.x"))
    }
    heads["admin"] = admin
    person = SyntheticPeople(9).person()
    created = client.post(
        "/api/v1/persons", json={"id_number": person.id_number, "name": person.name}, headers=heads["police"] | REG
    ).json()
    return {"heads": heads, "ids": ids, "person": person, "person_id": created["id"]}


def _last(runtime, action):
    with Session(runtime.engine) as session:
        return session.exec(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc())
        ).first()


CASES = [
    # (who, method, path template, body, expected action, outcome)
    (
        "admin",
        "POST",
        "/api/v1/org-units",
        {"code": "320571002", "name": "x", "parent_code": "320571"},
        "org_unit:create",
        "allowed",
    ),
    ("admin", "GET", "/api/v1/org-units", None, "org_unit:read", "allowed"),
    ("admin", "GET", "/api/v1/users/{police}", None, "user:read", "allowed"),
    ("admin", "POST", "/api/v1/users/{police}/unlock", None, "user:unlock", "allowed"),
    # A data-role account's reset waits for a second administrator: the request is the entry.
    ("admin", "POST", "/api/v1/users/{police}/password", None, "account_approval:request", "allowed"),
    (
        "admin",
        "POST",
        "/api/v1/service-accounts",
        {"name": "school-svc", "roles": ["verifier"], "org_unit": "320571"},
        "service_account:create",
        "allowed",
    ),
    ("police", "GET", "/api/v1/persons/{person}", None, "person:read", "allowed"),
    ("police", "POST", "/api/v1/persons/search", "by-id", "person:search", "allowed"),
    ("police", "GET", "/api/v1/users", None, "access:denied", "denied"),
    ("police", "GET", "/api/v1/persons/{person}", "no-purpose", "access:denied", "denied"),
    ("auditor", "GET", "/api/v1/audit/events", None, "audit:query", "allowed"),
    ("secadmin", "POST", "/api/v1/keys/rotations", {"target": "kek"}, "key:rotate", "allowed"),
    ("secadmin", "POST", "/api/v1/persons/{person}/erasure", {"reason": "court_order"}, "person:erase", "allowed"),
    (None, "GET", "/api/v1/users", "bad-token", "auth:token-refused", "denied"),
    ("police", "GET", "/api/v1/stats/residence?org_unit=320571&period=2026", None, "stats:read", "allowed"),
]


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "action", "outcome"), CASES, ids=[f"{c[4]}-{c[2]}" for c in CASES]
)
def test_route_writes_its_entry(client, runtime, world, who, method, path, body, action, outcome):
    url = path.format(police=world["ids"]["police"], person=world["person_id"])
    headers = dict(world["heads"][who]) if who else {"Authorization": "Bearer not-a-token"}
    if body == "by-id":
        body = {"id_number": world["person"].id_number}
    if body not in ("no-purpose", "bad-token") and "/persons" in url and who == "police":
        headers |= REG
    response = client.request(method, url, json=body if isinstance(body, dict) else None, headers=headers)
    assert response.status_code < 500
    entry = _last(runtime, action)
    assert entry is not None and entry.outcome == outcome
    assert entry.request_id == response.headers["x-request-id"]
    if who:
        assert entry.actor_id == (world["ids"].get(who) or entry.actor_id)
