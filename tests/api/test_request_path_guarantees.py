"""What the fast request path (issue 22) must keep, on both engines:

- a read's audit entry is committed before the response's first byte;
- the next request after an account is disabled, re-roled or has its password changed is
  refused by every process serving the database, not only the one that made the change;
- a shredded data key is never used again, from any process's cache.

"Every process" is two runtimes over the same database: each its own engine, connection
pool, unwrap cache and app, as two `registry serve` workers are.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from registry.access.models import UserAccount
from registry.api.app import create_app
from registry.crypto.keyring import Compartment, KeyErased
from registry.db import transaction
from registry.maintenance import RotationTarget, rotation_work
from registry.people.synthetic import SyntheticPeople
from registry.runtime import Runtime, open_runtime
from tests.api_helpers import STRONG_PASSWORD, approve, as_user, create_tree, create_user, second_admin

REG = {"X-Purpose": "registration"}


@pytest.fixture
def other(settings, clock, runtime) -> Iterator[tuple[Runtime, TestClient]]:
    """A second process's runtime and app over the same database."""
    second = open_runtime(settings, clock=clock)
    with TestClient(create_app(second), raise_server_exceptions=False) as client:
        yield second, client
    second.close()


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    police = create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "secadmin.x", ["security_admin"], None)
    person = SyntheticPeople(seed=22).person()
    officer = as_user(client, "police.a", STRONG_PASSWORD)
    body = {"id_number": person.id_number, "name": person.name, "phone": person.phone}
    created = client.post("/api/v1/persons", json=body, headers=officer | REG)
    assert created.status_code == 201, created.text
    return {"admin": admin, "officer": officer, "police_id": police["id"], "person": created.json(), "values": person}


def _entries(runtime: Runtime, action: str, target: str) -> int:
    with runtime.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT targets FROM audit_entry WHERE action = :a"), {"a": action}).all()
    return sum(1 for (targets,) in rows if target in (json.loads(targets) if isinstance(targets, str) else targets))


@pytest.mark.parametrize("change", ["disable", "re-role", "password"])
def test_the_next_request_after_a_revocation_is_refused_by_every_process(client, world, other, change):
    _, elsewhere = other
    person = f"/api/v1/persons/{world['person']['id']}"
    assert elsewhere.get(person, headers=world["officer"] | REG).status_code == 200  # warm there
    account = f"/api/v1/users/{world['police_id']}"
    etag = client.get(account, headers=world["admin"]).headers["etag"]
    if change == "disable":
        done = client.patch(account, json={"status": "disabled"}, headers=world["admin"] | {"if-match": etag})
    elif change == "re-role":
        done = client.patch(account, json={"roles": ["civil_affairs"]}, headers=world["admin"] | {"if-match": etag})
    else:
        body = {"current_password": STRONG_PASSWORD, "new_password": STRONG_PASSWORD + "!x"}
        done = client.post("/api/v1/auth/password", json=body, headers=world["officer"])
    assert done.status_code in (200, 202, 204), done.text
    if done.status_code == 202:  # a change of powers waits for a second administrator
        approve(client, second_admin(client, world["admin"]), done.json()["id"])
    assert elsewhere.get(person, headers=world["officer"] | REG).status_code == 401
    assert client.get(person, headers=world["officer"] | REG).status_code == 401


def test_a_shredded_key_is_never_used_again_by_any_process(client, world, other):
    second, elsewhere = other
    person_id, values = world["person"]["id"], world["values"]
    person = f"/api/v1/persons/{person_id}"
    # The other process has unwrapped the person's key (its unwrap cache holds it).
    assert elsewhere.get(person, headers=world["officer"] | REG).json()["name"] == values.name
    secadmin = as_user(client, "secadmin.x", STRONG_PASSWORD)
    erased = client.post(f"{person}/erasure", json={"reason": "retention_expired"}, headers=secadmin)
    assert erased.status_code == 204, erased.text
    assert elsewhere.get(person, headers=world["officer"] | REG).status_code == 410
    found = elsewhere.post(
        "/api/v1/persons/search", json={"id_number": values.id_number}, headers=world["officer"] | REG
    )
    assert found.status_code == 200 and found.json()["items"] == []
    with transaction(second.engine) as session, pytest.raises(KeyErased):
        second.keyring.read_key(session, owner=person_id, compartment=Compartment.IDENTITY, version=1)


def _registered(client, world) -> dict:  # type: ignore[no-untyped-def]
    """The world's person registered at a new dwelling in the officer's unit."""
    officer = world["officer"] | REG
    body = {"org_unit": "320571", "address": "测试路1号101室", "kind": "owned"}
    dwelling = client.post("/api/v1/dwellings", json=body, headers=officer).json()
    body = {"person_id": world["person"]["id"], "dwelling_id": dwelling["id"], "arrived_on": "2026-01-05"}
    registration = client.post("/api/v1/residence-registrations", json=body | {"basis": "family"}, headers=officer)
    assert registration.status_code == 201, registration.text
    return registration.json()


