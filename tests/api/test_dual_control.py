"""Separation of duties end to end (issue 13, finding 3), through HTTP on both engines.

An administrator who resets a police officer's password, or creates a police account,
must not be able to log in with it and read persons: resets and creates yield a one-time
password that opens nothing but the owner's choice of a password; data roles, wider scope
and further administrators wait for a second administrator; TOTP is demanded of every
human account in production; and an account that reads personal data soon after such a
change raises an alert.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.access import passwords
from registry.access.models import AccountApproval, UserAccount
from registry.access.principal import SYSTEM_ACCOUNT_ID
from registry.accounts.schemas import UserCreate
from registry.accounts.users_console import create_founding_admin_at_console, founding_ceremony_open
from registry.audit.models import AuditEntry
from registry.errors import Forbidden
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import (
    SECOND_ADMIN,
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
def second(client, admin):
    """The founding second administrator (made at the console, its owner chose its password):
    neither it nor the bootstrap admin is a maker of the other, so they are two keys."""
    return second_admin(client, admin)


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


def test_finding_3_reset_then_log_in_and_read_is_refused(client, runtime, admin, second):
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

    # Not by the requester, nor by an administrator whose creation it approved (it had that
    # one's one-time password); by a second, independent one.
    create_user(client, admin, "made.admin", ["admin"], None)
    approve_path = f"/api/v1/account-approvals/{request['id']}/approve"
    for who in (admin, as_user(client, "made.admin", STRONG_PASSWORD)):
        refused = client.post(approve_path, headers=who)
        assert refused.status_code == 403 and "dual_control" in refused.json()["detail"]
    decided = approve(client, second, request["id"])
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
    second_id = decided["approval"]["decided_by"]
    admin_id = _me(client, admin)["id"]
    [asked] = [e for e in _audit(runtime, "account_approval:request") if request["id"] in e.targets]
    assert (asked.actor_id, asked.targets, asked.reason) == (admin_id, [request["id"], officer["id"]], "password_reset")
    [approved] = [e for e in _audit(runtime, "account_approval:approve") if request["id"] in e.targets]
    assert (approved.actor_id, approved.targets) == (second_id, [request["id"], officer["id"]])
    [reset] = _audit(runtime, "user:password-reset")
    assert (reset.actor_id, reset.targets) == (second_id, [officer["id"]])
    refusals = [e for e in _audit(runtime, "access:denied") if request["id"] in e.targets]
    assert len(refusals) == 2 and all("dual_control" in e.reason for e in refusals)
    changed = [e for e in _audit(runtime, "auth:password-change") if e.reason == "one_time_password"]
    assert changed[-1].actor_id == officer["id"]
    with Session(runtime.engine) as session:
        logged = " ".join(str(e.model_dump()) for e in session.exec(select(AuditEntry)))
    assert one_time not in logged and OWN_CHOICE not in logged


def test_creating_a_data_account_needs_a_second_administrator(client, runtime, admin, second):
    body = {"username": "officer.new", "display_name": "x", "roles": ["police"], "org_unit": "320571"}
    requested = client.post("/api/v1/users", json=body, headers=admin)
    assert requested.status_code == 202 and requested.json()["changes"]["roles"] == ["police"]
    request_id = requested.json()["id"]
    assert "officer.new" not in {u["username"] for u in client.get("/api/v1/users", headers=admin).json()["items"]}
    assert _login(client, "officer.new", STRONG_PASSWORD).status_code == 401
    pending = client.get("/api/v1/account-approvals", headers=second).json()["items"]
    assert [a["id"] for a in pending] == [request_id]

    decided = approve(client, second, request_id)
    user = decided["user"]
    assert user["username"] == "officer.new" and user["roles"] == ["police"] and user["password_change_required"]
    assert client.post(f"/api/v1/account-approvals/{request_id}/approve", headers=second).status_code == 409
    assert client.get("/api/v1/account-approvals", headers=second).json()["items"] == []
    done = client.get("/api/v1/account-approvals?status=approved", headers=second).json()["items"]
    assert request_id in {a["id"] for a in done}
    [created] = [e for e in _audit(runtime, "user:create") if e.targets == [user["id"]]]
    assert created.actor_id == decided["approval"]["decided_by"]
    # The administrators who made it still cannot use it: the one-time password is the owner's.
    assert _login(client, "officer.new", decided["one_time_password"]).status_code == 401


def test_a_request_can_be_withdrawn_and_then_not_approved(client, admin, second):
    body = {"username": "officer.new", "display_name": "x", "roles": ["corrections"], "org_unit": "320571"}
    request_id = client.post("/api/v1/users", json=body, headers=admin).json()["id"]
    withdrawn = client.post(f"/api/v1/account-approvals/{request_id}/reject", headers=admin)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "rejected"
    assert client.post(f"/api/v1/account-approvals/{request_id}/approve", headers=second).status_code == 409
    assert client.post(f"/api/v1/account-approvals/{request_id}/reject", headers=second).status_code == 409
    assert client.get(f"/api/v1/account-approvals/{request_id}", headers=second).json()["decided_by"] is not None


def test_only_the_second_administrator_is_made_alone(client, runtime, admin):
    body = {"username": "second.one", "display_name": "x", "roles": ["admin"]}
    second = client.post("/api/v1/users", json=body, headers=admin)
    assert second.status_code == 201
    # Disabling or demoting an administrator takes two administrators.
    second_path = f"/api/v1/users/{second.json()['id']}"
    for change in ({"status": "disabled"}, {"roles": ["auditor"]}):
        taken_away = client.patch(second_path, json=change, headers=admin | {"If-Match": '"1"'})
        assert taken_away.status_code == 202 and taken_away.json()["changes"] == change
    # And the door closed for good: even with the second gone (as an approved demotion
    # would leave it), the first administrator is not "the only one" again.
    with Session(runtime.engine) as session:
        gone = session.get(UserAccount, uuid.UUID(second.json()["id"]))
        gone.roles = ["auditor"]
        session.commit()
    third_one = client.post("/api/v1/users", json=body | {"username": "third.one"}, headers=admin)
    assert third_one.status_code == 202 and third_one.json()["action"] == "user_create"
    # A tree-wide admin cannot be made in a unit either, nor an admin granted by re-roling.
    auditor = create_user(client, admin, "auditor.x", ["auditor"], None)
    patched = client.patch(
        f"/api/v1/users/{auditor['id']}",
        json={"roles": ["admin"]},
        headers=admin | {"If-Match": f'"{auditor["version"]}"'},
    )
    assert patched.status_code == 202
    assert _user(client, admin, auditor["id"])["roles"] == ["auditor"]


def test_a_request_about_your_own_account_needs_another_administrator(client, admin, second):
    second_id = next(
        u["id"] for u in client.get("/api/v1/users", headers=admin).json()["items"] if u["username"] == SECOND_ADMIN
    )
    request = client.post(f"/api/v1/users/{second_id}/password", headers=admin)
    assert request.status_code == 202  # an administrator's reset, too, takes two
    refused = client.post(f"/api/v1/account-approvals/{request.json()['id']}/approve", headers=second)
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
def test_what_needs_a_second_administrator(client, runtime, admin, second, start, change, pending):
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
    decided = approve(client, second, response.json()["id"])
    # New power, new credentials, through the approver: the old password opens nothing.
    assert decided["one_time_password"] and decided["user"]["password_change_required"] is True
    assert _login(client, "officer.li", STRONG_PASSWORD).status_code == 401
    after = _user(client, admin, officer["id"])
    assert {key: after[key] for key in change} == change


def test_an_approval_of_a_stale_change_is_refused(client, admin, second):
    officer = create_user(client, admin, "officer.li", ["police"], "320571001")
    path = f"/api/v1/users/{officer['id']}"
    request = client.patch(path, json={"org_unit": "320571"}, headers=admin | {"If-Match": f'"{officer["version"]}"'})
    assert request.status_code == 202
    renamed = client.patch(path, json={"display_name": "Li"}, headers=admin | {"If-Match": f'"{officer["version"]}"'})
    assert renamed.status_code == 200
    stale = client.post(f"/api/v1/account-approvals/{request.json()['id']}/approve", headers=second)
    assert stale.status_code == 412
    assert _user(client, admin, officer["id"])["org_unit"] == "320571001"


def test_a_district_administrator_sees_and_approves_only_its_subtree(client, admin):
    # Two district administrators whose one-time passwords went to different founders: keys
    # for each other (two made by the same hand would be siblings), never for the founder
    # that held each one's password.
    create_user(client, admin, "district.one", ["admin"], "320571")  # approved by `admin`
    body = {"username": "district.two", "display_name": "district.two", "roles": ["admin"], "org_unit": "320571"}
    requested = client.post("/api/v1/users", json=body, headers=admin)
    assert requested.status_code == 202, requested.text
    made = approve(client, second_admin(client, admin), requested.json()["id"])
    set_own_password(client, "district.two", made["one_time_password"])
    one, two = (as_user(client, name, STRONG_PASSWORD) for name in ("district.one", "district.two"))
    body = {"display_name": "x", "roles": ["police"]}
    elsewhere = client.post("/api/v1/users", json=body | {"username": "officer.b", "org_unit": "320505"}, headers=admin)
    inside_unit = {"org_unit": "320571001"}
    by_admin = client.post("/api/v1/users", json=body | inside_unit | {"username": "officer.c"}, headers=admin)
    inside = client.post("/api/v1/users", json=body | {"username": "officer.a", "org_unit": "320571001"}, headers=one)
    assert elsewhere.status_code == by_admin.status_code == inside.status_code == 202
    assert sorted(a["id"] for a in client.get("/api/v1/account-approvals", headers=two).json()["items"]) == sorted(
        [by_admin.json()["id"], inside.json()["id"]]
    )
    assert client.post(f"/api/v1/account-approvals/{elsewhere.json()['id']}/approve", headers=two).status_code == 404
    made_by_admin = client.post(f"/api/v1/account-approvals/{by_admin.json()['id']}/approve", headers=one)
    assert made_by_admin.status_code == 403 and "made" in made_by_admin.json()["detail"]
    assert approve(client, two, inside.json()["id"])["user"]["org_unit"] == "320571001"


def test_totp_for_every_human_account_in_production(client, runtime, clock, admin, second):
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
    one_time = approve(client, second, request["id"])["one_time_password"]
    body = {"username": "officer.li", "one_time_password": one_time, "new_password": OWN_CHOICE}
    assert client.post("/api/v1/auth/password/one-time", json=body).status_code == 401
    clock.advance(seconds=30)
    with_code = client.post("/api/v1/auth/password/one-time", json=body | {"otp": totp.at(clock.now())})
    assert with_code.status_code == 204


def test_an_account_that_reads_soon_after_a_change_raises_an_alert(client, runtime, clock, bootstrap, admin, second):
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
        found = found.json()["items"]
        return [a for a in found if a["kind"] == "account_change_read"]

    assert alerts() == []
    # A reset, approved, and a read within the hour: an alert naming the account and the reset.
    admin = as_user(client, *bootstrap)  # the clock moved: log in again
    request = client.post(f"/api/v1/users/{officer['id']}/password", headers=admin).json()
    one_time = approve(client, as_user(client, SECOND_ADMIN, STRONG_PASSWORD), request["id"])["one_time_password"]
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


# -- finding A: one administrator holding both keys ---------------------------------------


def _denied(runtime, approval_id):
    return [e for e in _audit(runtime, "access:denied") if approval_id in e.targets and "dual_control" in e.reason]


def _police_request(client, headers, username):
    body = {"username": username, "display_name": "x", "roles": ["police"], "org_unit": "320571"}
    response = client.post("/api/v1/users", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_an_administrator_made_alone_is_no_second_key_either_way(client, runtime, admin):
    # The first administrator makes the second alone over the API (still allowed), takes its
    # one-time password, chooses its password and logs in as it: one person, two accounts.
    body = {"username": "puppet.admin", "display_name": "x", "roles": ["admin"]}
    made = client.post("/api/v1/users", json=body, headers=admin)
    assert made.status_code == 201
    set_own_password(client, "puppet.admin", made.json()["one_time_password"])
    puppet = as_user(client, "puppet.admin", STRONG_PASSWORD)

    asked_by_admin = _police_request(client, admin, "officer.one")
    asked_by_puppet = _police_request(client, puppet, "officer.two")
    for who, approval_id in ((puppet, asked_by_admin), (admin, asked_by_puppet)):
        refused = client.post(f"/api/v1/account-approvals/{approval_id}/approve", headers=who)
        assert refused.status_code == 403 and "made" in refused.json()["detail"]
        assert len(_denied(runtime, approval_id)) == 1
    # Nor can the pair make a third administrator between them.
    third = client.post("/api/v1/users", json=body | {"username": "third.admin"}, headers=admin)
    assert third.status_code == 202
    assert client.post(f"/api/v1/account-approvals/{third.json()['id']}/approve", headers=puppet).status_code == 403
    assert "officer.one" not in {u["username"] for u in client.get("/api/v1/users", headers=admin).json()["items"]}

    # The documented way to two keys: the founding ceremony at the console (its owner typed
    # its password there), still open while fewer than two founding administrators exist.
    founding = second_admin(client, admin)
    assert approve(client, founding, asked_by_admin)["user"]["username"] == "officer.one"
    refused = client.post(f"/api/v1/account-approvals/{asked_by_puppet}/approve", headers=founding)
    assert refused.status_code == 200  # the puppet's maker is the bootstrap admin, not the founding one
    # The ceremony is closed now: two founding administrators exist.
    data = UserCreate(username="late.founder", display_name="x", roles=["admin"])
    with pytest.raises(Forbidden):
        create_founding_admin_at_console(runtime.engine, runtime.clock, data=data, password=STRONG_PASSWORD)
    late = [e for e in _audit(runtime, "access:denied") if e.actor_id == "00000000-0000-0000-0000-000000000000"]
    assert late and "founding" in late[-1].reason


def _admin_approved_by(client, requester, approver, name: str) -> None:  # type: ignore[no-untyped-def]
    body = {"username": name, "display_name": name, "roles": ["admin"], "org_unit": "320571"}
    requested = client.post("/api/v1/users", json=body, headers=requester)
    assert requested.status_code == 202, requested.text
    set_own_password(client, name, approve(client, approver, requested.json()["id"])["one_time_password"])


def test_whoever_got_a_reset_password_is_a_maker(client, runtime, admin, second):
    # Made apart: district.one's password went to `admin`, two's and three's to `second`.
    create_user(client, admin, "district.one", ["admin"], "320571")
    for name in ("district.two", "district.three"):
        _admin_approved_by(client, admin, second, name)
    one, two = (as_user(client, n, STRONG_PASSWORD) for n in ("district.one", "district.two"))
    three_id = next(
        u["id"] for u in client.get("/api/v1/users", headers=admin).json()["items"] if u["username"] == "district.three"
    )
    # district.one asks for district.three's reset; district.two approves and holds the
    # one-time password: it can choose district.three's password and act as it.
    request = client.post(f"/api/v1/users/{three_id}/password", headers=one).json()["id"]
    one_time = approve(client, two, request)["one_time_password"]
    set_own_password(client, "district.three", one_time, OWN_CHOICE)
    three = as_user(client, "district.three", OWN_CHOICE)
    asked = _police_request(client, three, "officer.three")
    refused = client.post(f"/api/v1/account-approvals/{asked}/approve", headers=two)
    assert refused.status_code == 403 and "made the requester" in refused.json()["detail"]
    assert _denied(runtime, asked)
    # district.one only asked for the reset and never saw the password: a key for it.
    assert approve(client, one, asked)["user"]["username"] == "officer.three"


def test_two_administrators_made_by_one_hand_are_not_two_keys(client, runtime, admin, second):
    """Siblings (re-attack of issue 13): `admin` approves two administrators and receives both
    one-time passwords; one asking and the other approving would be `admin` alone."""
    for name in ("sib.r", "sib.p"):
        _admin_approved_by(client, second, admin, name)
    r, p = (as_user(client, n, STRONG_PASSWORD) for n in ("sib.r", "sib.p"))
    asked = _police_request(client, r, "officer.mole")
    refused = client.post(f"/api/v1/account-approvals/{asked}/approve", headers=p)
    assert refused.status_code == 403 and "share a maker" in refused.json()["detail"]
    assert _denied(runtime, asked)


def test_a_request_of_the_console_system_account_is_never_approved(client, runtime, admin, second):
    # As `registry users create` recorded them before: requested by the system account.
    with Session(runtime.engine) as session:
        approval = AccountApproval(
            action="user_create",
            org_unit_code="320571",
            payload={"username": "officer.console", "display_name": "x", "roles": ["police"], "org_unit": "320571"},
            requested_by=SYSTEM_ACCOUNT_ID,
            requested_at=runtime.clock.now(),
            expires_at=runtime.clock.now() + timedelta(hours=72),
        )
        session.add(approval)
        session.commit()
        approval_id = str(approval.id)
    for who in (admin, second):
        refused = client.post(f"/api/v1/account-approvals/{approval_id}/approve", headers=who)
        assert refused.status_code == 403 and "system account" in refused.json()["detail"]
    assert len(_denied(runtime, approval_id)) == 2


# -- finding B: requests that wait forever --------------------------------------------------


def test_an_expired_request_is_refused_audited_and_listed_as_expired(client, runtime, clock, bootstrap, admin, second):
    asked = client.post(
        "/api/v1/users",
        json={"username": "officer.late", "display_name": "x", "roles": ["police"], "org_unit": "320571"},
        headers=admin,
    ).json()
    assert asked["expires_at"] is not None
    clock.advance(hours=72, seconds=1)
    admin = as_user(client, *bootstrap)
    second = as_user(client, SECOND_ADMIN, STRONG_PASSWORD)
    refused = client.post(f"/api/v1/account-approvals/{asked['id']}/approve", headers=second)
    assert refused.status_code == 409 and "expired" in refused.json()["detail"]
    [entry] = [e for e in _audit(runtime, "account_approval:approve") if asked["id"] in e.targets]
    assert entry.outcome == "denied" and "expired" in entry.reason
    assert client.get("/api/v1/account-approvals", headers=admin).json()["items"] == []
    [listed] = client.get("/api/v1/account-approvals?status=expired", headers=admin).json()["items"]
    assert listed["id"] == asked["id"] and listed["status"] == "expired"
    assert client.get(f"/api/v1/account-approvals/{asked['id']}", headers=second).json()["status"] == "expired"
    assert client.post(f"/api/v1/account-approvals/{asked['id']}/approve", headers=second).status_code == 409
    assert "officer.late" not in {u["username"] for u in client.get("/api/v1/users", headers=admin).json()["items"]}


def test_the_approval_lifetime_is_a_setting(client, runtime, clock, bootstrap, admin, second):
    runtime.settings = runtime.settings.model_copy(update={"approval_ttl_hours": 1})
    asked = _police_request(client, admin, "officer.soon")
    clock.advance(minutes=59)
    second = as_user(client, SECOND_ADMIN, STRONG_PASSWORD)  # tokens live 15 minutes
    assert approve(client, second, asked)["user"]["username"] == "officer.soon"
    late = _police_request(client, as_user(client, *bootstrap), "officer.late")
    clock.advance(minutes=61)
    second = as_user(client, SECOND_ADMIN, STRONG_PASSWORD)
    assert client.post(f"/api/v1/account-approvals/{late}/approve", headers=second).status_code == 409


# -- attacker review: one administrator alone, by demotion, chains and owned accounts ------


def _id_of(client, headers, username):
    return next(
        u["id"] for u in client.get("/api/v1/users", headers=headers).json()["items"] if u["username"] == username
    )


def _patch(client, headers, user_id, change):
    etag = client.get(f"/api/v1/users/{user_id}", headers=headers).headers["etag"]
    return client.patch(f"/api/v1/users/{user_id}", json=change, headers=headers | {"If-Match": etag})


def _plant_admin(runtime, username, makers):
    """An administrator as an approved change would leave it (written by the service: sealed)."""
    now = runtime.clock.now()
    with Session(runtime.engine) as session:
        account = UserAccount(
            kind="human",
            username=username,
            display_name="x",
            roles=["admin"],
            password_hash=passwords.hash_password(STRONG_PASSWORD),
            makers=sorted(makers),
            created_at=now,
            updated_at=now,
        )
        session.add(account)
        session.commit()
        return str(account.id)


def test_a_founding_administrator_is_not_demoted_or_disabled_alone(client, runtime, admin, second):
    second_id = _id_of(client, admin, SECOND_ADMIN)
    for change in ({"roles": ["auditor"]}, {"status": "disabled"}):
        asked = _patch(client, admin, second_id, change)
        assert asked.status_code == 202 and asked.json()["action"] == "user_update"
    assert _user(client, admin, second_id)["roles"] == ["admin"]
    assert _user(client, admin, second_id)["status"] == "active"
    # Nor is an administrator made alone: the door closed when the founding one was made.
    made = client.post(
        "/api/v1/users", json={"username": "y.puppet", "display_name": "x", "roles": ["admin"]}, headers=admin
    )
    assert made.status_code == 202


def test_a_chain_of_makers_is_no_second_key(client, runtime, admin, second):
    # W made by Y made by the bootstrap administrator (A): whoever holds A holds W.
    admin_id = _id_of(client, admin, "admin")
    y_id = _plant_admin(runtime, "y.puppet", [admin_id])
    _plant_admin(runtime, "w.puppet", [y_id])
    w = as_user(client, "w.puppet", STRONG_PASSWORD)
    asked = _police_request(client, admin, "mole")
    refused = client.post(f"/api/v1/account-approvals/{asked}/approve", headers=w)
    assert refused.status_code == 403 and "made by the requester" in refused.json()["detail"]
    # And the other way round: W asks, A approves.
    by_w = _police_request(client, w, "mole.two")
    refused = client.post(f"/api/v1/account-approvals/{by_w}/approve", headers=admin)
    assert refused.status_code == 403 and "made the requester" in refused.json()["detail"]
    assert _denied(runtime, asked) and _denied(runtime, by_w)
    assert "mole" not in {u["username"] for u in client.get("/api/v1/users", headers=admin).json()["items"]}


def test_the_founding_ceremony_is_held_once_even_after_a_demotion_or_reset(client, runtime, admin, second):
    assert not founding_ceremony_open(runtime.engine)
    second_id, admin_id = _id_of(client, admin, SECOND_ADMIN), _id_of(client, admin, "admin")
    # As an approved demotion and a reset would leave it: no longer a founding administrator.
    with Session(runtime.engine) as session:
        founder = session.get(UserAccount, uuid.UUID(second_id))
        founder.roles, founder.makers = ["auditor"], [admin_id]
        session.commit()
    assert not founding_ceremony_open(runtime.engine)
    data = UserCreate(username="founder.two", display_name="x", roles=["admin"])
    with pytest.raises(Forbidden):
        create_founding_admin_at_console(runtime.engine, runtime.clock, data=data, password=STRONG_PASSWORD)
    [refused] = [e for e in _audit(runtime, "access:denied") if "founding" in (e.reason or "")]
    assert refused.actor_id == str(SYSTEM_ACCOUNT_ID)
    assert _login(client, "founder.two", STRONG_PASSWORD).status_code == 401


def test_a_role_grant_onto_an_account_the_requester_owns_reissues_its_credentials(client, runtime, admin, second):
    made = client.post(
        "/api/v1/users", json={"username": "harmless", "display_name": "x", "roles": ["auditor"]}, headers=admin
    )
    assert made.status_code == 201  # alone: the requester holds its one-time password
    set_own_password(client, "harmless", made.json()["one_time_password"])
    user_id = made.json()["id"]
    asked = _patch(client, admin, user_id, {"roles": ["police"], "org_unit": "320571"})
    assert asked.status_code == 202
    decided = approve(client, second, asked.json()["id"])
    assert decided["user"]["roles"] == ["police"] and decided["user"]["password_change_required"] is True
    # The requester's password is worthless now; the approver's one-time password only lets
    # the owner choose one.
    assert _login(client, "harmless", STRONG_PASSWORD).status_code == 401
    assert _login(client, "harmless", decided["one_time_password"]).status_code == 401
    second_id = _id_of(client, admin, SECOND_ADMIN)
    with Session(runtime.engine) as session:
        account = session.get(UserAccount, uuid.UUID(user_id))
        assert second_id in account.makers and not account.totp_enabled and account.totp_secret_wrapped is None
    [reissued] = [e for e in _audit(runtime, "user:password-reset") if e.targets == [user_id]]
    assert reissued.actor_id == second_id and reissued.reason == "credentials_reissued_on_grant"


def test_refused_decisions_are_audited(client, runtime, admin, second):
    officer = create_user(client, admin, "officer.li", ["police"], "320571001")
    asked = _patch(client, admin, officer["id"], {"org_unit": "320571"}).json()["id"]
    assert _patch(client, admin, officer["id"], {"display_name": "Li"}).status_code == 200
    assert client.post(f"/api/v1/account-approvals/{asked}/approve", headers=second).status_code == 412
    assert client.post(f"/api/v1/account-approvals/{asked}/reject", headers=second).status_code == 200
    assert client.post(f"/api/v1/account-approvals/{asked}/approve", headers=second).status_code == 409
    admin_id = _id_of(client, admin, "admin")
    assert _patch(client, admin, admin_id, {"roles": ["auditor"]}).status_code == 422
    denied = [
        (e.action, e.targets, e.reason.split(":")[0] if e.reason else None)
        for a in ("account_approval:approve", "user:role-grant")
        for e in _audit(runtime, a)
        if e.outcome == "denied"
    ]
    assert [(a, t) for a, t, _ in denied] == [
        ("account_approval:approve", [asked, officer["id"]]),
        ("account_approval:approve", [asked, officer["id"]]),
        ("user:role-grant", [admin_id]),
    ]


def test_a_reset_of_a_changed_account_and_a_request_of_a_gone_requester_are_refused(client, runtime, admin, second):
    officer = create_user(client, admin, "officer.li", ["police"], "320571")
    reset = client.post(f"/api/v1/users/{officer['id']}/password", headers=admin).json()["id"]
    assert _patch(client, admin, officer["id"], {"display_name": "Li"}).status_code == 200
    assert client.post(f"/api/v1/account-approvals/{reset}/approve", headers=second).status_code == 412
    # The requester was disabled since it asked (as an approved disable leaves it): refused.
    asked = _police_request(client, second, "officer.new")
    with Session(runtime.engine) as session:
        requester = session.get(UserAccount, uuid.UUID(_id_of(client, admin, SECOND_ADMIN)))
        requester.status = "disabled"
        session.commit()
    refused = client.post(f"/api/v1/account-approvals/{asked}/approve", headers=admin)
    assert refused.status_code == 403 and "no longer an active administrator" in refused.json()["detail"]
    assert _denied(runtime, asked)


def test_a_request_changed_in_the_database_is_refused(client, runtime, admin, second):
    table = AccountApproval.__table__
    second_id = _id_of(client, admin, SECOND_ADMIN)
    # The requester swapped, so that the bootstrap administrator approves its own request.
    asked = _police_request(client, admin, "mole")
    with runtime.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == uuid.UUID(asked)).values(requested_by=uuid.UUID(second_id)))
    assert client.post(f"/api/v1/account-approvals/{asked}/approve", headers=admin).status_code == 409
    # A withdrawn request revived with another payload.
    revived = _police_request(client, admin, "mole.two")
    assert client.post(f"/api/v1/account-approvals/{revived}/reject", headers=admin).status_code == 200
    payload = {"username": "mole.two", "display_name": "x", "roles": ["police"], "org_unit": "320505"}
    with runtime.engine.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c.id == uuid.UUID(revived))
            .values(status="pending", decided_by=None, decided_at=None, payload=payload)
        )
    assert client.post(f"/api/v1/account-approvals/{revived}/approve", headers=second).status_code == 409
    failures = [e.targets[0] for e in _audit(runtime, "integrity:failure") if e.outcome == "denied"]
    assert failures == [asked, revived]
    names = {u["username"] for u in client.get("/api/v1/users", headers=admin).json()["items"]}
    assert not names & {"mole", "mole.two"}
