"""Idempotency-Key (API.md; issue 19): a write sent again with the key of one that
committed is done once, answered 303 to the record it made (or its bodiless status), on
both engines; a key reused for another request is refused; keys are per account; a write
that failed recorded nothing. Nothing kept holds a personal value."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.api.middleware import UnitOfWork
from registry.audit.actions import Action, Outcome
from registry.audit.log import ANONYMOUS, AuditTrail, Event
from registry.audit.models import AuditEntry
from registry.idempotency import IdempotencyRecord
from registry.people.models import Person
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}


@pytest.fixture
def heads(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "police.a2", ["police"], "320571")
    create_user(client, admin, "secadmin.x", ["security_admin"], None)
    return {n: as_user(client, n, STRONG_PASSWORD) for n in ("police.a", "police.a2", "secadmin.x")}


def _persons(runtime) -> int:
    with Session(runtime.engine) as session:
        return session.exec(select(sa.func.count()).select_from(Person)).one()


def test_a_create_sent_again_is_done_once_and_points_to_its_record(client, heads, runtime):
    person = SyntheticPeople(1951).person()
    body = {"id_number": person.id_number, "name": person.name}
    police = heads["police.a"] | REG | {"Idempotency-Key": "k-1"}
    first = client.post("/api/v1/persons", json=body, headers=police)
    assert first.status_code == 201, first.text
    again = client.post("/api/v1/persons", json=body, headers=police, follow_redirects=False)
    assert again.status_code == 303 and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == f"/api/v1/persons/{first.json()['id']}"
    read = client.get(again.headers["Location"], headers=heads["police.a"] | REG)
    assert read.status_code == 200 and read.json()["name"] == person.name
    assert _persons(runtime) == 1
    # The same key for another request: refused, nothing done.
    other = SyntheticPeople(1952).person()
    reused = client.post("/api/v1/persons", json={"id_number": other.id_number, "name": other.name}, headers=police)
    assert reused.status_code == 422 and "idempotency_key" in reused.json()["detail"]
    # Keys are the account's own: a colleague's same key is another request.
    colleague = heads["police.a2"] | REG | {"Idempotency-Key": "k-1"}
    theirs = client.post("/api/v1/persons", json={"id_number": other.id_number, "name": other.name}, headers=colleague)
    assert theirs.status_code == 201
    assert _persons(runtime) == 2
    with Session(runtime.engine) as session:
        kept = session.exec(select(IdempotencyRecord)).all()
    stored = " ".join(f"{r.key_digest} {r.fingerprint} {r.location}" for r in kept)
    assert person.name not in stored and person.id_number not in stored and "k-1" not in stored


def test_a_failed_write_records_no_key_and_a_bodiless_one_replays_its_status(client, heads, runtime):
    person = SyntheticPeople(1953).person()
    police = heads["police.a"] | REG | {"Idempotency-Key": "k-2"}
    refused = client.post("/api/v1/persons", json={"id_number": "not a number", "name": person.name}, headers=police)
    assert refused.status_code == 422
    made = client.post("/api/v1/persons", json={"id_number": person.id_number, "name": person.name}, headers=police)
    assert made.status_code == 201  # the refusal kept nothing: the key was still free
    erase = heads["secadmin.x"] | {"Idempotency-Key": "erase-1"}
    path = f"/api/v1/persons/{made.json()['id']}/erasure"
    assert client.post(path, json={"reason": "data_subject_request"}, headers=erase).status_code == 204
    again = client.post(path, json={"reason": "data_subject_request"}, headers=erase)
    assert again.status_code == 204 and again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("key", ["", "x" * 256, "ключ".encode(), "a b"])
def test_a_malformed_key_is_refused(client, heads, key):
    person = SyntheticPeople(1954).person()
    headers = heads["police.a"] | REG | {"Idempotency-Key": key}
    answer = client.post("/api/v1/persons", json={"id_number": person.id_number, "name": person.name}, headers=headers)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"


def test_two_copies_sent_at_once_make_one_record(client, heads, runtime):
    """The key is reserved in the first copy's transaction: the second waits for it, then
    answers as done (PostgreSQL: on the key's row; SQLite: one writer at a time)."""
    person = SyntheticPeople(1955).person()
    body = {"id_number": person.id_number, "name": person.name}
    police = heads["police.a"] | REG | {"Idempotency-Key": "twins"}
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda _: client.post("/api/v1/persons", json=body, headers=police, follow_redirects=False), range(4)
            )
        )
    assert sorted(a.status_code for a in answers) == [201, 303, 303, 303], [a.text for a in answers]
    assert _persons(runtime) == 1