@pytest.mark.parametrize("request_kind", ["read person", "search", "read registration", "create person"])
def test_the_audit_entry_is_committed_before_the_first_response_byte(runtime, client, world, request_kind):
    """At the moment the app sends `http.response.start`, another connection already sees
    the request's entry: it committed first."""
    officer, person_id = world["officer"], world["person"]["id"]
    registration = _registered(client, world)
    newcomer = SyntheticPeople(seed=23).person()
    method, path, body, action, target = {
        "read person": ("GET", f"/api/v1/persons/{person_id}", None, "person:read", person_id),
        "search": (
            "POST",
            "/api/v1/persons/search",
            {"id_number": world["values"].id_number},
            "person:search",
            person_id,
        ),
        "read registration": (
            "GET",
            f"/api/v1/residence-registrations/{registration['id']}",
            None,
            "registration:read",
            registration["id"],
        ),
        "create person": (
            "POST",
            "/api/v1/persons",
            {"id_number": newcomer.id_number, "name": newcomer.name},
            "person:create",
            None,
        ),
    }[request_kind]
    before = _entries(runtime, action, target) if target else _count(runtime, action)
    seen: list[int] = []
    status: list[int] = []

    async def call() -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        headers = [(k.lower().encode(), v.encode()) for k, v in (officer | REG).items()]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"host", b"testserver"), *headers],
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
        }
        sent = False

        async def receive() -> dict:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                # Another connection, outside the request's transaction.
                seen.append(_entries(runtime, action, target) if target else _count(runtime, action))

        await client.app(scope, receive, send)

    asyncio.run(call())
    assert status and status[0] in (200, 201), status
    assert seen == [before + 1]


def _count(runtime: Runtime, action: str) -> int:
    with runtime.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM audit_entry WHERE action = :a"), {"a": action}).scalar_one()


def test_a_key_shredded_under_a_live_record_is_not_used_by_any_process(client, runtime, world, other):
    """The key row itself gone (the record not marked erased): the read that selects the
    record with its key finds none, in the process that had it unwrapped too."""
    _, elsewhere = other
    person = f"/api/v1/persons/{world['person']['id']}"
    assert elsewhere.get(person, headers=world["officer"] | REG).status_code == 200  # unwrapped there
    with transaction(runtime.engine) as session:
        shredded = runtime.keyring.shred(session, owner=world["person"]["id"], compartment=Compartment.IDENTITY)
    assert shredded == 1
    assert elsewhere.get(person, headers=world["officer"] | REG).status_code == 410
    assert client.get(person, headers=world["officer"] | REG).status_code == 410
    search = {"id_number": world["values"].id_number}  # a search selects its candidates' keys too
    for app in (elsewhere, client):
        assert app.post("/api/v1/persons/search", json=search, headers=world["officer"] | REG).status_code == 410


def test_a_seal_from_before_an_index_rotation_is_refused_on_the_token_path(client, runtime, world):
    """The principal's one statement reads the root its seal names only while that root is
    live: an account row put back with its seal from before a rotation is refused, on the record."""
    account = uuid.UUID(world["police_id"])
    table = UserAccount.__table__
    with runtime.engine.connect() as conn:
        old = conn.execute(sa.select(table.c.security_seal, table.c.seal_version).where(table.c.id == account)).one()
    rotation_work(runtime, RotationTarget.INDEX)(lambda *_: None)
    person = f"/api/v1/persons/{world['person']['id']}"
    assert client.get(person, headers=world["officer"] | REG).status_code == 200  # resealed by the rotation
    with runtime.engine.begin() as conn:  # as someone with the database would
        conn.execute(
            sa.update(table)
            .where(table.c.id == account)
            .values(security_seal=old.security_seal, seal_version=old.seal_version)
        )
    assert client.get(person, headers=world["officer"] | REG).status_code == 401
    assert _entries(runtime, "integrity:failure", world["police_id"]) == 1


# Statements each read of the load's read path sends (bench/README, "SQL statements per
# request"), past SQLite's BEGIN IMMEDIATE: the principal, what is read (with its key row and
# what scope needs), the audit INSERT; a search also reads the live index roots and its
# index entries (with their records' key rows).
BACKGROUND = {"audit-sequencer", "registry-scheduler"}  # the service's own threads, not a request's
READ_PATH_STATEMENTS = {"search": 5, "read person": 3, "read registration": 3}


def test_the_read_path_sends_no_more_statements_than_it_needs(runtime, client, world):
    officer, person_id = world["officer"], world["person"]["id"]
    registration = _registered(client, world)
    calls = {
        "search": ("POST", "/api/v1/persons/search", {"id_number": world["values"].id_number}),
        "read person": ("GET", f"/api/v1/persons/{person_id}", None),
        "read registration": ("GET", f"/api/v1/residence-registrations/{registration['id']}", None),
    }
    sent: list[str] = []

    def count(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if not statement.startswith("BEGIN") and threading.current_thread().name not in BACKGROUND:
            sent.append(statement)

    counted = {}
    for _ in range(2):  # the second round: with the process's caches as they are under load
        sa.event.listen(runtime.engine, "before_cursor_execute", count)
        try:
            for name, (method, path, payload) in calls.items():
                sent.clear()
                answer = client.request(method, path, json=payload, headers=officer | REG)
                assert answer.status_code == 200, answer.text
                counted[name] = len(sent)
        finally:
            sa.event.remove(runtime.engine, "before_cursor_execute", count)
    assert counted == READ_PATH_STATEMENTS
