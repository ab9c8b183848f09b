"""Residence statistics through HTTP on both engines: exact counts, small-cell and
complementary suppression, permit statuses on a past day, access and validation."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from registry.audit.models import AuditEntry
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}
URL = "/api/v1/stats/residence"
BASES = ("employment", "study", "family", "business", "other")
STATUSES = ("applied", "needs_materials", "accepted", "issued", "suspended", "rejected", "cancelled")
NAMES = [
    "registrations.total",
    "registrations.timely",
    "registrations.late",
    "registrations.timely_rate",
    *(f"registrations.basis.{b}" for b in BASES),
    "permits.total",
    *(f"permits.status.{s}" for s in STATUSES),
    "permits.issue_overdue",
    "permits.endorsement_due_30d",
]
HIDDEN = None  # expected value of a suppressed cell


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    assert (
        client.post(
            "/api/v1/org-units", json={"code": "320571002", "name": "Street A2", "parent_code": "320571"}, headers=admin
        ).status_code
        == 201
    )
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "police.b", ["police"], "320505")
    create_user(client, admin, "auditor.x", ["auditor"], None)
    users = ("police.a", "police.b", "auditor.x")
    heads = {name: as_user(client, name, STRONG_PASSWORD) for name in users}
    heads["admin"] = admin
    people = SyntheticPeople(57)

    def dwelling(org_unit, who):
        response = client.post(
            "/api/v1/dwellings",
            json={"org_unit": org_unit, "address": "样本路9号", "kind": "dormitory"},
            headers=heads[who] | REG,
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def register(dwelling_id, *, arrived_on, registered_on, basis="study", who="police.a"):
        p = people.person()
        person = client.post(
            "/api/v1/persons", json={"id_number": p.id_number, "name": p.name}, headers=heads[who] | REG
        )
        assert person.status_code == 201, person.text
        body = {
            "person_id": person.json()["id"],
            "dwelling_id": dwelling_id,
            "arrived_on": arrived_on,
            "registered_on": registered_on,
            "basis": basis,
        }
        if basis == "employment":
            body |= {"employer_name": "测试科技有限公司", "employer_uscc": people.uscc()}
        response = client.post("/api/v1/residence-registrations", json=body, headers=heads[who] | REG)
        assert response.status_code == 201, response.text
        return response.json()

    def relogin():
        """After the clock moves days ahead, the old tokens have (rightly) expired."""
        for name in users:
            heads[name].update(as_user(client, name, STRONG_PASSWORD))

    return {
        "heads": heads,
        "a1": dwelling("320571001", "police.a"),
        "a2": dwelling("320571002", "police.a"),
        "b": dwelling("320505", "police.b"),
        "register": register,
        "relogin": relogin,
    }


def _stats(client, headers, org_unit, period):
    response = client.get(URL, params={"org_unit": org_unit, "period": period}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"org_unit", "period", "as_of", "cells"}
    assert body["org_unit"] == org_unit and body["period"] == period
    assert [c["name"] for c in body["cells"]] == NAMES
    for cell in body["cells"]:
        assert set(cell) == {"name", "value", "suppressed"}
        assert (cell["value"] is None) == cell["suppressed"]
        if not cell["suppressed"] and cell["name"] != "registrations.timely_rate":
            assert isinstance(cell["value"], int) and cell["value"] >= 5
    return body


def _cells(body):
    return {c["name"]: c["value"] for c in body["cells"]}


def _assert_not_recoverable(cells, total, parts):
    """No suppressed part can be had by subtraction: with the total published, the hidden
    parts are never exactly one, and never all zero."""
    hidden = [p for p in parts if cells[p] is None]
    if cells[total] is None:
        assert len(hidden) == len(parts)
        return
    assert len(hidden) != 1
    if hidden:
        assert cells[total] - sum(cells[p] for p in parts if cells[p] is not None) > 0


def _assert_protected(cells):
    _assert_not_recoverable(cells, "registrations.total", ["registrations.timely", "registrations.late"])
    _assert_not_recoverable(cells, "registrations.total", [f"registrations.basis.{b}" for b in BASES])
    _assert_not_recoverable(cells, "permits.total", [f"permits.status.{s}" for s in STATUSES])


def _expect(cells, **expected):
    for key, value in expected.items():
        assert cells[key.replace("__", ".")] == value, key


def test_registration_counts_and_suppression(client, world):
    reg, police = world["register"], world["heads"]["police.a"]
    # Street A1, December 2025: 10 on time, 6 late; 8 employment, 5 study, 3 family.
    bases = ["employment"] * 8 + ["study"] * 5 + ["family"] * 3
    for i, basis in enumerate(bases):
        if i < 10:
            reg(world["a1"], arrived_on="2025-12-01", registered_on="2025-12-03", basis=basis)
        else:
            reg(world["a1"], arrived_on="2025-11-20", registered_on="2025-12-10", basis=basis)
    # Street A1, November 2025: 6 on time, 2 late.
    for i in range(8):
        reg(world["a1"], arrived_on="2025-11-02", registered_on="2025-11-03" if i < 6 else "2025-11-30")
    # Street A2, December 2025: 2 family, on time. District B: 3.
    for _ in range(2):
        reg(world["a2"], arrived_on="2025-12-20", registered_on="2025-12-21", basis="family")
    for _ in range(3):
        reg(world["b"], arrived_on="2025-12-20", registered_on="2025-12-21", who="police.b")

    street = _stats(client, police, "320571001", "2025-12")
    assert street["as_of"] == "2025-12-31"
    cells = _cells(street)
    _expect(
        cells,
        registrations__total=16,
        registrations__timely=10,
        registrations__late=6,
        registrations__timely_rate=0.625,
        registrations__basis__employment=8,
        registrations__basis__study=5,
        # 3, 0 and 0: three hidden cells adding up to 16 - 13 = 3.
        registrations__basis__family=HIDDEN,
        registrations__basis__business=HIDDEN,
        registrations__basis__other=HIDDEN,
        permits__total=HIDDEN,
    )
    assert all(cells[f"permits.status.{s}"] is None for s in STATUSES)
    _assert_protected(cells)

    # The district adds street A2: family is 5 now, business and other are 0. Publishing
    # 8, 5 and 5 would give away the two zeros (18 - 18 = 0): complements go, smallest first,
    # until nothing can be pinned down, which here is every basis.
    district = _cells(_stats(client, police, "320571", "2025-12"))
    _expect(
        district,
        registrations__total=18,
        registrations__timely=12,
        registrations__late=6,
        registrations__timely_rate=0.6667,
    )
    assert all(district[f"registrations.basis.{b}"] is None for b in BASES)
    _assert_protected(district)

    # November: 2 late is a small cell; 6 on time would give it back from the total of 8.
    november = _cells(_stats(client, police, "320571001", "2025-11"))
    _expect(
        november,
        registrations__total=8,
        registrations__timely=HIDDEN,
        registrations__late=HIDDEN,
        registrations__timely_rate=HIDDEN,
    )
    # All 8 study: the four zeros beside it would be recovered, so study goes too.
    assert all(november[f"registrations.basis.{b}"] is None for b in BASES)
    _assert_protected(november)

    quarter = _cells(_stats(client, police, "320571", "2025-Q4"))
    _expect(quarter, registrations__total=26, registrations__timely=18, registrations__late=8)
    assert quarter["registrations.timely_rate"] == round(18 / 26, 4)
    year = _cells(_stats(client, police, "320571", "2025"))
    assert year["registrations.total"] == 26
    assert _cells(_stats(client, police, "320571", "2025-10"))["registrations.total"] is None  # 0

    # District B: 3 registrations, so the total and every part are suppressed.
    other = _cells(_stats(client, world["heads"]["police.b"], "320505", "2025-12"))
    assert all(other[name] is None for name in NAMES)


def test_permit_statuses_worklists_and_past_days(client, world, clock):
    reg, heads = world["register"], world["heads"]

    def step(permit_id, action, body=None):
        response = client.post(
            f"/api/v1/residence-permits/{permit_id}/{action}", json=body, headers=heads["police.a"] | REG
        )
        assert response.status_code == 200, response.text

    def apply():
        r = reg(world["a1"], arrived_on="2025-05-30", registered_on="2025-06-01")
        body = {"person_id": r["person_id"], "registration_id": r["id"], "basis": "study"}
        response = client.post("/api/v1/residence-permits", json=body, headers=heads["police.a"] | REG)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def stats(period, org_unit="320571"):
        return _cells(_stats(client, heads["police.a"], org_unit, period))

    # 2026-01-05: 10 issued, 5 accepted, 2 waiting for materials, 6 applied.
    first_issued = [apply() for _ in range(10)]
    accepted_early = [apply() for _ in range(5)]
    materials = [apply() for _ in range(2)]
    applied = [apply() for _ in range(6)]
    for pid in first_issued:
        step(pid, "accept")
        step(pid, "issue")
    for pid in accepted_early:
        step(pid, "accept")
    for pid in materials:
        step(pid, "request-materials", {"missing": ["photo"]})
    cells = stats("2026-01")
    _expect(
        cells,
        permits__total=23,
        permits__status__applied=6,
        permits__status__needs_materials=HIDDEN,  # 2
        permits__status__accepted=5,
        permits__status__issued=10,
        permits__status__suspended=HIDDEN,
        permits__status__rejected=HIDDEN,
        permits__status__cancelled=HIDDEN,
        permits__issue_overdue=HIDDEN,  # 0
        permits__endorsement_due_30d=HIDDEN,  # 0
    )
    _assert_protected(cells)
    assert stats("2026-01", "320571002")["permits.total"] is None  # none in street A2

    # 2026-01-25: the five accepted on the 5th are overdue (15 days); five more accepted today.
    clock.advance(days=20)
    world["relogin"]()
    for pid in applied[:5]:
        step(pid, "accept")
    step(applied[5], "reject", {"reason": "incomplete"})
    cells = stats("2026-01")
    _expect(
        cells,
        permits__total=23,
        permits__status__applied=HIDDEN,  # 0
        permits__status__accepted=10,
        permits__status__issued=10,
        permits__status__rejected=HIDDEN,  # 1
        # 5 of 10: neither the count nor the remainder is small.
        permits__issue_overdue=5,
    )
    _assert_protected(cells)

    # 2026-02-02: the overdue five are issued at last. January, looked at afterwards, is as
    # it stood on its last day; February shows today.
    clock.advance(days=8)
    world["relogin"]()
    for pid in accepted_early:
        step(pid, "issue")
    january = _stats(client, heads["police.a"], "320571", "2026-01")
    assert january["as_of"] == "2026-01-31"
    _expect(
        _cells(january),
        permits__status__accepted=10,
        permits__status__issued=10,
        permits__issue_overdue=5,
    )
    february = _stats(client, heads["police.a"], "320571", "2026-02")
    assert february["as_of"] == "2026-02-02"
    _expect(
        _cells(february),
        permits__status__accepted=5,
        permits__status__issued=15,
        permits__issue_overdue=HIDDEN,  # 0
    )

    # 2026-12-10: the first ten are in their endorsement window (anniversary 2027-01-05);
    # three are endorsed. Seven are due within 30 days; eight issued permits are not.
    clock.advance(days=311)
    world["relogin"]()
    for pid in first_issued[:3]:
        step(pid, "endorse", {})
    cells = stats("2026-12")
    _expect(cells, permits__status__issued=15, permits__endorsement_due_30d=7)

    # 2027-01-10: seven missed their anniversary and are suspended; one of the late five is
    # cancelled.
    clock.advance(days=31)
    world["relogin"]()
    step(accepted_early[0], "cancel", {"reason": "departed"})
    cells = stats("2027-01")
    _expect(
        cells,
        permits__total=23,
        permits__status__accepted=5,
        permits__status__issued=7,
        permits__status__suspended=7,
        permits__status__cancelled=HIDDEN,  # 1
        permits__status__needs_materials=HIDDEN,  # 2
        permits__status__rejected=HIDDEN,  # 1
        permits__issue_overdue=HIDDEN,  # all 5 accepted: the remainder would be 0
        permits__endorsement_due_30d=HIDDEN,  # 4
    )
    _assert_protected(cells)
    # The last quarter of 2026, rebuilt for its last day: nothing suspended or cancelled yet.
    cells = stats("2026-Q4")
    _expect(
        cells,
        permits__status__issued=15,
        permits__status__suspended=HIDDEN,
        permits__status__cancelled=HIDDEN,
        permits__endorsement_due_30d=7,
    )
    # Registrations of June 2025 (the permit holders') in the same answer shape.
    assert stats("2025-06")["registrations.total"] == 23


def test_access_scope_validation_and_audit(client, runtime, world):
    heads = world["heads"]
    police = heads["police.a"]
    assert client.get(URL, params={"org_unit": "320571", "period": "2026-01"}).status_code == 401
    for who in ("auditor.x", "admin"):
        denied = client.get(URL, params={"org_unit": "320571", "period": "2026-01"}, headers=heads[who])
        assert denied.status_code == 403, who
    # Another district's unit, the city above the caller, and an unknown code look the same.
    for org_unit in ("320505", "320500", "999999"):
        response = client.get(URL, params={"org_unit": org_unit, "period": "2026-01"}, headers=police)
        assert response.status_code == 404, org_unit
    # No X-Purpose is needed: nothing personal is returned.
    assert client.get(URL, params={"org_unit": "320571001", "period": "2026"}, headers=police).status_code == 200
    for period in (
        "2026-13",
        "2026-00",
        "2026-Q5",
        "2026-Q0",
        "26",
        "2026-1",
        "2026/01",
        "2026-q1",
        "0000",
        "2027",
        "2026\n",
        "２０２６",
    ):
        response = client.get(URL, params={"org_unit": "320571", "period": period}, headers=police)
        assert response.status_code == 422, period
        assert response.json()["detail"].startswith("period") or response.json().get("errors"), period
    assert client.get(URL, params={"org_unit": "320571"}, headers=police).status_code == 422
    assert client.get(URL, params={"period": "2026"}, headers=police).status_code == 422

    response = client.get(URL, params={"org_unit": "320571", "period": "2026-Q1"}, headers=police)
    assert response.status_code == 200
    with Session(runtime.engine) as session:
        # In the order written (PostgreSQL returns rows in no particular order otherwise).
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.action == "stats:read").order_by(AuditEntry.id)
        ).all()
        denied = session.exec(
            select(AuditEntry).where(AuditEntry.action == "access:denied").order_by(AuditEntry.id)
        ).all()
    assert [e.targets for e in entries] == [["320571001", "2026"], ["320571", "2026-Q1"]]
    assert entries[-1].request_id == response.headers["x-request-id"] and entries[-1].outcome == "allowed"
    assert entries[-1].purpose is None
    # The two refused roles, and the three 404s (each naming the unit asked for).
    assert len(denied) == 5
    assert [e.targets for e in denied[2:]] == [["320505"], ["320500"], ["999999"]]
