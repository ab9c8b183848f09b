"""Every casefile kind, over HTTP on both engines, from opening to each terminal state on a
simulated clock (issue 14). Each step names the article of the rule it checks. A closure
is requested by the supervising office (a street, 320571001) and approved by the level
above it (the district, 320571), as `registry.casefiles.closures` requires.

Derived values (deadlines, terms, the minor flag) come from what the file records; the
request's `facts` carry only the checklist of the move, so the attacks of the issue
(`{"key_person": false}`, `{"assistance_years": 1}`, a `term_ends_on` of one's own) are 422.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from registry.casefiles.workflows.common import add_months, add_years
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

STREET, DISTRICT, FAR = "320571001", "320571", "320505"
USERS = [
    ("corr.street", "corrections", STREET),
    ("corr.district", "corrections", DISTRICT),
    ("corr.far", "corrections", FAR),
    ("police.street", "police", STREET),
    ("police.district", "police", DISTRICT),
    ("social.street", "social_worker", STREET),
]
INTAKE = {"documents_checked": True, "identity_verified": True, "rules_read": True}  # 社区矫正法 Art. 22
PURPOSE = {"corrections": "supervision", "police": "supervision", "social_worker": "supervision"}


class Desk:
    """The offices' HTTP calls on one simulated clock; tokens renewed after the clock moves."""

    def __init__(self, client, clock) -> None:  # type: ignore[no-untyped-def]
        self.client, self.clock = client, clock
        self.heads: dict[str, dict[str, str]] = {}
        self.people = SyntheticPeople(1414)

    @property
    def today(self) -> date:
        return self.clock.now().date()

    def day(self, days: int = 0) -> str:
        return (self.today + timedelta(days=days)).isoformat()

    def advance_to(self, day: date) -> None:
        self.clock.advance(days=(day - self.today).days)
        self.heads.clear()  # tokens live 15 minutes

    def call(self, user: str, method: str, path: str, *, purpose: str = "supervision", **kwargs):  # type: ignore[no-untyped-def]
        if user not in self.heads:
            self.heads[user] = as_user(self.client, user, STRONG_PASSWORD)
        return self.client.request(method, path, headers=self.heads[user] | {"X-Purpose": purpose}, **kwargs)

    def subject(self, **where) -> dict:  # type: ignore[no-untyped-def,type-arg]
        """A synthetic subject's identity (not yet registered) matching `where` (e.g. sex)."""
        person = next(
            p
            for p in (self.people.person() for _ in range(1000))
            if all(getattr(p, k) == v for k, v in where.items()) and p.birth_date.year < 2000
        )
        return {"id_number": person.id_number, "name": person.name, "_birth": person.birth_date}

    def open(self, user: str, kind: str, details: dict, *, subject: dict | None = None, **extra) -> dict:  # type: ignore[no-untyped-def,type-arg]
        identity = {k: v for k, v in (subject or self.subject(sex="male")).items() if not k.startswith("_")}
        body = {"subject": identity, "kind": kind, "org_unit": STREET, "details": details} | extra
        made = self.call(user, "POST", "/api/v1/casefiles", json=body)
        assert made.status_code == 201, made.text
        return made.json()

    def move(self, user: str, file_id: str, to: str, *, want: int = 200, **body) -> dict:  # type: ignore[no-untyped-def,type-arg]
        moved = self.call(
            user, "POST", f"/api/v1/casefiles/{file_id}/transitions", json={"to": to, "on": self.day()} | body
        )
        assert moved.status_code == want, f"{to}: {moved.status_code} {moved.text}"
        return moved.json()

    def refused(self, user: str, file_id: str, to: str, rule: str, **body) -> None:  # type: ignore[no-untyped-def]
        """A 422 whose detail starts with `rule`; the file does not move."""
        detail = self.move(user, file_id, to, want=422, **body)["detail"]
        assert detail.startswith(rule), detail

    def close(self, requester: str, approver: str, file_id: str, to: str, **body) -> dict:  # type: ignore[no-untyped-def,type-arg]
        """The closing move (202, pending) and its approval by the level above; returns the file."""
        pending = self.move(requester, file_id, to, want=202, **body)
        assert pending["status"] != to and pending["pending_closure"]["to"] == to
        decided = self.call(approver, "POST", f"/api/v1/casefiles/{file_id}/closure/decision", json={"approve": True})
        assert decided.status_code == 200, decided.text
        closed = self.read(approver, file_id)
        assert closed["status"] == to and closed["closed_on"] == self.day()
        return closed

    def read(self, user: str, file_id: str) -> dict:  # type: ignore[type-arg]
        read = self.call(user, "GET", f"/api/v1/casefiles/{file_id}")
        assert read.status_code == 200, read.text
        return read.json()

    def worklist(self, user: str, due: str) -> list[str]:
        listed = self.call(user, "GET", f"/api/v1/casefiles?due={due}")
        assert listed.status_code == 200, listed.text
        return [row["id"] for row in listed.json()["items"]]


