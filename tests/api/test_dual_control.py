"""Separation of duties end to end (issue 13, finding 3), through HTTP on both engines.

An administrator who resets a police officer's password, or creates a police account,
must not be able to log in with it and read persons: resets and creates yield a one-time
password that opens nothing but the owner's choice of a password; data roles, wider scope
and further administrators wait for a second administrator; TOTP is demanded of every
human account in production; and an account that reads personal data soon after such a
change raises an alert.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from sqlmodel import Session, select

from registry.audit.models import AuditEntry
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import (
    STRONG_PASSWORD,
    approve,
    as_user,
    bearer,
    create_tree,
    create_user,
    second_admin,
    set_own_password,
)

REG = {"X-Purpose": "registration"}
OWN_CHOICE = "the officer's own choice"


@pytest.fixture
def admin(client, bootstrap):
    headers = as_user(client, *bootstrap)
    create_tree(client, headers)
    return headers


@pytest.fixture
def third(client, admin):
    """An administrator the bootstrap admin did not make alone: it may approve the bootstrap admin's requests."""
    create_user(client, admin, "third.admin", ["admin"], None)
    return as_user(client, "third.admin", STRONG_PASSWORD)


def _audit(runtime, action):
    with Session(runtime.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _login(client, username, password, **extra):
    form = {"grant_type": "password", "username": username, "password": password} | extra
    return client.post("/api/v1/auth/token", data=form)


def _me(client, headers):
    return next(u for u in client.get("/api/v1/users", headers=headers).json()["items"] if u["username"] == "admin")


def _person(client, police):
    p = SyntheticPeople(1313).person()
    made = client.post("/api/v1/persons", json={"id_number": p.id_number, "name": p.name}, headers=police | REG)
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _user(client, admin, user_id):
    return client.get(f"/api/v1/users/{user_id}", headers=admin).json()


def test_finding_3_reset_then_log_in_and_read_is_refused(client, runtime, admin, third):
    officer = create_user(client, admin, "officer.li", ["police"], "320571")
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    person_id = _person(client, police)

    # The administrator resets the officer's password: only a request, nothing changes.
    requested = client.post(f"/api/v1/users/{officer['id']}/password", headers=admin)
    assert requested.status_code == 202, requested.text
    request = requested.json()
    assert request["status"] == "pending" and request["action"] == "password_reset"
    assert request["account_id"] == officer["id"]
    assert requested.headers["location"] == f"/api/v1/account-approvals/{request['id']}"
    assert "one_time_password" not in request
    assert client.get(f"/api/v1/persons/{person_id}", headers=police | REG).status_code == 200

    # Not by the requester, nor by the admin it made alone; by a second, independent one.
    approve_path = f"/api/v1/account-approvals/{request['id']}/approve"
    for who in (admin, second_admin(client, admin)):
        refused = client.post(approve_path, headers=who)
        assert refused.status_code == 403 and "dual_control" in refused.json()["detail"]
    decided = approve(client, third, request["id"])
    assert decided["approval"]["status"] == "approved" and decided["user"]["password_change_required"] is True
    one_time = decided["one_time_password"]

    # The old token died with the reset, and the one-time password gets no token at all.
    for path in (f"/api/v1/persons/{person_id}", "/api/v1/casefiles", "/api/v1/users"):
        assert client.get(path, headers=police | REG).status_code == 401
    refused = _login(client, "officer.li", one_time)
    assert refused.status_code == 401 and refused.json()["password_change_required"] is True
    assert _login(client, "officer.li", STRONG_PASSWORD).status_code == 401
    denied = [e for e in _audit(runtime, "auth:login") if e.reason == "password_change_required"]
    assert [(e.outcome, e.targets) for e in denied] == [("denied", [officer["id"]])]

    # It serves once, for the owner's own choice; then the account logs in as usual.
    set_own_password(client, "officer.li", one_time, OWN_CHOICE)
    again = {"username": "officer.li", "one_time_password": one_time, "new_password": "yet another password"}
    assert client.post("/api/v1/auth/password/one-time", json=again).status_code == 401
    assert client.get(
        f"/api/v1/persons/{person_id}", headers=as_user(client, "officer.li", OWN_CHOICE) | REG
    ).is_success

    # Both keys are on the record, with the refusals, and no password is.
    third_id = decided["approval"]["decided_by"]
    admin_id = _me(client, admin)["id"]
    [asked] = [e for e in _audit(runtime, "account_approval:request") if request["id"] in e.targets]
    assert (asked.actor_id, asked.targets, asked.reason) == (admin_id, [request["id"], officer["id"]], "password_reset")
    [approved] = [e for e in _audit(runtime, "account_approval:approve") if request["id"] in e.targets]
    assert (approved.actor_id, approved.targets) == (third_id, [request["id"], officer["id"]])
    [reset] = _audit(runtime, "user:password-reset")
    assert (reset.actor_id, reset.targets) == (third_id, [officer["id"]])
    refusals = [e for e in _audit(runtime, "access:denied") if request["id"] in e.targets]
    assert len(refusals) == 2 and all("dual_control" in e.reason for e in refusals)
    changed = [e for e in _audit(runtime, "auth:password-change") if e.reason == "one_time_password"]
    assert changed[-1].actor_id == officer["id"]
    with Session(runtime.engine) as session:
        logged = " ".join(str(e.model_dump()) for e in session.exec(select(AuditEntry)))
    assert one_time not in logged and OWN_CHOICE not in logged


def test_creating_a_data_account_needs_a_second_administrator(client, runtime, admin, third):
    body = {"username": "officer.new", "display_name": "x", "roles": ["police"], "org_unit": "320571"}
    requested = client.post("/api/v1/users", json=body, headers=admin)
    assert requested.status_code == 202 and requested.json()["changes"]["roles"] == ["police"]
    request_id = requested.json()["id"]
    assert "officer.new" not in {u["username"] for u in client.get("/api/v1/users", headers=admin).json()["items"]}
    assert _login(client, "officer.new", STRONG_PASSWORD).status_code == 401
    pending = client.get("/api/v1/account-approvals", headers=third).json()["items"]
    assert [a["id"] for a in pending] == [request_id]

    decided = approve(client, third, request_id)
    user = decided["user"]
    assert user["username"] == "officer.new" and user["roles"] == ["police"] and user["password_change_required"]
    assert client.post(f"/api/v1/account-approvals/{request_id}/approve", headers=third).status_code == 409
    assert client.get("/api/v1/account-approvals", headers=third).json()["items"] == []
    done = client.get("/api/v1/account-approvals?status=approved", headers=third).json()["items"]
    assert request_id in {a["id"] for a in done}
    [created] = [e for e in _audit(runtime, "user:create") if e.targets == [user["id"]]]
    assert created.actor_id == decided["approval"]["decided_by"]
    # The administrators who made it still cannot use it: the one-time password is the owner's.
    assert _login(client, "officer.new", decided["one_time_password"]).status_code == 401


def test_a_request_can_be_withdrawn_and_then_not_approved(client, admin, third):
    body = {"username": "officer.new", "display_name": "x", "roles": ["corrections"], "org_unit": "320571"}
    request_id = client.post("/api/v1/users", json=body, headers=admin).json()["id"]
    withdrawn = client.post(f"/api/v1/account-approvals/{request_id}/reject", headers=admin)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "rejected"
    assert client.post(f"/api/v1/account-approvals/{request_id}/approve", headers=third).status_code == 409
    assert client.post(f"/api/v1/account-approvals/{request_id}/reject", headers=third).status_code == 409
    assert client.get(f"/api/v1/account-approvals/{request_id}", headers=third).json()["decided_by"] is not None


def test_only_the_second_administrator_is_made_alone(client, runtime, admin):
    body = {"username": "second.one", "display_name": "x", "roles": ["admin"]}
    second = client.post("/api/v1/users", json=body, headers=admin)
    assert second.status_code == 201
    # Disabling the second does not make the first the only one again.
    disabled = client.patch(
        f"/api/v1/users/{second.json()['id']}", json={"status": "disabled"}, headers=admin | {"If-Match": '"1"'}
    )
    assert disabled.status_code == 200
    third = client.post("/api/v1/users", json=body | {"username": "third.one"}, headers=admin)
    assert third.status_code == 202 and third.json()["action"] == "user_create"
    # A tree-wide admin cannot be made in a unit either, nor an admin granted by re-roling.
    auditor = create_user(client, admin, "auditor.x", ["auditor"], None)
    patched = client.patch(
        f"/api/v1/users/{auditor['id']}",
        json={"roles": ["admin"]},
        headers=admin | {"If-Match": f'"{auditor["version"]}"'},
    )
    assert patched.status_code == 202
    assert _user(client, admin, auditor["id"])["roles"] == ["auditor"]


def test_a_request_about_your_own_account_needs_another_administrator(client, admin, third):
    third_id = next(
        u["id"] for u in client.get("/api/v1/users", headers=admin).json()["items"] if u["username"] == "third.admin"
    )
    request = client.post(f"/api/v1/users/{third_id}/password", headers=admin)
    assert request.status_code == 202  # an administrator's reset, too, takes two
    refused = client.post(f"/api/v1/account-approvals/{request.json()['id']}/approve", headers=third)
    assert refused.status_code == 403 and "own account" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("start", "change", "pending"),
    [
        ("320571001", {"roles": ["corrections", "police"]}, True),  # a data role granted
        ("320571001", {"org_unit": "320571"}, True),  # moved up: wider scope
        ("320571001", {"org_unit": "320505"}, True),  # moved sideways: scope it did not have
        ("320571", {"org_unit": "320571001"}, False),  # moved down: narrower
        ("320571001", {"display_name": "Officer Li"}, False),
        ("320571001", {"status": "disabled"}, False),
        ("320571001", {"roles": ["police"], "display_name": "Officer Li"}, False),  # nothing granted
    ],
)
def test_what_needs_a_second_administrator(client, runtime, admin, third, start, change, pending):
    officer = create_user(client, admin, "officer.li", ["police"], start)
    path = f"/api/v1/users/{officer['id']}"
    response = client.patch(path, json=change, headers=admin | {"If-Match": f'"{officer["version"]}"'})
    assert response.status_code == (202 if pending else 200), response.text
    if not pending:
        if response.json() != officer:  # a change was made: its entry names the account
            entries = [e for a in ("user:update", "user:disable") for e in _audit(runtime, a)]
            assert entries and all(e.targets[0] == officer["id"] for e in entries)
        return
    assert _user(client, admin, officer["id"]) == officer  # nothing applied yet
    decided = approve(client, third, response.json()["id"])
    assert decided["one_time_password"] is None
    after = _user(client, admin, officer["id"])
    assert {key: after[key] for key in change} == change


