"""Every printed document (issue 16), over HTTP on both engines: rendered from a populated
record, read back (text with pypdf, fonts with pdffonts, a page drawn to PNG), and checked
for the fields the law puts on it, blank lines for what the record lacks, what each role
may not see left out, and the audit entries that resolve its document id.

Subjects come from the synthetic generator; staff are the test's accounts.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from registry.documents.catalogue import KINDS
from tests.api.test_casefile_lifecycle_http import INTAKE, STREET, Desk, _correction, _drug
from tests.api_helpers import as_user, create_tree, create_user
from tests.documents import pdfs

V1 = "/api/v1"
USERS = [
    ("corr.street", "corrections", STREET),
    ("corr.district", "corrections", "320571"),
    ("corr.far", "corrections", "320505"),
    ("police.street", "police", STREET),
    ("police.district", "police", "320571"),
    ("social.street", "social_worker", STREET),
    ("auditor.x", "auditor", None),
    ("admin.y", "admin", None),
]
PRINTED: set[str] = set()  # the kinds this module printed, checked against the catalogue last


@pytest.fixture
def desk(client, bootstrap, clock) -> Desk:  # type: ignore[no-untyped-def]
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    for name, role, unit in USERS:
        create_user(client, admin, name, [role], unit)
    return Desk(client, clock)


def _print(desk: Desk, user: str, path: str, want: int = 200, purpose: str = "supervision"):  # type: ignore[no-untyped-def]
    got = desk.call(user, "GET", f"{V1}{path}", purpose=purpose)
    assert got.status_code == want, f"{path}: {got.status_code} {got.text[:300]}"
    if want == 200:
        assert got.headers["content-type"] == "application/pdf" and got.content.startswith(b"%PDF")
        assert got.headers["cache-control"] == "no-store"
        PRINTED.add(path.rsplit("/", 1)[-1].split("?")[0])
    return got


def _entries(runtime, document_id: str) -> list[sa.Row]:  # type: ignore[type-arg]
    """Every audit entry that names the document id, oldest first."""
    with runtime.engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT action, actor_id, reason, fields, targets, purpose FROM audit_entry"
                " WHERE CAST(targets AS TEXT) LIKE :d ORDER BY id"
            ),
            {"d": f'%"{document_id}"%'},
        ).all()


def _fields(row) -> list[str]:  # type: ignore[no-untyped-def]
    return row.fields if isinstance(row.fields, list) else json.loads(row.fields)


def _check_paper(got, tmp_path, name: str) -> str:  # type: ignore[no-untyped-def]
    """The font is embedded (a subset, with a Unicode map), the first page draws, and the
    imprint carries the document id; returns the text."""
    rows = pdfs.fonts(got.content, tmp_path)
    assert rows and all(r[-5] == "yes" and r[-4] == "yes" and r[-3] == "yes" for r in rows), rows
    assert any("WenQuanYi" in r[0] for r in rows), rows
    png = pdfs.first_page_png(got.content, tmp_path / name)
    assert png.stat().st_size > 5_000 and png.read_bytes().startswith(b"\x89PNG")
    text = pdfs.text(got.content)
    assert got.headers["x-document-id"] in text
    return text


def test_correction_papers_from_intake_to_discharge(client, runtime, desk, tmp_path):
    subject = desk.subject(sex="male")
    opened = desk.open("corr.street", "community_correction", _correction(desk), subject=subject)
    file_id = opened["id"]
    path = f"/casefiles/{file_id}/documents"
    # Before intake nothing was verified in person: no registration form, no certificate.
    assert "Art. 21, 22" in _print(desk, "corr.street", f"{path}/intake-registration", 409).json()["detail"]
    _print(desk, "corr.street", f"{path}/discharge-certificate", 409)
    assert (
        desk.call("corr.street", "PUT", f"{V1}/casefiles/{file_id}/assignments", json={"user_ids": []}).status_code
        == 200
    )
    desk.move("corr.street", file_id, "received", facts=INTAKE)
    desk.move("corr.street", file_id, "supervised")

    got = _print(desk, "corr.street", f"{path}/intake-registration")
    text = _check_paper(got, tmp_path, "intake")
    # The holder of the file (past intake) prints the full identity (社区矫正法 Art. 22).
    for value in (subject["name"], subject["id_number"], "缓刑", "测试区人民法院", "(2025)测刑初7号"):
        assert value in text, value
    assert "测试市测试区测试路1号" in text and "2026年12月31日" in text and "corr.street" in text
    assert "户籍地：＿" in text  # not in the record: a blank line, never invented
    assert "禁止令内容：＿" in text
    entries = _entries(runtime, got.headers["x-document-id"])
    assert [e.action for e in entries] == ["document:read"] * (len(entries) - 1) + ["document:print"]
    assert {e.reason for e in entries} == {"intake-registration"}
    assert all(e.purpose == "supervision" for e in entries)
    summary = entries[-1]
    assert file_id in summary.targets and opened["person_id"] in summary.targets
    assert {"person.name", "person.id_number", "casefile.details.category"} <= set(_fields(summary))
    assert "person.hukou_address" not in _fields(summary)  # a blank line prints nothing stored

    # A social worker assigned to the file prints its record form, without what the role
    # may not see: no identity, no offence fields (PRIVACY.md §3).
    desk.call(
        "corr.street",
        "PUT",
        f"{V1}/casefiles/{file_id}/assignments",
        json={"user_ids": [_id(runtime, "social.street")]},
    )
    social = _print(desk, "social.street", f"{path}/intake-registration")
    seen = pdfs.text(social.content)
    for hidden in (
        subject["name"],
        subject["id_number"][-8:],
        "缓刑",
        "测试区人民法院",
        "(2025)测刑初7号",
        "矫正类别",
        "姓名：",
    ):
        assert hidden not in seen, hidden
    assert "测试市测试区测试路1号" in seen and "2026年12月31日" in seen
    social_fields = [f for e in _entries(runtime, social.headers["x-document-id"]) for f in _fields(e)]
    assert social_fields and not any(f.startswith("person.") or f.endswith("category") for f in social_fields)
    # An official act of the agency is not the social worker's to print (403, audited).
    _print(desk, "social.street", f"{path}/discharge-certificate", 403)

    # Leave (Art. 27): the form of a decided leave, with the level that decided it.
    leave = desk.call(
        "corr.street",
        "POST",
        f"{V1}/casefiles/{file_id}/leave-requests",
        json={"starts_on": desk.day(3), "ends_on": desk.day(5), "destination": "测试省某市", "reason": "探望父母"},
    )
    assert leave.status_code == 201, leave.text
    leave_path = f"/leave-requests/{leave.json()['id']}/documents/leave-approval"
    _print(desk, "corr.street", leave_path, 409)  # not decided yet
    decided = desk.call(
        "corr.district", "POST", f"{V1}/leave-requests/{leave.json()['id']}/decision", json={"approve": True}
    )
    assert decided.status_code == 200, decided.text
    form = pdfs.text(_print(desk, "corr.street", leave_path).content)
    assert "测试省某市" in form and "探望父母" in form and "批准" in form and "外出天数：3日" in form
    assert "作出决定的层级：" in form and subject["name"] in form

    # Change of execution place (Art. 27 para. 2): the notice of the proposed move.
    _print(desk, "corr.street", f"{path}/change-of-place-notice", 409)
    moved = desk.call("corr.street", "POST", f"{V1}/casefiles/{file_id}/transfers", json={"to_org_unit": "320505"})
    assert moved.status_code == 201, moved.text
    notice = pdfs.text(_print(desk, "corr.street", f"{path}/change-of-place-notice").content)
    assert (
        "Teststreet A1".replace(" ", "") in notice and "TestdistrictB（320505）" in notice and "变更事由：＿" in notice
    )
    cancelled = desk.call("corr.street", "POST", f"{V1}/transfers/{moved.json()['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text

    # Discharge (Art. 44): the certificate and the three notices, once the closure is approved.
    desk.advance_to(date(2026, 12, 31))
    desk.close("corr.street", "corr.district", file_id, "discharged", certificate_no="解矫2026-88")
    certificate = _print(desk, "corr.street", f"{path}/discharge-certificate")
    text = _check_paper(certificate, tmp_path, "certificate")
    # Its closing papers still print the holder's full identity shortly after it closed.
    for value in (subject["name"], subject["id_number"], "解矫2026-88", "矫正期满", "2026年12月31日", "缓刑"):
        assert value in text, value
    addressees = {
        "decision_authority": "测试区人民法院：",
        "procuratorate": "所在地人民检察院：",
        "police": "所在地公安机关：",
    }
    for to, addressee in addressees.items():
        sent = pdfs.text(_print(desk, "corr.street", f"{path}/discharge-notice?to={to}").content)
        assert sent.startswith("解除社区矫正通知书") and addressee in sent and "解矫2026-88" in sent
    _print(desk, "corr.street", f"{path}/discharge-notice", 422)  # the recipient is required
    # A document of another kind is no document of this file.
    _print(desk, "corr.street", f"{path}/release-notice", 404)
    # Another unit's officer, even with the same role, does not reach the file.
    _print(desk, "corr.far", f"{path}/discharge-certificate", 404)
    # The window is for closing papers: the intake form of a closed file is printed as reads show it.
    intake_now = pdfs.text(_print(desk, "corr.street", f"{path}/intake-registration").content)
    assert subject["name"] in intake_now and subject["id_number"] not in intake_now
    desk.advance_to(date(2026, 12, 31) + timedelta(days=31))
    late = pdfs.text(_print(desk, "corr.street", f"{path}/discharge-certificate").content)
    assert subject["name"] in late and subject["id_number"] not in late  # masked once the papers are done


def _id(runtime, username: str) -> str:  # type: ignore[no-untyped-def]
    with runtime.engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT id FROM user_account WHERE username = :u"), {"u": username}).scalar())


def test_a_break_glass_grant_prints_nothing(client, runtime, desk):
    opened = desk.open("corr.street", "community_correction", _correction(desk))
    desk.move("corr.street", opened["id"], "received", facts=INTAKE)
    glass = {"reason_code": "emergency", "justification": "subject reported missing at night"}
    grant = desk.call("corr.far", "POST", f"{V1}/casefiles/{opened['id']}/break-glass", json=glass, purpose="emergency")
    assert grant.status_code == 201, grant.text
    assert desk.call("corr.far", "GET", f"{V1}/casefiles/{opened['id']}", purpose="emergency").status_code == 200
    _print(desk, "corr.far", f"/casefiles/{opened['id']}/documents/intake-registration", 404, purpose="emergency")
    with runtime.engine.connect() as conn:
        refused = conn.execute(
            sa.text("SELECT break_glass_grant FROM audit_entry WHERE action = 'document:print' AND outcome = 'denied'")
        ).all()
    assert [r.break_glass_grant for r in refused] == [grant.json()["grant_id"]]


def test_resettlement_release_notice_and_receipt(client, runtime, desk, tmp_path):
    subject = desk.subject(sex="female")
    release_on = desk.today + timedelta(days=30)
    details = {
        "source": "prison",
        "releasing_institution": "测试监狱",
        "release_on": release_on.isoformat(),
        "key_person": True,
        "residence_address": "测试市测试区安置路8号",
    }
    opened = desk.open("corr.street", "resettlement", details, subject=subject)
    path = f"/casefiles/{opened['id']}/documents"
    notice = _check_paper(_print(desk, "corr.street", f"{path}/release-notice"), tmp_path, "release")
    for value in ("测试监狱", "刑满释放", "重点帮教对象：是", "测试市测试区安置路8号", "释放证明书编号：＿"):
        assert value in notice, value
    _print(desk, "corr.street", f"{path}/release-receipt", 409)
    desk.advance_to(release_on)
    desk.move("corr.street", opened["id"], "released", certificate_no="释字2026-19")
    desk.move("corr.street", opened["id"], "handed_over")
    receipt = pdfs.text(_print(desk, "corr.street", f"{path}/release-receipt").content)
    assert "测试监狱" in receipt and "接回家属姓名：＿" in receipt and "交接日期：" in receipt
    # The certificate number was given at release: the file's details hold what opened it.
    assert "释放（接收）日期" in receipt


def test_drug_agreement_and_discharge_notice(client, runtime, desk, tmp_path):
    subject = desk.subject(sex="male")
    opened = desk.open("police.street", "drug_rehabilitation", _drug(desk), subject=subject)
    path = f"/casefiles/{opened['id']}/documents"
    assert "Art. 16" in _print(desk, "police.street", f"{path}/rehabilitation-agreement", 409).json()["detail"]
    desk.advance_to(desk.today + timedelta(days=3))
    desk.move("police.street", opened["id"], "active", facts={"agreement_signed": True})
    agreement = _check_paper(_print(desk, "police.street", f"{path}/rehabilitation-agreement"), tmp_path, "agreement")
    for value in (
        "社区戒毒协议",
        "测公禁(2026)5号",
        "测试区公安分局",
        "TeststreetA1（320571001）",
        "定期接受检测",
        "累计超过30日",
    ):
        assert value in agreement, value
    assert subject["name"] in agreement
    term_end = desk.read("police.street", opened["id"])["term_ends_on"]
    _print(desk, "police.street", f"{path}/rehabilitation-discharge-notice", 409)
    desk.advance_to(date.fromisoformat(term_end))
    desk.close("police.street", "police.district", opened["id"], "discharged", certificate_no="解戒2029-3")
    notice = pdfs.text(_print(desk, "police.street", f"{path}/rehabilitation-discharge-notice").content)
    assert notice.startswith("解除社区戒毒通知书") and "解戒2029-3" in notice and "本人及其家属：" in notice
    # No test result, no health data on a paper the family receives (戒毒条例 Art. 7, 23).
    assert "检测结果" not in notice and "阳性" not in notice


def test_permit_receipt_and_missing_materials_notice(client, runtime, desk, clock, tmp_path):
    person = desk.people.person()
    police = "police.district"
    made = desk.call(
        police,
        "POST",
        f"{V1}/persons",
        purpose="registration",
        json={"id_number": person.id_number, "name": person.name},
    )
    assert made.status_code == 201, made.text
    dwelling = desk.call(
        police,
        "POST",
        f"{V1}/dwellings",
        purpose="registration",
        json={"org_unit": STREET, "address": "甲街9号", "kind": "owned"},
    )
    assert dwelling.status_code == 201, dwelling.text
    dwelling = dwelling.json()["id"]
    since = (desk.today - timedelta(days=200)).isoformat()
    body = {
        "person_id": made.json()["id"],
        "dwelling_id": dwelling,
        "arrived_on": since,
        "registered_on": since,
        "basis": "family",
    }
    registration = desk.call(police, "POST", f"{V1}/residence-registrations", purpose="registration", json=body)
    assert registration.status_code == 201, registration.text
    permit = desk.call(
        police,
        "POST",
        f"{V1}/residence-permits",
        purpose="registration",
        json={"person_id": made.json()["id"], "registration_id": registration.json()["id"], "basis": "employment"},
    ).json()
    path = f"/residence-permits/{permit['id']}/documents/application-receipt"
    _print(desk, police, path, 409, purpose="registration")  # the materials are not checked yet
    asked = desk.call(
        police,
        "POST",
        f"{V1}/residence-permits/{permit['id']}/request-materials",
        purpose="registration",
        json={"missing": ["劳动合同", "本人相片"]},
    )
    assert asked.status_code == 200, asked.text
    notice = _check_paper(_print(desk, police, path, purpose="registration"), tmp_path, "materials")
    assert notice.startswith("居住证申领补正材料一次性告知书")
    assert "1：劳动合同" in notice and "2：本人相片" in notice and person.name in notice and "甲街9号" in notice
    assert "预计发放日期" not in notice
    accepted = desk.call(police, "POST", f"{V1}/residence-permits/{permit['id']}/accept", purpose="registration")
    assert accepted.status_code == 200, accepted.text
    receipt = pdfs.text(_print(desk, police, path, purpose="registration").content)
    due = desk.today + timedelta(days=15)
    assert receipt.startswith("居住证申领受理回执") and f"{due.year}年{due.month}月{due.day}日" in receipt
    assert "合法稳定就业" in receipt and person.id_number in receipt and "劳动合同" not in receipt
    # Another district's police and a corrections officer print nothing.
    _print(desk, "corr.street", path, 403, purpose="supervision")


def test_access_report_for_a_data_subject_request(client, runtime, desk, tmp_path):
    subject = desk.subject(sex="male")
    opened = desk.open("corr.street", "community_correction", _correction(desk), subject=subject)
    desk.move("corr.street", opened["id"], "received", facts=INTAKE)
    _print(desk, "corr.street", f"/casefiles/{opened['id']}/documents/intake-registration")
    path = f"/audit/persons/{opened['person_id']}/documents/access-report"
    _print(desk, "corr.street", path, 403)
    _print(desk, "admin.y", path, 403)
    report = _print(desk, "auditor.x", path)
    text = _check_paper(report, tmp_path, "access")
    assert opened["person_id"] in text and "document:print" in text and "casefile:create" in text
    assert "TeststreetA1（320571001）" in text and "社区矫正" in text and "监督管理" in text
    # No personal value reaches an auditor, nor a staff member's account name (unit and role only).
    for value in (subject["name"], subject["id_number"], subject["id_number"][-6:], "测试市测试区测试路1号"):
        assert value not in text
    assert "corr.street" not in text.split("文书编号")[0]
    # An auditor's query, audited as one; no such person is a 404.
    entry = _entries(runtime, report.headers["x-document-id"])
    assert [(e.action, e.reason) for e in entry] == [("audit:query", "access-report")]
    _print(desk, "auditor.x", f"/audit/persons/{uuid.uuid4()}/documents/access-report", 404)


def test_a_file_closed_before_intake_prints_no_intake_and_holds_nothing(client, runtime, desk):
    """A file may close from `awaiting_report` (the subject died before reporting): nobody was
    seen in person, so there is no intake form and no holder's view of the identity."""
    subject = desk.subject(sex="male")
    opened = desk.open("corr.street", "community_correction", _correction(desk), subject=subject)
    desk.close("corr.street", "corr.district", opened["id"], "deceased")
    path = f"/casefiles/{opened['id']}/documents/intake-registration"
    for who in ("corr.street", "corr.district"):
        _print(desk, who, path, 409)
    person = desk.call("corr.street", "GET", f"{V1}/persons/{opened['person_id']}").json()
    assert person["id_number"] != subject["id_number"]


