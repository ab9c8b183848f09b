"""Administration routes through HTTP: org units, users, service accounts."""

from __future__ import annotations

import pytest

from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

SOME_ID = "6f1c1a52-2d0e-4f43-9d57-0a4f3a3c0b11"  # fixed: xdist workers must collect the same ids
ADMIN_ROUTES = [
    ("POST", "/api/v1/org-units", {"code": "320500", "name": "x"}),
    ("GET", "/api/v1/org-units", None),
    ("GET", "/api/v1/org-units/320500", None),
    ("POST", "/api/v1/users", {"username": "someone", "display_name": "x", "roles": ["police"]}),
    ("GET", "/api/v1/users", None),
    ("GET", f"/api/v1/users/{SOME_ID}", None),
    ("PATCH", f"/api/v1/users/{SOME_ID}", {"display_name": "y"}),
    ("POST", f"/api/v1/users/{SOME_ID}/unlock", None),
    ("POST", f"/api/v1/users/{SOME_ID}/password", None),
    ("POST", "/api/v1/service-accounts", {"name": "school-svc", "roles": ["verifier"]}),
    ("GET", "/api/v1/account-approvals", None),
    ("GET", f"/api/v1/account-approvals/{SOME_ID}", None),
    ("POST", f"/api/v1/account-approvals/{SOME_ID}/approve", None),
    ("POST", f"/api/v1/account-approvals/{SOME_ID}/reject", None),
]


@pytest.fixture
def admin(client, bootstrap):
    headers = as_user(client, *bootstrap)
    create_tree(client, headers)
    return headers


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_route_refuses_anonymous_and_non_admin(client, admin, method, path, body):
    anonymous = client.request(method, path, json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"] == "Bearer"

    create_user(client, admin, "officer.li", ["police"], "320571")
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    refused = client.request(method, path, json=body, headers=police | {"If-Match": '"1"'})
    assert refused.status_code == 403
    assert refused.json()["status"] == 403


def test_admin_builds_tree_and_police_user_logs_in(client, admin):
    units = client.get("/api/v1/org-units", headers=admin).json()["items"]
    assert [u["code"] for u in units] == ["320500", "320505", "320571", "320571001"]
    assert {u["code"]: u["path"] for u in units}["320571001"] == "/320500/320571/320571001/"
    user = create_user(client, admin, "officer.li", ["police"], "320571001")
    assert "password" not in user and "password_hash" not in user
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    assert client.get("/api/v1/users", headers=police).status_code == 403


@pytest.mark.parametrize(
    ("code", "parent"),
    [("320571002", "320505"), ("3205710011", "320571"), ("330571", "320500"), ("320571001001", "320571")],
)
def test_org_unit_codes_must_fit_the_tree(client, admin, code, parent):
    response = client.post("/api/v1/org-units", json={"code": code, "name": "x", "parent_code": parent}, headers=admin)
    assert response.status_code == 422


def test_duplicate_org_unit_and_username_conflict(client, admin):
    response = client.post(
        "/api/v1/org-units", json={"code": "320571", "name": "x", "parent_code": "320500"}, headers=admin
    )
    assert response.status_code == 409
    create_user(client, admin, "officer.li", ["police"], "320571")
    body = {
        "username": "officer.li",
        "display_name": "x",
        "roles": ["police"],
        "org_unit": "320571",
    }
    assert client.post("/api/v1/users", json=body, headers=admin).status_code == 409


@pytest.mark.parametrize(
    "roles",
    [["admin", "auditor"], ["admin", "security_admin"], ["auditor", "police"], ["security_admin", "social_worker"]],
)
def test_separation_of_duties_is_refused_on_create_and_update(client, admin, roles):
    body = {
        "username": "mixed.user",
        "display_name": "x",
        "roles": roles,
        "org_unit": "320571",
    }
    response = client.post("/api/v1/users", json=body, headers=admin)
    assert response.status_code == 422
    assert "separation_of_duties" in response.json()["detail"]

    user = create_user(client, admin, "plain.user", [roles[-1]], "320571")
    patched = client.patch(
        f"/api/v1/users/{user['id']}", json={"roles": roles}, headers=admin | {"If-Match": f'"{user["version"]}"'}
    )
    assert patched.status_code == 422


def test_administrators_never_choose_a_password(client, admin):
    """Creates and resets answer a one-time password the service made; a chosen one is refused."""
    base = {"username": "chosen.password", "display_name": "x", "roles": ["auditor"]}
    refused = client.post("/api/v1/users", json=base | {"password": STRONG_PASSWORD}, headers=admin)
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["errors"]] == [["body", "password"]]
    made = client.post("/api/v1/users", json=base, headers=admin)
    assert made.status_code == 201 and made.json()["password_change_required"] is True
    assert len(made.json()["one_time_password"]) >= 24
    path = f"/api/v1/users/{made.json()['id']}/password"
    assert client.post(path, json={"new_password": STRONG_PASSWORD}, headers=admin).status_code == 422
    reset = client.post(path, headers=admin)
    assert reset.status_code == 200 and reset.json()["one_time_password"] != made.json()["one_time_password"]
    # The owner's own choice still meets the policy.
    body = {"username": "chosen.password", "one_time_password": reset.json()["one_time_password"]}
    short = client.post("/api/v1/auth/password/one-time", json=body | {"new_password": "elevenchars"})
    assert short.status_code == 422 and "12" in short.json()["errors"][0]["msg"]  # the schema says so too
    same = client.post("/api/v1/auth/password/one-time", json=body | {"new_password": "chosen.password"})
    assert same.status_code == 422 and "username" in same.json()["detail"]


