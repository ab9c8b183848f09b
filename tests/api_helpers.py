"""Small HTTP helpers for API tests (they speak HTTP only; no registry internals)."""

from __future__ import annotations

from fastapi.testclient import TestClient

STRONG_PASSWORD = "correct horse battery"


def token(client: TestClient, username: str, password: str, otp: str | None = None) -> str:
    form = {"grant_type": "password", "username": username, "password": password}
    if otp is not None:
        form["otp"] = otp
    response = client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


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


def create_user(
    client: TestClient, headers: dict[str, str], username: str, roles: list[str], org_unit: str | None
) -> dict:
    body = {"username": username, "display_name": username, "roles": roles, "password": STRONG_PASSWORD}
    if org_unit is not None:
        body["org_unit"] = org_unit
    response = client.post("/api/v1/users", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()
