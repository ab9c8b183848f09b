"""Bounds of what a casefile request may state, over HTTP on both engines (issue 14 review).

- Corrections read a person's full ID number only as the holder of a casefile of theirs
  (社区矫正法 Art. 22, 26; issue 13: holding a file gives its staff the identity reads the
  file needs, never the person); any other person of their scope stays masked.
- A term changes only by a court's reduction (社区矫正法 Art. 33), bounded by the term, the
  ruling's date and the file, with a document number of its own.
- `opened_on` and the details' dates lie in plausible windows: the opening is not back-dated
  beyond `casefile_backdate_days` nor before the judgment (Art. 21), so it cannot set the
  minor flag (刑事诉讼法 Art. 286); no date makes a 500.
- Events happen while the file exists; 422s name fields and rules, never what was sent.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry.people.synthetic import SyntheticPeople
from tests.api.test_casefile_lifecycle_http import INTAKE, STREET, USERS, Desk, _correction
from tests.api_helpers import as_user, create_tree, create_user


class Office(Desk):
    """The lifecycle tests' desk, with the account ids (restrictions name users)."""

    ids: dict[str, str]


@pytest.fixture
def office(client, bootstrap, clock) -> Office:  # type: ignore[no-untyped-def]
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    made = Office(client, clock)
    made.ids = {name: create_user(client, admin, name, [role], unit)["id"] for name, role, unit in USERS}
    return made


def _audit(runtime, action: str) -> list:  # type: ignore[no-untyped-def]
    with runtime.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT targets, outcome FROM audit_entry WHERE action = :a ORDER BY id"), {"a": action}
        ).all()


def _police_registers(office: Office, seed: int) -> tuple[str, str]:
    """A person registered by the street's police (in corr.street's and corr.district's scope)."""
    person = SyntheticPeople(seed).person()
    made = office.call(
        "police.street",
        "POST",
        "/api/v1/persons",
        purpose="registration",
        json={"id_number": person.id_number, "name": person.name, "org_unit": STREET},
    )
    assert made.status_code == 201, made.text
    return made.json()["id"], person.id_number


def _masked(shown: str, id_number: str) -> bool:
    return shown != id_number and shown[:4] == id_number[:4] and shown[-4:] == id_number[-4:] and "*" in shown


# -- finding 2: the identity follows the file, never the person ---------------------------


def test_corrections_read_the_full_id_number_only_of_a_subject_of_a_file_they_hold(office, runtime):
    """社区矫正法 Art. 22 (intake verifies the identity), Art. 26 (home visits): the holder of
    a file reads its subject's full ID number; a person of the same scope without a file
    of theirs stays masked, out of scope stays 404, and search's `in_scope` agrees."""
    subject, subject_no = _police_registers(office, 2101)
    bystander, bystander_no = _police_registers(office, 2102)

    def search_agrees_with_read(who: str, in_scope: bool) -> None:
        found = office.call(who, "POST", "/api/v1/persons/search", json={"id_number": subject_no})
        assert [(h["id"], h["in_scope"]) for h in found.json()["items"]] == [(subject, in_scope)]
        assert office.call(who, "GET", f"/api/v1/persons/{subject}").status_code == (200 if in_scope else 404)

    search_agrees_with_read("corr.street", True)
    search_agrees_with_read("corr.far", False)
    before = office.call("corr.street", "GET", f"/api/v1/persons/{subject}").json()
    assert _masked(before["id_number"], subject_no)  # no file yet: the person is nobody's subject
    reads_before = len(_audit(runtime, "person:read"))

    opened = office.call(
        "corr.street",
        "POST",
        "/api/v1/casefiles",
        json={"person_id": subject, "kind": "community_correction", "org_unit": STREET, "details": _correction(office)},
    )
    assert opened.status_code == 201, opened.text
    file_id = opened.json()["id"]
    # Opening a file on someone is not a way to read them: until intake verified the
    # identity in person (Art. 22), the number stays masked.
    assert _masked(office.call("corr.street", "GET", f"/api/v1/persons/{subject}").json()["id_number"], subject_no)
    office.move("corr.street", file_id, "received", facts=INTAKE)
    reads_before = len(_audit(runtime, "person:read"))
    for who in ("corr.street", "corr.district"):  # the file's unit, and the level above it
        assert office.call(who, "GET", f"/api/v1/persons/{subject}").json()["id_number"] == subject_no
    # Holding one file gives nothing on anyone else.
    assert _masked(office.call("corr.street", "GET", f"/api/v1/persons/{bystander}").json()["id_number"], bystander_no)
    search_agrees_with_read("corr.street", True)
    search_agrees_with_read("corr.far", False)  # a file in the street gives the far district nothing
    # Each read that showed the full number names the file that justified it; the others do not.
    reads = _audit(runtime, "person:read")
    holder_reads = [r for r in reads[reads_before:] if subject in str(r.targets)]
    assert holder_reads and all(file_id in str(r.targets) for r in holder_reads)
    assert not any(file_id in str(r.targets) for r in reads[:reads_before])
    assert not any(file_id in str(r.targets) for r in reads[reads_before:] if bystander in str(r.targets))