def test_an_approval_of_a_stale_change_is_refused(client, admin, third):
    officer = create_user(client, admin, "officer.li", ["police"], "320571001")
    path = f"/api/v1/users/{officer['id']}"
    request = client.patch(path, json={"org_unit": "320571"}, headers=admin | {"If-Match": f'"{officer["version"]}"'})
    assert request.status_code == 202
    renamed = client.patch(path, json={"display_name": "Li"}, headers=admin | {"If-Match": f'"{officer["version"]}"'})
    assert renamed.status_code == 200
    stale = client.post(f"/api/v1/account-approvals/{request.json()['id']}/approve", headers=third)
    assert stale.status_code == 412
    assert _user(client, admin, officer["id"])["org_unit"] == "320571001"


def test_a_district_administrator_sees_and_approves_only_its_subtree(client, admin):
    create_user(client, admin, "district.admin", ["admin"], "320571")
    district = as_user(client, "district.admin", STRONG_PASSWORD)
    body = {"display_name": "x", "roles": ["police"]}
    elsewhere = client.post("/api/v1/users", json=body | {"username": "officer.b", "org_unit": "320505"}, headers=admin)
    inside = client.post("/api/v1/users", json=body | {"username": "officer.a", "org_unit": "320571001"}, headers=admin)
    assert elsewhere.status_code == inside.status_code == 202
    assert [a["id"] for a in client.get("/api/v1/account-approvals", headers=district).json()["items"]] == [
        inside.json()["id"]
    ]
    assert (
        client.post(f"/api/v1/account-approvals/{elsewhere.json()['id']}/approve", headers=district).status_code == 404
    )
    assert approve(client, district, inside.json()["id"])["user"]["org_unit"] == "320571001"