@pytest.fixture
def desk(client, bootstrap, clock) -> Desk:  # type: ignore[no-untyped-def]
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    for name, role, unit in USERS:
        create_user(client, admin, name, [role], unit)
    return Desk(client, clock)


def _correction(desk: Desk, **extra) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return {
        "category": "probation",
        "deciding_authority": "测试区人民法院",
        "document_no": "(2025)测刑初7号",
        "judgment_effective_on": desk.day(-2),
        "term_starts_on": desk.day(-2),
        "term_ends_on": "2026-12-31",
        "residence_address": "测试市测试区测试路1号",
    } | extra


def test_correction_discharged_after_a_court_reduced_its_term(client, runtime, desk):
    subject = desk.subject(sex="male")
    opened = desk.open("corr.street", "community_correction", _correction(desk), subject=subject)
    file_id, path = opened["id"], f"/api/v1/casefiles/{opened['id']}"
    # 社区矫正法 Art. 21: report within 10 days of the judgment taking effect (derived, not sent).
    assert opened["report_due_on"] == desk.day(8) and opened["term_ends_on"] == "2026-12-31"
    # Art. 22: until intake checked the identity in person, the ID number stays masked.
    person = desk.call("corr.street", "GET", f"/api/v1/persons/{opened['person_id']}").json()
    assert person["id_number"] != subject["id_number"] and person["id_number"].endswith(subject["id_number"][-4:])
    assert opened["details"]["residence_address"] == "测试市测试区测试路1号"
    # Art. 22 intake: the checklist, and nothing but the checklist, in `facts`.
    desk.refused("corr.street", file_id, "received", "intake.checklist")
    desk.refused("corr.street", file_id, "received", "facts:", facts=INTAKE | {"term_ends_on": "2026-01-05"})
    desk.refused("corr.street", file_id, "received", "facts:", facts=INTAKE | {"rules_read": "yes"})
    desk.move("corr.street", file_id, "received", facts=INTAKE)
    # Art. 22, 26: after intake the file's officer reads the full ID number (home visits).
    person = desk.call("corr.street", "GET", f"/api/v1/persons/{opened['person_id']}").json()
    assert person["id_number"] == subject["id_number"]
    desk.move("corr.street", file_id, "supervised")
    # Art. 44: no discharge before the term has ended.
    desk.refused("corr.street", file_id, "discharged", "discharge.term_ended", certificate_no="解矫2026-1")
    # Art. 33: a court's reduction ruling, with its document number; a social worker cannot record it.
    ruling = {"term_ends_on": "2026-03-31", "document_no": "(2026)测刑更3号", "decided_on": desk.day()}
    assert desk.call("social.street", "POST", f"{path}/term-changes", json=ruling).status_code == 404
    longer = ruling | {"term_ends_on": "2027-03-31"}
    refused = desk.call("corr.street", "POST", f"{path}/term-changes", json=longer)
    assert refused.status_code == 422 and refused.json()["detail"].startswith("term_change.reduction")
    changed = desk.call("corr.street", "POST", f"{path}/term-changes", json=ruling)
    assert changed.status_code == 200, changed.text
    assert changed.json()["previous_term_ends_on"] == "2026-12-31" and changed.json()["term_ends_on"] == "2026-03-31"
    read = desk.read("corr.street", file_id)
    assert read["term_ends_on"] == "2026-03-31" and read["details"]["term_ends_on"] == "2026-03-31"
    [event] = [e for e in desk.call("corr.street", "GET", f"{path}/events").json() if e["type"] == "term_changed"]
    assert (
        event["body"]["previous_term_ends_on"] == "2026-12-31" and event["body"]["document_no"] == ruling["document_no"]
    )
    with runtime.engine.connect() as conn:
        audited = conn.execute(
            sa.text("SELECT targets, fields, reason FROM audit_entry WHERE action = 'casefile:term-change'")
        ).all()
    assert len(audited) == 1
    row = repr(audited[0])
    assert file_id in row and "term_ends_on.previous" in row and "term_ends_on" in row
    assert "2026-03-31" not in row and "2026-12-31" not in row and "测刑更" not in row  # field names only
    # The terms-ending worklist shows it 30 days before the end (DOMAIN.md worklists).
    desk.advance_to(date(2026, 3, 2))
    assert file_id in desk.worklist("corr.street", "terms_ending")
    desk.advance_to(date(2026, 3, 31))
    desk.refused("corr.street", file_id, "discharged", "discharge.certificate_no")  # Art. 44: certificate
    closed = desk.close("corr.street", "corr.district", file_id, "discharged", certificate_no="解矫2026-1")
    assert closed["term_ends_on"] == "2026-03-31"


