"""PATCH /dwellings/{id} over HTTP on both engines (issue 14, Deliver 6): a landlord change
and a pledge signed later (租赁房屋治安管理规定 Art. 6-7), optimistic concurrency with
If-Match, the address sealed through the DWELLING descriptor, a landlord held by another
unit named by ID number (an exact match answering only its masked hit), out of scope 404."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import Session, select

from registry.crypto.models import BlindIndexEntry
from registry.people.synthetic import SyntheticPeople
from registry.residence.models import Dwelling
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}
V1 = "/api/v1"


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "police.b", ["police"], "320505")
    create_user(client, admin, "auditor.x", ["auditor"], None)
    heads = {name: as_user(client, name, STRONG_PASSWORD) for name in ("police.a", "police.b", "auditor.x")}
    people = SyntheticPeople(1406)
    persons = {}
    for key, who in (("landlord", "police.a"), ("next_landlord", "police.a"), ("landlord_b", "police.b")):
        p = people.person()
        made = client.post(f"{V1}/persons", json={"id_number": p.id_number, "name": p.name}, headers=heads[who] | REG)
        assert made.status_code == 201, made.text
        persons[key] = (p, made.json()["id"])
    body = {
        "org_unit": "320571001",
        "address": "测试路9号",
        "kind": "rental",
        "landlord_person_id": persons["landlord"][1],
    }
    made = client.post(f"{V1}/dwellings", json=body, headers=heads["police.a"] | REG)
    assert made.status_code == 201, made.text
    assert made.headers["ETag"] == '"1"' and made.json()["pledge_signed_on"] is None
    return {"heads": heads, "persons": persons, "dwelling": made.json()["id"]}


def _patch(client, w, body, *, etag='"1"', who="police.a", dwelling=None):
    headers = w["heads"][who] | REG | ({"If-Match": etag} if etag else {})
    return client.patch(f"{V1}/dwellings/{dwelling or w['dwelling']}", json=body, headers=headers)


def test_art6_pledge_signed_later_with_if_match(client, world):
    w = world
    assert _patch(client, w, {"pledge_signed_on": "2026-01-02"}, etag=None).status_code == 428
    assert _patch(client, w, {"pledge_signed_on": "2026-01-02"}, etag='"7"').status_code == 412
    signed = _patch(client, w, {"pledge_signed_on": "2026-01-02"})
    assert signed.status_code == 200, signed.text
    assert signed.json()["pledge_signed_on"] == "2026-01-02" and signed.json()["version"] == 2
    assert signed.headers["ETag"] == '"2"'
    # The ETag read is the one to send next; the old one is stale.
    assert client.get(f"{V1}/dwellings/{w['dwelling']}", headers=w["heads"]["police.a"] | REG).headers["ETag"] == '"2"'
    assert _patch(client, w, {"pledge_signed_on": "2026-01-03"}).status_code == 412
    future = _patch(client, w, {"pledge_signed_on": "2026-02-01"}, etag='"2"')
    assert future.status_code == 422 and "pledge_signed_on" in future.json()["detail"]


def test_art6_new_landlord_signs_a_pledge_of_their_own(client, world):
    w = world
    assert _patch(client, w, {"pledge_signed_on": "2026-01-02"}).status_code == 200
    changed = _patch(client, w, {"landlord_person_id": w["persons"]["next_landlord"][1]}, etag='"2"')
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["landlord_person_id"] == w["persons"]["next_landlord"][1] and body["pledge_signed_on"] is None
    assert body["landlord_match"] is None
    # A rental keeps a landlord; only rentals have one.
    assert _patch(client, w, {"landlord_person_id": None}, etag='"3"').status_code == 422
    owned = _patch(client, w, {"kind": "owned", "landlord_person_id": None}, etag='"3"')
    assert owned.status_code == 200 and owned.json()["landlord_person_id"] is None
    entries = client.get(
        f"{V1}/audit/events?target={w['dwelling']}&action=dwelling:update&limit=50", headers=w["heads"]["auditor.x"]
    ).json()["items"]
    assert len(entries) == 3 and {"landlord_person_id", "pledge_signed_on"} <= set(entries[0]["fields"]) | set(
        entries[1]["fields"]
    ) | set(entries[2]["fields"])


def test_landlord_of_another_unit_by_id_number_reveals_only_the_masked_hit(client, world):
    w = world
    person, landlord_id = w["persons"]["landlord_b"]
    # By id, a person held by another unit is the same 404 as no person.
    assert _patch(client, w, {"landlord_person_id": landlord_id}).status_code == 404
    linked = _patch(client, w, {"landlord_id_number": person.id_number, "pledge_signed_on": "2026-01-04"})
    assert linked.status_code == 200, linked.text
    body = linked.json()
    assert body["landlord_person_id"] == landlord_id and body["pledge_signed_on"] == "2026-01-04"
    match = body["landlord_match"]
    assert match["id"] == landlord_id and match["in_scope"] is False
    assert set(match) == {"id", "name_masked", "birth_year", "in_scope"}
    assert person.name not in linked.text and person.id_number not in linked.text
    assert match["name_masked"] != person.name
    # The link gives nothing more of the person: the identity stays 404 to unit A.
    assert client.get(f"{V1}/persons/{landlord_id}", headers=w["heads"]["police.a"] | REG).status_code == 404
    # The match is an exact search on the record: audited with its hit.
    searches = client.get(
        f"{V1}/audit/events?target={landlord_id}&action=person:search&limit=50", headers=w["heads"]["auditor.x"]
    ).json()["items"]
    assert [e["actor_org_unit"] for e in searches] == ["320571"]
    unknown = _patch(client, w, {"landlord_id_number": SyntheticPeople(99).person().id_number}, etag='"2"')
    assert unknown.status_code == 404


def test_out_of_scope_dwelling_is_404_and_audited(client, world):
    w = world
    refused = _patch(client, w, {"pledge_signed_on": "2026-01-02"}, who="police.b")
    assert refused.status_code == 404
    denied = client.get(
        f"{V1}/audit/events?target={w['dwelling']}&outcome=denied&limit=50", headers=w["heads"]["auditor.x"]
    ).json()["items"]
    assert [(e["action"], e["actor_org_unit"]) for e in denied] == [("access:denied", "320505")]
    missing = _patch(client, w, {}, dwelling=str(uuid.uuid4()))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"address": None},
        {"kind": None},
        {"kind": "castle"},
        {"org_unit": "320505"},
        {"landlord_person_id": "00000000-0000-0000-0000-000000000001", "landlord_id_number": "11010519491231002X"},
        {"landlord_id_number": "not an id number"},
    ],
    ids=["address-null", "kind-null", "kind-unknown", "org-unit", "both-landlords", "bad-id-number"],
)
def test_refused_bodies_change_nothing(client, world, body):
    w = world
    assert _patch(client, w, body).status_code == 422
    read = client.get(f"{V1}/dwellings/{w['dwelling']}", headers=w["heads"]["police.a"] | REG)
    assert read.json()["version"] == 1


def test_address_correction_is_sealed_and_reindexed(client, runtime, world):
    w = world
    corrected = _patch(client, w, {"address": "测试路19号"})
    assert corrected.status_code == 200 and corrected.json()["address"] == "测试路19号"
    with Session(runtime.engine) as session:
        row = session.get(Dwelling, uuid.UUID(w["dwelling"]))
        assert "测试路19号".encode() not in row.address_ct
        entries = session.exec(
            select(BlindIndexEntry).where(
                BlindIndexEntry.record_table == "dwelling", BlindIndexEntry.record_id == w["dwelling"]
            )
        ).all()
    # Replaced, not added to: one entry per live index version.
    assert entries and len(entries) == len({e.version for e in entries})
