"""Casefiles through HTTP on both engines: compartments, assignment, restrictions,
break-glass, sealing, workflows and the sealed timeline."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user, refusal

SUP = {"X-Purpose": "supervision"}
CORRECTION = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2025)测刑初1号",
    "judgment_effective_on": "2025-12-20",
    "term_starts_on": "2025-12-20",
    "term_ends_on": "2026-06-19",
}


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    ids = {}
    for name, role, unit in [
        ("corr.a", "corrections", "320571"),
        ("corr.b", "corrections", "320571"),
        ("corr.far", "corrections", "320505"),
        ("police.a", "police", "320571"),
        ("social.a", "social_worker", "320571"),
        ("civil.a", "civil_affairs", "320571"),
    ]:
        ids[name] = create_user(client, admin, name, [role], unit)["id"]
    heads = {n: as_user(client, n, STRONG_PASSWORD) for n in ids}
    people = SyntheticPeople(33)
    # A male subject: a female one's team must include a female member (tested on its own below).
    person = next(p for p in (people.person() for _ in range(100)) if p.sex == "male")
    person_id = client.post(
        "/api/v1/persons",
        json={"id_number": person.id_number, "name": person.name},
        headers=heads["police.a"] | {"X-Purpose": "registration"},
    ).json()["id"]
    created = client.post(
        "/api/v1/casefiles",
        json={
            "person_id": person_id,
            "kind": "community_correction",
            "org_unit": "320571",
            "opened_on": "2025-12-21",  # transitions are not dated before the file opened
            "details": CORRECTION,
        },
        headers=heads["corr.a"] | SUP,
    )
    assert created.status_code == 201, created.text
    return {"heads": heads, "ids": ids, "casefile": created.json(), "person_id": person_id}


def test_create_and_read_with_details(client, world):
    casefile = world["casefile"]
    assert casefile["status"] == "awaiting_report" and casefile["kind"] == "community_correction"
    assert casefile["details"]["document_no"] == CORRECTION["document_no"] and casefile["minor"] is False
    bad = client.post(
        "/api/v1/casefiles",
        json={
            "person_id": world["person_id"],
            "kind": "community_correction",
            "org_unit": "320571",
            "details": {**CORRECTION, "religion": "x"},
        },
        headers=world["heads"]["corr.a"] | SUP,
    )
    assert bad.status_code == 422 and "x" not in bad.json()["detail"].split("(")[0]


def test_roles_that_may_not_know_a_kind_get_the_same_404_as_for_nothing(client, world):
    path = f"/api/v1/casefiles/{world['casefile']['id']}"
    missing = "/api/v1/casefiles/6f1c1a52-2d0e-4f43-9d57-0a4f3a3c0b11"
    for who, purpose in (("police.a", "investigation"), ("civil.a", "assistance")):
        headers = world["heads"][who] | {"X-Purpose": purpose}
        a, b = client.get(path, headers=headers), client.get(missing, headers=headers)
        assert a.status_code == b.status_code == 404 and refusal(a) == refusal(b)
        assert client.get("/api/v1/casefiles", headers=headers).json()["items"] == []
        made = client.post(
            "/api/v1/casefiles",
            json={
                "person_id": world["person_id"],
                "kind": "community_correction",
                "org_unit": "320571",
                "details": CORRECTION,
            },
            headers=headers,
        )
        assert made.status_code == 404
    far = world["heads"]["corr.far"] | SUP
    assert client.get(path, headers=far).status_code == 404


def test_social_worker_sees_assigned_files_without_offence_details(client, world):
    path = f"/api/v1/casefiles/{world['casefile']['id']}"
    social = world["heads"]["social.a"] | SUP
    assert client.get(path, headers=social).status_code == 404
    assigned = client.put(
        f"{path}/assignments", json={"user_ids": [world["ids"]["social.a"]]}, headers=world["heads"]["corr.a"] | SUP
    )
    assert assigned.status_code == 200
    read = client.get(path, headers=social)
    assert read.status_code == 200
    assert "document_no" not in read.json()["details"] and "category" not in read.json()["details"]
    assert read.json()["assigned_user_ids"] == [world["ids"]["social.a"]]
    assert (
        client.post(
            f"{path}/events",
            json={"type": "visit", "occurred_on": "2026-01-03", "body": {"note": "ok"}},
            headers=social,
        ).status_code
        == 201
    )
    assert (
        client.post(f"{path}/transitions", json={"to": "received", "on": "2026-01-03"}, headers=social).status_code
        == 403
    )


def test_exclusion_beats_break_glass_and_restriction_needs_it(client, runtime, world):
    path = f"/api/v1/casefiles/{world['casefile']['id']}"
    corr_a, corr_b = world["heads"]["corr.a"] | SUP, world["heads"]["corr.b"] | SUP
    assert (
        client.put(
            f"{path}/restrictions", json={"excluded_user_ids": [world["ids"]["corr.b"]]}, headers=corr_a
        ).status_code
        == 204
    )
    assert client.get(path, headers=corr_b).status_code == 404
    glass = {"reason_code": "emergency", "justification": "subject reported missing at night"}
    assert client.post(f"{path}/break-glass", json=glass, headers=corr_b).status_code == 404
    assert (
        client.put(
            f"{path}/restrictions", json={"restricted_to_user_ids": [world["ids"]["corr.a"]]}, headers=corr_a
        ).status_code
        == 204
    )
    assert client.get(path, headers=corr_b).status_code == 404
    assert client.get("/api/v1/casefiles", headers=corr_b).json()["items"] == []
    granted = client.post(f"{path}/break-glass", json=glass, headers=corr_b)
    assert granted.status_code == 201
    read = client.get(path, headers=corr_b)
    assert read.status_code == 200
    with runtime.engine.connect() as conn:
        used = conn.execute(
            sa.text("SELECT count(*) FROM audit_entry WHERE action = 'casefile:read' AND break_glass_grant = :g"),
            {"g": granted.json()["grant_id"]},
        ).scalar()
    assert used == 1


def test_sealed_file_opens_only_through_break_glass_with_court_request(client, runtime, world):
    path = f"/api/v1/casefiles/{world['casefile']['id']}"
    with runtime.engine.begin() as conn:
        conn.execute(sa.text("UPDATE casefile SET sealed = :t"), {"t": True})
    corr_a = world["heads"]["corr.a"]
    assert client.get(path, headers=corr_a | SUP).status_code == 404
    grant = client.post(
        f"{path}/break-glass",
        json={"reason_code": "court_request", "justification": "court order for the file"},
        headers=corr_a | SUP,
    )
    assert grant.status_code == 201
    assert client.get(path, headers=corr_a | SUP).status_code == 404
    assert client.get(path, headers=corr_a | {"X-Purpose": "court_request"}).status_code == 200


def test_correction_workflow_rules_and_timeline(client, runtime, world, clock):
    path = f"/api/v1/casefiles/{world['casefile']['id']}"
    corr = world["heads"]["corr.a"] | SUP
    no_intake = client.post(f"{path}/transitions", json={"to": "received", "on": "2026-01-02"}, headers=corr)
    assert no_intake.status_code == 422 and "intake" in no_intake.json()["detail"]
    facts = {"documents_checked": True, "identity_verified": True, "rules_read": True}
    received = client.post(
        f"{path}/transitions", json={"to": "received", "on": "2026-01-02", "facts": facts}, headers=corr
    )
    assert received.status_code == 200 and received.json()["status"] == "received"
    assert (
        client.post(f"{path}/transitions", json={"to": "discharged", "on": "2026-01-03"}, headers=corr).status_code
        == 409
    )
    assert (
        client.post(f"{path}/transitions", json={"to": "supervised", "on": "2026-01-03"}, headers=corr).status_code
        == 200
    )
    for day in ("2026-01-04", "2026-01-05"):
        assert (
            client.post(
                f"{path}/events",
                json={"type": "report", "occurred_on": day, "body": {"summary": "monthly report"}},
                headers=corr,
            ).status_code
            == 201
        )
    events = client.get(f"{path}/events", headers=corr).json()
    assert [e["type"] for e in events][:2] == ["report", "report"] and events[0]["body"] == {
        "summary": "monthly report"
    }
    with runtime.engine.connect() as conn:
        raw = repr(conn.execute(sa.text("SELECT body_ct FROM casefile_event")).all()).encode()
        details = repr(conn.execute(sa.text("SELECT details_ct FROM casefile")).all()).encode()
    assert b"monthly report" not in raw and CORRECTION["document_no"].encode() not in details


def test_worklists_report_overdue_missing_and_terms_ending(client, world, clock):
    corr = world["heads"]["corr.a"] | SUP
    casefile_id = world["casefile"]["id"]

    def worklist(due):
        response = client.get(f"/api/v1/casefiles?due={due}", headers=corr)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert worklist("report_overdue") == [casefile_id]  # effective 2025-12-20, due 12-30, today 2026-01-05
    assert client.get("/api/v1/casefiles?due=everything", headers=corr).status_code == 422
    path = f"/api/v1/casefiles/{casefile_id}"
    missing = client.post(f"{path}/transitions", json={"to": "missing", "on": "2026-01-05"}, headers=corr)
    assert missing.status_code == 200, missing.text
    assert worklist("report_overdue") == [] and worklist("missing") == [casefile_id]
    facts = {"documents_checked": True, "identity_verified": True, "rules_read": True}
    for step in ({"to": "received", "on": "2026-01-05", "facts": facts}, {"to": "supervised", "on": "2026-01-05"}):
        assert client.post(f"{path}/transitions", json=step, headers=corr).status_code == 200
    assert worklist("terms_ending") == []
    clock.advance(days=150)  # 2026-06-04: the term ends on 06-19
    corr.update(as_user(client, "corr.a", STRONG_PASSWORD))
    assert worklist("terms_ending") == [casefile_id]


def test_resettlement_and_drug_files_open_in_their_initial_states(client, world):
    civil = world["heads"]["civil.a"] | {"X-Purpose": "assistance"}
    released = client.post(
        "/api/v1/casefiles",
        json={
            "person_id": world["person_id"],
            "kind": "resettlement",
            "org_unit": "320571",
            "details": {
                "source": "correction",
                "releasing_institution": "测试区司法局",
                "release_on": "2026-01-04",
                "key_person": True,
            },
        },
        headers=civil,
    )
    assert released.status_code == 201, released.text
    assert released.json()["status"] == "released"
    due = client.get("/api/v1/casefiles?due=handover_due", headers=civil).json()["items"]
    assert [c["id"] for c in due] == [released.json()["id"]]
    notified = client.post(
        "/api/v1/casefiles",
        json={
            "person_id": world["person_id"],
            "kind": "resettlement",
            "org_unit": "320571",
            "details": {"source": "prison", "releasing_institution": "测试监狱", "release_on": "2026-02-01"},
        },
        headers=civil,
    )
    assert notified.json()["status"] == "notified"
    police = world["heads"]["police.a"] | {"X-Purpose": "supervision"}
    drug = client.post(
        "/api/v1/casefiles",
        json={
            "person_id": world["person_id"],
            "kind": "drug_rehabilitation",
            "org_unit": "320571",
            "details": {
                "measure": "community_detox",
                "deciding_authority": "测试区公安分局",
                "order_no": "测公禁1号",
                "executing_org_unit": "320571001",
                "order_served_on": "2025-12-01",
            },
        },
        headers=police,
    )
    assert drug.status_code == 201, drug.text
    assert drug.json()["status"] == "awaiting_report"
    overdue = client.get("/api/v1/casefiles?due=report_overdue", headers=police).json()["items"]
    assert [c["id"] for c in overdue] == [drug.json()["id"]]  # police see drug files only


def test_female_subject_needs_a_female_team_member(client, bootstrap, world):
    admin = as_user(client, *bootstrap)
    ids = {}
    for name, sex in (("social.m", "male"), ("social.f", "female")):
        made = create_user(client, admin, name, ["social_worker"], "320571", sex=sex)
        assert made["sex"] == sex
        ids[name] = made["id"]
    people = SyntheticPeople(77)
    female = next(p for p in (people.person() for _ in range(100)) if p.sex == "female")
    person_id = client.post(
        "/api/v1/persons",
        json={"id_number": female.id_number, "name": female.name},
        headers=world["heads"]["police.a"] | {"X-Purpose": "registration"},
    ).json()["id"]
    corr = world["heads"]["corr.a"] | SUP
    casefile = client.post(
        "/api/v1/casefiles",
        json={"person_id": person_id, "kind": "community_correction", "org_unit": "320571", "details": CORRECTION},
        headers=corr,
    ).json()
    path = f"/api/v1/casefiles/{casefile['id']}/assignments"
    refused = client.put(path, json={"user_ids": [ids["social.m"]]}, headers=corr)
    assert refused.status_code == 422 and "female_team_member" in refused.json()["detail"]
    assert client.put(path, json={"user_ids": [ids["social.m"], ids["social.f"]]}, headers=corr).status_code == 200


def test_casefile_statistics_show_only_kinds_the_role_may_know(client, world):
    corr = world["heads"]["corr.a"] | SUP
    for _ in range(5):
        made = client.post(
            "/api/v1/casefiles",
            json={
                "person_id": world["person_id"],
                "kind": "community_correction",
                "org_unit": "320571",
                "details": CORRECTION,
            },
            headers=corr,
        )
        assert made.status_code == 201
    stats = client.get("/api/v1/stats/casefiles?org_unit=320571&period=2026", headers=world["heads"]["corr.a"])
    assert stats.status_code == 200
    cells = {c["name"]: c for c in stats.json()["cells"]}
    # All six files share one state and every other state is a zero: publishing any part
    # would reveal the rest, so the total (6) is shown and every state is suppressed.
    assert cells["casefiles.community_correction.total"]["value"] == 6
    states = [c for n, c in cells.items() if n.startswith("casefiles.community_correction.status.")]
    assert "casefiles.community_correction.status.awaiting_report" in cells and len(states) > 5
    assert all(c["suppressed"] and c["value"] is None for c in states)
    assert any(n.startswith("casefiles.resettlement.") for n in cells)
    assert not any("drug_rehabilitation" in name for name in cells)
    police = client.get("/api/v1/stats/casefiles?org_unit=320571&period=2026", headers=world["heads"]["police.a"])
    names = [c["name"] for c in police.json()["cells"]]
    assert names and all(name.startswith("casefiles.drug_rehabilitation.") for name in names)
    residence = client.get("/api/v1/stats/residence?org_unit=320571&period=2026", headers=world["heads"]["police.a"])
    assert "casefile" not in residence.text


def test_counting_hints_two_warnings_and_three_missed_tests(client, world):
    corr = world["heads"]["corr.a"] | SUP
    path = f"/api/v1/casefiles/{world['casefile']['id']}"
    for day in ("2026-01-02", "2026-01-04"):
        assert (
            client.post(f"{path}/events", json={"type": "warning", "occurred_on": day}, headers=corr).status_code == 201
        )
    assert client.get(path, headers=corr).json()["hints"] == ["revocation_may_be_proposed"]
    client.post(f"{path}/events", json={"type": "revocation_proposal", "occurred_on": "2026-01-05"}, headers=corr)
    assert client.get(path, headers=corr).json()["hints"] == []
    police = world["heads"]["police.a"] | SUP
    drug = client.post(
        "/api/v1/casefiles",
        json={
            "person_id": world["person_id"],
            "kind": "drug_rehabilitation",
            "org_unit": "320571",
            "opened_on": "2025-12-31",  # the missed tests below are dated after the opening
            "details": {
                "measure": "community_rehab",
                "deciding_authority": "测试区公安分局",
                "order_no": "测公禁2号",
                "executing_org_unit": "320571001",
            },
        },
        headers=police,
    ).json()
    drug_path = f"/api/v1/casefiles/{drug['id']}"
    for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
        client.post(f"{drug_path}/events", json={"type": "test_missed", "occurred_on": day}, headers=police)
    assert client.get(drug_path, headers=police).json()["hints"] == ["serious_violation_to_report"]


def test_a_file_on_a_person_out_of_scope_is_the_404_of_no_person_before_any_identity_rule(client, runtime, world):
    """Issue 13, finding 4: the `minor` flag answered to `opened_on` (the birth date) and
    the team rule's 422 to the sex of a person the caller could not read. Now access to the
    person is decided first: out of scope is the 404 of an id that does not exist, whatever
    the body asks, and the refusal is audited naming the person."""
    people = SyntheticPeople(91)
    minor = next(
        p for p in (people.person() for _ in range(20_000)) if p.birth_date > date(2008, 1, 6) and p.sex == "female"
    )
    person_id = client.post(
        "/api/v1/persons",
        json={"id_number": minor.id_number, "name": minor.name},
        headers=world["heads"]["police.a"] | {"X-Purpose": "registration"},
    ).json()["id"]
    far = world["heads"]["corr.far"] | SUP  # district B; the person is held by district A

    def open_file(subject: str, opened_on: str, details: dict):  # type: ignore[no-untyped-def]
        body = {
            "person_id": subject,
            "kind": "community_correction",
            "org_unit": "320505",
            "opened_on": opened_on,
            "details": details,
        }
        return client.post("/api/v1/casefiles", json=body, headers=far)

    nobody = open_file("6f1c1a52-2d0e-4f43-9d57-0a4f3a3c0b11", "2026-01-01", CORRECTION)
    assert nobody.status_code == 404
    # Dates either side of the 18th birthday, and even invalid details: one answer.
    for opened_on in ("2000-01-01", f"{minor.birth_date.year + 18}-01-01", "2026-01-01"):
        for details in (CORRECTION, {"religion": "x"}):
            refused = open_file(person_id, opened_on, details)
            assert refused.status_code == 404 and refusal(refused) == refusal(nobody), refused.text
    with runtime.engine.connect() as conn:
        denied = conn.execute(
            sa.text(
                "SELECT count(*) FROM audit_entry WHERE action = 'access:denied' AND CAST(targets AS TEXT) LIKE :p"
            ),
            {"p": f"%{person_id}%"},
        ).scalar()
        files = conn.execute(sa.text("SELECT count(*) FROM casefile WHERE org_unit_code = '320505'")).scalar()
    assert denied == 6 and files == 0
    # In scope, the holder's district opens it (and the flag is computed as before).
    mine = client.post(
        "/api/v1/casefiles",
        json={"person_id": person_id, "kind": "community_correction", "org_unit": "320571", "details": CORRECTION},
        headers=world["heads"]["corr.a"] | SUP,
    )
    assert mine.status_code == 201 and mine.json()["minor"] is True


def test_a_social_workers_hint_names_no_sanction_so_it_tells_no_category(client, world):
    """Two warnings: corrections see which sanction may be proposed (revocation, or a police
    penalty for 管制); a social worker, who may not see the category, sees only that one may."""
    corr = world["heads"]["corr.a"] | SUP
    social = world["heads"]["social.a"] | SUP
    seen = {}
    for category in ("probation", "control"):
        body = {
            "person_id": world["person_id"],
            "kind": "community_correction",
            "org_unit": "320571",
            "opened_on": "2025-12-21",
            "details": CORRECTION | {"category": category},
        }
        path = f"/api/v1/casefiles/{client.post('/api/v1/casefiles', json=body, headers=corr).json()['id']}"
        client.put(f"{path}/assignments", json={"user_ids": [world["ids"]["social.a"]]}, headers=corr)
        for day in ("2026-01-02", "2026-01-04"):
            client.post(f"{path}/events", json={"type": "warning", "occurred_on": day}, headers=corr)
        seen[category] = (client.get(path, headers=corr).json()["hints"], client.get(path, headers=social).json())
    assert seen["probation"][0] == ["revocation_may_be_proposed"]
    assert seen["control"][0] == ["police_penalty_may_be_proposed"]
    for _, read in seen.values():
        assert read["hints"] == ["sanction_may_be_proposed"] and "category" not in read["details"]
