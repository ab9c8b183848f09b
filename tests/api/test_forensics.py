"""Forensics you can trust (issue 13, deliverable 7), through HTTP on both engines: the
audit's request id is the server's, the client address comes through declared proxies
only, JSON nesting is bounded at the door, and name + birth-date search re-checks both."""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from registry.api.app import create_app
from registry.api.middleware import MAX_JSON_DEPTH, json_too_deep
from registry.audit.canonical import record_bytes
from registry.audit.models import AuditEntry
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}


def _login(client, username, password, headers=None):
    form = {"grant_type": "password", "username": username, "password": password}
    return client.post("/api/v1/auth/token", data=form, headers=headers or {})


def _entries(runtime, action):
    with Session(runtime.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _app_client(runtime, *, peer=("testclient", 50000), **settings):
    """A second application over the same runtime with other settings, seen from `peer`
    (no lifespan: no second sequencer)."""
    runtime.settings = runtime.settings.model_copy(update=settings)
    return TestClient(create_app(runtime), raise_server_exceptions=False, client=peer)


# -- request ids -----------------------------------------------------------------------------


def test_audit_request_id_is_the_servers_and_the_clients_is_kept_beside_it(client, runtime, bootstrap):
    chosen = "client-chosen-id.42"
    response = _login(client, *bootstrap, headers={"X-Request-ID": chosen})
    assert response.status_code == 200
    server_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", server_id) and server_id != chosen
    entry = _entries(runtime, "auth:login")[-1]
    assert entry.request_id == server_id
    assert entry.client_request_id == chosen
    # A client cannot make two requests share an id either: each gets its own.
    again = _login(client, *bootstrap, headers={"X-Request-ID": chosen})
    assert again.headers["X-Request-ID"] not in (server_id, chosen)


@pytest.mark.parametrize("offered", ["has spaces", "x" * 65, "semi;colon", ""])
def test_a_malformed_client_request_id_is_not_kept(client, runtime, bootstrap, offered):
    response = _login(client, *bootstrap, headers={"X-Request-ID": offered})
    entry = _entries(runtime, "auth:login")[-1]
    assert entry.request_id == response.headers["X-Request-ID"]
    assert entry.client_request_id is None


def test_denials_carry_both_ids_too(client, runtime, bootstrap):
    response = _login(client, bootstrap[0], "not the password", headers={"X-Request-ID": "probe-1"})
    assert response.status_code == 401
    entry = _entries(runtime, "auth:login")[-1]
    assert entry.outcome == "denied"
    assert (entry.request_id, entry.client_request_id) == (response.headers["X-Request-ID"], "probe-1")


# -- client address --------------------------------------------------------------------------


def test_forwarded_for_is_ignored_without_a_declared_proxy(client, runtime, bootstrap):
    assert runtime.settings.trusted_proxies == ()
    _login(client, *bootstrap, headers={"X-Forwarded-For": "203.0.113.9"})
    assert _entries(runtime, "auth:login")[-1].client_addr == "testclient"


@pytest.mark.parametrize(
    ("peer", "forwarded", "seen"),
    [
        ("10.0.0.5", "203.0.113.9", "203.0.113.9"),  # through the proxy
        ("10.0.0.5", "198.51.100.7, 203.0.113.9", "203.0.113.9"),  # the left part is the client's to invent
        ("10.0.0.5", "203.0.113.9, 10.0.0.6", "203.0.113.9"),  # two declared proxies in a row
        ("10.0.0.5", "not-an-address", "10.0.0.5"),  # garbage: only the proxy is believed
        ("10.0.0.5", None, "10.0.0.5"),
        ("192.0.2.77", "203.0.113.9", "192.0.2.77"),  # not a proxy: its header is ignored
    ],
)
def test_forwarded_for_is_believed_only_from_a_declared_proxy(runtime, bootstrap, peer, forwarded, seen):
    proxies = (ipaddress.ip_network("10.0.0.5"), ipaddress.ip_network("10.0.0.6"))
    with _app_client(runtime, peer=(peer, 40000), trusted_proxies=proxies) as client:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        assert _login(client, *bootstrap, headers=headers).status_code == 200
    assert _entries(runtime, "auth:login")[-1].client_addr == seen


def test_per_client_throttle_counts_the_address_behind_the_proxy(runtime, bootstrap):
    proxies = (ipaddress.ip_network("10.0.0.5"),)
    client = _app_client(runtime, peer=("10.0.0.5", 40000), trusted_proxies=proxies, login_failures_per_client=2)
    one, other = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "203.0.113.10"}
    assert [_login(client, f"nobody.{i}", "wrong password!", one).status_code for i in range(3)] == [401, 401, 429]
    # Another client behind the same proxy is not punished for the first one's guesses.
    assert _login(client, "nobody.x", "wrong password!", other).status_code == 401
    assert _login(client, *bootstrap, headers=other).status_code == 200


