"""Every sealed table through every rotation (issue 12): a row in each table the descriptors
name, then index, DEK and KEK rotations as jobs; after each, every record reads back, every
search and every permit verification still finds, and every row is under the newest key
versions. A descriptor this test does not populate fails it (the world must grow with them)."""

from __future__ import annotations

import uuid
from collections import defaultdict

import sqlalchemy as sa

import registry.models  # noqa: F401  (every descriptor registered)
from registry.crypto.ciphertext import header_key_version
from registry.crypto.models import BlindIndexEntry, DataKeyRecord, IndexRootKey
from registry.crypto.sealed import descriptors
from tests.support.notices import receive_notice
from tests.support.sealed_world import CORRECTION, REG, SUP, build, ok, populate


def _reads_back(client, heads, w) -> None:  # type: ignore[no-untyped-def]
    police, corrections = heads["police.a"] | REG, heads["corrections.a"] | SUP
    for person_id, p in w["persons"].items():
        read = ok(client.get(f"/api/v1/persons/{person_id}", headers=police), 200)
        assert (read["name"], read["id_number"], read["phone"]) == (p.name, p.id_number, p.phone)
        for query in (
            {"id_number": p.id_number},
            {"phone": p.phone},
            {"name": p.name, "birth_date": p.birth_date.isoformat()},
        ):
            found = ok(client.post("/api/v1/persons/search", json=query, headers=police), 200)["items"]
            assert [hit["id"] for hit in found] == [person_id], query
    assert ok(client.get(f"/api/v1/dwellings/{w['dwelling']}", headers=police), 200)["address"] == w["address"]
    registration = ok(client.get(f"/api/v1/residence-registrations/{w['registration']}", headers=police), 200)
    assert registration["employer_name"] == w["employer"] and registration["employer_id"] == w["employer_id"]
    employer = ok(client.get(f"/api/v1/employers/{w['employer_id']}", headers=police), 200)
    assert (employer["name"], employer["contact_name"]) == (w["employer"], w["employer_contact"])
    found = ok(client.post("/api/v1/employers/search", json={"uscc": employer["uscc"]}, headers=police), 200)
    assert [e["id"] for e in found] == [w["employer_id"]]
    assert (
        ok(client.get(f"/api/v1/residence-permits/{w['permit']}", headers=police), 200)["permit_no"] == w["permit_no"]
    )
    pending = ok(client.get(f"/api/v1/residence-permits/{w['pending_materials']}", headers=police), 200)
    assert pending["materials_missing"] == ["就业证明"]
    check = {"permit_no": w["permit_no"], "holder_name": w["holder_name"]}
    assert ok(client.post("/api/v1/permit-verifications", json=check, headers=heads["verifier"]), 200)["valid"]
    details = ok(client.get(f"/api/v1/casefiles/{w['casefile']}", headers=corrections), 200)["details"]
    assert details["document_no"] == CORRECTION["document_no"]
    events = ok(client.get(f"/api/v1/casefiles/{w['casefile']}/events", headers=corrections), 200)
    assert any(e["body"].get("note") == "家访，情况稳定" for e in events)
    leave = ok(client.get(f"/api/v1/leave-requests/{w['leave']}", headers=corrections), 200)
    assert (leave["destination"], leave["reason"], leave["decision_note"]) == ("测试市", "探亲", "时间与报到冲突")
    assert w["notice"]().duplicates == 1  # its receipt is found: the number re-indexed, re-sealed


def _everything_under_the_newest_keys(runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.engine.connect() as conn:
        newest: dict[tuple[str, str], int] = defaultdict(int)
        for owner, compartment, version in conn.execute(
            sa.select(DataKeyRecord.owner_id, DataKeyRecord.compartment, DataKeyRecord.version)
        ):
            newest[(owner, compartment)] = max(newest[(owner, compartment)], version)
        for d in descriptors():
            rows = conn.execute(sa.select(d.owner_expression(), *(d.table.c[f.column] for f in d.fields))).all()
            assert rows, f"{d.name}: the world has no row in it (populate every sealed table)"
            assert any(any(blobs) for _, *blobs in rows), f"{d.name}: no sealed value"
            for owner, *blobs in rows:
                for blob in filter(None, blobs):
                    assert header_key_version(blob) == newest[(str(owner), d.compartment)], d.name
        active = conn.execute(
            sa.select(sa.func.max(IndexRootKey.version)).where(IndexRootKey.status == "active")
        ).scalar()
        versions = set(conn.execute(sa.select(BlindIndexEntry.version).distinct()).scalars())
        assert versions == {active}
        indexed = set(conn.execute(sa.select(BlindIndexEntry.record_table).distinct()).scalars())
        assert indexed == {d.name for d in descriptors() if d.indexes}


def test_every_sealed_table_survives_index_dek_and_kek_rotation(client, runtime, bootstrap, tmp_path):
    heads = build(client, bootstrap)
    world = populate(client, heads)
    other = next(p for person_id, p in world["persons"].items() if person_id != world["holder"])
    world["notice"] = receive_notice(
        runtime, tmp_path, username="corrections.a", id_number=other.id_number, name=other.name, org_unit="320571",
        document_no="(2025)测刑初17号",
    )  # fmt: skip
    _reads_back(client, heads, world)
    _everything_under_the_newest_keys(runtime)
    for target in ("index", "dek", "kek", "dek"):
        runtime.clock.advance(seconds=60)
        job = ok(client.post("/api/v1/keys/rotations", json={"target": target}, headers=heads["secadmin.x"]), 202)
        runtime.jobs.wait(uuid.UUID(job["job_id"]), timeout=120)
        done = ok(client.get(f"/api/v1/jobs/{job['job_id']}", headers=heads["secadmin.x"]), 200)
        assert done["status"] == "done" and done["error"] is None, (target, done)
        _reads_back(client, heads, world)
        _everything_under_the_newest_keys(runtime)
    with runtime.engine.connect() as conn:
        # Each DEK rotation made a new version of every owner's key and retired the old.
        versions = set(conn.execute(sa.select(DataKeyRecord.version).distinct()).scalars())
    assert versions == {3}