def test_correction_missing_then_revoked_and_deceased(desk):
    absconder = desk.open("corr.street", "community_correction", _correction(desk))["id"]
    # 社区矫正法 Art. 21, 30: missing only once the 10-day report deadline has passed.
    desk.refused("corr.street", absconder, "missing", "report_overdue")
    desk.advance_to(desk.today + timedelta(days=9))  # effective 2026-01-03, due 01-13; today 01-14
    assert absconder in desk.worklist("corr.street", "report_overdue")
    desk.move("corr.street", absconder, "missing")
    # Art. 45-46: a revocation needs its reason; the district approves the closure.
    desk.refused("corr.street", absconder, "revoked", "revocation.reason")
    desk.close("corr.street", "corr.district", absconder, "revoked", reason="法院裁定撤销缓刑")
    # Art. 45: death ends the file from any open state.
    deceased = desk.open("corr.street", "community_correction", _correction(desk))["id"]
    desk.close("corr.street", "corr.district", deceased, "deceased", reason="死亡通知")


def test_resettlement_closed_after_five_years_and_transferred(desk):
    release_on = desk.today + timedelta(days=30)  # 上海市安置帮教工作规定 Art. 7: notified 30 days before
    details = {"source": "prison", "releasing_institution": "测试监狱", "release_on": release_on.isoformat()}
    opened = desk.open("corr.street", "resettlement", details | {"key_person": True})
    key = opened["id"]
    assert opened["status"] == "notified" and opened["handover_due_on"] == release_on.isoformat()
    ends = add_years(release_on, 5) - timedelta(days=1)  # assistance: 5 years from release (setting)
    assert opened["term_ends_on"] == ends.isoformat()
    desk.advance_to(release_on)
    desk.refused("corr.street", key, "released", "release.certificate_no")
    desk.move("corr.street", key, "released", certificate_no="释字2026-9")
    # 必接必送: a key person is met at the gate; the request cannot say otherwise.
    desk.refused("corr.street", key, "assisting", "facts:", facts={"key_person": False})
    desk.refused("corr.street", key, "assisting", "direct_assistance.key_person")
    desk.move("corr.street", key, "handed_over")
    desk.move("corr.street", key, "assisting")
    # The 5-year period is the file's; `assistance_years` from a request is refused.
    desk.refused("corr.street", key, "closed", "facts:", facts={"assistance_years": 1})
    desk.refused("corr.street", key, "closed", "close.period_ended")
    desk.advance_to(ends - timedelta(days=10))
    assert key in desk.worklist("corr.street", "terms_ending")
    desk.advance_to(ends)
    desk.close("corr.street", "corr.district", key, "closed")
    # A correction discharge starts at `released`; a non-key person goes straight to assistance.
    plain = desk.open(
        "corr.street",
        "resettlement",
        {"source": "correction", "releasing_institution": "测试区司法局", "release_on": desk.day()},
    )
    assert plain["status"] == "released" and plain["handover_due_on"] is None
    desk.refused("corr.street", plain["id"], "handed_over", "handover.key_person")
    desk.move("corr.street", plain["id"], "assisting")
    desk.refused("corr.street", plain["id"], "transferred", "transfer.reason")
    desk.close("corr.street", "corr.district", plain["id"], "transferred", reason="迁居外省")


