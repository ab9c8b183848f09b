"""Hostile input through HTTP: deeply nested bodies, SQL-injection probes in every kind of
parameter of the search and list routes, and Unicode tricks in names. The answer is a
problem+json 4xx or an honest empty result — never a 500, never another district's row,
never a change. (Tokens, brute force and oversized bodies: test_auth.py, test_errors.py;
sqlmap against a live server: bench/sqlmap_probe.py.)"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

import pytest

from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}
JSON = {"content-type": "application/json"}

# Classic probes: quote breaking, tautologies, stacked queries, comments, UNION, time
# delays for both engines, NUL bytes, and an over-long string.
SQL_PROBES = [
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "1; DROP TABLE person; --",
    "'; DELETE FROM audit_entry; --",
    "' UNION SELECT id, id, id FROM user_account --",
    "1' AND (SELECT 1 FROM pg_sleep(3)) --",
    "1' AND randomblob(500000000) --",
    "%' --",
    "\\'; --",
    "x\x00' OR '1'='1",
    "'" * 500,
]


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "police.b", ["police"], "320505")
    heads = {name: as_user(client, name, STRONG_PASSWORD) | REG for name in ("police.a", "police.b")}
    heads["admin"] = admin
    people = SyntheticPeople(seed=31)
    mine, theirs = people.person(), people.person()
    for person, who in ((mine, "police.a"), (theirs, "police.b")):
        body = {"id_number": person.id_number, "name": person.name, "phone": person.phone}
        assert client.post("/api/v1/persons", json=body, headers=heads[who]).status_code == 201
    return {"heads": heads, "mine": mine, "theirs": theirs, "people": people}


def _problem(response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text[:200])
    assert response.headers["content-type"] == "application/problem+json"


def _nested(depth: int, opener: str, closer: str) -> bytes:
    return (opener * depth + closer * depth).encode()


NESTED_BODIES = [
    _nested(50_000, "[", "]"),
    _nested(50_000, '{"a":', "}"),
    b'{"id_number": ' + _nested(20_000, "[", "]") + b', "name": "x"}',
    b'{"name": {"name": {"name": {"name": {"name": "x"}}}}, "birth_date": "2000-01-01"}',
]


def test_deeply_nested_bodies_are_refused_cleanly(client, world):
    for body in NESTED_BODIES:
        for path in ("/api/v1/persons", "/api/v1/persons/search"):
            _problem(client.post(path, content=body, headers=world["heads"]["police.a"] | JSON), 400, 422)
    listed = client.post(
        "/api/v1/persons/search", json={"id_number": world["mine"].id_number}, headers=world["heads"]["police.a"]
    )
    assert len(listed.json()["items"]) == 1  # nothing was created, the service still answers


def test_sql_injection_probes_in_search_bodies_find_nothing(client, world):
    heads = world["heads"]["police.a"]
    for probe in SQL_PROBES:
        for body in (
            {"id_number": probe},
            {"phone": probe},
            {"name": probe, "birth_date": "1990-01-01"},
        ):
            response = client.post("/api/v1/persons/search", json=body, headers=heads)
            if response.status_code == 200:
                assert response.json()["items"] == [], body.keys()
            else:
                _problem(response, 400 if "\x00" in probe else 422)


def test_sql_injection_probes_in_query_strings_and_paths(client, world):
    heads = world["heads"]["police.a"]
    list_routes = ("/api/v1/residence-registrations", "/api/v1/residence-permits", "/api/v1/casefiles")
    for probe in SQL_PROBES:
        for route in list_routes:
            for param in ("org_unit", "status", "cursor"):
                response = client.get(route, params={param: probe}, headers=heads)
                if response.status_code == 200:
                    assert response.json()["items"] == [], (route, param)
                else:
                    _problem(response, 400, 404, 422)  # 400: a bad cursor, or a NUL
        _problem(client.get("/api/v1/persons/" + quote(probe, safe=""), headers=heads), 400, 404, 422)
        admin = world["heads"]["admin"]
        users = client.get("/api/v1/users", params={"cursor": probe}, headers=admin)
        _problem(users, 400)
        unit = client.get("/api/v1/org-units/" + quote(probe, safe=""), headers=admin)
        _problem(unit, 400, 404, 422)


def test_injection_shaped_values_are_stored_as_data(client, world):
    """A name that looks like SQL is a name: sealed, read back unchanged, found by exact search."""
    heads = world["heads"]["police.a"]
    person = world["people"].person()
    name = "O'Brien\"); DROP TABLE person;--"
    body = {"id_number": person.id_number, "name": name, "birth_date": person.birth_date.isoformat()}
    created = client.post("/api/v1/persons", json=body, headers=heads)
    assert created.status_code == 201, created.text
    read = client.get(f"/api/v1/persons/{created.json()['id']}", headers=heads).json()
    assert read["name"] == name
    found = client.post(
        "/api/v1/persons/search", json={"name": name, "birth_date": body["birth_date"]}, headers=heads
    ).json()["items"]
    assert [m["id"] for m in found] == [created.json()["id"]]
    other = client.post("/api/v1/persons/search", json={"id_number": world["mine"].id_number}, headers=heads)
    assert len(other.json()["items"]) == 1  # the table is still there


NAME_VARIANTS = [
    ("ＡＢＣ测试", "ABC测试"),  # full-width Latin from an IME
    ("ABC测试", "ＡＢＣ测试"),
    ("Ren\u00e9e测试", "Rene\u0301e测试"),  # precomposed vs. combining acute
    ("Rene\u0301e测试", "Ren\u00e9e测试"),
    ("张 三", "张三"),  # whitespace, including the ideographic space
    ("张\u3000三", " 张 三 "),
    ("\u2f08\u2f06", "人二"),  # Kangxi radicals fold to the unified ideographs
]


def test_unicode_variants_of_a_name_are_one_name(client, world):
    heads = world["heads"]["police.a"]
    for stored, typed in NAME_VARIANTS:
        person = world["people"].person()
        born = person.birth_date.isoformat()
        body = {"id_number": person.id_number, "name": stored, "birth_date": born}
        created = client.post("/api/v1/persons", json=body, headers=heads)
        assert created.status_code == 201, created.text
        shown = client.get(f"/api/v1/persons/{created.json()['id']}", headers=heads).json()["name"]
        assert shown == " ".join(unicodedata.normalize("NFKC", stored).split())  # NFKC, spaces collapsed
        found = client.post("/api/v1/persons/search", json={"name": typed, "birth_date": born}, headers=heads)
        assert [m["id"] for m in found.json()["items"]] == [created.json()["id"]], (stored, typed)


def test_full_width_id_number_is_the_same_person(client, world):
    heads = world["heads"]["police.a"]
    mine = world["mine"].id_number
    full_width = mine.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789X"})
    duplicate = client.post("/api/v1/persons", json={"id_number": full_width, "name": "测试"}, headers=heads)
    assert duplicate.status_code == 409
    found = client.post("/api/v1/persons/search", json={"id_number": full_width}, headers=heads).json()["items"]
    assert len(found) == 1


def test_invisible_characters_in_names_are_refused_and_not_echoed(client, world):
    for trick in ("\u202e", "\u200b", "\u200d", "\ufeff", "\u00ad", "\x1b"):
        person = world["people"].person()
        body = {"id_number": person.id_number, "name": f"测{trick}试"}
        response = client.post("/api/v1/persons", json=body, headers=world["heads"]["police.a"])
        _problem(response, 422)
        assert person.id_number not in response.text and "测" not in response.text


def test_a_nul_character_anywhere_is_refused_alike_on_both_engines(client, world):
    """PostgreSQL cannot store NUL in text (SQLite can): refused at the door, 400, no change."""
    admin, police = world["heads"]["admin"], world["heads"]["police.a"]
    unit = {"code": "320571009", "name": "测试\u0000街道", "parent_code": "320571"}
    _problem(client.post("/api/v1/org-units", json=unit, headers=admin), 400)
    _problem(client.get("/api/v1/residence-registrations", params={"status": "active\x00"}, headers=police), 400)
    _problem(client.get("/api/v1/org-units/3205%0071", headers=admin), 400)
    login = {"grant_type": "password", "username": "police.a\x00", "password": STRONG_PASSWORD}
    _problem(client.post("/api/v1/auth/token", data=login), 400)
    codes = [u["code"] for u in client.get("/api/v1/org-units", headers=admin).json()["items"]]
    assert "320571009" not in codes
    # An escaped backslash followed by the text "u0000" is not a NUL.
    literal = client.post("/api/v1/org-units", json=unit | {"name": "测试\\u0000街道"}, headers=admin)
    assert literal.status_code == 201, literal.text