def test_totp_for_every_human_account_in_production(client, runtime, clock, admin, third):
    officer = create_user(client, admin, "officer.li", ["police"], "320571")
    create_user(client, admin, "auditor.x", ["auditor"], None)
    svc = client.post(
        "/api/v1/service-accounts",
        json={"name": "school-svc", "roles": ["verifier"], "org_unit": "320571"},
        headers=admin,
    ).json()
    runtime.settings = runtime.settings.model_copy(update={"require_mfa": True})
    for username in ("officer.li", "auditor.x"):
        response = _login(client, username, STRONG_PASSWORD)
        assert response.status_code == 200 and response.json()["mfa_pending"] is True
        assert client.get("/api/v1/casefiles", headers=bearer(response.json()["access_token"]) | REG).status_code == 401
    form = {"grant_type": "client_credentials", "client_id": svc["client_id"], "client_secret": svc["client_secret"]}
    assert client.post("/api/v1/auth/token", data=form).json()["mfa_pending"] is False

    # The officer enrols; then a reset alone lets nobody in without the officer's second factor.
    pending = bearer(_login(client, "officer.li", STRONG_PASSWORD).json()["access_token"])
    uri = client.post("/api/v1/auth/mfa", headers=pending).json()["otpauth_uri"]
    totp = pyotp.TOTP(parse_qs(urlparse(uri).query)["secret"][0])
    assert (
        client.post("/api/v1/auth/mfa/confirm", json={"otp": totp.at(clock.now())}, headers=pending).status_code == 204
    )
    request = client.post(f"/api/v1/users/{officer['id']}/password", headers=admin).json()
    clock.advance(seconds=30)
    one_time = approve(client, third, request["id"])["one_time_password"]
    body = {"username": "officer.li", "one_time_password": one_time, "new_password": OWN_CHOICE}
    assert client.post("/api/v1/auth/password/one-time", json=body).status_code == 401
    clock.advance(seconds=30)
    with_code = client.post("/api/v1/auth/password/one-time", json=body | {"otp": totp.at(clock.now())})
    assert with_code.status_code == 204