def test_a_restricted_file_or_a_break_glass_grant_gives_no_identity(office):
    """A file restricted to its officer is not the district's to hold; a break-glass grant
    widens which files, never which fields (PRIVACY.md §3)."""
    subject, subject_no = _police_registers(office, 2103)
    body = {"person_id": subject, "kind": "community_correction", "org_unit": STREET, "details": _correction(office)}
    file_id = office.call("corr.street", "POST", "/api/v1/casefiles", json=body).json()["id"]
    office.move("corr.street", file_id, "received", facts=INTAKE)
    restrict = {"restricted_to_user_ids": [office.ids["corr.street"]]}
    assert (
        office.call("corr.street", "PUT", f"/api/v1/casefiles/{file_id}/restrictions", json=restrict).status_code == 204
    )
    assert _masked(office.call("corr.district", "GET", f"/api/v1/persons/{subject}").json()["id_number"], subject_no)
    glass = {"reason_code": "emergency", "justification": "subject reported missing at night"}
    granted = office.call("corr.district", "POST", f"/api/v1/casefiles/{file_id}/break-glass", json=glass)
    assert granted.status_code == 201, granted.text
    assert office.call("corr.district", "GET", f"/api/v1/casefiles/{file_id}").status_code == 200
    assert _masked(office.call("corr.district", "GET", f"/api/v1/persons/{subject}").json()["id_number"], subject_no)
    assert office.call("corr.street", "GET", f"/api/v1/persons/{subject}").json()["id_number"] == subject_no


# -- finding 3: a term changes by a court's reduction only (Art. 33) ----------------------


def test_a_term_change_is_a_bounded_reduction_with_its_own_document_number(office, runtime):
    """社区矫正法 Art. 33: the court rules on a proposal to reduce; nothing else changes a term."""
    f = office.open("corr.street", "community_correction", _correction(office))
    path = f"/api/v1/casefiles/{f['id']}"
    office.move("corr.street", f["id"], "received", facts=INTAKE)
    office.move("corr.street", f["id"], "supervised")
    ruling = {"term_ends_on": "2026-09-30", "document_no": "(2026)测刑更9号", "decided_on": office.day()}

    def refused(change: dict, rule: str) -> None:  # type: ignore[type-arg]
        sent = office.call("corr.district", "POST", f"{path}/term-changes", json=ruling | change)
        assert sent.status_code == 422, sent.text
        assert (sent.json().get("detail") or "").startswith(rule) or rule == "schema", sent.text

    refused({"ruling": "other", "term_ends_on": "2099-12-31"}, "schema")  # no free "other" ruling
    refused({"term_ends_on": "2027-06-30"}, "term_change.reduction")  # longer than the judgment's
    refused({"term_ends_on": "2026-12-31"}, "term_change.reduction")  # the same end
    refused({"term_ends_on": office.day(-1)}, "term_change.term_ends_on")  # ends before the ruling
    refused({"decided_on": office.day(1)}, "term_change.decided_on")  # in the future
    refused({"decided_on": office.day(-3)}, "term_change.decided_on")  # before the file opened
    refused({"document_no": "(2025)测刑初7号"}, "term_change.document_no")  # the judgment's own number
    first = office.call("corr.street", "POST", f"{path}/term-changes", json=ruling)
    assert first.status_code == 200, first.text
    refused({"term_ends_on": "2026-08-31"}, "term_change.document_no")  # a number used twice
    refused({"term_ends_on": "2026-10-31", "document_no": "(2026)测刑更10号"}, "term_change.reduction")
    second = ruling | {"term_ends_on": "2026-08-31", "document_no": "(2026)测刑更10号"}
    assert office.call("corr.street", "POST", f"{path}/term-changes", json=second).status_code == 200
    assert office.read("corr.street", f["id"])["term_ends_on"] == "2026-08-31"
    # The refusals read the earlier ruling as a rule input; its number never reaches the audit.
    with runtime.engine.connect() as conn:
        inputs = conn.execute(sa.text("SELECT * FROM audit_entry WHERE action = 'record:rule-input'")).all()
    assert any("casefile_event.body" in repr(row) for row in inputs)
    assert not any("测刑更" in repr(row) or "2026-09-30" in repr(row) for row in inputs)
    # No discharge before the reduced term has ended (Art. 44).
    office.refused("corr.street", f["id"], "discharged", "discharge.term_ended", certificate_no="解矫-1")