def test_data_roles_need_an_org_unit_and_verifier_is_service_only(client, admin):
    body = {"username": "no.unit", "display_name": "x", "roles": ["police"]}
    assert client.post("/api/v1/users", json=body, headers=admin).status_code == 422
    body = body | {"roles": ["verifier"], "org_unit": "320571"}
    assert client.post("/api/v1/users", json=body, headers=admin).status_code == 422


def test_district_admin_sees_only_its_subtree(client, admin):
    create_user(client, admin, "district.admin", ["admin"], "320571")
    other = create_user(client, admin, "other.officer", ["police"], "320505")
    mine = create_user(client, admin, "own.officer", ["police"], "320571001")
    district = as_user(client, "district.admin", STRONG_PASSWORD)

    codes = [u["code"] for u in client.get("/api/v1/org-units", headers=district).json()["items"]]
    assert codes == ["320571", "320571001"]
    assert client.get("/api/v1/org-units/320505", headers=district).status_code == 404
    assert client.get(f"/api/v1/users/{other['id']}", headers=district).status_code == 404
    assert client.get(f"/api/v1/users/{mine['id']}", headers=district).status_code == 200
    names = {u["username"] for u in client.get("/api/v1/users", headers=district).json()["items"]}
    assert names == {"district.admin", "own.officer"}
    # Cannot plant a root or place users outside its subtree.
    assert client.post("/api/v1/org-units", json={"code": "330100", "name": "x"}, headers=district).status_code == 404
    body = {"username": "moved.out", "display_name": "x", "roles": ["police"]}
    assert client.post("/api/v1/users", json=body | {"org_unit": "320505"}, headers=district).status_code == 404


def test_patch_needs_if_match_and_refuses_stale(client, admin):
    user = create_user(client, admin, "officer.li", ["police"], "320571")
    path = f"/api/v1/users/{user['id']}"
    assert client.patch(path, json={"display_name": "Li"}, headers=admin).status_code == 428
    assert client.patch(path, json={"display_name": "Li"}, headers=admin | {"If-Match": '"99"'}).status_code == 412
    read = client.get(path, headers=admin)
    ok = client.patch(path, json={"display_name": "Li"}, headers=admin | {"If-Match": read.headers["etag"]})
    assert ok.status_code == 200 and ok.json()["display_name"] == "Li"
    assert ok.headers["etag"] != read.headers["etag"]


def test_list_pagination_with_cursor(client, admin):
    for i in range(5):
        create_user(client, admin, f"officer.{i}", ["police"], "320571")
    first = client.get("/api/v1/users?limit=4", headers=admin).json()
    assert len(first["items"]) == 4 and first["next_cursor"]
    rest = client.get(f"/api/v1/users?limit=4&cursor={first['next_cursor']}", headers=admin).json()
    assert rest["next_cursor"] is None
    usernames = [u["username"] for u in first["items"] + rest["items"]]
    # five officers, the bootstrap admin and the second admin that approved them
    assert usernames == sorted(usernames) and len(set(usernames)) == 7
    assert client.get("/api/v1/users?limit=501", headers=admin).status_code == 422
    assert client.get("/api/v1/users?cursor=%%%", headers=admin).status_code == 400


def test_service_account_secret_shown_once_and_works(client, admin):
    response = client.post(
        "/api/v1/service-accounts",
        json={"name": "school-svc", "roles": ["verifier"], "org_unit": "320571"},
        headers=admin,
    )
    assert response.status_code == 201
    created = response.json()
    form = {
        "grant_type": "client_credentials",
        "client_id": created["client_id"],
        "client_secret": created["client_secret"],
    }
    assert client.post("/api/v1/auth/token", data=form).status_code == 200
    assert client.post("/api/v1/auth/token", data=form | {"client_secret": "wrong"}).status_code == 401
    read = client.get(f"/api/v1/users/{created['id']}", headers=admin).json()
    assert "client_secret" not in read and read["kind"] == "service"
    refused = client.post("/api/v1/service-accounts", json={"name": "bad-svc", "roles": ["police"]}, headers=admin)
    assert refused.status_code == 422