def test_an_account_that_reads_soon_after_a_change_raises_an_alert(client, runtime, clock, bootstrap, admin, third):
    officer = create_user(client, admin, "officer.li", ["police"], "320571")
    auditor = create_user(client, admin, "auditor.x", ["auditor"], None)
    assert auditor["roles"] == ["auditor"]
    runtime.settings = runtime.settings.model_copy(update={"alert_account_change_hours": 1})
    clock.advance(hours=2)  # the creation is now older than the window
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    person_id = _person(client, police)
    assert client.get(f"/api/v1/persons/{person_id}", headers=police | REG).status_code == 200

    def alerts():
        found = client.get("/api/v1/audit/alerts", headers=as_user(client, "auditor.x", STRONG_PASSWORD))
        assert found.status_code == 200, found.text
        found = found.json()
        return [a for a in found if a["kind"] == "account_change_read"]

    assert alerts() == []
    # A reset, approved, and a read within the hour: an alert naming the account and the reset.
    admin = as_user(client, *bootstrap)  # the clock moved: log in again
    request = client.post(f"/api/v1/users/{officer['id']}/password", headers=admin).json()
    one_time = approve(client, as_user(client, "third.admin", STRONG_PASSWORD), request["id"])["one_time_password"]
    set_own_password(client, "officer.li", one_time, OWN_CHOICE)
    clock.advance(minutes=30)
    police = as_user(client, "officer.li", OWN_CHOICE)
    assert client.get(f"/api/v1/persons/{person_id}", headers=police | REG).status_code == 200
    [alert] = alerts()
    [reset] = _audit(runtime, "user:password-reset")
    assert alert["actor_id"] == officer["id"] and alert["count"] == 1 and alert["entry_ids"][0] == reset.id
    # A wider window (the setting) takes in the read after the creation as well.
    runtime.settings = runtime.settings.model_copy(update={"alert_account_change_hours": 24})
    assert sorted((a["entry_ids"][0], a["count"]) for a in alerts())[-1] == (reset.id, 1)
    assert len(alerts()) == 2