def test_a_ruling_is_not_back_dated_beyond_the_setting(office):
    f = office.open("corr.street", "community_correction", _correction(office))
    path = f"/api/v1/casefiles/{f['id']}"
    office.move("corr.street", f["id"], "received", facts=INTAKE)
    office.move("corr.street", f["id"], "supervised")
    office.advance_to(office.today + timedelta(days=40))
    late = {"term_ends_on": "2026-09-30", "document_no": "(2026)测刑更11号", "decided_on": office.day(-31)}
    sent = office.call("corr.street", "POST", f"{path}/term-changes", json=late)
    assert sent.status_code == 422 and "casefile_backdate_days" in sent.json()["detail"]


# -- finding 4: the opening date -----------------------------------------------------------


@pytest.mark.parametrize(
    ("days_back", "judgment_back", "status", "rule"),
    [
        (0, 2, 201, None),
        (30, 32, 201, None),  # back-dated by the setting's 30 days at most
        (31, 32, 422, "opened_on: back-dated"),
        (-1, 2, 422, "opened_on: in the future"),
        (3, 2, 422, "details: invalid for community_correction (opened_on: before judgment_effective_on"),
    ],
    ids=["today", "30-days-back", "31-days-back", "tomorrow", "before-the-judgment"],
)
def test_opened_on_is_bounded_so_it_cannot_make_a_minor(office, days_back, judgment_back, status, rule):
    """刑事诉讼法 Art. 286 reads the opening date when no offence date is recorded: an old
    opening (1990, year 1) would make an adult a minor. 社区矫正法 Art. 21: the file opens
    once the judgment took effect."""
    subject = {k: v for k, v in office.subject(sex="male").items() if not k.startswith("_")}
    effective = office.day(-judgment_back)
    body = {
        "subject": subject,
        "kind": "community_correction",
        "org_unit": STREET,
        "opened_on": office.day(-days_back),
        "details": _correction(office, judgment_effective_on=effective, term_starts_on=effective),
    }
    made = office.call("corr.street", "POST", "/api/v1/casefiles", json=body)
    assert made.status_code == status, made.text
    if rule is not None:
        assert made.json()["detail"].startswith(rule), made.text
    else:
        assert made.json()["minor"] is False


def test_an_old_opening_date_is_refused(office):
    for opened_on in ("1990-06-01", "0001-01-01"):
        subject = {k: v for k, v in office.subject(sex="male").items() if not k.startswith("_")}
        body = {"subject": subject, "kind": "community_correction", "org_unit": STREET, "opened_on": opened_on}
        made = office.call("corr.street", "POST", "/api/v1/casefiles", json=body | {"details": _correction(office)})
        assert made.status_code == 422 and made.json()["detail"].startswith("opened_on: back-dated"), made.text


# -- findings 5, 6: the details' dates ------------------------------------------------------

RESETTLEMENT = {"source": "prison", "releasing_institution": "测试监狱"}
DRUG = {
    "measure": "community_detox",
    "deciding_authority": "测试区公安分局",
    "order_no": "测公禁9号",
    "executing_org_unit": STREET,
}