def _drug(desk: Desk, **extra) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return {
        "measure": "community_detox",
        "deciding_authority": "测试区公安分局",
        "order_no": "测公禁(2026)5号",
        "executing_org_unit": STREET,
        "order_served_on": desk.day(),
    } | extra


def test_drug_file_discharged_after_its_derived_term_and_terminated(desk):
    opened = desk.open("police.street", "drug_rehabilitation", _drug(desk))
    file_id = opened["id"]
    # 戒毒条例 Art. 14: report within 15 days; the term is unknown until the report.
    assert opened["report_due_on"] == desk.day(15) and opened["term_ends_on"] is None
    # A derived value is refused in the details (禁毒法 Art. 33: the term is the law's, not the request's).
    sent = desk.call(
        "police.street",
        "POST",
        "/api/v1/casefiles",
        json={
            "person_id": opened["person_id"],
            "kind": "drug_rehabilitation",
            "org_unit": STREET,
            "details": _drug(desk) | {"term_ends_on": "2026-02-01"},
        },
    )
    assert sent.status_code == 422
    desk.advance_to(desk.today + timedelta(days=3))
    # Art. 16: the agreement is signed at the report; the 3 years run from the report day (Art. 14).
    desk.refused("police.street", file_id, "active", "agreement.checklist")
    desk.move("police.street", file_id, "active", facts={"agreement_signed": True})
    reported = desk.today
    term_end = add_months(reported, 36) - timedelta(days=1)
    assert desk.read("police.street", file_id)["term_ends_on"] == term_end.isoformat()
    # Art. 24: a detention suspends the file; the days suspended do not count.
    desk.advance_to(desk.today + timedelta(days=100))
    desk.refused("police.street", file_id, "suspended", "detention.reason")
    desk.move("police.street", file_id, "suspended", reason="行政拘留")
    desk.advance_to(desk.today + timedelta(days=10))
    desk.move("police.street", file_id, "active")
    term_end += timedelta(days=10)
    assert desk.read("police.street", file_id)["term_ends_on"] == term_end.isoformat()
    # Art. 23: no discharge before the term ends, whatever the request says of the term.
    desk.refused("police.street", file_id, "discharged", "facts:", facts={"term_ends_on": "2026-01-01"})
    desk.refused("police.street", file_id, "discharged", "discharge.term_ended", certificate_no="解戒2029-1")
    desk.advance_to(term_end - timedelta(days=20))
    assert file_id in desk.worklist("police.street", "terms_ending")  # drug files are on the worklist now
    desk.advance_to(term_end)
    desk.close("police.street", "police.district", file_id, "discharged", certificate_no="解戒2029-1")
    # Art. 23: the street/town is told within 7 days: on the worklist until it is recorded.
    assert file_id in desk.worklist("police.street", "street_notice_due")
    told = {"type": "street_notified", "occurred_on": desk.today.isoformat(), "body": {"document_no": "解戒通知2029-1"}}
    recorded = desk.call("police.street", "POST", f"/api/v1/casefiles/{file_id}/events", json=told)
    assert recorded.status_code == 201, recorded.text
    assert file_id not in desk.worklist("police.street", "street_notice_due")
    # Art. 14: not reporting is a refusal; the file is terminated with its reason.
    refused = desk.open("police.street", "drug_rehabilitation", _drug(desk))["id"]
    desk.refused("police.street", refused, "terminated", "termination.reason")
    desk.close("police.street", "police.district", refused, "terminated", reason="逾期不报到，视为拒绝")


