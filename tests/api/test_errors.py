"""Every error is RFC 9457 problem+json, never echoes input, never a 500 for bad input."""

from __future__ import annotations

import json
import time

import pytest

from registry.api.problems import BY_STATUS, TYPES
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree

PROBLEM_KEYS = {"type", "title", "status", "detail"}


@pytest.fixture
def admin(client, bootstrap):
    headers = as_user(client, *bootstrap)
    create_tree(client, headers)
    return headers


def _is_problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert PROBLEM_KEYS <= body.keys() and body["status"] == status
    return body


def test_malformed_json(client, admin):
    response = client.post(
        "/api/v1/org-units", content=b'{"code": "3205', headers=admin | {"content-type": "application/json"}
    )
    _is_problem(response, 400)


def test_wrong_types_and_unknown_fields_list_locations_without_values(client, admin):
    secret_value = "Zhang San 11010519491231002X"
    body = {"username": "x.user", "display_name": "x", "roles": "police", "password": 12, "nickname": secret_value}
    problem = _is_problem(client.post("/api/v1/users", json=body, headers=admin), 422)
    locs = {tuple(e["loc"]) for e in problem["errors"]}
    assert locs == {("body", "roles"), ("body", "password"), ("body", "nickname")}
    assert secret_value not in json.dumps(problem)
    # The name of a key nobody asked for is the sender's text too: never echoed either.
    body = {"username": "x.user", "display_name": "x", "roles": ["police"], secret_value: "1"}
    problem = _is_problem(client.post("/api/v1/users", json=body, headers=admin), 422)
    assert secret_value not in json.dumps(problem)


def test_invalid_enum_value_is_not_echoed(client, admin):
    body = {"username": "x.user", "display_name": "x", "roles": ["Zhang San"], "password": STRONG_PASSWORD}
    problem = _is_problem(client.post("/api/v1/users", json=body, headers=admin), 422)
    assert "Zhang San" not in json.dumps(problem)


def test_oversized_body_is_refused_with_413(client, admin):
    big = json.dumps({"code": "320571002", "name": "x" * (1024 * 1024), "parent_code": "320571"})
    _is_problem(
        client.post("/api/v1/org-units", content=big, headers=admin | {"content-type": "application/json"}), 413
    )

    def chunks():  # no Content-Length: the limit is enforced while streaming
        yield b'{"code": "320571002", "name": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}'

    streamed = client.post("/api/v1/org-units", content=chunks(), headers=admin | {"content-type": "application/json"})
    _is_problem(streamed, 413)
    codes = [u["code"] for u in client.get("/api/v1/org-units", headers=admin).json()["items"]]
    assert "320571002" not in codes


def test_unknown_route_and_wrong_method(client):
    _is_problem(client.get("/api/v1/nothing-here"), 404)
    _is_problem(client.delete("/api/v1/org-units"), 405)


def test_bad_uuid_in_path_is_422(client, admin):
    _is_problem(client.get("/api/v1/users/not-a-uuid", headers=admin), 422)


def test_bad_grant_type(client):
    _is_problem(client.post("/api/v1/auth/token", data={"grant_type": "implicit"}), 422)
    _is_problem(client.post("/api/v1/auth/token", data={"grant_type": "password"}), 400)


def test_failed_request_changes_nothing(client, admin):
    """A rule refusal leaves no trace (one transaction): roles that break separation of duties."""
    body = {"username": "two.hats", "display_name": "x", "roles": ["admin", "police"], "org_unit": "320571"}
    _is_problem(client.post("/api/v1/users", json=body, headers=admin), 422)
    names = {u["username"] for u in client.get("/api/v1/users", headers=admin).json()["items"]}
    assert "two.hats" not in names


def test_request_id_is_always_the_servers(client):
    # A client's X-Request-ID is kept beside the server's in the audit (test_forensics.py),
    # never in its place: the response names the server's id.
    for offered in ("abc-123", "bad id with spaces"):
        made = client.get("/healthz", headers={"X-Request-ID": offered}).headers["x-request-id"]
        assert made != offered and len(made) == 32


def test_health_ready_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    deadline = time.monotonic() + 10
    while (ready := client.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)  # the sequencer reports ready after its first batch
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "key_provider": "ok", "sequencer": "ok"}
    client.get("/api/v1/nothing-here")
    metrics = client.get("/metrics").text
    assert 'registry_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics
    assert 'route="unmatched"' in metrics


def test_openapi_document(client):
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/users/{account_id}" in spec["paths"]


def test_every_problem_type_is_a_page_and_the_body_carries_the_request_id(client, admin):
    """Issue 21: each `type` is a page of the served documentation saying what happened and
    what to do; the body carries the request id to quote, the same as the `X-Request-ID`
    header, fresh for every request."""
    refusals = [
        client.get("/api/v1/org-units"),  # 401
        client.get("/api/v1/persons/not-a-uuid", headers=admin | {"X-Purpose": "registration"}),  # 4xx
        client.post("/api/v1/org-units", content=b'{"code": "3', headers=admin | {"content-type": "application/json"}),
        client.get("/api/v1/no-such-route", headers=admin),
    ]
    for refused in refusals:
        body = refused.json()
        assert body["request_id"] == refused.headers["x-request-id"] and len(body["request_id"]) == 32, body
        page = client.get(body["type"])
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), body["type"]
        assert "What to do" in page.text and "http" not in page.text
    assert {t.slug for t in TYPES} >= set(BY_STATUS.values())
    assert all(client.get(f"/problems/{t.slug}").status_code == 200 for t in TYPES)
    assert client.get("/problems/no-such-type").status_code == 404


def test_a_query_parameter_the_operation_does_not_take_is_refused_after_the_token(client, admin):
    """A misspelt filter must not answer the unfiltered list (issue 21's fuzzing): 422 naming
    it. A missing token is still the 401, and public pages ignore cache-busting parameters."""
    refused = client.get("/api/v1/org-units?colour=red", headers=admin)
    assert refused.status_code == 422 and refused.json()["errors"] == [
        {"loc": ["query", "colour"], "msg": "Extra inputs are not permitted"}
    ]
    assert client.get("/api/v1/org-units?limit=5", headers=admin).status_code == 200
    assert client.get("/api/v1/org-units?colour=red").status_code == 401
    assert client.get("/readyz?nocache=1").status_code == 200


def test_if_match_takes_the_etags_it_documents_and_nothing_else(client, admin):
    """`If-Match` is the pattern `/openapi.json` gives (ASCII digits, weak or quoted): a
    superscript digit, which `str.isdigit` accepts and `int` does not, is a 428, not a 500."""
    users = client.get("/api/v1/users", headers=admin).json()["items"]
    path = f"/api/v1/users/{users[0]['id']}"
    for header in ("³".encode("latin-1"), b'""1""', b"1 2"):
        refused = client.patch(path, json={}, headers=admin | {"If-Match": header})
        assert refused.status_code == 428, (header, refused.text)
    spec = client.get("/openapi.json").json()
    (if_match,) = [
        p for p in spec["paths"]["/api/v1/users/{account_id}"]["patch"]["parameters"] if p["name"] == "if-match"
    ]
    assert if_match["required"] and if_match["schema"]["pattern"] == '^(W/)?"?([0-9]{1,18})"?$'
