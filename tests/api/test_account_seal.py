"""Finding C (issue 13): someone with the database file, or the service's PostgreSQL role,
edits an account's security columns and gets powers nobody granted. Each sealed column,
changed in the database directly, must make both a login and the use of a token issued
before refused (401) and audited as an integrity failure naming the account.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.access import passwords
from registry.access.models import UserAccount
from registry.accounts import seal
from registry.audit.models import AuditEntry
from registry.crypto.keyring import Keyring, KeyStatus, record_suite
from registry.crypto.providers import create_provider
from registry.crypto.suites import Suite
from registry.db import create_engine, migrate, transaction
from registry.maintenance import RotationTarget, rotation_work
from registry.runtime import open_runtime
from tests.api_helpers import STRONG_PASSWORD, as_user, bearer, create_tree, create_user

REG = {"X-Purpose": "registration"}
ATTACKER_PASSWORD = "the attacker's own password"

# What an attacker writes into each sealed column of a police officer's row. `status` and
# `token_version` need a history first (their own tests below).
TAMPERED = {
    "kind": lambda account: "service",
    "username": lambda account: "officer.renamed",
    "roles": lambda account: ["police", "social_worker"],
    "org_unit_code": lambda account: "320505",
    "password_hash": lambda account: passwords.hash_password(ATTACKER_PASSWORD),
    "client_id": lambda account: "svc_planted",
    "totp_secret_wrapped": lambda account: b"\x00" * 48,
    "totp_enabled": lambda account: True,
    "password_change_required": lambda account: True,
    "created_by": lambda account: uuid.UUID(int=7),
    "makers": lambda account: [],  # it was made by two administrators: now by nobody
    "sex": lambda account: "female",  # the correction-team rule reads it
    "totp_last_step": lambda account: 1,
}


@pytest.fixture
def admin(client, bootstrap):
    headers = as_user(client, *bootstrap)
    create_tree(client, headers)
    return headers


@pytest.fixture
def officer(client, admin):
    return create_user(client, admin, "officer.li", ["police"], "320571")


def _tamper(runtime, account_id, **values):
    """As someone with the database would: a plain UPDATE, no service code involved."""
    table = UserAccount.__table__
    with runtime.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == uuid.UUID(account_id)).values(**values))


def _entries(runtime, action):
    with Session(runtime.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _integrity_failures(runtime, account_id):
    return [
        e
        for e in _entries(runtime, "integrity:failure")
        if e.targets == [account_id] and e.reason == "account_seal_mismatch"
    ]


def _login(client, username, password):
    form = {"grant_type": "password", "username": username, "password": password}
    return client.post("/api/v1/auth/token", data=form)


def _account(runtime, account_id):
    with Session(runtime.engine) as session:
        return session.get(UserAccount, uuid.UUID(account_id))


def test_every_sealed_column_is_tampered_with_below():
    assert set(TAMPERED) | {"status", "token_version"} == set(seal.SEALED)


@pytest.mark.parametrize("column", sorted(TAMPERED))
def test_a_column_changed_in_the_database_refuses_login_and_tokens(client, runtime, officer, column):
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    assert client.get("/api/v1/casefiles", headers=police | REG).status_code == 200
    _tamper(runtime, officer["id"], **{column: TAMPERED[column](officer)})

    assert client.get("/api/v1/casefiles", headers=police | REG).status_code == 401
    assert len(_integrity_failures(runtime, officer["id"])) == 1
    username = "officer.renamed" if column == "username" else "officer.li"
    password = ATTACKER_PASSWORD if column == "password_hash" else STRONG_PASSWORD
    assert _login(client, username, password).status_code == 401
    if column != "kind":  # a "service" is not found by a password login at all
        assert len(_integrity_failures(runtime, officer["id"])) == 2
        refused = [e for e in _entries(runtime, "auth:login") if e.reason == "account_seal_mismatch"]
        assert [e.outcome for e in refused] == ["denied"]


def test_an_account_disabled_and_reactivated_in_the_database_stays_out(client, runtime, admin, officer):
    disabled = client.patch(
        f"/api/v1/users/{officer['id']}", json={"status": "disabled"}, headers=admin | {"If-Match": '"1"'}
    )
    assert disabled.status_code == 200
    assert _login(client, "officer.li", STRONG_PASSWORD).status_code == 401
    _tamper(runtime, officer["id"], status="active")
    assert _login(client, "officer.li", STRONG_PASSWORD).status_code == 401
    assert _integrity_failures(runtime, officer["id"])


def test_a_revoked_token_revived_in_the_database_stays_dead(client, runtime, officer):
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    revoked_at = _account(runtime, officer["id"]).token_version
    body = {"current_password": STRONG_PASSWORD, "new_password": "a password of the officer's"}
    assert client.post("/api/v1/auth/password", json=body, headers=police).status_code == 204
    assert client.get("/api/v1/casefiles", headers=police | REG).status_code == 401
    _tamper(runtime, officer["id"], token_version=revoked_at)
    assert client.get("/api/v1/casefiles", headers=police | REG).status_code == 401
    assert _integrity_failures(runtime, officer["id"])


def test_every_writer_seals_what_it_writes(client, runtime, clock, admin, officer):
    """Create, re-role, move, reset, one-time password, own password, MFA, unlock, disable:
    afterwards every account's seal verifies (a writer that forgot would break it)."""
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    body = {"current_password": STRONG_PASSWORD, "new_password": "another password of mine"}
    assert client.post("/api/v1/auth/password", json=body, headers=police).status_code == 204
    police = as_user(client, "officer.li", "another password of mine")
    assert client.post("/api/v1/auth/mfa", headers=police).status_code == 201
    auditor = create_user(client, admin, "auditor.x", ["auditor"], None)
    moved = client.patch(
        f"/api/v1/users/{auditor['id']}", json={"display_name": "A"}, headers=admin | {"If-Match": '"1"'}
    )
    assert moved.status_code == 200
    assert client.post(f"/api/v1/users/{auditor['id']}/password", headers=admin).status_code == 200
    assert client.post(f"/api/v1/users/{auditor['id']}/unlock", headers=admin).status_code == 200
    svc = {"name": "school-svc", "roles": ["verifier"], "org_unit": "320571"}
    assert client.post("/api/v1/service-accounts", json=svc, headers=admin).status_code == 201
    with Session(runtime.engine) as session:
        accounts = list(session.exec(select(UserAccount)))
        assert len(accounts) == 5
        assert seal.broken_seals(session, runtime.keyring, accounts) == []