def test_a_key_is_kept_a_day_and_its_conditions_are_part_of_the_request(client, heads, runtime, clock):
    person = SyntheticPeople(1956).person()
    body = {"id_number": person.id_number, "name": person.name}
    police = heads["police.a"] | REG | {"Idempotency-Key": "daily"}
    assert client.post("/api/v1/persons", json=body, headers=police).status_code == 201
    other_purpose = police | {"X-Purpose": "investigation"}
    assert client.post("/api/v1/persons", json=body, headers=other_purpose).status_code == 422
    clock.advance(hours=25)  # the key is forgotten: the same request now is a new one (a duplicate person)
    police = as_user(client, "police.a", STRONG_PASSWORD) | REG | {"Idempotency-Key": "daily"}
    again = client.post("/api/v1/persons", json=body, headers=police)
    assert again.status_code == 409  # … which the registry refuses as such
    fresh = SyntheticPeople(1957).person()
    headers = police | {"Idempotency-Key": "fresh"}
    made = client.post("/api/v1/persons", json={"id_number": fresh.id_number, "name": fresh.name}, headers=headers)
    assert made.status_code == 201
    with Session(runtime.engine) as session:  # the expired key went with the next keyed write
        assert session.exec(select(sa.func.count()).select_from(IdempotencyRecord)).one() == 1


@pytest.mark.parametrize("keyed", [True, False])
def test_a_write_whose_commit_fails_is_answered_503_and_nothing_of_it_is_kept(
    client, heads, runtime, keyed, monkeypatch
):
    """The commit comes before the first byte of the answer (in the route's own thread): a
    commit the database refuses turns the 201 into a 503 that says to send it again, and the
    write and its key's record are gone with it, so sending it again does it, once."""
    person = SyntheticPeople(1957).person()
    body = {"id_number": person.id_number, "name": person.name}
    police = heads["police.a"] | REG | ({"Idempotency-Key": "k-commit"} if keyed else {})

    dialect = runtime.engine.dialect

    def refused(dbapi_connection: Any) -> None:  # what a COMMIT the server refuses does
        dbapi_connection.rollback()
        raise dialect.loaded_dbapi.OperationalError("the commit was refused")

    monkeypatch.setattr(dialect, "do_commit", refused)
    failed = client.post("/api/v1/persons", json=body, headers=police)
    monkeypatch.undo()
    assert failed.status_code == 503, failed.text
    assert failed.headers["content-type"] == "application/problem+json"
    assert "send it again" in failed.json()["detail"] and "location" not in failed.headers
    assert person.name not in failed.text
    assert _persons(runtime) == 0
    again = client.post("/api/v1/persons", json=body, headers=police)
    assert again.status_code == 201, again.text
    assert _persons(runtime) == 1


def test_a_failed_commit_still_leaves_the_requests_failure_entries_and_runs_nothing_after(runtime, monkeypatch):
    """What a request keeps for failure (a denial, the rule inputs it decrypted) is written in
    a transaction of its own also when its commit is what failed; work meant for after the
    commit does not run."""

    def entries() -> int:
        with Session(runtime.engine) as session:
            return session.exec(select(sa.func.count()).select_from(AuditEntry)).one()

    before = entries()
    uow = UnitOfWork(runtime.engine)
    uow.session.execute(sa.select(1))
    trail = AuditTrail(runtime.clock, ANONYMOUS)
    uow.on_failure.append(lambda side: trail.append(side, Event(Action.AUTH_TOKEN_REFUSED, Outcome.DENIED)))
    ran: list[str] = []
    uow.after_commit.append(lambda: ran.append("after"))
    dialect = runtime.engine.dialect
    commit = dialect.do_commit
    refusals = [1]

    def refused_once(dbapi_connection: Any) -> None:  # the request's COMMIT, not the next one
        if not refusals:
            return commit(dbapi_connection)
        refusals.pop()
        dbapi_connection.rollback()
        raise dialect.loaded_dbapi.OperationalError("the commit was refused")

    monkeypatch.setattr(dialect, "do_commit", refused_once)
    assert uow.settle({}, 201, [], b"") is False
    monkeypatch.undo()
    assert ran == []
    assert entries() == before + 1
