"""Monthly reports (issue 15): a draft in JSON, CSV and XLSX; submission freezes and signs;
a revision is a new version with a coded reason, both kept, and a small difference between
them is not published; a row altered in the database no longer reads. Both engines."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import openpyxl
import pytest
import sqlalchemy as sa

from registry.audit.checkpoints import open_note
from registry.db import create_engine
from registry.reports.service import protect_differences
from tests.api.test_casefile_lifecycle_http import STREET, Desk, desk
from tests.api.test_kpis import REG, _dwelling, _person
from tests.api_helpers import as_user, create_user

__all__ = ["desk"]  # a fixture, imported for pytest

JANUARY = "2026-01"
BASE = "/api/v1/reports/monthly"


def _register(desk: Desk, dwelling: str, registered_on: str | None = None) -> None:
    body = {"person_id": _person(desk), "dwelling_id": dwelling, "arrived_on": "2026-01-05", "basis": "family"}
    if registered_on is not None:
        body["registered_on"] = registered_on
    made = desk.call("police.street", "POST", "/api/v1/residence-registrations", purpose=REG, json=body)
    assert made.status_code == 201, made.text


def _cells(document: dict) -> dict[str, object]:  # type: ignore[type-arg]
    return {c["name"]: c["value"] for c in document["cells"]}


def test_a_month_is_drafted_submitted_revised_and_kept(desk, runtime):
    dormitory = _dwelling(desk, "dormitory")
    for _ in range(6):
        _register(desk, dormitory)
    query = f"org_unit={STREET}&period={JANUARY}&department=police"
    # January has not ended: nothing to report yet; nor is a month before the service's time.
    assert desk.call("police.street", "GET", f"{BASE}/draft?{query}").status_code == 422
    ancient = f"org_unit={STREET}&period=0001-01&department=police"
    assert desk.call("police.street", "GET", f"{BASE}/draft?{ancient}").status_code == 422
    desk.advance_to(date(2026, 2, 2))

    drafted = desk.call("police.street", "GET", f"{BASE}/draft?{query}")
    assert drafted.status_code == 200, drafted.text
    cells = _cells(drafted.json())
    assert cells["registrations.total"] == 6 and cells["kpi.dormitory_share.denominator"] == 6
    as_csv = desk.call("police.street", "GET", f"{BASE}/draft?{query}&format=csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert ["registrations.total", "6", "False"] in rows and ["period", JANUARY] in rows
    as_xlsx = desk.call("police.street", "GET", f"{BASE}/draft?{query}&format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    assert ("registrations.total", 6, False) in [tuple(r) for r in sheet.iter_rows(values_only=True)]

    body = {"org_unit": STREET, "period": JANUARY, "department": "police"}
    submitted = desk.call("police.street", "POST", BASE, json=body)
    assert submitted.status_code == 201, submitted.text
    first = submitted.json()
    assert first["version"] == 1 and first["supersedes"] is None
    note = open_note(first["signed_note"], public_key=runtime.provider.public_key(), name="registry/audit")
    assert f"monthly-report {STREET} {JANUARY} police v1" in note
    assert desk.call("police.street", "POST", BASE, json=body).status_code == 409  # revise instead

    # A registration of January taken over from paper afterwards: one more, a difference of 1.
    _register(desk, dormitory, registered_on="2026-01-20")
    revised = desk.call(
        "police.street",
        "POST",
        f"{BASE}/{first['id']}/revisions",
        json={"reason_code": "late_records", "reference": "JZ-2026-7"},
    )
    assert revised.status_code == 201, revised.text
    second = revised.json()
    assert (second["version"], second["supersedes"], second["reason_code"]) == (2, first["id"], "late_records")
    again = desk.call("police.street", "POST", f"{BASE}/{first['id']}/revisions", json={"reason_code": "late_records"})
    assert again.status_code == 409  # only the newest version is revised
    free_text = desk.call(
        "police.street", "POST", f"{BASE}/{second['id']}/revisions", json={"reason_code": "a long story"}
    )
    assert free_text.status_code == 422

    old = _cells(desk.call("police.street", "GET", f"{BASE}/{first['id']}").json())
    new = _cells(desk.call("police.street", "GET", f"{BASE}/{second['id']}").json())
    assert old["registrations.total"] == 6  # the submitted version is kept as it was
    # 6 → 7 would give the late record away: its table is not published in the revision.
    assert new["registrations.total"] is None and new["registrations.timely_rate"] is None
    assert new["permits.total"] == old["permits.total"]  # tables that did not move stay
    # Nor in a later revision, nor in the draft: 7 is compared with every version that published.
    third = desk.call("police.street", "POST", f"{BASE}/{second['id']}/revisions", json={"reason_code": "late_records"})
    assert third.status_code == 201, third.text
    assert (
        _cells(desk.call("police.street", "GET", f"{BASE}/{third.json()['id']}").json())["registrations.total"] is None
    )
    assert _cells(desk.call("police.street", "GET", f"{BASE}/draft?{query}").json())["registrations.total"] is None
    for _ in range(4):  # 5 more than the first version: a difference of 5 may be published
        _register(desk, dormitory, registered_on="2026-01-21")
    assert _cells(desk.call("police.street", "GET", f"{BASE}/draft?{query}").json())["registrations.total"] == 11
    second = third.json()
    listed = desk.call("police.street", "GET", f"{BASE}?{query}").json()
    assert [v["version"] for v in listed] == [1, 2, 3]

    # The unit above reads its street's reports; other departments and other districts do not.
    assert desk.call("police.district", "GET", f"{BASE}/{first['id']}").status_code == 200
    assert desk.call("corr.street", "GET", f"{BASE}/{first['id']}").status_code == 404
    assert desk.call("corr.street", "POST", BASE, json=body).status_code == 403
    assert desk.call("corr.far", "GET", f"{BASE}/{first['id']}").status_code == 404


def _submitted(desk: Desk) -> str:
    desk.advance_to(date(2026, 2, 2))
    body = {"org_unit": STREET, "period": JANUARY, "department": "police"}
    submitted = desk.call("police.street", "POST", BASE, json=body)
    assert submitted.status_code == 201, submitted.text
    return submitted.json()["id"]


def _as_owner(database_url: str, statement: str, **params: object) -> None:
    """Someone with the database file, or the owner's login (the service's may not write)."""
    owner = create_engine(database_url)
    try:
        with owner.begin() as conn:
            conn.execute(sa.text(statement), params)
    finally:
        owner.dispose()


def _integrity_failures(runtime) -> int:  # type: ignore[no-untyped-def]
    with runtime.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM audit_entry WHERE action = 'integrity:failure'")).scalar_one()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE monthly_report SET content = 'not json'",
        "UPDATE monthly_report SET reason_code = 'unit_reorganised', reference = 'FAKE-9'",
        "UPDATE monthly_report SET submitted_by = 'someone-else'",
        "UPDATE monthly_report SET version = 2",
    ],
    ids=["garbage", "reason", "submitter", "version"],
)
def test_a_report_row_changed_outside_the_service_is_refused(desk, runtime, database_url, statement):
    report_id = _submitted(desk)
    _as_owner(database_url, statement)
    read = desk.call("police.street", "GET", f"{BASE}/{report_id}")
    assert read.status_code == 409, read.text
    listed = desk.call("police.street", "GET", f"{BASE}?org_unit={STREET}&period={JANUARY}&department=police")
    assert listed.status_code == 409
    assert _integrity_failures(runtime) == 2


def test_a_newest_version_deleted_is_missed(desk, runtime, database_url):
    report_id = _submitted(desk)
    revised = desk.call("police.street", "POST", f"{BASE}/{report_id}/revisions", json={"reason_code": "late_records"})
    assert revised.status_code == 201, revised.text
    _as_owner(database_url, "DELETE FROM monthly_report WHERE version = 2")
    assert desk.call("police.street", "GET", f"{BASE}/{report_id}").status_code == 409  # the log knows of v2
    assert _integrity_failures(runtime) == 1


def test_a_report_altered_in_the_database_no_longer_reads(desk, runtime, database_url):
    desk.advance_to(date(2026, 2, 2))
    body = {"org_unit": STREET, "period": JANUARY, "department": "police"}
    submitted = desk.call("police.street", "POST", BASE, json=body)
    assert submitted.status_code == 201, submitted.text
    report_id = submitted.json()["id"]
    # The service's own login may not rewrite a report (PostgreSQL); the owner's, or the file, can.
    owner = create_engine(database_url)
    with owner.begin() as conn:
        stored = conn.execute(sa.text("SELECT content FROM monthly_report")).scalar_one()
        forged = json.loads(stored)
        forged["cells"][0]["value"] = 999
        conn.execute(sa.text("UPDATE monthly_report SET content = :c"), {"c": json.dumps(forged)})
    owner.dispose()
    read = desk.call("police.street", "GET", f"{BASE}/{report_id}")
    assert read.status_code == 409 and "signed note" in read.json()["detail"]
    with runtime.engine.connect() as conn:
        flagged = conn.execute(
            sa.text("SELECT count(*) FROM audit_entry WHERE action = 'integrity:failure'")
        ).scalar_one()
    assert flagged == 1


def test_the_unit_above_reads_but_does_not_author_a_units_report(desk):
    desk.advance_to(date(2026, 2, 2))
    body = {"org_unit": STREET, "period": JANUARY, "department": "police"}
    assert desk.call("police.district", "POST", BASE, json=body).status_code == 403
    report_id = desk.call("police.street", "POST", BASE, json=body).json()["id"]
    revised = desk.call(
        "police.district", "POST", f"{BASE}/{report_id}/revisions", json={"reason_code": "late_records"}
    )
    assert revised.status_code == 403
    assert desk.call("police.district", "GET", f"{BASE}/{report_id}").status_code == 200


@pytest.mark.parametrize("targets", ["null", '"x"', '["not-a-uuid"]', "[]", '{"a": 1}'])
def test_an_odd_audit_entry_for_a_month_is_a_409_never_a_500(desk, runtime, database_url, targets):
    report_id = _submitted(desk)
    _as_owner(
        database_url,
        "INSERT INTO audit_entry (at, actor_id, actor_roles, action, targets, fields, outcome, reason)"
        f" VALUES (:at, 'x', '[]', 'report:revise', '{targets}', '[]', 'allowed', :reason)",
        at=runtime.clock.now(),
        reason=f"{STREET} {JANUARY} police",
    )
    assert desk.call("police.street", "GET", f"{BASE}/{report_id}").status_code == 409
    other = desk.call("police.street", "GET", f"{BASE}/draft?org_unit={STREET}&period=2025-12&department=police")
    assert other.status_code == 200  # another month is not held up


@pytest.mark.parametrize(
    ("before", "after", "hidden"),
    [
        # A KPI whose remainder moved by one (10 → 11 not placed) while both counts moved by 5 or 6.
        ({"kpi.p.numerator": 10, "kpi.p.denominator": 20}, {"kpi.p.numerator": 15, "kpi.p.denominator": 26}, True),
        # A total less its published parts: the hidden sum moved 5 → 6.
        ({"t.total": 31, "t.a": 16, "t.b": 10}, {"t.total": 37, "t.a": 21, "t.b": 10}, True),
        ({"t.total": 31, "t.a": 16, "t.b": 10}, {"t.total": 41, "t.a": 21, "t.b": 15}, False),
        ({"t.total": 31, "t.a": 16}, {"t.total": 31, "t.a": 16}, False),
        ({"t.total": 31}, {"t.total": 33}, True),
    ],
    ids=["kpi-remainder", "hidden-sum", "moves-of-five", "unchanged", "small-move"],
)
def test_differences_a_reader_can_derive_are_protected(before, after, hidden):
    def cells(values: dict[str, int]) -> list[dict[str, object]]:
        return [{"name": n, "value": v, "suppressed": False} for n, v in values.items()]

    protected = protect_differences([cells(before)], cells(after))
    assert all(c["suppressed"] for c in protected) is hidden
    assert not any(c["suppressed"] for c in protected) is not hidden


def test_a_report_is_the_departments_view_whatever_else_its_author_may_see(desk, client, bootstrap, runtime):
    """Every reader of a police report sees what the police see: an author who is also civil
    affairs adds no resettlement cell. A refused submission names its unit in the log."""
    create_user(client, as_user(client, *bootstrap), "both.street", ["police", "civil_affairs"], STREET)
    desk.advance_to(date(2026, 2, 2))
    query = f"org_unit={STREET}&period={JANUARY}&department="
    police = _cells(desk.call("both.street", "GET", f"{BASE}/draft?{query}police").json())
    civil = _cells(desk.call("both.street", "GET", f"{BASE}/draft?{query}civil_affairs").json())
    assert not any(n.startswith(("casefiles.resettlement", "kpi.release", "kpi.placement")) for n in police)
    assert any(n.startswith("casefiles.resettlement") for n in civil)
    assert any(n.startswith("casefiles.drug_rehabilitation") for n in police)
    body = {"org_unit": STREET, "period": JANUARY, "department": "police"}
    assert desk.call("corr.street", "POST", BASE, json=body).status_code == 403
    with runtime.engine.connect() as conn:
        outcome, targets = conn.execute(
            sa.text("SELECT outcome, targets FROM audit_entry ORDER BY id DESC LIMIT 1")
        ).one()
    assert outcome == "denied" and STREET in (json.loads(targets) if isinstance(targets, str) else targets)