def test_accounts_are_sealed_once_only(settings, clock):
    """An upgrade: accounts from before migration 0018 have no seal. The first start seals
    them and says so in the audit log; after that, an unsealed account is refused, never sealed."""
    engine = create_engine(settings.resolved_database_url)
    migrate(engine)  # the test database is migrated already; as `registry init` would
    settings.data_dir.mkdir(mode=0o700, parents=True)
    provider = create_provider("file", data_dir=settings.data_dir, environ={})
    keyring = Keyring(provider, Suite.AES256GCM, clock, index_bits=16)
    with transaction(engine) as session:
        record_suite(session, clock, suite=Suite.AES256GCM, index_bits=16)
        keyring.add_index_root(session, status=KeyStatus.ACTIVE)
    now = clock.now()
    old = {"kind": "human", "display_name": "x", "roles": ["admin"], "status": "active", "created_at": now}
    old |= {"updated_at": now, "failed_logins": 0, "token_version": 1, "totp_enabled": False, "version": 1}
    table = UserAccount.__table__
    ids = [uuid.uuid4(), uuid.uuid4()]
    with engine.begin() as conn:
        conn.execute(sa.insert(table).values(id=ids[0], username="old.admin", **old))
    seal.use(engine, keyring)
    assert seal.initialise_once(engine, keyring, clock) == 1
    assert seal.initialise_once(engine, keyring, clock) == 0
    with engine.begin() as conn:  # planted after the window closed
        conn.execute(sa.insert(table).values(id=ids[1], username="planted.admin", **old))
    assert seal.initialise_once(engine, keyring, clock) == 0
    with Session(engine) as session:
        accounts = {a.username: a for a in session.exec(select(UserAccount))}
        assert seal.broken_seals(session, keyring, accounts.values()) == [str(ids[1])]
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.reason == seal.SEALS_INITIALISED)).all()
        assert entry.targets == [str(ids[0])]
    engine.dispose()


