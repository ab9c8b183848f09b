"""Leave (社区矫正法 Art. 27) and transfers of execution place through HTTP on both engines:
approval levels by the approver's org unit, the 30-days-in-60 escalation, returns on time
and overdue, and a two-step transfer that moves access with the file."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.audit.models import AuditEntry
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user, refusal

SUP = {"X-Purpose": "supervision"}
CORRECTION = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2025)测刑初7号",
    "judgment_effective_on": "2025-12-20",
    "term_starts_on": "2025-12-20",
    "term_ends_on": "2026-12-19",
}
DESTINATION = "浙江省杭州市西湖区某某路17号"
REASON = "探望住院的母亲"
INTAKE = {"documents_checked": True, "identity_verified": True, "rules_read": True}


@pytest.fixture
def world(client, bootstrap):
    """Clock: 2026-01-05. A supervised correction file in street unit 320571001."""
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    users = {
        "street": ("corrections", "320571001"),  # justice office
        "district": ("corrections", "320571"),  # county
        "city": ("corrections", "320500"),  # above county
        "far": ("corrections", "320505"),  # the other district
        "police": ("police", "320571"),
    }
    ids = {name: create_user(client, admin, f"mv.{name}", [role], unit)["id"] for name, (role, unit) in users.items()}
    heads = {name: as_user(client, f"mv.{name}", STRONG_PASSWORD) | SUP for name in users}
    person = SyntheticPeople(71).person()
    person_id = client.post(
        "/api/v1/persons",
        json={"id_number": person.id_number, "name": person.name},
        headers=heads["police"] | {"X-Purpose": "registration"},
    ).json()["id"]
    created = client.post(
        "/api/v1/casefiles",
        json={"person_id": person_id, "kind": "community_correction", "org_unit": "320571001", "details": CORRECTION},
        headers=heads["district"],
    )
    assert created.status_code == 201, created.text
    casefile_id = created.json()["id"]
    path = f"/api/v1/casefiles/{casefile_id}/transitions"
    for to, facts in (("received", INTAKE), ("supervised", {})):
        moved = client.post(path, json={"to": to, "on": "2026-01-05", "facts": facts}, headers=heads["street"])
        assert moved.status_code == 200, moved.text
    return {"heads": heads, "ids": ids, "casefile_id": casefile_id, "person_id": person_id}


def _relogin(client, world):
    """Tokens live 15 minutes: log in again after moving the clock."""
    for name in world["heads"]:
        world["heads"][name] = as_user(client, f"mv.{name}", STRONG_PASSWORD) | SUP
    return world["heads"]


def _request(client, world, starts_on, ends_on, who="street"):
    response = client.post(
        f"/api/v1/casefiles/{world['casefile_id']}/leave-requests",
        json={"starts_on": starts_on, "ends_on": ends_on, "destination": DESTINATION, "reason": REASON},
        headers=world["heads"][who],
    )
    assert response.status_code == 201, response.text
    return response.json()


def _decide(client, world, leave_id, who, approve=True, note=None):
    body = {"approve": approve} | ({"note": note} if note else {})
    return client.post(f"/api/v1/leave-requests/{leave_id}/decision", json=body, headers=world["heads"][who])


def _entries(runtime, action):
    with Session(runtime.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


def test_ten_day_leave_is_refused_at_justice_office_and_approved_at_county(client, runtime, world):
    leave = _request(client, world, "2026-01-10", "2026-01-19")
    assert leave["status"] == "requested" and leave["required_level"] == "county" and leave["days"] == 10
    assert DESTINATION not in str(leave) and REASON not in str(leave)
    refused = _decide(client, world, leave["id"], "street")
    assert refused.status_code == 422 and refused.json()["detail"].startswith("approval.level")
    assert "county" in refused.json()["detail"]
    denied = [e for e in _entries(runtime, "leave:decide") if e.outcome == "denied"]
    assert len(denied) == 1 and leave["id"] in denied[0].targets and denied[0].actor_id == world["ids"]["street"]
    approved = _decide(client, world, leave["id"], "district", note="同意，按时返回")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved" and body["decided_level"] == "county" and body["decided_on"] == "2026-01-05"
    assert "note" not in body and "decision_note" not in body
    assert _decide(client, world, leave["id"], "district").status_code == 409
    allowed = [e for e in _entries(runtime, "leave:decide") if e.outcome == "allowed"]
    assert len(allowed) == 1 and allowed[0].fields == ["decision_note"]
    # The sealed values leave only through the audited read.
    read = client.get(f"/api/v1/leave-requests/{leave['id']}", headers=world["heads"]["district"])
    assert read.status_code == 200
    assert (read.json()["destination"], read.json()["reason"]) == (DESTINATION, REASON)
    assert read.json()["decision_note"] == "同意，按时返回"
    assert len(_entries(runtime, "leave:read")) == 1
    with runtime.engine.connect() as conn:
        raw = repr(conn.execute(sa.text("SELECT destination_ct, reason_ct, decision_note_ct FROM leave_request")).all())
    assert DESTINATION.encode() not in raw.encode() and REASON.encode() not in raw.encode()
    far = client.get(f"/api/v1/leave-requests/{leave['id']}", headers=world["heads"]["far"])
    missing = client.get("/api/v1/leave-requests/6f1c1a52-2d0e-4f43-9d57-0a4f3a3c0b11", headers=world["heads"]["far"])
    assert far.status_code == missing.status_code == 404 and refusal(far) == refusal(missing)


def test_five_day_leave_is_approved_at_justice_office(client, world):
    leave = _request(client, world, "2026-01-10", "2026-01-14")
    assert leave["required_level"] == "justice_office"
    approved = _decide(client, world, leave["id"], "street")
    assert approved.status_code == 200 and approved.json()["decided_level"] == "justice_office"
    refused = _request(client, world, "2026-01-20", "2026-01-21")
    decided = _decide(client, world, refused["id"], "street", approve=False)
    assert decided.status_code == 200 and decided.json()["status"] == "refused"
    assert _request(client, world, "2026-01-20", "2026-01-21")["status"] == "requested"  # a refusal frees the dates
    overlap = client.post(
        f"/api/v1/casefiles/{world['casefile_id']}/leave-requests",
        json={"starts_on": "2026-01-12", "ends_on": "2026-01-13", "destination": "x", "reason": "y"},
        headers=world["heads"]["street"],
    )
    assert overlap.status_code == 409 and overlap.json()["detail"].startswith("leave.overlap")


def test_more_than_thirty_days_within_sixty_needs_the_level_above_county(client, world):
    first = _request(client, world, "2026-01-10", "2026-01-29")  # 20 days
    second = _request(client, world, "2026-02-10", "2026-02-24")  # 15 days; 35 within 60 once both count
    assert first["required_level"] == second["required_level"] == "county"
    assert _decide(client, world, first["id"], "district").status_code == 200
    # Recounted at decision time: the first leave is approved now.
    refused = _decide(client, world, second["id"], "district")
    assert refused.status_code == 422 and "above_county" in refused.json()["detail"]
    approved = _decide(client, world, second["id"], "city")
    assert approved.status_code == 200, approved.text
    assert approved.json()["required_level"] == "above_county" and approved.json()["decided_level"] == "above_county"
    third = _request(client, world, "2026-03-01", "2026-03-03")  # 3 days, but 38 in the 60 days to 03-04
    assert third["required_level"] == "above_county"
    long = _request(client, world, "2026-06-01", "2026-07-05")  # 35 days alone
    assert long["required_level"] == "above_county"


def test_return_on_time_and_overdue(client, runtime, clock, world):
    heads = world["heads"]
    on_time = _request(client, world, "2026-01-06", "2026-01-08")
    late = _request(client, world, "2026-01-10", "2026-01-12")
    for leave in (on_time, late):
        assert _decide(client, world, leave["id"], "street").status_code == 200
    clock.advance(days=3)  # 2026-01-08
    heads = _relogin(client, world)
    early = client.post(
        f"/api/v1/leave-requests/{late['id']}/return", json={"returned_on": "2026-01-08"}, headers=heads["street"]
    )
    assert early.status_code == 422 and early.json()["detail"].startswith("return.period")
    returned = client.post(
        f"/api/v1/leave-requests/{on_time['id']}/return", json={"returned_on": "2026-01-08"}, headers=heads["street"]
    )
    assert returned.status_code == 200, returned.text
    assert returned.json()["status"] == "returned" and returned.json()["late"] is False
    again = client.post(
        f"/api/v1/leave-requests/{on_time['id']}/return", json={"returned_on": "2026-01-08"}, headers=heads["street"]
    )
    assert again.status_code == 409
    clock.advance(days=7)  # 2026-01-15: the second leave ended on the 12th
    heads = _relogin(client, world)
    worklist = client.get("/api/v1/leave-requests?due=return_overdue", headers=heads["district"])
    assert worklist.status_code == 200
    assert [(i["id"], i["status"]) for i in worklist.json()["items"]] == [(late["id"], "overdue")]
    assert client.get("/api/v1/leave-requests?due=return_overdue", headers=heads["far"]).json()["items"] == []
    overdue = client.post(
        f"/api/v1/leave-requests/{late['id']}/return", json={"returned_on": "2026-01-14"}, headers=heads["street"]
    )
    assert overdue.status_code == 200, overdue.text
    assert overdue.json()["status"] == "overdue" and overdue.json()["late"] is True
    assert overdue.json()["returned_on"] == "2026-01-14"
    events = client.get(f"/api/v1/casefiles/{world['casefile_id']}/events", headers=heads["street"]).json()
    flagged = [e for e in events if e["type"] == "leave_overdue"]
    assert len(flagged) == 1 and flagged[0]["body"]["leave_request_id"] == late["id"]
    assert flagged[0]["body"]["days_late"] == 2 and flagged[0]["occurred_on"] == "2026-01-14"
    assert client.get("/api/v1/leave-requests?due=return_overdue", headers=heads["district"]).json()["items"] == []
    assert sorted(e.reason for e in _entries(runtime, "leave:return")) == ["overdue", "returned"]
    listed = client.get(f"/api/v1/casefiles/{world['casefile_id']}/leave-requests", headers=heads["street"])
    assert sorted(i["status"] for i in listed.json()["items"]) == ["overdue", "returned"]


def test_leave_only_for_supervised_correction_files(client, world):
    heads = world["heads"]
    other = client.post(
        "/api/v1/casefiles",
        json={
            "person_id": world["person_id"],
            "kind": "resettlement",
            "org_unit": "320571001",
            "details": {"source": "correction", "releasing_institution": "测试监狱", "release_on": "2025-12-01"},
        },
        headers=heads["district"],
    )
    assert other.status_code == 201, other.text
    body = {"starts_on": "2026-01-10", "ends_on": "2026-01-11", "destination": DESTINATION, "reason": REASON}
    wrong_kind = client.post(
        f"/api/v1/casefiles/{other.json()['id']}/leave-requests", json=body, headers=heads["street"]
    )
    assert wrong_kind.status_code == 422 and wrong_kind.json()["detail"].startswith("leave.kind")
    past = client.post(
        f"/api/v1/casefiles/{world['casefile_id']}/leave-requests",
        json=body | {"starts_on": "2026-01-01"},
        headers=heads["street"],
    )
    assert past.status_code == 422 and past.json()["detail"].startswith("leave.past")
    police = client.post(f"/api/v1/casefiles/{world['casefile_id']}/leave-requests", json=body, headers=heads["police"])
    assert police.status_code == 404
    assert DESTINATION not in past.text and REASON not in wrong_kind.text


def test_transfer_moves_the_file_and_its_access(client, runtime, world):
    heads, casefile_id = world["heads"], world["casefile_id"]
    path = f"/api/v1/casefiles/{casefile_id}"
    same = client.post(f"{path}/transfers", json={"to_org_unit": "320571001"}, headers=heads["district"])
    assert same.status_code == 422 and same.json()["detail"].startswith("transfer.same_unit")
    unknown = client.post(f"{path}/transfers", json={"to_org_unit": "320599"}, headers=heads["district"])
    assert unknown.status_code == 422
    proposed = client.post(f"{path}/transfers", json={"to_org_unit": "320505"}, headers=heads["district"])
    assert proposed.status_code == 201, proposed.text
    transfer = proposed.json()
    assert transfer["status"] == "proposed" and transfer["from_org_unit"] == "320571001"
    assert transfer["report_due_on"] is None
    assert (
        client.post(f"{path}/transfers", json={"to_org_unit": "320505"}, headers=heads["district"]).status_code == 409
    )
    # The receiving unit finds the pending transfer but cannot open the file before accepting.
    assert client.get(path, headers=heads["far"]).status_code == 404
    pending = client.get("/api/v1/transfers?status=proposed", headers=heads["far"])
    assert [t["id"] for t in pending.json()["items"]] == [transfer["id"]]
    assert "person_id" not in pending.json()["items"][0]
    assert client.get("/api/v1/transfers", headers=heads["police"]).json()["items"] == []
    accept = f"/api/v1/transfers/{transfer['id']}/accept"
    for who in ("street", "district", "police"):  # not the receiving unit
        refused = client.post(accept, headers=heads[who])
        assert refused.status_code == 404, who
    nothing = client.post("/api/v1/transfers/6f1c1a52-2d0e-4f43-9d57-0a4f3a3c0b11/accept", headers=heads["far"])
    assert nothing.status_code == 404 and refusal(nothing) == refusal(client.post(accept, headers=heads["street"]))
    accepted = client.post(accept, headers=heads["far"])
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["accepted_on"] == "2026-01-05"
    assert accepted.json()["report_due_on"] == "2026-01-12"
    assert client.post(accept, headers=heads["far"]).status_code == 409
    for who in ("street", "district"):
        assert client.get(path, headers=heads[who]).status_code == 404, who
    moved = client.get(path, headers=heads["far"])
    assert moved.status_code == 200 and moved.json()["org_unit"] == "320505"
    assert client.get(path, headers=heads["city"]).status_code == 200  # the city still covers both
    events = client.get(f"{path}/events", headers=heads["far"]).json()
    assert {"transfer_proposed", "transfer_accepted"} <= {e["type"] for e in events}
    (propose_entry,) = _entries(runtime, "transfer:propose")
    (accept_entry,) = _entries(runtime, "transfer:accept")
    for entry, who in ((propose_entry, "district"), (accept_entry, "far")):
        assert entry.targets == [casefile_id, transfer["id"]] and entry.actor_id == world["ids"][who]
        assert entry.reason == "320571001->320505" and entry.outcome == "allowed"


def test_transfer_can_be_cancelled_and_proposer_cannot_accept(client, world):
    heads, casefile_id = world["heads"], world["casefile_id"]
    proposed = client.post(
        f"/api/v1/casefiles/{casefile_id}/transfers", json={"to_org_unit": "320505"}, headers=heads["city"]
    ).json()
    own = client.post(f"/api/v1/transfers/{proposed['id']}/accept", headers=heads["city"])
    assert own.status_code == 422 and own.json()["detail"].startswith("transfer.same_user")
    cancelled = client.post(f"/api/v1/transfers/{proposed['id']}/cancel", headers=heads["far"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.post(f"/api/v1/transfers/{proposed['id']}/accept", headers=heads["far"]).status_code == 409
    assert client.get(f"/api/v1/casefiles/{casefile_id}", headers=heads["street"]).status_code == 200
    again = client.post(
        f"/api/v1/casefiles/{casefile_id}/transfers", json={"to_org_unit": "320505"}, headers=heads["district"]
    ).json()
    withdrawn = client.post(f"/api/v1/transfers/{again['id']}/cancel", headers=heads["street"])  # the sending side
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "cancelled"
    events = client.get(f"/api/v1/casefiles/{casefile_id}/events", headers=heads["street"]).json()
    assert [e["type"] for e in events].count("transfer_cancelled") == 1
    mine = client.get("/api/v1/transfers", headers=heads["district"]).json()["items"]
    assert sorted(t["id"] for t in mine) == sorted([proposed["id"], again["id"]])
    assert client.get("/api/v1/transfers?status=proposed", headers=heads["far"]).json()["items"] == []