def test_drug_rehab_term_is_the_ordered_months(desk):
    """禁毒法 Art. 48 / 戒毒条例 Art. 37: community rehab up to 3 years, as ordered."""
    file_id = desk.open("police.street", "drug_rehabilitation", _drug(desk, measure="community_rehab", term_months=24))[
        "id"
    ]
    desk.move("police.street", file_id, "active", facts={"agreement_signed": True})
    want = add_months(desk.today, 24) - timedelta(days=1)
    assert desk.read("police.street", file_id)["term_ends_on"] == want.isoformat()


def test_minor_flag_from_the_offence_date_else_the_opening(desk):
    """刑事诉讼法 Art. 286: under 18 at the time of the offence; else the age at opening (DOMAIN.md)."""
    subject = desk.subject(sex="male")
    at_17 = add_years(subject["_birth"], 17)
    minor = desk.open(
        "corr.street",
        "community_correction",
        _correction(desk, offence_date=at_17.isoformat()),
        subject=subject,
    )
    assert minor["minor"] is True
    adult = desk.call(
        "corr.street",
        "POST",
        "/api/v1/casefiles",
        json={"person_id": minor["person_id"], "kind": "community_correction", "org_unit": STREET}
        | {"details": _correction(desk)},
    )
    assert adult.status_code == 201 and adult.json()["minor"] is False
    # The offence date is an offence detail: a social worker never sees it (PRIVACY.md §3).
    before_birth = _correction(desk, offence_date=(subject["_birth"] - timedelta(days=1)).isoformat())
    wrong = desk.call(
        "corr.street",
        "POST",
        "/api/v1/casefiles",
        json={
            "person_id": minor["person_id"],
            "kind": "community_correction",
            "org_unit": STREET,
            "details": before_birth,
        },
    )
    assert wrong.status_code == 422 and "offence_date" in wrong.json()["detail"]


def test_corrections_register_a_subject_only_within_their_unit(client, runtime, desk):
    """社区矫正法 Art. 22 (接收登记): corrections register the identity as the file opens, in
    their own subtree; nobody else gains a person write from it."""
    subject = {k: v for k, v in desk.subject(sex="male").items() if not k.startswith("_")}
    body = {"subject": subject, "kind": "community_correction", "org_unit": STREET, "details": _correction(desk)}
    far = desk.call("corr.far", "POST", "/api/v1/casefiles", json=body)
    assert far.status_code == 404  # the street is outside district B's scope
    social = desk.call("social.street", "POST", "/api/v1/casefiles", json=body)
    assert social.status_code == 404
    assert desk.call("corr.street", "POST", "/api/v1/persons", json=subject | {"org_unit": STREET}).status_code == 403
    both = body | {"person_id": "00000000-0000-0000-0000-000000000001"}
    assert desk.call("corr.street", "POST", "/api/v1/casefiles", json=both).status_code == 422
    made = desk.call("corr.street", "POST", "/api/v1/casefiles", json=body)
    assert made.status_code == 201, made.text
    again = desk.call("corr.street", "POST", "/api/v1/casefiles", json=body)
    assert again.status_code == 409 and again.json()["person_id"] == made.json()["person_id"]
    with runtime.engine.connect() as conn:
        created = conn.execute(
            sa.text("SELECT targets, fields FROM audit_entry WHERE action = 'person:create' AND outcome = 'allowed'")
        ).all()
    assert any(made.json()["person_id"] in str(row.targets) for row in created)
