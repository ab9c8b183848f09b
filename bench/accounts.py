"""The benchmarks' staff accounts, made as an administration makes them: a second founding
administrator at the console, each data-role account requested by one administrator and
approved by the other, its one-time password replaced by its owner (`PASSWORD`)."""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine

from registry.accounts.schemas import UserCreate
from registry.accounts.users_console import create_founding_admin_at_console
from registry.clock import Clock

PASSWORD = "bench: a long passphrase nobody guesses"  # every bench account's
SECOND_ADMIN = "bench.admin2"


def token(http: httpx.Client, username: str, password: str = PASSWORD) -> str:
    form = {"grant_type": "password", "username": username, "password": password}
    response = http.post("/api/v1/auth/token", data=form, timeout=60)
    response.raise_for_status()
    return str(response.json()["access_token"])


def bearer(http: httpx.Client, username: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(http, username, password)}"}


def found_second_admin(engine: Engine, clock: Clock) -> None:
    """What `registry users create --role admin` does: the approver of the data-role accounts."""
    data = UserCreate(username=SECOND_ADMIN, display_name="Bench administrator", roles=["admin"])
    create_founding_admin_at_console(engine, clock, data=data, password=PASSWORD)


def staff_account(http: httpx.Client, admin: tuple[str, str], username: str, role: str, unit: str) -> dict[str, str]:
    """The account requested by the second administrator, approved by `admin` (the bootstrap
    one), its password set by its owner; its auth header."""
    body = {"username": username, "display_name": username, "roles": [role], "org_unit": unit}
    requested = http.post("/api/v1/users", json=body, headers=bearer(http, SECOND_ADMIN), timeout=60)
    requested.raise_for_status()
    if requested.status_code == 202:
        approved = http.post(
            f"/api/v1/account-approvals/{requested.json()['id']}/approve", headers=bearer(http, *admin), timeout=60
        )
        approved.raise_for_status()
        one_time = approved.json()["one_time_password"]
    else:
        one_time = requested.json()["one_time_password"]
    chosen = {"username": username, "one_time_password": one_time, "new_password": PASSWORD}
    http.post("/api/v1/auth/password/one-time", json=chosen, timeout=60).raise_for_status()
    return bearer(http, username)
