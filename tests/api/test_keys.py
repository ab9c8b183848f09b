"""Key administration through HTTP: listing without material, rotations as jobs."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import Session, select

from registry.audit.models import AuditEntry
from registry.db import transaction
from registry.jobs.runner import create_job
from registry.maintenance import resume_interrupted
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}


@pytest.fixture
def staff(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "secadmin.x", ["security_admin"], None)
    return {
        "police": as_user(client, "police.a", STRONG_PASSWORD),
        "secadmin": as_user(client, "secadmin.x", STRONG_PASSWORD),
    }


@pytest.fixture
def persons(client, staff):
    made = []
    for p in SyntheticPeople(11).people(4):
        body = {"id_number": p.id_number, "name": p.name, "phone": p.phone}
        response = client.post("/api/v1/persons", json=body, headers=staff["police"] | REG)
        made.append((response.json()["id"], p))
    return made


def test_keys_listed_without_material(client, staff, persons):
    assert client.get("/api/v1/keys", headers=staff["police"]).status_code == 403
    listed = client.get("/api/v1/keys", headers=staff["secadmin"])
    assert listed.status_code == 200
    keys = listed.json()
    assert {k["purpose"] for k in keys} == {"kek", "dek:identity", "index"}
    assert all(set(k) == {"id", "purpose", "suite", "version", "status", "count", "created_at"} for k in keys)
    assert next(k for k in keys if k["purpose"] == "dek:identity")["count"] == 4


@pytest.mark.parametrize("target", ["kek", "dek", "index"])
def test_rotation_job_runs_and_data_stays_readable(client, runtime, staff, persons, target):
    assert client.post("/api/v1/keys/rotations", json={"target": target}, headers=staff["police"]).status_code == 403
    accepted = client.post("/api/v1/keys/rotations", json={"target": target}, headers=staff["secadmin"])
    assert accepted.status_code == 202
    job_id = accepted.json()["job_id"]
    runtime.jobs.wait(uuid.UUID(job_id), timeout=60)
    job = client.get(f"/api/v1/jobs/{job_id}", headers=staff["secadmin"]).json()
    assert job["status"] == "done" and job["done"] == job["total"] and job["error"] is None
    for person_id, p in persons:
        read = client.get(f"/api/v1/persons/{person_id}", headers=staff["police"] | REG).json()
        assert read["name"] == p.name
        found = client.post("/api/v1/persons/search", json={"phone": p.phone}, headers=staff["police"] | REG)
        assert [m["id"] for m in found.json()["items"]] == [person_id]
    versions = {
        k["purpose"]: k["version"]
        for k in client.get("/api/v1/keys", headers=staff["secadmin"]).json()
        if k["status"] != "retired"
    }
    expected = {"kek": ("kek", 2), "dek": ("dek:identity", 2), "index": ("index", 2)}[target]
    assert versions[expected[0]] == expected[1]


def test_unknown_job_and_target(client, staff):
    assert client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=staff["secadmin"]).status_code == 404
    bad = client.post("/api/v1/keys/rotations", json={"target": "everything"}, headers=staff["secadmin"])
    assert bad.status_code == 422


def test_jobs_left_by_a_dead_process_are_marked_interrupted_and_resumed(client, runtime, staff):
    accepted = client.post("/api/v1/keys/rotations", json={"target": "dek"}, headers=staff["secadmin"]).json()
    runtime.jobs.wait(uuid.UUID(accepted["job_id"]), timeout=60)
    with runtime.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE job SET status = 'running'")
    with transaction(runtime.engine) as session:
        create_job(session, runtime.clock, kind="unknown", requested_by=None)  # queued, of no known kind
    resumed = resume_interrupted(runtime)
    job = client.get(f"/api/v1/jobs/{accepted['job_id']}", headers=staff["secadmin"]).json()
    assert job["status"] == "interrupted"
    assert len(resumed) == 1  # the rotation, not the job of a kind it does not know
    runtime.jobs.wait(resumed[0], timeout=60)
    again = client.get(f"/api/v1/jobs/{resumed[0]}", headers=staff["secadmin"]).json()
    assert again["kind"] == "rotation:dek" and again["status"] == "done"
    with Session(runtime.engine) as session:
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action == "key:rotate").order_by(AuditEntry.id.desc())
        ).first()
    assert entry.actor_id == "system" and str(resumed[0]) in entry.targets
