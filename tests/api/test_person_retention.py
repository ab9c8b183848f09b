"""Retention of identities and legal holds over persons and residence records (issue 14,
Deliver 5; PIPL Art. 47: personal information is deleted once its purpose is achieved).

Through HTTP on both engines: a departed tenant's registration is erased 5 years on and
their identity with it, once nothing of theirs is live; a landlord named by a dwelling is
kept; an identity that never had a record goes after `person_unlinked_days`; a hold on the
person, or on one of their records, keeps both."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from registry.audit.models import AuditEntry
from registry.people.synthetic import SyntheticPeople
from registry.residence.models import Permit
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "civil.a", ["civil_affairs"], "320571")
    create_user(client, admin, "secadmin.x", ["security_admin"], None)
    names = ("police.a", "civil.a", "secadmin.x")
    heads = {name: as_user(client, name, STRONG_PASSWORD) for name in names}
    people = SyntheticPeople(47)

    def person(p) -> str:
        made = client.post(
            "/api/v1/persons", json={"id_number": p.id_number, "name": p.name}, headers=heads["police.a"] | REG
        )
        assert made.status_code == 201, made.text
        return made.json()["id"]

    landlord, tenant = people.person(), people.person()
    dwelling = client.post(
        "/api/v1/dwellings",
        json={
            "org_unit": "320571001",
            "address": "测试路9号202室",
            "kind": "rental",
            "landlord_person_id": person(landlord),
            "pledge_signed_on": "2025-12-01",
        },
        headers=heads["police.a"] | REG,
    )
    assert dwelling.status_code == 201, dwelling.text
    tenant_id = person(tenant)
    registered = client.post(
        "/api/v1/residence-registrations",
        json={
            "person_id": tenant_id,
            "dwelling_id": dwelling.json()["id"],
            "arrived_on": "2025-12-20",
            "registered_on": "2025-12-22",
            "basis": "study",
        },
        headers=heads["police.a"] | REG,
    )
    assert registered.status_code == 201, registered.text
    departed = client.post(
        f"/api/v1/residence-registrations/{registered.json()['id']}/depart",
        json={"departed_on": "2026-01-02"},
        headers=heads["police.a"] | REG,
    )
    assert departed.status_code == 200, departed.text

    def relogin() -> None:
        for name in names:
            heads[name].update(as_user(client, name, STRONG_PASSWORD))

    return {
        "heads": heads,
        "people": people,
        "person": person,
        "relogin": relogin,
        "tenant": tenant,
        "tenant_id": tenant_id,
        "landlord_id": dwelling.json()["landlord_person_id"],
        "registration_id": registered.json()["id"],
        "dwelling_id": dwelling.json()["id"],
    }


def _run(client, runtime, world) -> None:
    world["relogin"]()
    started = client.post("/api/v1/retention/runs", headers=world["heads"]["secadmin.x"])
    assert started.status_code == 202, started.text
    runtime.jobs.wait(uuid.UUID(started.json()["job_id"]), timeout=60)
    job = client.get(f"/api/v1/jobs/{started.json()['job_id']}", headers=world["heads"]["secadmin.x"]).json()
    assert job["status"] == "done", job


def _identity(client, world, person_id: str) -> int:
    return client.get(f"/api/v1/persons/{person_id}", headers=world["heads"]["police.a"] | REG).status_code


def _registration(client, world) -> dict:
    path = f"/api/v1/residence-registrations/{world['registration_id']}"
    return client.get(path, headers=world["heads"]["police.a"] | REG).json()


def _keys(runtime, owner: str) -> int:
    with runtime.engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT count(*) FROM data_key WHERE owner_id = '{owner}'").scalar()


def _hold(client, world, record_id: str, *, on: bool) -> None:
    method = client.put if on else client.delete
    assert method(f"/api/v1/holds/{record_id}", headers=world["heads"]["secadmin.x"]).status_code == 204


def test_identity_is_erased_with_the_last_record_pipl_art_47(client, runtime, world, clock):
    clock.advance(days=365 * 5 + 5)  # departed 2026-01-02: the registration is due
    _run(client, runtime, world)
    assert _registration(client, world)["status"] == "departed"
    assert _identity(client, world, world["tenant_id"]) == 410
    assert _keys(runtime, world["tenant_id"]) == 0  # every compartment shredded
    found = client.post(
        "/api/v1/persons/search",
        json={"id_number": world["tenant"].id_number},
        headers=world["heads"]["police.a"] | REG,
    )
    assert found.status_code == 200 and found.json()["items"] == []  # the blind index went too
    with runtime.engine.connect() as conn:
        entries = conn.execute(
            sa.select(AuditEntry.targets, AuditEntry.reason)
            .where(AuditEntry.action == "person:erase")
            .order_by(AuditEntry.id)
        ).all()
    # One entry each, for the tenant and for the landlord, whose only tenant it was.
    erased = sorted((tuple(targets), reason) for targets, reason in entries)
    assert erased == sorted([((world["tenant_id"],), "retention"), ((world["landlord_id"],), "retention")])


def test_a_held_person_keeps_identity_and_records_until_lifted(client, runtime, world, clock):
    _hold(client, world, world["tenant_id"], on=True)
    clock.advance(days=365 * 5 + 5)
    _run(client, runtime, world)
    assert _identity(client, world, world["tenant_id"]) == 200
    assert _registration(client, world)["basis"] == "study"  # not erased: held through its person
    refused = client.post(
        f"/api/v1/persons/{world['tenant_id']}/erasure",
        json={"reason": "retention_expired"},
        headers=world["heads"]["secadmin.x"],
    )
    assert refused.status_code == 409  # an explicit erasure respects the hold as well
    _hold(client, world, world["tenant_id"], on=False)
    _run(client, runtime, world)  # the hold paused actions, not dates: all due at once
    assert _identity(client, world, world["tenant_id"]) == 410


def test_a_held_registration_keeps_itself_and_its_person(client, runtime, world, clock):
    _hold(client, world, world["registration_id"], on=True)
    clock.advance(days=365 * 5 + 5)
    _run(client, runtime, world)
    assert _identity(client, world, world["tenant_id"]) == 200
    assert _keys(runtime, world["tenant_id"]) > 0
    refused = client.post(
        f"/api/v1/persons/{world['tenant_id']}/erasure",
        json={"reason": "retention_expired"},
        headers=world["heads"]["secadmin.x"],
    )
    assert refused.status_code == 409


def test_an_identity_without_records_goes_after_the_set_days(client, runtime, world, clock):
    lone = world["person"](world["people"].person())
    clock.advance(days=10)
    _run(client, runtime, world)
    assert _identity(client, world, lone) == 200
    clock.advance(days=21)  # 31 days after it was registered (default: 30)
    _run(client, runtime, world)
    assert _identity(client, world, lone) == 410
    assert _identity(client, world, world["tenant_id"]) == 200  # departed only 31 days ago: kept


def test_a_hold_on_an_unknown_or_erased_record_is_404(client, runtime, world, clock):
    unknown = str(uuid.uuid4())
    assert client.put(f"/api/v1/holds/{unknown}", headers=world["heads"]["secadmin.x"]).status_code == 404
    assert client.put(f"/api/v1/holds/{world['landlord_id']}", headers=world["heads"]["police.a"]).status_code == 403


def test_a_refused_application_is_erased_and_no_longer_keeps_the_identity(client, runtime, world, clock):
    """A rejected permit application has a date of its own (`rejected_on`) from which it is
    kept as long as a cancelled permit; before, it was kept forever, and the identity with it."""
    applicant = world["person"](world["people"].person())
    police, civil = world["heads"]["police.a"] | REG, world["heads"]["civil.a"] | REG
    registration = client.post(
        "/api/v1/residence-registrations",
        json={
            "person_id": applicant,
            "dwelling_id": world["dwelling_id"],
            "arrived_on": "2025-06-01",
            "registered_on": "2025-06-01",
            "basis": "study",
        },
        headers=police,
    ).json()
    applied = client.post(
        "/api/v1/residence-permits",
        json={"person_id": applicant, "registration_id": registration["id"], "basis": "study"},
        headers=civil,
    )
    assert applied.status_code == 201, applied.text
    path = f"/api/v1/residence-permits/{applied.json()['id']}"
    refused = client.post(f"{path}/reject", json={"reason": "materials not provided"}, headers=police)
    assert refused.status_code == 200, refused.text
    assert refused.json()["rejected_on"] == "2026-01-05" and refused.json()["cancelled_on"] is None
    departed = client.post(
        f"/api/v1/residence-registrations/{registration['id']}/depart",
        json={"departed_on": "2026-01-05"},
        headers=police,
    )
    assert departed.status_code == 200, departed.text
    clock.advance(days=365 * 5 + 3)
    _run(client, runtime, world)
    assert _identity(client, world, applicant) == 410
    with runtime.engine.connect() as conn:
        erased_at = conn.execute(
            sa.select(Permit.erased_at).where(Permit.id == uuid.UUID(applied.json()["id"]))
        ).scalar_one()
    assert erased_at is not None


def test_an_explicit_erasure_is_refused_while_records_live(client, runtime, world):
    """The registration of the fixture is departed but not yet erased: the identity is still
    what it relies on, so a request to erase it now is a 409, on the record."""
    refused = client.post(
        f"/api/v1/persons/{world['tenant_id']}/erasure",
        json={"reason": "data_subject_request"},
        headers=world["heads"]["secadmin.x"],
    )
    assert refused.status_code == 409 and "records_live" in refused.json()["detail"]
    assert _identity(client, world, world["tenant_id"]) == 200
    with runtime.engine.connect() as conn:
        entry = conn.execute(
            sa.select(AuditEntry.outcome, AuditEntry.targets)
            .where(AuditEntry.action == "person:erase")
            .order_by(AuditEntry.id.desc())
        ).first()
    assert tuple(entry) == ("denied", [world["tenant_id"]])


def test_a_bare_landlord_link_keeps_no_identity(client, runtime, world, clock):
    """Any unit can name a person landlord by exact match: that alone must not keep their
    identity forever. A landlord stays only while someone's registration at the dwelling does."""
    clock.advance(days=40)  # past the unlinked period, and the tenant's registration is kept
    _run(client, runtime, world)
    assert _identity(client, world, world["landlord_id"]) == 200
    clock.advance(days=365 * 5)  # the only tenant's registration is erased
    _run(client, runtime, world)
    assert _identity(client, world, world["tenant_id"]) == 410
    assert _identity(client, world, world["landlord_id"]) == 410


def test_a_back_dated_registration_says_so_in_its_entry(client, runtime, world):
    """`registered_on` may go back for records taken over from paper (DOMAIN.md), and the
    six months of 居住证暂行条例 Art. 2 count from it: the entry marks it for review."""
    with runtime.engine.connect() as conn:
        reasons = conn.execute(
            sa.select(AuditEntry.reason, AuditEntry.targets).where(AuditEntry.action == "registration:create")
        ).all()
    assert [(reason, targets[0]) for reason, targets in reasons] == [("backdated", world["registration_id"])]
