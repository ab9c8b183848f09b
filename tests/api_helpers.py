"""Small HTTP helpers for API tests (they speak HTTP only; no registry internals, except
the founding ceremony, which is a console act: `second_admin`)."""

from __future__ import annotations

import weakref

import httpx
from fastapi.testclient import TestClient

from registry.accounts.schemas import UserCreate
from registry.accounts.users_console import create_founding_admin_at_console

STRONG_PASSWORD = "correct horse battery"
# Dual control (issue 13): data-role and further admin accounts are requested by one
# administrator and approved by another, neither a maker of the other. The helpers keep a
# second, founding administrator for that (made at the console, so nobody else's).
SECOND_ADMIN = "second.admin"
DATA_ROLES = frozenset({"police", "civil_affairs", "corrections", "social_worker"})
DUAL_CONTROLLED = DATA_ROLES | {"security_admin"}  # roles a second administrator must approve
_second_admins: weakref.WeakKeyDictionary[httpx.Client, dict[str, str]] = weakref.WeakKeyDictionary()


def token(client: TestClient, username: str, password: str, otp: str | None = None) -> str:
    form = {"grant_type": "password", "username": username, "password": password}
    if otp is not None:
        form["otp"] = otp
    response = client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def refusal(response: httpx.Response) -> dict:
    """A problem body as far as it may tell refusals apart: all of it but the request id,
    which is fresh for every request (issue 21) and so says nothing about the cause."""
    body = dict(response.json())
    assert body.pop("request_id") == response.headers["x-request-id"]
    return body


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def as_user(client: TestClient, username: str, password: str) -> dict[str, str]:
    return bearer(token(client, username, password))


def create_tree(client: TestClient, headers: dict[str, str]) -> None:
    """City 320500 → district 320571 → street 320571001, and a second district 320505."""
    for code, name, parent in [
        ("320500", "Test city", None),
        ("320571", "Test district A", "320500"),
        ("320571001", "Test street A1", "320571"),
        ("320505", "Test district B", "320500"),
    ]:
        body = {"code": code, "name": name} | ({"parent_code": parent} if parent else {})
        response = client.post("/api/v1/org-units", json=body, headers=headers)
        assert response.status_code == 201, response.text


def set_own_password(client: TestClient, username: str, one_time_password: str, new: str = STRONG_PASSWORD) -> None:
    """What the owner of an account does first: replace the administrator's one-time password."""
    body = {"username": username, "one_time_password": one_time_password, "new_password": new}
    response = client.post("/api/v1/auth/password/one-time", json=body)
    assert response.status_code == 204, response.text


def second_admin(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    """The second, founding administrator, made as `registry users create --role admin` makes
    it (its owner chose its password at the console): an independent key for `headers`."""
    cached = _second_admins.get(client)
    if cached is not None:
        return cached
    form = {"grant_type": "password", "username": SECOND_ADMIN, "password": STRONG_PASSWORD}
    logged_in = client.post("/api/v1/auth/token", data=form)
    if logged_in.status_code != 200:
        runtime = client.app.state.runtime
        data = UserCreate(username=SECOND_ADMIN, display_name="Second administrator", roles=["admin"])
        create_founding_admin_at_console(runtime.engine, runtime.clock, data=data, password=STRONG_PASSWORD)
        logged_in = client.post("/api/v1/auth/token", data=form)
        assert logged_in.status_code == 200, logged_in.text
    _second_admins[client] = bearer(logged_in.json()["access_token"])
    return _second_admins[client]


def approve(client: TestClient, headers: dict[str, str], approval_id: str) -> dict:
    response = client.post(f"/api/v1/account-approvals/{approval_id}/approve", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def create_admin_apart(client: TestClient, headers: dict[str, str], username: str) -> dict:
    """An administrator whose one-time password went to the second founder, not to `headers`:
    made apart from the administrators `create_user` makes (whose passwords `headers`
    received), so a key for them; two made by one hand would be siblings, never two keys."""
    body = {"username": username, "display_name": username, "roles": ["admin"]}
    requested = client.post("/api/v1/users", json=body, headers=headers)
    assert requested.status_code == 202, requested.text
    decided = approve(client, second_admin(client, headers), requested.json()["id"])
    set_own_password(client, username, decided["one_time_password"])
    return decided["user"]


def create_user(
    client: TestClient,
    headers: dict[str, str],
    username: str,
    roles: list[str],
    org_unit: str | None,
    *,
    sex: str | None = None,
    display_name: str | None = None,
) -> dict:
    """An account whose owner has set STRONG_PASSWORD. One that needs dual control (a data
    role, another administrator) is requested by the second administrator and approved by
    `headers` (an admin cannot approve requests of an admin it made alone, so not the reverse)."""
    body = {"username": username, "display_name": display_name or username, "roles": roles}
    if org_unit is not None:
        body["org_unit"] = org_unit
    if sex is not None:
        body["sex"] = sex
    if DUAL_CONTROLLED & set(roles) or "admin" in roles:
        requested = client.post("/api/v1/users", json=body, headers=second_admin(client, headers))
        if requested.status_code == 401:  # its token expired (a test moved the clock): log in again
            _second_admins.pop(client, None)
            requested = client.post("/api/v1/users", json=body, headers=second_admin(client, headers))
        assert requested.status_code == 202, requested.text
        decided = approve(client, headers, requested.json()["id"])
        user_id, one_time = decided["user"]["id"], decided["one_time_password"]
    else:
        response = client.post("/api/v1/users", json=body, headers=headers)
        assert response.status_code == 201, response.text
        user_id, one_time = response.json()["id"], response.json()["one_time_password"]
    set_own_password(client, username, one_time)
    read = client.get(f"/api/v1/users/{user_id}", headers=headers)
    assert read.status_code == 200, read.text
    return read.json()