def test_a_restart_does_not_seal_an_account_whose_seal_was_removed(client, runtime, settings, clock, officer):
    _tamper(runtime, officer["id"], security_seal=None, seal_version=None)
    assert _login(client, "officer.li", STRONG_PASSWORD).status_code == 401
    again = open_runtime(settings, clock=clock)
    try:
        assert _login(client, "officer.li", STRONG_PASSWORD).status_code == 401
        assert _account(runtime, officer["id"]).security_seal is None
    finally:
        again.engine.dispose()


def test_an_index_rotation_reseals_accounts_but_never_a_broken_one(client, runtime, bootstrap, officer):
    _tamper(runtime, officer["id"], roles=["police", "social_worker"])
    assert rotation_work(runtime, RotationTarget.INDEX)(lambda done, total: None) >= 0
    with Session(runtime.engine) as session:
        roots = runtime.keyring.index_roots(session)
        assert [(r.version, r.status) for r in roots] == [(2, "active")]
        accounts = list(session.exec(select(UserAccount)))
        assert {a.seal_version for a in accounts} == {1, 2}  # the broken one was not resealed
        assert seal.broken_seals(session, runtime.keyring, accounts) == [officer["id"]]
    assert _login(client, *bootstrap).status_code == 200
    assert _login(client, "officer.li", STRONG_PASSWORD).status_code == 401
    headers = bearer(_login(client, *bootstrap).json()["access_token"])
    assert client.get("/api/v1/users", headers=headers).status_code == 200


def test_an_integrity_failure_reaches_the_auditors_alerts(client, runtime, admin, officer):
    create_user(client, admin, "auditor.q", ["auditor"], None)
    auditor = as_user(client, "auditor.q", STRONG_PASSWORD)
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    _tamper(runtime, officer["id"], roles=["police", "social_worker"])
    assert client.get("/api/v1/casefiles", headers=police | REG).status_code == 401
    alerts = client.get("/api/v1/audit/alerts", headers=auditor).json()["items"]
    failures = [e.id for e in _integrity_failures(runtime, officer["id"])]
    assert [a["entry_ids"] for a in alerts if a["kind"] == "integrity"] == [failures]


def test_deleting_the_sealing_entry_does_not_reopen_the_window(settings, clock):
    """The entry that closes the once-only window could be deleted by someone with the
    owner's login; any account already carrying a seal closes it as well."""
    engine = create_engine(settings.resolved_database_url)
    migrate(engine)
    settings.data_dir.mkdir(mode=0o700, parents=True)
    provider = create_provider("file", data_dir=settings.data_dir, environ={})
    keyring = Keyring(provider, Suite.AES256GCM, clock, index_bits=16)
    with transaction(engine) as session:
        record_suite(session, clock, suite=Suite.AES256GCM, index_bits=16)
        keyring.add_index_root(session, status=KeyStatus.ACTIVE)
    seal.use(engine, keyring)
    now = clock.now()
    old = {"kind": "human", "display_name": "x", "roles": ["admin"], "status": "active", "created_at": now}
    old |= {"updated_at": now, "failed_logins": 0, "token_version": 1, "totp_enabled": False, "version": 1}
    with transaction(engine) as session:  # written by the service: sealed as it is written
        session.add(UserAccount(username="real.admin", **old))
    planted = uuid.uuid4()
    with engine.begin() as conn:  # no entry in the log (never written, or deleted), a row planted
        conn.execute(sa.insert(UserAccount.__table__).values(id=planted, username="planted.admin", **old))
    assert seal.initialise_once(engine, keyring, clock) == 0
    with Session(engine) as session:
        accounts = list(session.exec(select(UserAccount)))
        assert seal.broken_seals(session, keyring, accounts) == [str(planted)]
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.reason == seal.SEALS_INITIALISED)).all()
        assert entry.targets == []
    engine.dispose()
