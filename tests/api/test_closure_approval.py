"""Dates that close a file are bounded, and closures need the supervising level (issue 13,
finding 5), through HTTP on both engines.

The finding: `deceased` on 1990-01-01 for a file opened in 2003 was accepted, and the next
retention run erased the file (closed + 30 years had long passed). Now a transition date is
not in the future, not before the file opened or its latest timeline entry, and back-dated
at most 30 days (setting); a transition that ends the file waits, as `pending_closure`, for
a user of the parent unit holding the kind's role; `closed_on` is the approval date and
retention counts from it.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from registry.casefiles.models import Casefile
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

SUP = {"X-Purpose": "supervision"}
INTAKE = {"documents_checked": True, "identity_verified": True, "rules_read": True}
TODAY = date(2026, 1, 5)  # the test clock
CORRECTION = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2003)测刑初3号",
    "judgment_effective_on": "2025-12-06",
    "term_starts_on": "2025-12-06",
    "term_ends_on": "2030-04-19",
}
USERS = [
    ("street", "corrections", "320571001"),  # the justice office (司法所) that supervises the file
    ("street.colleague", "corrections", "320571001"),
    ("county", "corrections", "320571"),  # its parent: the county agency approves
    ("city", "corrections", "320500"),  # two levels up: not the supervising level
    ("far", "corrections", "320505"),
    ("county.police", "police", "320571"),  # the parent unit, but not the kind's role
    ("secadmin", "security_admin", None),
]


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    ids = {name: create_user(client, admin, f"cl.{name}", [role], unit)["id"] for name, role, unit in USERS}
    heads = {name: as_user(client, f"cl.{name}", STRONG_PASSWORD) for name, _, _ in USERS}
    people = SyntheticPeople(5151)
    person = next(p for p in (people.person() for _ in range(1000)) if p.birth_date.year < 1980)
    person_id = client.post(
        "/api/v1/persons",
        json={"id_number": person.id_number, "name": person.name, "org_unit": "320571001"},  # held by the street
        headers=heads["county.police"] | {"X-Purpose": "registration"},
    ).json()["id"]
    street = heads["street"] | SUP
    # Opened back-dated by the most the setting allows (30 days, issue 14 review: an opening
    # in 2003 would now be refused, as it made anyone a minor).
    made = client.post(
        "/api/v1/casefiles",
        json={
            "person_id": person_id,
            "kind": "community_correction",
            "org_unit": "320571001",
            "opened_on": "2025-12-06",
            "details": CORRECTION,
        },
        headers=street,
    )
    assert made.status_code == 201, made.text
    path = f"/api/v1/casefiles/{made.json()['id']}"
    for step in ({"to": "received", "on": "2025-12-20", "facts": INTAKE}, {"to": "supervised", "on": "2025-12-21"}):
        moved = client.post(f"{path}/transitions", json=step, headers=street)
        assert moved.status_code == 200, moved.text

    def relogin() -> None:
        for name, _, _ in USERS:
            heads[name].update(as_user(client, f"cl.{name}", STRONG_PASSWORD))

    return {"heads": heads, "ids": ids, "path": path, "file_id": made.json()["id"], "relogin": relogin}


def _retention(client, runtime, world) -> None:
    secadmin = world["heads"]["secadmin"]
    started = client.post("/api/v1/retention/runs", headers=secadmin)
    assert started.status_code == 202
    runtime.jobs.wait(uuid.UUID(started.json()["job_id"]), timeout=60)


def _day(days: int) -> str:
    return (TODAY + timedelta(days=days)).isoformat()


def test_finding_5_a_back_dated_closure_is_refused_and_retention_keeps_the_file(client, runtime, world, clock):
    street, path = world["heads"]["street"] | SUP, world["path"]
    attack = client.post(f"{path}/transitions", json={"to": "deceased", "on": "1990-01-01"}, headers=street)
    assert attack.status_code == 422 and attack.json()["detail"] == "transition.on: before the file was opened"
    bounds = [
        (_day(1), "transition.on: in the future"),
        ("2025-12-20", "transition.on: before the latest entry of the file's timeline"),  # supervised on 12-21
        # Opened 30 days back at most, so 31 days back is before the file (the back-dating
        # limit itself: tests/casefiles/test_workflows.py::test_transition_dates_are_bounded).
        (_day(-31), "transition.on: before the file was opened"),
        ("2004-01-01", "transition.on: before the file was opened"),
    ]
    for on, rule in bounds:
        refused = client.post(f"{path}/transitions", json={"to": "deceased", "on": on}, headers=street)
        assert refused.status_code == 422 and refused.json()["detail"] == rule, on
    # The next retention run (and one 31 years on) finds nothing closed: the file stays.
    _retention(client, runtime, world)
    clock.advance(days=365 * 31)
    world["relogin"]()
    _retention(client, runtime, world)
    kept = client.get(path, headers=world["heads"]["street"] | SUP)
    assert kept.status_code == 200 and kept.json()["status"] == "supervised" and kept.json()["closed_on"] is None
    with runtime.engine.connect() as conn:
        erased = conn.execute(sa.text("SELECT count(*) FROM audit_entry WHERE action = 'casefile:erase'")).scalar()
        refusals = conn.execute(
            sa.text(
                "SELECT reason FROM audit_entry WHERE action = 'casefile:transition' AND outcome = 'denied'"
                " AND CAST(targets AS TEXT) LIKE :f ORDER BY id"
            ),
            {"f": f"%{world['file_id']}%"},
        ).all()
    assert erased == 0
    assert [r for (r,) in refusals] == [attack.json()["detail"]] + [rule for _, rule in bounds]


def test_a_closure_waits_for_the_parent_unit_and_closes_on_the_approval_date(client, runtime, world, clock):
    heads, path = world["heads"], world["path"]
    street = heads["street"] | SUP
    declared = _day(-14)  # after the latest entry (12-21), within the back-dating limit
    asked = client.post(f"{path}/transitions", json={"to": "deceased", "on": declared}, headers=street)
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert body["status"] == "supervised" and body["closed_on"] is None
    pending = body["pending_closure"]
    assert pending["to"] == "deceased" and pending["declared_on"] == declared
    assert pending["requested_by"] == world["ids"]["street"]
    # While it is pending the file takes no other transition.
    again = client.post(f"{path}/transitions", json={"to": "detained", "on": _day(0), "reason": "held"}, headers=street)
    assert again.status_code == 409 and again.json()["detail"].startswith("closure.pending")
    # The county sees it on its worklist.
    worklist = client.get("/api/v1/casefiles?due=closure_pending", headers=heads["county"] | SUP)
    assert [c["id"] for c in worklist.json()["items"]] == [world["file_id"]]

    decision = f"{path}/closure/decision"
    wrong_level = [("street", 422, "closure.same_user"), ("street.colleague", 422, "closure.approver")]
    wrong_level.append(("city", 422, "closure.approver"))
    for who, status, rule in wrong_level:
        refused = client.post(decision, json={"approve": True}, headers=heads[who] | SUP)
        assert refused.status_code == status and refused.json()["detail"].startswith(rule), (who, refused.text)
    for who in ("far", "county.police"):  # out of scope; a role that may not know of the kind
        assert client.post(decision, json={"approve": True}, headers=heads[who] | SUP).status_code == 404
    with runtime.engine.connect() as conn:
        denied = conn.execute(
            sa.text("SELECT count(*) FROM audit_entry WHERE action = 'casefile:closure-decide' AND outcome = 'denied'")
        ).scalar()
    assert denied == 3

    clock.advance(days=2)  # approved two days later: that is the closing date
    world["relogin"]()
    approved = client.post(
        decision, json={"approve": True, "note": "death certificate seen"}, headers=heads["county"] | SUP
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["decided_on"] == _day(2)
    closed = client.get(path, headers=heads["street"] | SUP).json()
    assert closed["status"] == "deceased" and closed["closed_on"] == _day(2) and closed["pending_closure"] is None
    events = client.get(f"{path}/events", headers=heads["street"] | SUP).json()
    assert events[0]["type"] == "transition" and events[0]["occurred_on"] == _day(2)
    assert events[0]["body"]["declared_on"] == declared and events[0]["body"]["to"] == "deceased"
    assert client.post(decision, json={"approve": True}, headers=heads["county"] | SUP).status_code == 409

    # Retention counts from the approval: sealed 5 years after it, not erased.
    clock.advance(days=365 * 5 - 1)
    world["relogin"]()
    _retention(client, runtime, world)
    assert client.get(path, headers=heads["street"] | SUP).json()["sealed"] is False
    clock.advance(days=2)
    world["relogin"]()
    _retention(client, runtime, world)
    assert client.get(path, headers=heads["street"] | SUP).status_code == 404  # sealed: break-glass only
    with runtime.engine.connect() as conn:
        row = conn.execute(
            sa.select(Casefile.sealed, Casefile.erased_at).where(Casefile.id == uuid.UUID(world["file_id"]))
        ).one()
    assert bool(row[0]) is True and row[1] is None


def test_a_refused_closure_leaves_the_file_open(client, world):
    heads, path = world["heads"], world["path"]
    street = heads["street"] | SUP
    assert (
        client.post(
            f"{path}/transitions", json={"to": "revoked", "on": _day(0), "reason": "new offence"}, headers=street
        ).status_code
        == 202
    )
    refused = client.post(
        f"{path}/closure/decision",
        json={"approve": False, "note": "no court decision yet"},
        headers=heads["county"] | SUP,
    )
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    body = client.get(path, headers=street).json()
    assert body["status"] == "supervised" and body["pending_closure"] is None and body["closed_on"] is None
    assert "closure_refused" in {e["type"] for e in client.get(f"{path}/events", headers=street).json()}
    # Open again: an ordinary transition goes through.
    moved = client.post(f"{path}/transitions", json={"to": "detained", "on": _day(0), "reason": "held"}, headers=street)
    assert moved.status_code == 200 and moved.json()["status"] == "detained"