def test_a_file_held_out_of_the_persons_scope_prints_no_identity(client, runtime, desk):
    """A file transferred to another district: its new holder reads the file, not the person
    (GET /persons is 404 to it), and its papers carry no identity either."""
    subject = desk.subject(sex="male")
    pasted = _correction(desk, prohibition_order="禁止进入\r\n娱乐场所\t及夜间外出")
    opened = desk.open("corr.street", "community_correction", pasted, subject=subject)
    desk.move("corr.street", opened["id"], "received", facts=INTAKE)
    desk.move("corr.street", opened["id"], "supervised")
    moved = desk.call("corr.street", "POST", f"{V1}/casefiles/{opened['id']}/transfers", json={"to_org_unit": "320505"})
    assert desk.call("corr.far", "POST", f"{V1}/transfers/{moved.json()['id']}/accept").status_code == 200
    assert desk.call("corr.far", "GET", f"{V1}/persons/{opened['person_id']}").status_code == 404
    got = _print(desk, "corr.far", f"/casefiles/{opened['id']}/documents/intake-registration")
    text = pdfs.text(got.content)
    assert subject["name"] not in text and subject["id_number"][-8:] not in text and "姓名" not in text
    assert "缓刑" in text and "不在打印人可查看的范围内" in text  # the file itself is the new holder's
    assert "禁止进入娱乐场所及夜间外出" in text
    assert not any(f.startswith("person.") for e in _entries(runtime, got.headers["x-document-id"]) for f in _fields(e))
    # The old unit no longer reaches the file: refused, on the record as a refused print.
    _print(desk, "corr.street", f"/casefiles/{opened['id']}/documents/intake-registration", 404)
    with runtime.engine.connect() as conn:
        refused = conn.execute(
            sa.text("SELECT reason FROM audit_entry WHERE action = 'document:print' AND outcome = 'denied'")
        ).all()
    assert [r.reason for r in refused] == ["intake-registration: casefile not found"]
    # A carriage return or a tab in pasted free text is no missing character.
    assert "字库所缺的字" not in text


def test_a_character_the_font_lacks_is_marked_never_dropped_nor_logged(client, runtime, desk, caplog):
    subject = desk.subject(sex="male")
    subject["name"] = "𠮷" + subject["name"][1:]  # in names, not in the font
    opened = desk.open("corr.street", "community_correction", _correction(desk), subject=subject)
    desk.move("corr.street", opened["id"], "received", facts=INTAKE)
    with caplog.at_level("DEBUG"):
        got = _print(desk, "corr.street", f"/casefiles/{opened['id']}/documents/intake-registration")
    text = pdfs.text(got.content)
    assert f"姓名：〓{subject['name'][1:]}" in text and "字库所缺的字" in text
    assert not any("𠮷" in r.getMessage() or subject["name"][1:] in r.getMessage() for r in caplog.records)


def test_every_kind_of_the_catalogue_was_printed():
    """Last in the module (file order): a kind added to the catalogue without a test here fails."""
    if not PRINTED:
        pytest.skip("run with the module's other tests")
    assert PRINTED >= {k.code for k in KINDS}, {k.code for k in KINDS} - PRINTED