# -- JSON nesting ----------------------------------------------------------------------------


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _deep_list(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/persons"),
        ("post", "/api/v1/persons/search"),
        ("post", f"/api/v1/casefiles/{uuid.UUID(int=1)}/events"),
        ("post", "/api/v1/org-units"),
        ("patch", f"/api/v1/users/{uuid.UUID(int=2)}"),
        ("post", "/api/v1/auth/password"),
    ],
)
@pytest.mark.parametrize(
    "body", [_nested(900), _deep_list(900), _nested(MAX_JSON_DEPTH + 1)], ids=["obj", "list", "65"]
)
def test_deep_json_answers_400_problem_everywhere(client, bootstrap, method, path, body):
    headers = as_user(client, *bootstrap) | REG | {"Content-Type": "application/json", "If-Match": '"1"'}
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "nested deeper" in response.json()["detail"]


def test_json_at_the_depth_limit_and_brackets_in_strings_pass_the_guard(client, bootstrap):
    headers = as_user(client, *bootstrap) | {"Content-Type": "application/json"}
    at_limit = client.post("/api/v1/org-units", content=_nested(MAX_JSON_DEPTH), headers=headers)
    assert at_limit.status_code == 422  # the schema's refusal, not the guard's
    name = "[" * 200 + '\\"{' * 100
    body = json.dumps({"code": "320500", "name": json.loads(f'"{name}"')})
    created = client.post("/api/v1/org-units", content=body, headers=headers)
    assert "nested deeper" not in created.text


@pytest.mark.parametrize(
    "value",
    [
        [],
        {"a": [1, {"b": "]]]]"}], "c": "\\\\"},
        [[[[[]]]], {"x": [[["[[[["]]]}],
        "just a string with [[[[ brackets",
        {"q": '"' * 5 + "{" * 70},
    ],
)
def test_depth_count_matches_the_parsed_structure(value):
    def depth(v) -> int:
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        return 0

    body = json.dumps(value).encode()
    for limit in range(0, 8):
        assert json_too_deep(body, limit) == (depth(value) > limit), (value, limit)


def test_unterminated_strings_are_counted_in_linear_time():
    # Every quote starts a string that never ends: a backtracking scan would be quadratic.
    body = b'{"a": "' + b'\\"' * 200_000
    assert json_too_deep(body + b"[" * 70) is False  # the brackets are inside the open string
    assert json_too_deep(b"[" * 70 + body) is True


# -- name + birth-date search ----------------------------------------------------------------


@pytest.fixture
def two_buckets(settings, bootstrap):
    """Blind-index tokens cut to one bit: every search bucket is shared, as a large
    registry's are by design, so only the re-check keeps other people out of the answer."""
    engine = sa.create_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE crypto_config SET index_bits = 1"))
    engine.dispose()


def test_name_and_birth_date_search_rechecks_the_birth_date(two_buckets, client, runtime, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    police = as_user(client, "police.a", STRONG_PASSWORD) | REG
    people, name, created = SyntheticPeople(seed=13), "张伟", []
    searched = None
    while len(created) < 40:
        person = people.person()
        body = {"id_number": person.id_number, "name": name, "phone": person.phone}
        response = client.post("/api/v1/persons", json=body, headers=police)
        assert response.status_code == 201, response.text
        created.append((response.json()["id"], person.birth_date))
        births = {b for _, b in created}
        if searched is None:
            searched = person.birth_date
        query = {"name": name, "birth_date": searched.isoformat()}
        found = client.post("/api/v1/persons/search", json=query, headers=police)
        assert found.status_code == 200
        expected = sorted(pid for pid, born in created if born == searched)
        assert sorted(m["id"] for m in found.json()["items"]) == expected
        token = _entries(runtime, "person:search")[-1].search_token
        with Session(runtime.engine) as session:
            sharing = session.execute(
                sa.text("SELECT count(*) FROM blind_index WHERE field = 'name_birth' AND token = :t"),
                {"t": bytes.fromhex(token)},
            ).scalar_one()
        if sharing > len(expected) and len(births) > 1:
            return  # the bucket held someone of the same name born another day, and was not returned
    pytest.fail("no shared bucket in 40 persons: the test proved nothing")


def test_entries_written_before_the_client_request_id_column_hash_as_before():
    """The column came with migration 0015: an entry without it keeps its canonical bytes,
    so leaves sequenced before the upgrade still verify."""
    before = {"id": 7, "at": datetime(2026, 1, 5, 9, 15, tzinfo=UTC), "action": "auth:login", "request_id": "r1"}
    assert record_bytes(before | {"client_request_id": None}) == record_bytes(before)
    assert record_bytes(before | {"client_request_id": "mine"}) != record_bytes(before)


def test_auditors_see_both_request_ids(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_user(client, admin, "auditor.x", ["auditor"], None)
    auditor = as_user(client, "auditor.x", STRONG_PASSWORD)
    response = _login(client, *bootstrap, headers={"X-Request-ID": "gateway-7f3a"})
    page = client.get("/api/v1/audit/events", params={"action": "auth:login", "limit": 100}, headers=auditor)
    assert page.status_code == 200, page.text
    mine = [e for e in page.json()["items"] if e["request_id"] == response.headers["X-Request-ID"]]
    assert [e["client_request_id"] for e in mine] == ["gateway-7f3a"]
