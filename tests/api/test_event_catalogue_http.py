"""The event catalogue over HTTP on both engines (issue 14, Deliver 3-4): unknown types and
keys are audited 422s, sanctions belong to the county-level correction agency (社区矫正法
Art. 9, 28), 管制 is never revoked (Art. 28, 46, 49), absences count in days (戒毒条例
Art. 20) and a relapse restarts the 3 years (戒毒条例 Art. 7)."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from registry.audit.models import AuditEntry
from registry.casefiles.event_counts import relapse_free_since
from registry.casefiles.models import Casefile
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

SUP = {"X-Purpose": "supervision"}
CORRECTION = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2025)测刑初9号",
    "judgment_effective_on": "2025-12-20",
    "term_starts_on": "2025-12-20",
    "term_ends_on": "2026-12-19",
}
DRUG = {
    "measure": "community_rehab",
    "deciding_authority": "测试区公安分局",
    "order_no": "测公禁9号",
    "executing_org_unit": "320571001",
}


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    ids = {
        name: create_user(client, admin, name, [role], unit)["id"]
        for name, role, unit in (
            ("corr.county", "corrections", "320571"),
            ("corr.office", "corrections", "320571001"),  # a 司法所: street level
            ("social.a", "social_worker", "320571"),
            ("police.a", "police", "320571"),
        )
    }
    heads = {name: as_user(client, name, STRONG_PASSWORD) | SUP for name in ids}
    person = SyntheticPeople(41).person()
    person_id = client.post(
        "/api/v1/persons",
        json={"id_number": person.id_number, "name": person.name},
        headers=heads["police.a"] | {"X-Purpose": "registration"},
    ).json()["id"]

    def open_file(kind: str, details: dict, *, unit: str = "320571", who: str = "corr.county") -> str:  # type: ignore[type-arg]
        body = {"person_id": person_id, "kind": kind, "org_unit": unit, "opened_on": "2025-12-21", "details": details}
        made = client.post("/api/v1/casefiles", json=body, headers=heads[who])
        assert made.status_code == 201, made.text
        return f"/api/v1/casefiles/{made.json()['id']}"

    return {"heads": heads, "ids": ids, "open": open_file}


def _denied_event_entries(runtime, file_path: str) -> list:  # type: ignore[no-untyped-def]
    file_id = file_path.rsplit("/", 1)[1]
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            sa.select(AuditEntry.__table__)
            .where(AuditEntry.action == "casefile:event", AuditEntry.outcome == "denied")
            .order_by(AuditEntry.id)
        ).all()
    return [row for row in rows if file_id in row.targets]


def _post(client, path: str, headers: dict, type_: str, on: str = "2026-01-02", body: dict | None = None):  # type: ignore[no-untyped-def,type-arg]
    return client.post(f"{path}/events", json={"type": type_, "occurred_on": on, "body": body or {}}, headers=headers)


def test_unknown_types_keys_and_system_types_are_audited_422s(client, runtime, world):
    """Issue 14 Deliver 4; DOMAIN.md scope limits: a `gps_check` type and a `religion` key
    are refused (422 problem+json, on the record), and so is posting a service-only type."""
    path = world["open"]("community_correction", CORRECTION)
    corr = world["heads"]["corr.county"]
    gps = _post(client, path, corr, "gps_check", body={"lat": 1})
    assert gps.status_code == 422 and gps.headers["content-type"].startswith("application/problem+json")
    assert gps.json()["detail"].startswith("event.type: gps_check is not an event type of community_correction")
    religion = _post(client, path, corr, "visit", body={"note": "ok", "religion": "某教"})
    assert religion.status_code == 422 and "religion" not in religion.text and "某教" not in religion.text
    assert religion.json()["detail"] == "event.body: 1 key(s) not in the schema for visit"
    system = _post(client, path, corr, "transition", body={"from": "received", "to": "supervised"})
    assert system.status_code == 422 and "recorded by the service itself" in system.json()["detail"]
    wrong_kind = _post(client, path, corr, "test_missed")  # a drug type on a correction file
    assert wrong_kind.status_code == 422
    assert len(_denied_event_entries(runtime, path)) == 4
    events = client.get(f"{path}/events", headers=corr).json()
    assert events == []
    accepted = _post(client, path, corr, "visit", body={"note": "  家访，情况稳定 "})
    assert accepted.status_code == 201 and accepted.json()["body"] == {"note": "家访，情况稳定"}


def test_a_social_worker_cannot_record_a_warning_art_28(client, runtime, world):
    """社区矫正法 Art. 28 (sanctions are the agency's), Art. 11 (social workers assist): 403,
    audited; the social worker still records a visit."""
    path = world["open"]("community_correction", CORRECTION)
    corr = world["heads"]["corr.county"]
    client.put(f"{path}/assignments", json={"user_ids": [world["ids"]["social.a"]]}, headers=corr)
    social = world["heads"]["social.a"]
    for sanction in ("warning", "reprimand", "praise", "revocation_proposal"):
        refused = _post(client, path, social, sanction)
        assert refused.status_code == 403 and refused.json()["detail"].startswith("event.recorder"), sanction
    assert len(_denied_event_entries(runtime, path)) == 4
    assert _post(client, path, social, "visit", body={"note": "ok"}).status_code == 201
    assert _post(client, path, corr, "warning", body={"reason": "未按时报告"}).status_code == 201


def test_a_justice_office_cannot_decide_a_warning_art_9_28(client, runtime, world):
    """社区矫正法 Art. 9, 28: the correction agency is set up at county level; a 司法所 works on
    its entrustment and decides no sanction (403, audited). It records visits and reports."""
    path = world["open"]("community_correction", CORRECTION, unit="320571001")
    office = world["heads"]["corr.office"]
    refused = _post(client, path, office, "warning")
    assert refused.status_code == 403 and refused.json()["detail"].startswith("event.level: warning")
    assert len(_denied_event_entries(runtime, path)) == 1
    assert _post(client, path, office, "report", body={"summary": "月度报告"}).status_code == 201
    assert _post(client, path, world["heads"]["corr.county"], "warning").status_code == 201


def test_control_cannot_be_revoked_art_28(client, world):
    """社区矫正法 Art. 28, 46, 49: revocation is of 缓刑, 假释 and 暂予监外执行 only; for 管制
    both the proposal and the transition are refused, a police-penalty proposal is not."""
    corr = world["heads"]["corr.county"]
    control = world["open"]("community_correction", CORRECTION | {"category": "control"})
    refused = _post(client, control, corr, "revocation_proposal", body={"reason": "多次违规"})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("revocation.category: 管制")
    assert _post(client, control, corr, "police_penalty_proposal").status_code == 201
    intake = {"documents_checked": True, "identity_verified": True, "rules_read": True}
    for to, facts in (("received", intake), ("supervised", {})):
        moved = client.post(f"{control}/transitions", json={"to": to, "on": "2026-01-03", "facts": facts}, headers=corr)
        assert moved.status_code == 200, moved.text
    revoked = client.post(
        f"{control}/transitions", json={"to": "revoked", "on": "2026-01-04", "reason": "ruling"}, headers=corr
    )
    assert revoked.status_code == 422 and revoked.json()["detail"].startswith("revocation.category")
    probation = world["open"]("community_correction", CORRECTION)
    assert _post(client, probation, corr, "revocation_proposal", body={"document_no": "撤建1号"}).status_code == 201


def _absence(client, path: str, headers: dict, starts: str, ends: str, type_: str = "absence_unauthorised"):  # type: ignore[no-untyped-def,type-arg]
    return _post(client, path, headers, type_, on=starts, body={"starts_on": starts, "ends_on": ends})


def test_absences_count_in_days_art_20(client, world, clock):
    """戒毒条例 Art. 20: unauthorised absences totalling more than 30 days are a serious
    violation; the days are those recorded, not 3 per absence. Art. 19(3): a reported absence
    counts for nothing, and one under 3 days is not an unauthorised absence. Absences are
    dated from the file's opening (2025-12-21) to today (issue 14 review, finding 8)."""
    path = world["open"]("drug_rehabilitation", DRUG, who="police.a")
    clock.advance(days=51)  # today 2026-02-25
    police = as_user(client, "police.a", STRONG_PASSWORD) | SUP
    assert _absence(client, path, police, "2025-11-01", "2025-11-30").status_code == 422  # before the file
    assert _absence(client, path, police, "2025-12-21", "2026-01-19").status_code == 201  # 30 days
    assert _absence(client, path, police, "2026-01-20", "2026-02-19", "absence_reported").status_code == 201
    assert client.get(path, headers=police).json()["hints"] == []
    short = _absence(client, path, police, "2026-02-20", "2026-02-21")
    assert short.status_code == 422 and short.json()["detail"].startswith("absence.days")
    moved = _post(
        client,
        path,
        police,
        "absence_unauthorised",
        on="2026-02-21",
        body={"starts_on": "2026-02-20", "ends_on": "2026-02-22"},
    )
    assert moved.status_code == 422 and moved.json()["detail"].startswith("event.period")
    future = _absence(client, path, police, "2026-02-24", "2026-02-27")
    assert future.status_code == 422 and "future" in future.json()["detail"]
    assert _absence(client, path, police, "2026-02-20", "2026-02-22").status_code == 201  # 33 days in all
    assert client.get(path, headers=police).json()["hints"] == ["serious_violation_to_report"]


def test_relapse_restarts_the_three_years_art_7(client, runtime, world):
    """戒毒条例 Art. 7 (3 years without relapse), Art. 21 (relapse reported to the police):
    a relapse event shows the hint, a police report answers it, and the relapse-free count
    retention reads starts the day after the latest relapse."""
    police = world["heads"]["police.a"]
    path = world["open"]("drug_rehabilitation", DRUG, who="police.a")
    for day in ("2025-12-28", "2026-01-02"):
        assert _post(client, path, police, "relapse", on=day, body={"basis": "police_finding"}).status_code == 201
    assert client.get(path, headers=police).json()["hints"] == ["relapse_to_report"]
    assert _post(client, path, police, "police_report", on="2026-01-03").status_code == 201
    assert client.get(path, headers=police).json()["hints"] == []
    with Session(runtime.engine) as session:
        casefile = session.get(Casefile, uuid.UUID(path.rsplit("/", 1)[1]))
        assert casefile is not None
        assert relapse_free_since(session, casefile) == date(2026, 1, 3)
