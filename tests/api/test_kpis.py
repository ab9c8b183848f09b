"""The seeds' KPIs (issue 15) over small populations whose rates are known by construction,
with the cells that must be suppressed, on both engines; each KPI's definition is the
README's, and each role sees only the KPIs of what it may know of."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from registry.kpis import KPIS
from tests.api.test_casefile_lifecycle_http import INTAKE, STREET, Desk, _correction, desk
from tests.api_helpers import as_user, create_user

__all__ = ["desk"]  # a fixture, imported for pytest

README = Path(__file__).resolve().parents[2] / "README.md"
REG = "registration"


def _cells(desk: Desk, user: str, unit: str, period: str, purpose: str = "supervision") -> dict[str, object]:
    got = desk.call(user, "GET", f"/api/v1/stats/kpis?org_unit={unit}&period={period}", purpose=purpose)
    assert got.status_code == 200, got.text
    return {c["name"]: (c["value"] if not c["suppressed"] else "suppressed") for c in got.json()["cells"]}


def _kpi(cells: dict[str, object], name: str) -> tuple[object, object, object]:
    return tuple(cells[f"kpi.{name}.{part}"] for part in ("numerator", "denominator", "rate"))  # type: ignore[return-value]


def _person(desk: Desk) -> str:
    person = desk.people.person()
    made = desk.call(
        "police.street",
        "POST",
        "/api/v1/persons",
        purpose=REG,
        json={"id_number": person.id_number, "name": person.name},
    )
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _dwelling(desk: Desk, kind: str, pledged: bool = False) -> str:
    body = {"org_unit": STREET, "address": desk.people.address(), "kind": kind}
    if kind == "rental":
        body["landlord_person_id"] = _person(desk)
        if pledged:
            body["pledge_signed_on"] = desk.day()
    made = desk.call("police.street", "POST", "/api/v1/dwellings", purpose=REG, json=body)
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _lives_in(desk: Desk, dwelling: str) -> None:
    body = {"person_id": _person(desk), "dwelling_id": dwelling, "arrived_on": desk.day(), "basis": "family"}
    made = desk.call("police.street", "POST", "/api/v1/residence-registrations", purpose=REG, json=body)
    assert made.status_code == 201, made.text


def test_residence_kpis_of_a_known_population(desk):
    for i in range(10):  # 10 rentals lived in, 5 of them pledged
        _lives_in(desk, _dwelling(desk, "rental", pledged=i < 5))
    _dwelling(desk, "rental")  # nobody lives here: not counted
    dormitory = _dwelling(desk, "dormitory")
    for _ in range(5):
        _lives_in(desk, dormitory)
    month = desk.today.strftime("%Y-%m")
    cells = _cells(desk, "police.district", "320571", month, REG)
    assert _kpi(cells, "landlord_pledge_rate") == (5, 10, 0.5)
    assert _kpi(cells, "dormitory_share") == (5, 15, 0.3333)
    # All 15 registered on arrival: none late, a 0 that would tell everyone was on time.
    assert _kpi(cells, "registration_within_3_days") == ("suppressed", 15, "suppressed")
    assert not any(name.startswith(("kpi.correction", "kpi.release", "kpi.placement")) for name in cells)
    # A later month counts the same dwellings and registrations, still in effect.
    next_month = (desk.today.replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
    desk.advance_to(desk.today.replace(day=1) + timedelta(days=32))
    later = _cells(desk, "police.street", STREET, next_month, REG)
    assert _kpi(later, "landlord_pledge_rate") == (5, 10, 0.5)
    assert _kpi(later, "registration_within_3_days") == ("suppressed", "suppressed", "suppressed")  # none that month


def test_casefile_kpis_of_a_known_population(desk, client, bootstrap):
    month = desk.today.strftime("%Y-%m")
    # Correction intake: 10 files due to report this month (judgment 2 days ago: due in 8), 5 received.
    corrections = [desk.open("corr.street", "community_correction", _correction(desk))["id"] for _ in range(10)]
    for file_id in corrections[:5]:
        desk.move("corr.street", file_id, "received", facts=INTAKE)
    # Resettlement: 15 released today (from discharged correction cases): 10 key persons, 5 met
    # at the gate today and 5 the day after; 5 others reach assistance only 31 days on.
    released = {"source": "correction", "releasing_institution": "测试区司法局", "release_on": desk.day()}
    keys = [desk.open("corr.street", "resettlement", released | {"key_person": True})["id"] for _ in range(10)]
    plain = [desk.open("corr.street", "resettlement", released)["id"] for _ in range(5)]
    for file_id in keys[:5]:
        desk.move("corr.street", file_id, "handed_over")
    cells = _cells(desk, "corr.district", "320571", month)
    assert _kpi(cells, "correction_intake_on_time") == (5, 10, 0.5)
    assert _kpi(cells, "key_persons_met_on_release") == (5, 10, 0.5)
    # 5 handed over so far, all key persons: 5 of 15, the remainder 10.
    assert _kpi(cells, "release_handover_rate") == (5, 15, 0.3333)
    desk.advance_to(desk.today + timedelta(days=1))
    for file_id in keys[5:]:
        desk.move("corr.street", file_id, "handed_over")
    cells = _cells(desk, "corr.district", "320571", month)
    assert _kpi(cells, "key_persons_met_on_release") == (5, 10, 0.5)  # met a day late: not on release
    assert _kpi(cells, "release_handover_rate") == (10, 15, 0.6667)
    assert not any(name.startswith(("kpi.landlord", "kpi.dormitory", "kpi.registration")) for name in cells)
    # Next month: everyone assisting, 5 placed, 5 with a new offence.
    desk.advance_to(desk.today + timedelta(days=30))
    for file_id in keys + plain:
        desk.move("corr.street", file_id, "assisting")
    for i, file_id in enumerate(keys[:5] + plain):
        kind = "placement" if i % 2 == 0 else "new_offence"
        body = {} if kind == "placement" else {"document_no": f"(2026)测刑初{i}号"}
        made = desk.call(
            "corr.street",
            "POST",
            f"/api/v1/casefiles/{file_id}/events",
            json={"type": kind, "occurred_on": desk.day(), "body": body},
        )
        assert made.status_code == 201, made.text
    later = _cells(desk, "corr.street", STREET, desk.today.strftime("%Y-%m"))
    assert _kpi(later, "placement_rate") == (5, 15, 0.3333)
    # 5 new offences among 20 under supervision (5 received) or assistance (15 released).
    assert _kpi(later, "reoffence_per_1000") == (5, 20, 250.0)
    # The late five (assisting 31 days after release) still count against their release month.
    assert _kpi(_cells(desk, "corr.street", STREET, month), "release_handover_rate") == (10, 15, 0.6667)
    # Another district sees none of it; a district it may not see is a 404.
    assert _kpi(_cells(desk, "corr.far", "320505", month), "release_handover_rate") == (
        "suppressed",
        "suppressed",
        "suppressed",
    )
    assert desk.call("corr.far", "GET", f"/api/v1/stats/kpis?org_unit=320571&period={month}").status_code == 404
    # Civil affairs know resettlement and residence, not corrections: no intake, no re-offence.
    create_user(client, as_user(client, *bootstrap), "civil.street", ["civil_affairs"], STREET)
    civil = _cells(desk, "civil.street", STREET, month, "assistance")
    assert "kpi.release_handover_rate.rate" in civil and "kpi.landlord_pledge_rate.rate" in civil
    assert not any(name.startswith(("kpi.correction", "kpi.reoffence")) for name in civil)


def test_every_kpi_is_defined_in_the_readme():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## KPIs") :]
    section = section[: section.index("\n## ", 4)]
    for kpi in KPIS:
        assert f"`{kpi.name}`" in section, kpi.name
        assert re.sub(r"\s+", " ", kpi.definition) in re.sub(r"\s+", " ", section), kpi.name
