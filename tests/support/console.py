"""Signing in to the console as a browser does (form, CSRF, cookie), over TestClient or a
real browser; accounts with a second factor enrolled through the API."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
from fastapi.testclient import TestClient

from registry.api.app import create_app
from registry.clock import FixedClock
from registry.runtime import Runtime
from tests.api_helpers import bearer

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
# The session cookie is Secure: a client that sends it back must speak https.
CONSOLE_BASE = "https://testserver"


def console_client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime), base_url=CONSOLE_BASE, raise_server_exceptions=False)


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {page.url}"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str, otp: str | None = None) -> httpx.Response:
    """The login form as a browser submits it: the answer (303 to /console when accepted)."""
    form = client.get("/console/login")
    data = {"csrf": csrf_of(form), "username": username, "password": password, "otp": otp or ""}
    return client.post("/console/login", data=data, follow_redirects=False)


def post_form(client: TestClient, page: str, action: str, fields: dict[str, str] | None = None) -> httpx.Response:
    """A form of `page` posted with that page's CSRF token."""
    token = csrf_of(client.get(page))
    return client.post(action, data={"csrf": token, **(fields or {})}, follow_redirects=False)


def enrol_totp(client: TestClient, clock: FixedClock, username: str, password: str) -> pyotp.TOTP:
    """Enrol a second factor over the API (require_mfa on): the account's TOTP."""
    form = {"grant_type": "password", "username": username, "password": password}
    pending = client.post("/api/v1/auth/token", data=form).json()
    assert pending["mfa_pending"], pending
    headers = bearer(pending["access_token"])
    uri = client.post("/api/v1/auth/mfa", headers=headers).json()["otpauth_uri"]
    totp = pyotp.TOTP(parse_qs(urlparse(uri).query)["secret"][0])
    confirmed = client.post("/api/v1/auth/mfa/confirm", json={"otp": totp.at(clock.now())}, headers=headers)
    assert confirmed.status_code == 204, confirmed.text
    clock.advance(seconds=30)  # a code is accepted once: the next login needs the next one
    return totp