def _details_cases(office: Office) -> list[tuple[str, str, dict, str]]:  # type: ignore[type-arg]
    """(kind, who, details, the rule of the 422)."""
    corr = "community_correction"
    return [
        (
            corr,
            "corr.street",
            _correction(office, judgment_effective_on="0001-01-01", term_starts_on="0001-01-01"),
            "judgment_effective_on: before the subject's date of birth",
        ),
        (corr, "corr.street", _correction(office, term_ends_on="9999-12-31"), "term_ends_on: a term of more than 25"),
        (corr, "corr.street", _correction(office, term_ends_on=office.day(-1)), "term_ends_on: the term ended"),
        (
            corr,
            "corr.street",
            _correction(office, judgment_effective_on=office.day(1), term_starts_on=office.day(1)),
            "judgment_effective_on: in the future",
        ),
        (
            corr,
            "corr.street",
            _correction(office, offence_date="0001-01-01"),
            "offence_date: before the subject was 12",
        ),
        (
            corr,
            "corr.street",
            _correction(office, term_starts_on="9999-01-01", term_ends_on="9999-12-31"),
            "term_starts_on: more than 366 days after opening",
        ),
        ("resettlement", "corr.street", RESETTLEMENT | {"release_on": "9999-12-31"}, "release_on: more than 366 days"),
        (
            "resettlement",
            "corr.street",
            RESETTLEMENT | {"release_on": "0001-01-01", "key_person": True},
            "release_on: before the subject's date of birth",
        ),
        (
            "resettlement",
            "corr.street",
            RESETTLEMENT | {"release_on": office.day(-5 * 366)},
            "release_on: the 5-year assistance period ended",
        ),
        (
            "resettlement",
            "corr.street",
            RESETTLEMENT | {"source": "correction", "release_on": office.day(3)},
            "release_on: in the future",
        ),
        (
            "drug_rehabilitation",
            "police.street",
            DRUG | {"order_served_on": "9999-12-31"},
            "order_served_on: in the future",
        ),
        (
            "drug_rehabilitation",
            "police.street",
            DRUG | {"order_served_on": "0001-01-01"},
            "order_served_on: before the subject's date of birth",
        ),
    ]


def test_details_dates_lie_in_plausible_windows_and_never_make_a_500(office):
    """Year 1 and year 9999 in any date of the details: a 422 naming the field and the rule
    (刑法 Art. 17, 69; 上海市安置帮教工作规定 Art. 7; 5 years of assistance), never an
    overflow (release 9999-12-31 + 5 years was a 500)."""
    for kind, who, details, rule in _details_cases(office):
        subject = {k: v for k, v in office.subject(sex="male").items() if not k.startswith("_")}
        body = {"subject": subject, "kind": kind, "org_unit": STREET, "details": details}
        made = office.call(who, "POST", "/api/v1/casefiles", json=body)
        assert made.status_code == 422, (kind, details, made.text)
        detail = made.json()["detail"]
        assert detail.startswith(f"details: invalid for {kind} (") and rule in detail, detail


# -- finding 8: events happen while the file exists ---------------------------------------


def test_events_before_the_file_opened_or_in_the_future_are_refused_and_audited(office, runtime):
    """An absence of 2025 on a file opened in 2026 counted toward 戒毒条例 Art. 20's / 社区
    矫正法 Art. 28's hints; a visit of 1900 was accepted."""
    f = office.open("corr.street", "community_correction", _correction(office))
    events = f"/api/v1/casefiles/{f['id']}/events"
    for body in (
        {"type": "visit", "occurred_on": "1900-01-01", "body": {}},
        {"type": "visit", "occurred_on": "0001-01-01", "body": {}},
        {"type": "visit", "occurred_on": office.day(-1), "body": {}},
        {
            "type": "absence_unauthorised",
            "occurred_on": "2025-01-01",
            "body": {"starts_on": "2025-01-01", "ends_on": "2025-12-31"},
        },
    ):
        sent = office.call("corr.district", "POST", events, json=body)
        assert sent.status_code == 422 and sent.json()["detail"] == "event.occurred_on: before the file was opened"
    future = office.call(
        "corr.street", "POST", events, json={"type": "visit", "occurred_on": office.day(1), "body": {}}
    )
    assert future.status_code == 422 and future.json()["detail"] == "event.occurred_on: in the future"
    denied = [r for r in _audit(runtime, "casefile:event") if r.outcome != "allowed"]
    assert len(denied) == 5 and all(f["id"] in str(r.targets) for r in denied)
    assert (
        office.call(
            "corr.street", "POST", events, json={"type": "visit", "occurred_on": office.day(), "body": {}}
        ).status_code
        == 201
    )


# -- finding 10: a 422 names no key the caller sent -----------------------------------------


def test_an_unknown_details_key_is_counted_never_named(office):
    name_and_number = "张三110105199810291895"
    subject = {k: v for k, v in office.subject(sex="male").items() if not k.startswith("_")}
    body = {"subject": subject, "kind": "community_correction", "org_unit": STREET}
    made = office.call(
        "corr.street", "POST", "/api/v1/casefiles", json=body | {"details": _correction(office) | {name_and_number: 1}}
    )
    assert made.status_code == 422
    assert made.json()["detail"] == "details: invalid for community_correction (1 key(s) not in the schema)"
    typed = office.call(
        "corr.street",
        "POST",
        "/api/v1/casefiles",
        json=body | {"details": _correction(office) | {"term_ends_on": {name_and_number: 1}}},
    )
    assert typed.status_code == 422 and name_and_number not in typed.text and "term_ends_on: invalid" in typed.text
