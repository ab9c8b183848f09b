"""Authentication through HTTP: lockout, token death, forged tokens, MFA, audit of failures."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from urllib.parse import parse_qs, urlparse

import jwt
import pyotp
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from registry.api.app import create_app
from registry.audit.models import AuditEntry
from tests.api_helpers import (
    STRONG_PASSWORD,
    approve,
    as_user,
    bearer,
    create_tree,
    create_user,
    refusal,
    second_admin,
    set_own_password,
)


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
    reasons = [e.reason for e in _audit(runtime, "auth:login") if e.outcome == "denied" and e.actor_id == officer["id"]]
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
    bodies = {json.dumps(refusal(r), sort_keys=True) for r in (unknown, wrong, locked)}
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
    version = {"If-Match": f'"{officer["version"]}"'}
    if "status" in change:  # narrowing needs no second administrator
        patched = client.patch(f"/api/v1/users/{officer['id']}", json=change, headers=admin | version)
        assert patched.status_code == 200
    else:  # a new data role or another unit waits for a second administrator's approval
        requested = client.patch(
            f"/api/v1/users/{officer['id']}", json=change, headers=second_admin(client, admin) | version
        )
        assert requested.status_code == 202
        assert client.post("/api/v1/auth/password", json={}, headers=police).status_code == 422  # nothing moved yet
        approve(client, admin, requested.json()["id"])
    assert client.post("/api/v1/auth/password", json={}, headers=police).status_code == 401


def test_disabled_account_cannot_log_in(client, admin, officer):
    version = {"If-Match": f'"{officer["version"]}"'}
    client.patch(f"/api/v1/users/{officer['id']}", json={"status": "disabled"}, headers=admin | version)
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
    # A data-role account's reset waits for a second administrator; it yields a one-time
    # password that only lets the owner choose a new one.
    reset = client.post(f"/api/v1/users/{officer['id']}/password", headers=second_admin(client, admin))
    assert reset.status_code == 202
    one_time = approve(client, admin, reset.json()["id"])["one_time_password"]
    assert client.post("/api/v1/auth/password", json={}, headers=fresh).status_code == 401
    refused = _login(client, "officer.li", one_time)
    assert refused.status_code == 401 and refused.json()["password_change_required"] is True
    set_own_password(client, "officer.li", one_time, "chosen by the owner")
    assert _login(client, "officer.li", "chosen by the owner").status_code == 200


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


@pytest.mark.parametrize("expiry", ["nan", "99999999999", 1e18, None])
def test_a_token_whose_expiry_is_not_a_whole_number_is_refused(client, runtime, admin, expiry):
    """Signed with the service's own secret, but an expiry no issued token has: a string, a
    float or none at all is refused (a "nan" would never come due)."""
    claims = jwt.decode(admin["Authorization"].removeprefix("Bearer "), options={"verify_signature": False})
    claims = {k: v for k, v in claims.items() if k != "exp"} | ({} if expiry is None else {"exp": expiry})
    made = jwt.encode(claims, runtime.token_secret, algorithm="HS256")
    assert client.get("/api/v1/users", headers=bearer(made)).status_code == 401


def test_denials_and_logins_are_audited_without_secrets(client, runtime, admin, officer):
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    assert client.get("/api/v1/users", headers=police).status_code == 403
    denied = _audit(runtime, "access:denied")
    assert len(denied) == 1
    assert denied[0].actor_id == officer["id"] and denied[0].actor_roles == ["police"]
    assert denied[0].request_id
    logins = [e for e in _audit(runtime, "auth:login") if e.actor_id == officer["id"]]
    assert [e.outcome for e in logins] == ["allowed"]
    created = _audit(runtime, "user:create")
    assert [officer["id"]] in [e.targets for e in created]
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


def test_mfa_is_demanded_from_data_roles_too(client, runtime, admin, officer):
    """In production every human account passes a second factor (issue 13), data roles included."""
    runtime.settings = runtime.settings.model_copy(update={"require_mfa": True})
    response = _login(client, "officer.li", STRONG_PASSWORD)
    assert response.json()["mfa_pending"] is True


# -- throttling and the write lock (issue 13, deliverable 6) ---------------------------------


def _app_client(runtime, **settings):
    """A second application over the same runtime with other login settings (its own
    throttle; no lifespan, so no second sequencer)."""
    runtime.settings = runtime.settings.model_copy(update=settings)
    return TestClient(create_app(runtime), raise_server_exceptions=False)


def _problem_429(response):
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.json()["status"] == 429


def test_failed_logins_per_username_answer_429_with_retry_after(client, runtime, bootstrap):
    username, password = bootstrap
    limit = runtime.settings.login_failures_per_username
    assert limit == 10
    # 5 wrong passwords lock the account; the attempts on the locked account fail too.
    assert {_login(client, username, "wrong password!").status_code for _ in range(limit)} == {401}
    _problem_429(_login(client, username, "wrong password!"))
    _problem_429(_login(client, username, password))  # refused before any hashing
    _problem_429(_login(client, username.upper(), password))  # the same name, however spelt
    # Another username from the same client is not throttled by this one's failures.
    assert _login(client, "nobody.here", "wrong password!").status_code == 401
    denied = [e for e in _audit(runtime, "auth:login") if e.outcome == "denied"]
    # The throttle's refusal is audited once per window, not once per attempt.
    assert [e.reason for e in denied].count("rate_limited") == 1
    assert len(denied) == limit + 1 + 1


def test_failed_logins_per_client_answer_429(runtime, bootstrap):
    client = _app_client(runtime, login_failures_per_client=3)
    statuses = [_login(client, f"guess.{i}", "wrong password!").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    _problem_429(_login(client, *bootstrap))
    assert [e.reason for e in _audit(runtime, "auth:login")].count("rate_limited") == 1


def test_service_credentials_are_throttled_too(runtime):
    client = _app_client(runtime, login_failures_per_username=2)
    form = {"grant_type": "client_credentials", "client_id": "verifier-x", "client_secret": "not the secret"}
    statuses = [client.post("/api/v1/auth/token", data=form).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_wrong_current_passwords_count_toward_lockout_and_are_audited(client, runtime, clock, bootstrap):
    username, password = bootstrap
    me = as_user(client, username, password)
    wrong = {"current_password": "not the password", "new_password": "a brand new secret"}
    for _ in range(runtime.settings.login_max_failures):
        response = client.post("/api/v1/auth/password", json=wrong, headers=me)
        assert response.status_code == 422 and "wrong" in response.json()["detail"]
    # Locked like five failed logins: no login, and no more guesses through the token.
    assert _login(client, username, password).status_code == 401
    right = {"current_password": password, "new_password": "a brand new secret"}
    locked = client.post("/api/v1/auth/password", json=right, headers=me)
    assert locked.status_code == 422 and "locked" in locked.json()["detail"]
    entries = _audit(runtime, "auth:password-change")
    assert [(e.outcome, e.reason) for e in entries] == [("denied", "bad_password")] * 5 + [("denied", "locked")]
    assert all(e.targets == [e.actor_id] for e in entries)
    clock.advance(seconds=runtime.settings.login_lockout_seconds + 1)  # the token has expired too
    me = as_user(client, username, password)
    assert client.post("/api/v1/auth/password", json=right, headers=me).status_code == 204
    assert _login(client, username, "a brand new secret").status_code == 200


def test_wrong_current_passwords_are_throttled(runtime, bootstrap):
    client = _app_client(runtime, login_failures_per_username=2, login_max_failures=100)
    me = as_user(client, *bootstrap)
    wrong = {"current_password": "not the password", "new_password": "a brand new secret"}
    statuses = [client.post("/api/v1/auth/password", json=wrong, headers=me).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
    reasons = [e.reason for e in _audit(runtime, "auth:password-change")]
    assert reasons == ["bad_password", "bad_password", "rate_limited"]


def _write_transaction_open(runtime) -> bool:
    """Whether any connection holds a transaction that writers would queue behind."""
    url = runtime.engine.url
    if url.get_backend_name() == "sqlite":
        probe = sqlite3.connect(url.database, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    with runtime.engine.connect() as conn:
        others = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            )
        ).scalar_one()
        return others > 0


@pytest.mark.parametrize("password_right", [False, True], ids=["bad", "good"])
def test_the_password_is_checked_before_any_write_transaction(runtime, bootstrap, password_right):
    username, password = bootstrap
    client = _app_client(runtime, login_concurrent_verifications=1)
    throttle = client.app.state.login_throttle
    answers = []
    attempt = threading.Thread(
        target=lambda: answers.append(_login(client, username, password if password_right else "wrong password!"))
    )
    with throttle.verifying():  # the only slot: the login stops just before argon2
        attempt.start()
        for _ in range(500):
            if throttle.waiting:
                break
            time.sleep(0.01)
        assert throttle.waiting == 1
        assert not _write_transaction_open(runtime)
    attempt.join(timeout=30)
    assert answers[0].status_code == (200 if password_right else 401)


def test_concurrent_guesses_beyond_the_limit_are_refused_without_waiting(runtime, bootstrap):
    client = _app_client(runtime, login_failures_per_username=2)
    throttle = client.app.state.login_throttle
    answers = []
    guesses = [
        threading.Thread(target=lambda: answers.append(_login(client, bootstrap[0], "wrong password!")))
        for _ in range(2)
    ]
    with throttle.verifying():  # both admitted guesses wait for the only slot
        for guess in guesses:
            guess.start()
        for _ in range(500):
            if throttle.waiting == 2:
                break
            time.sleep(0.01)
        assert throttle.waiting == 2
        # The limit is taken by guesses still being checked: a third is refused at once.
        _problem_429(_login(client, bootstrap[0], "wrong password!"))
    for guess in guesses:
        guess.join(timeout=30)
    assert sorted(a.status_code for a in answers) == [401, 401]
