"""Authentication through HTTP: lockout, token death, forged tokens, MFA, audit of failures."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlparse

import jwt
import pyotp
import pytest
from sqlmodel import Session, select

from registry.audit.models import AuditEntry
from tests.api_helpers import STRONG_PASSWORD, as_user, bearer, create_tree, create_user, token


@pytest.fixture
def admin(client, bootstrap):
    headers = as_user(client, *bootstrap)
    create_tree(client, headers)
    return headers


@pytest.fixture
def officer(client, admin):
    user = create_user(client, admin, "officer.li", ["police"], "320571")
    return user


def _login(client, username, password, **extra):
    return client.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": password} | extra
    )


def _audit(runtime, action):
    with Session(runtime.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_five_failures_lock_the_account_for_fifteen_minutes(client, runtime, clock, admin, officer):
    for _ in range(5):
        assert _login(client, "officer.li", "wrong password!").status_code == 401
    locked = _login(client, "officer.li", STRONG_PASSWORD)
    assert locked.status_code == 401
    assert client.get(f"/api/v1/users/{officer['id']}", headers=admin).json()["locked"] is True
    clock.advance(minutes=14)
    assert _login(client, "officer.li", STRONG_PASSWORD).status_code == 401
    clock.advance(minutes=2)
    assert _login(client, "officer.li", STRONG_PASSWORD).status_code == 200
    reasons = [e.reason for e in _audit(runtime, "auth:login") if e.outcome == "denied"]
    assert reasons == ["bad_password"] * 5 + ["locked", "locked"]


def test_admin_unlocks_a_locked_account(client, admin, officer):
    for _ in range(5):
        _login(client, "officer.li", "wrong password!")
    assert _login(client, "officer.li", STRONG_PASSWORD).status_code == 401
    assert client.post(f"/api/v1/users/{officer['id']}/unlock", headers=admin).status_code == 200
    assert _login(client, "officer.li", STRONG_PASSWORD).status_code == 200


def test_refusals_do_not_tell_unknown_from_wrong_or_locked(client, admin, officer):
    unknown = _login(client, "nobody.here", STRONG_PASSWORD)
    wrong = _login(client, "officer.li", "wrong password!")
    for _ in range(5):
        _login(client, "officer.li", "wrong password!")
    locked = _login(client, "officer.li", STRONG_PASSWORD)
    bodies = {json.dumps(r.json(), sort_keys=True) for r in (unknown, wrong, locked)}
    assert {r.status_code for r in (unknown, wrong, locked)} == {401}
    assert len(bodies) == 1


@pytest.mark.parametrize(
    "change",
    [{"status": "disabled"}, {"roles": ["civil_affairs"]}, {"org_unit": "320505"}],
    ids=["disable", "role-change", "org-move"],
)
def test_tokens_die_at_once_when_the_account_changes(client, admin, officer, change):
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    assert client.post("/api/v1/auth/password", json={}, headers=police).status_code == 422  # token works
    patched = client.patch(f"/api/v1/users/{officer['id']}", json=change, headers=admin | {"If-Match": '"1"'})
    assert patched.status_code == 200
    assert client.post("/api/v1/auth/password", json={}, headers=police).status_code == 401


def test_disabled_account_cannot_log_in(client, admin, officer):
    client.patch(f"/api/v1/users/{officer['id']}", json={"status": "disabled"}, headers=admin | {"If-Match": '"1"'})
    assert _login(client, "officer.li", STRONG_PASSWORD).status_code == 401


def test_admin_cannot_disable_itself(client, admin, runtime):
    me = next(u for u in client.get("/api/v1/users", headers=admin).json()["items"] if u["username"] == "admin")
    response = client.patch(
        f"/api/v1/users/{me['id']}", json={"status": "disabled"}, headers=admin | {"If-Match": '"1"'}
    )
    assert response.status_code == 422


def test_password_change_and_reset_end_old_tokens(client, admin, officer):
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    wrong = {"current_password": "not the password", "new_password": "a brand new secret"}
    assert client.post("/api/v1/auth/password", json=wrong, headers=police).status_code == 422
    body = {"current_password": STRONG_PASSWORD, "new_password": "a brand new secret"}
    assert client.post("/api/v1/auth/password", json=body, headers=police).status_code == 204
    assert client.post("/api/v1/auth/password", json=body, headers=police).status_code == 401
    fresh = as_user(client, "officer.li", "a brand new secret")
    reset = client.post(
        f"/api/v1/users/{officer['id']}/password", json={"new_password": "reset by the admin"}, headers=admin
    )
    assert reset.status_code == 204
    assert client.post("/api/v1/auth/password", json={}, headers=fresh).status_code == 401
    assert _login(client, "officer.li", "reset by the admin").status_code == 200


def test_expired_forged_and_unsigned_tokens_are_refused(client, runtime, clock, admin):
    good = admin["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode(claims, "another secret that is long enough!!", algorithm="HS256")
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    unsigned = header + "." + good.split(".")[1] + "."
    for bad in (forged, unsigned, "not-a-token", good[:-2] + "xx"):
        response = client.get("/api/v1/users", headers=bearer(bad))
        assert response.status_code == 401, bad
    clock.advance(seconds=runtime.settings.token_lifetime_seconds + 1)
    assert client.get("/api/v1/users", headers=admin).status_code == 401
    refused = _audit(runtime, "auth:token-refused")
    assert len(refused) == 5 and all(e.outcome == "denied" for e in refused)


def test_denials_and_logins_are_audited_without_secrets(client, runtime, admin, officer):
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    assert client.get("/api/v1/users", headers=police).status_code == 403
    denied = _audit(runtime, "access:denied")
    assert len(denied) == 1
    assert denied[0].actor_id == officer["id"] and denied[0].actor_roles == ["police"]
    assert denied[0].request_id
    logins = _audit(runtime, "auth:login")
    assert [e.outcome for e in logins] == ["allowed", "allowed"]
    created = _audit(runtime, "user:create")
    assert created[0].targets == [officer["id"]]
    dumped = json.dumps([e.model_dump(mode="json") for e in _audit(runtime, "auth:login") + created + denied])
    assert STRONG_PASSWORD not in dumped


def test_mfa_required_for_admin_enrol_then_log_in_with_code(client, runtime, clock, bootstrap):
    runtime.settings = runtime.settings.model_copy(update={"require_mfa": True})
    response = _login(client, *bootstrap)
    assert response.status_code == 200 and response.json()["mfa_pending"] is True
    pending = bearer(response.json()["access_token"])
    # A password-only token opens MFA enrolment and nothing else.
    assert client.get("/api/v1/org-units", headers=pending).status_code == 401
    enrolment = client.post("/api/v1/auth/mfa", headers=pending)
    assert enrolment.status_code == 201
    secret = parse_qs(urlparse(enrolment.json()["otpauth_uri"]).query)["secret"][0]
    totp = pyotp.TOTP(secret)
    code = totp.at(clock.now())
    wrong = "000000" if code != "000000" else "111111"
    assert client.post("/api/v1/auth/mfa/confirm", json={"otp": wrong}, headers=pending).status_code == 422
    assert client.post("/api/v1/auth/mfa/confirm", json={"otp": code}, headers=pending).status_code == 204
    assert _login(client, *bootstrap).status_code == 401  # the code is now required
    assert _login(client, *bootstrap, otp=code).status_code == 401  # and cannot be replayed
    clock.advance(seconds=30)
    good = _login(client, *bootstrap, otp=totp.at(clock.now()))
    assert good.status_code == 200 and good.json()["mfa_pending"] is False
    assert client.get("/api/v1/org-units", headers=bearer(good.json()["access_token"])).status_code == 200


def test_mfa_not_demanded_from_data_roles(client, runtime, admin, officer):
    runtime.settings = runtime.settings.model_copy(update={"require_mfa": True})
    response = _login(client, "officer.li", STRONG_PASSWORD)
    assert response.json()["mfa_pending"] is False
    assert token(client, "officer.li", STRONG_PASSWORD)
