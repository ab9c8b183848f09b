"""Retention through HTTP: a minor's file sealed 3 days after discharge, then readable only
through break-glass with court_request; an expired file crypto-shredded; the log verifies."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from registry.audit.verify import verify_log
from registry.casefiles.models import Casefile
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

SUP = {"X-Purpose": "supervision"}
FACTS = {"documents_checked": True, "identity_verified": True, "rules_read": True}


def _correction(term_ends_on: str) -> dict:
    return {
        "category": "probation",
        "deciding_authority": "测试区人民法院",
        "document_no": "(2025)测刑初2号",
        "judgment_effective_on": "2025-12-01",
        "term_starts_on": "2025-12-01",
        "term_ends_on": term_ends_on,
    }


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "corr.a", ["corrections"], "320571")
    create_user(client, admin, "corr.city", ["corrections"], "320500")  # approves district A's closures
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "secadmin.x", ["security_admin"], None)
    heads = {n: as_user(client, n, STRONG_PASSWORD) for n in ("corr.a", "corr.city", "police.a", "secadmin.x")}

    def relogin() -> None:
        for name in heads:
            heads[name].update(as_user(client, name, STRONG_PASSWORD))

    return {"heads": heads, "relogin": relogin}


def _person(client, world, *, minor: bool) -> str:
    people = SyntheticPeople(55)
    person = next(p for p in (people.person() for _ in range(5000)) if (p.birth_date > date(2008, 1, 6)) == minor)
    return client.post(
        "/api/v1/persons",
        json={"id_number": person.id_number, "name": person.name},
        headers=world["heads"]["police.a"] | {"X-Purpose": "registration"},
    ).json()["id"]


def _discharged_file(client, world, clock, *, minor: bool) -> str:
    corr = world["heads"]["corr.a"] | SUP
    made = client.post(
        "/api/v1/casefiles",
        json={
            "person_id": _person(client, world, minor=minor),
            "kind": "community_correction",
            "org_unit": "320571",
            "opened_on": "2025-12-06",  # back-dated by 30 days at most (setting)
            "details": _correction("2026-01-31"),
        },
        headers=corr,
    )
    assert made.status_code == 201, made.text
    assert made.json()["minor"] is minor
    path = f"/api/v1/casefiles/{made.json()['id']}"
    for step in ({"to": "received", "on": "2026-01-02", "facts": FACTS}, {"to": "supervised", "on": "2026-01-03"}):
        assert client.post(f"{path}/transitions", json=step, headers=corr).status_code == 200
    early = client.post(
        f"{path}/transitions", json={"to": "discharged", "on": "2026-01-04", "certificate_no": "C-1"}, headers=corr
    )
    assert early.status_code == 422  # the term has not ended
    clock.advance(days=30)  # 2026-02-04
    world["relogin"]()
    corr = world["heads"]["corr.a"] | SUP
    done = client.post(
        f"{path}/transitions", json={"to": "discharged", "on": "2026-02-01", "certificate_no": "C-1"}, headers=corr
    )
    # A closure waits for the supervising level; `closed_on` is the approval date (02-04).
    assert done.status_code == 202 and done.json()["status"] == "supervised", done.text
    approved = client.post(
        f"{path}/closure/decision", json={"approve": True}, headers=world["heads"]["corr.city"] | SUP
    )
    assert approved.status_code == 200, approved.text
    assert client.get(path, headers=corr).json()["closed_on"] == "2026-02-04"
    return made.json()["id"]


def _run(client, runtime, world) -> dict:
    started = client.post("/api/v1/retention/runs", headers=world["heads"]["secadmin.x"])
    assert started.status_code == 202
    runtime.jobs.wait(uuid.UUID(started.json()["job_id"]), timeout=60)
    return client.get(f"/api/v1/jobs/{started.json()['job_id']}", headers=world["heads"]["secadmin.x"]).json()


def test_minor_file_sealed_three_days_after_discharge_then_court_request_only(client, runtime, world, clock):
    casefile_id = _discharged_file(client, world, clock, minor=True)
    path = f"/api/v1/casefiles/{casefile_id}"
    assert client.post("/api/v1/retention/runs", headers=world["heads"]["corr.a"]).status_code == 403
    _run(client, runtime, world)  # closure approved 2026-02-04: not yet due
    assert client.get(path, headers=world["heads"]["corr.a"] | SUP).status_code == 200
    clock.advance(days=3)  # 2026-02-07: due (approved + 3 days)
    world["relogin"]()
    _run(client, runtime, world)
    corr = world["heads"]["corr.a"]
    assert client.get(path, headers=corr | SUP).status_code == 404
    grant = client.post(
        f"{path}/break-glass",
        json={"reason_code": "court_request", "justification": "juvenile court order 12"},
        headers=corr | SUP,
    )
    assert grant.status_code == 201
    assert client.get(path, headers=corr | SUP).status_code == 404
    read = client.get(path, headers=corr | {"X-Purpose": "court_request"})
    assert read.status_code == 200 and read.json()["sealed"] is True


def test_legal_hold_stops_the_clock_and_expired_file_is_crypto_shredded(client, runtime, world, clock):
    casefile_id = _discharged_file(client, world, clock, minor=False)
    secadmin = world["heads"]["secadmin.x"]
    assert client.put(f"/api/v1/holds/{casefile_id}", headers=secadmin).status_code == 204
    clock.advance(days=365 * 31)
    world["relogin"]()
    _run(client, runtime, world)
    corr = world["heads"]["corr.a"] | SUP
    # Held: sealed (that destroys nothing), never erased; its keys are all there.
    with runtime.engine.connect() as conn:
        held = conn.execute(
            sa.select(Casefile.sealed, Casefile.erased_at).where(Casefile.id == uuid.UUID(casefile_id))
        ).one()
        keys = conn.exec_driver_sql("SELECT count(*) FROM data_key WHERE compartment = 'casefile'").scalar()
    assert tuple(held) == (True, None) and keys > 0
    assert client.delete(f"/api/v1/holds/{casefile_id}", headers=world["heads"]["secadmin.x"]).status_code == 204
    job = _run(client, runtime, world)
    # The file, then its subject's identity: nothing of theirs is left (PIPL Art. 47).
    assert job["status"] == "done" and job["done"] == 2
    assert client.get(f"/api/v1/casefiles/{casefile_id}", headers=corr).status_code == 404
    with runtime.engine.connect() as conn:
        keys = conn.exec_driver_sql("SELECT count(*) FROM data_key WHERE compartment = 'casefile'").scalar()
        erased = conn.exec_driver_sql("SELECT count(*) FROM audit_entry WHERE action = 'casefile:erase'").scalar()
    assert keys == 0 and erased == 1
    runtime.sequencer.drain()
    runtime.sequencer.checkpoint()
    assert verify_log(runtime.engine, runtime.provider.public_key(), runtime.settings.audit_origin).ok


def test_a_run_accepted_while_the_runner_stops_says_202_and_reads_interrupted(client, runtime, world):
    # The job row and its audit entry committed before the runner refused the work: the
    # answer must not claim that nothing changed, and the row must not stay queued.
    runtime.jobs.shutdown()
    started = client.post("/api/v1/retention/runs", headers=world["heads"]["secadmin.x"])
    assert started.status_code == 202
    job = client.get(f"/api/v1/jobs/{started.json()['job_id']}", headers=world["heads"]["secadmin.x"]).json()
    assert job["status"] == "interrupted"
