"""DOMAIN.md casefile rules that had no test of their own, over HTTP on both engines:
the correction plan is versioned (社区矫正法 Art. 24) and an overdue drug report reaches the
worklist (戒毒条例 Art. 14)."""

from __future__ import annotations

import pytest

from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

V1 = "/api/v1"
SUP = {"X-Purpose": "supervision"}
CORRECTION = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2025)测刑初7号",
    "judgment_effective_on": "2025-12-20",
    "term_starts_on": "2025-12-20",
    "term_ends_on": "2026-12-19",
    "plan": "第一版：每月报告一次",
}


@pytest.fixture
def file_path(client, bootstrap) -> tuple[str, dict[str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    for name, role in (("corr.county", "corrections"), ("social.a", "social_worker"), ("police.a", "police")):
        create_user(client, admin, name, [role], "320571")
    heads = {name: as_user(client, name, STRONG_PASSWORD) | SUP for name in ("corr.county", "social.a", "police.a")}
    person = SyntheticPeople(55).person()
    made = client.post(
        f"{V1}/persons",
        json={"id_number": person.id_number, "name": person.name},
        headers=heads["police.a"] | {"X-Purpose": "registration"},
    )
    assert made.status_code == 201, made.text
    body = {
        "person_id": made.json()["id"],
        "kind": "community_correction",
        "org_unit": "320571",
        "opened_on": "2025-12-21",
        "details": CORRECTION,
    }
    opened = client.post(f"{V1}/casefiles", json=body, headers=heads["corr.county"])
    assert opened.status_code == 201, opened.text
    return f"{V1}/casefiles/{opened.json()['id']}", heads


def _revise(client, path: str, headers: dict[str, str], plan: str, on: str):  # type: ignore[no-untyped-def]
    body = {"type": "plan_revised", "occurred_on": on, "body": {"plan": plan}}
    return client.post(f"{path}/events", json=body, headers=headers)


def test_art24_the_correction_plan_is_versioned(client, file_path):  # type: ignore[no-untyped-def]
    """社区矫正法 Art. 24: the plan is adjusted as the subject does; DOMAIN.md: the plan is
    versioned. The opening plan stays as recorded and every revision is an event of its own,
    kept in the timeline; only corrections staff revise it."""
    path, heads = file_path
    corrections = heads["corr.county"]
    assert _revise(client, path, corrections, "第二版：每两周报告一次", "2025-12-28").status_code == 201
    assert _revise(client, path, corrections, "第三版：每周报告一次", "2026-01-03").status_code == 201
    refused = _revise(client, path, heads["social.a"], "社工改写", "2026-01-04")
    assert refused.status_code in (403, 404), refused.text
    events = client.get(f"{path}/events", headers=corrections)
    assert events.status_code == 200, events.text
    # The timeline reads newest first; the versions are its plan_revised events, oldest first.
    versions = sorted((e["occurred_on"], e["body"]["plan"]) for e in events.json() if e["type"] == "plan_revised")
    assert versions == [("2025-12-28", "第二版：每两周报告一次"), ("2026-01-03", "第三版：每周报告一次")]
    assert client.get(path, headers=corrections).json()["details"]["plan"] == CORRECTION["plan"]


def test_jiedu_art14_a_drug_report_overdue_after_15_days_is_on_the_worklist(client, bootstrap, clock):  # type: ignore[no-untyped-def]
    """戒毒条例 Art. 14, 38 / DOMAIN.md: awaiting_report for 15 days from the order being served,
    then on the report-overdue worklist (to be reported to the police as a refusal)."""
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    police = as_user(client, "police.a", STRONG_PASSWORD)
    person = SyntheticPeople(56).person()
    made = client.post(
        f"{V1}/persons",
        json={"id_number": person.id_number, "name": person.name},
        headers=police | {"X-Purpose": "registration"},
    )
    assert made.status_code == 201, made.text
    details = {
        "measure": "community_detox",
        "deciding_authority": "测试区公安分局",
        "order_no": "测公禁11号",
        "executing_org_unit": "320571001",
        "order_served_on": "2025-12-21",
    }
    body = {"person_id": made.json()["id"], "kind": "drug_rehabilitation", "org_unit": "320571", "details": details}
    opened = client.post(f"{V1}/casefiles", json=body, headers=police | SUP)
    assert opened.status_code == 201, opened.text
    assert opened.json()["status"] == "awaiting_report" and opened.json()["report_due_on"] == "2026-01-05"

    def overdue() -> list[str]:
        listed = client.get(
            f"{V1}/casefiles?due=report_overdue", headers=as_user(client, "police.a", STRONG_PASSWORD) | SUP
        )
        assert listed.status_code == 200, listed.text
        return [row["id"] for row in listed.json()["items"]]

    assert overdue() == []  # 2026-01-05: the 15th day
    clock.advance(days=1)
    assert overdue() == [opened.json()["id"]]
