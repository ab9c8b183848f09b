"""Persons through HTTP: sealed at rest, purpose required, masked per role, scoped, erasable."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.audit.models import AuditEntry
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}


@pytest.fixture
def people():
    return SyntheticPeople(seed=7)


@pytest.fixture
def staff(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "police.b", ["police"], "320505")
    create_user(client, admin, "corrections.a", ["corrections"], "320571")
    create_user(client, admin, "auditor.x", ["auditor"], None)
    create_user(client, admin, "secadmin.x", ["security_admin"], None)
    return {
        "admin": admin,
        **{
            name: as_user(client, name, STRONG_PASSWORD)
            for name in ("police.a", "police.b", "corrections.a", "auditor.x", "secadmin.x")
        },
    }


def _create(client, headers, person, **extra):
    body = {
        "id_number": person.id_number,
        "name": person.name,
        "phone": person.phone,
        "hukou_address": person.hukou_address,
    } | extra
    return client.post("/api/v1/persons", json=body, headers=headers | REG)


def test_create_read_and_search_round_trip(client, staff, people):
    person = people.person()
    created = _create(client, staff["police.a"], person)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == person.name and body["id_number"] == person.id_number
    assert body["sex"] == person.sex and body["birth_date"] == person.birth_date.isoformat()
    read = client.get(f"/api/v1/persons/{body['id']}", headers=staff["police.a"] | REG)
    assert read.status_code == 200 and read.json() == body
    for query in (
        {"id_number": person.id_number.lower()},
        {"phone": "+86 " + person.phone},
        {"name": " ".join(person.name), "birth_date": person.birth_date.isoformat()},
    ):
        found = client.post("/api/v1/persons/search", json=query, headers=staff["police.a"] | REG).json()["items"]
        assert [m["id"] for m in found] == [body["id"]], query
        assert found[0]["name_masked"].startswith(person.name[0]) and person.name not in found[0]["name_masked"]
        assert found[0]["birth_year"] == person.birth_date.year and found[0]["in_scope"] is True


def test_duplicate_id_number_is_409_with_person_id(client, staff, people):
    person = people.person()
    first = _create(client, staff["police.a"], person).json()
    again = _create(client, staff["police.b"], person)
    assert again.status_code == 409 and again.json()["person_id"] == first["id"]
    assert person.id_number not in again.text


def test_identity_rules_refuse_with_422(client, staff, people):
    person = people.person()
    other_sex = "female" if person.sex == "male" else "male"
    for extra in (
        {"sex": other_sex},
        {"birth_date": "1900-01-02"},
        {"phone": "010-1234567"},
        {"id_number": person.id_number[:-1] + ("0" if person.id_number[-1] != "0" else "1")},
    ):
        response = _create(client, staff["police.a"], person, **extra)
        assert response.status_code == 422, extra
        assert person.id_number not in response.text and person.name not in response.text


def test_purpose_is_required_and_must_be_declarable(client, staff, people):
    created = _create(client, staff["police.a"], people.person()).json()
    path = f"/api/v1/persons/{created['id']}"
    assert client.get(path, headers=staff["police.a"]).status_code == 400
    assert client.get(path, headers=staff["police.a"] | {"X-Purpose": "shopping"}).status_code == 400
    assert client.get(path, headers=staff["police.a"] | {"X-Purpose": "assistance"}).status_code == 400
    assert client.get(path, headers=staff["police.a"] | {"X-Purpose": "investigation"}).status_code == 200


def test_other_district_gets_404_but_finds_masked_match_by_exact_id(client, staff, people):
    person = people.person()
    created = _create(client, staff["police.a"], person).json()
    assert client.get(f"/api/v1/persons/{created['id']}", headers=staff["police.b"] | REG).status_code == 404
    found = client.post(
        "/api/v1/persons/search", json={"id_number": person.id_number}, headers=staff["police.b"] | REG
    ).json()["items"]
    assert len(found) == 1 and found[0]["in_scope"] is False
    assert set(found[0]) == {"id", "name_masked", "birth_year", "in_scope"}


def test_corrections_see_a_masked_id_number_of_a_person_no_file_of_theirs_names(client, staff, people):
    """Corrections read the full ID number of a subject of a casefile they hold (社区矫正法
    Art. 22; tests/api/test_casefile_bounds.py), never of the person as such (issue 13)."""
    person = people.person()
    created = _create(client, staff["police.a"], person).json()
    read = client.get(f"/api/v1/persons/{created['id']}", headers=staff["corrections.a"] | {"X-Purpose": "supervision"})
    assert read.status_code == 200
    shown = read.json()["id_number"]
    assert shown != person.id_number and shown[:4] == person.id_number[:4] and shown[-4:] == person.id_number[-4:]
    assert "*" in shown and read.json()["name"] == person.name


@pytest.mark.parametrize("role", ["admin", "auditor.x", "secadmin.x"])
def test_non_data_roles_never_receive_personal_values(client, staff, people, role):
    person = people.person()
    created = _create(client, staff["police.a"], person).json()
    for purpose in ({}, REG):
        read = client.get(f"/api/v1/persons/{created['id']}", headers=staff[role] | purpose)
        search = client.post(
            "/api/v1/persons/search", json={"id_number": person.id_number}, headers=staff[role] | purpose
        )
        for response in (read, search):
            assert response.status_code in (400, 403)
            assert person.name not in response.text and person.id_number not in response.text


def test_values_are_sealed_at_rest_and_bound_to_their_row(client, runtime, staff, people):
    first, second = people.person(), people.person()
    a = _create(client, staff["police.a"], first).json()
    b = _create(client, staff["police.a"], second).json()
    with runtime.engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT * FROM person")).mappings().all()
        raw = repr(rows).encode()
        assert first.name.encode() not in raw and first.id_number.encode() not in raw
        # Copy A's name ciphertext into B's row: B must not show A's name, nor garbage.
        name_a = conn.execute(
            sa.text("SELECT name_ct FROM person WHERE id = :id"), {"id": _uuid_param(runtime, a["id"])}
        ).scalar_one()
        conn.execute(
            sa.text("UPDATE person SET name_ct = :ct WHERE id = :id"),
            {"ct": name_a, "id": _uuid_param(runtime, b["id"])},
        )
    response = client.get(f"/api/v1/persons/{b['id']}", headers=staff["police.a"] | REG)
    assert response.status_code == 500 and response.json()["title"] == "Integrity failure"
    assert first.name not in response.text and second.name not in response.text
    assert client.get(f"/api/v1/persons/{a['id']}", headers=staff["police.a"] | REG).status_code == 200
    with Session(runtime.engine) as session:
        failures = session.exec(select(AuditEntry).where(AuditEntry.action == "integrity:failure")).all()
    assert [(f.targets, f.outcome) for f in failures] == [([b["id"], "person.name"], "denied")]


def _uuid_param(runtime, value: str):
    # SQLite stores UUIDs as 32 hex characters; PostgreSQL has a native uuid type.
    return value.replace("-", "") if runtime.engine.dialect.name == "sqlite" else value


def test_crypto_shredding_erases_one_person_and_spares_others(client, runtime, staff, people):
    gone, kept = people.person(), people.person()
    a = _create(client, staff["police.a"], gone).json()
    b = _create(client, staff["police.a"], kept).json()
    assert (
        client.post(
            f"/api/v1/persons/{a['id']}/erasure", json={"reason": "retention_expired"}, headers=staff["police.a"]
        ).status_code
        == 403
    )
    erased = client.post(
        f"/api/v1/persons/{a['id']}/erasure", json={"reason": "retention_expired"}, headers=staff["secadmin.x"]
    )
    assert erased.status_code == 204
    assert client.get(f"/api/v1/persons/{a['id']}", headers=staff["police.a"] | REG).status_code == 410
    found = client.post("/api/v1/persons/search", json={"id_number": gone.id_number}, headers=staff["police.a"] | REG)
    assert found.json()["items"] == []
    assert client.get(f"/api/v1/persons/{b['id']}", headers=staff["police.a"] | REG).json()["name"] == kept.name
    with runtime.engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT count(*) FROM data_key WHERE owner_id = :o"), {"o": a["id"]}).scalar()
        audit = conn.execute(sa.text("SELECT action, reason FROM audit_entry WHERE action = 'person:erase'")).all()
    assert keys == 0 and audit == [("person:erase", "retention_expired")]


def test_reads_and_searches_are_audited_with_fields_and_token_only(client, runtime, staff, people):
    person = people.person()
    created = _create(client, staff["police.a"], person).json()
    client.get(f"/api/v1/persons/{created['id']}", headers=staff["police.a"] | {"X-Purpose": "investigation"})
    client.post("/api/v1/persons/search", json={"phone": person.phone}, headers=staff["police.a"] | REG)
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT action, targets, fields, purpose, search_token FROM audit_entry "
                "WHERE action IN ('person:read', 'person:search') ORDER BY id"
            )
        ).all()
        dump = repr(conn.execute(sa.text("SELECT * FROM audit_entry")).all())
    reads = [r for r in rows if r[0] == "person:read"]
    assert any(r[3] == "investigation" and "id_number" in r[2] for r in reads)
    search = [r for r in rows if r[0] == "person:search"][0]
    assert created["id"] in search[1] and len(search[4]) >= 6
    for value in (person.name, person.id_number, person.phone):
        assert value not in dump


def test_patch_reseals_reindexes_and_needs_if_match(client, staff, people):
    person, new = people.person(), people.person()
    created = _create(client, staff["police.a"], person).json()
    path = f"/api/v1/persons/{created['id']}"
    change = {"name": new.name, "phone": new.phone}
    assert client.patch(path, json=change, headers=staff["police.a"] | REG).status_code == 428
    assert client.patch(path, json=change, headers=staff["police.a"] | REG | {"If-Match": '"9"'}).status_code == 412
    assert (
        client.patch(
            path, json={"id_number": new.id_number}, headers=staff["police.a"] | REG | {"If-Match": '"1"'}
        ).status_code
        == 422
    )
    assert client.patch(path, json=change, headers=staff["police.b"] | REG | {"If-Match": '"1"'}).status_code == 404
    patched = client.patch(path, json=change, headers=staff["police.a"] | REG | {"If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == new.name and patched.json()["phone"] == new.phone
    assert patched.headers["etag"] == '"2"'
    search = lambda body: client.post("/api/v1/persons/search", json=body, headers=staff["police.a"] | REG).json()  # noqa: E731
    assert search({"phone": person.phone})["items"] == []
    assert [m["id"] for m in search({"phone": new.phone})["items"]] == [created["id"]]
    assert [m["id"] for m in search({"name": new.name, "birth_date": person.birth_date.isoformat()})["items"]] == [
        created["id"]
    ]
    assert search({"name": person.name, "birth_date": person.birth_date.isoformat()})["items"] == []
