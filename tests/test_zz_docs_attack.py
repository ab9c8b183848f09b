"""Scratch attack tests for printed documents (reviewer; deleted afterwards)."""
from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.api.test_casefile_lifecycle_http import INTAKE, STREET, Desk, _correction, _drug
from tests.api_helpers import as_user, create_tree, create_user
from tests.documents import pdfs

V1 = "/api/v1"
USERS = [
    ("corr.street", "corrections", STREET),
    ("corr.street2", "corrections", STREET),
    ("corr.district", "corrections", "320571"),
    ("corr.far", "corrections", "320505"),
    ("police.street", "police", STREET),
    ("police.district", "police", "320571"),
    ("social.street", "social_worker", STREET),
    ("social.other", "social_worker", STREET),
    ("auditor.x", "auditor", None),
    ("admin.y", "admin", None),
]


@pytest.fixture
def desk(client, bootstrap, clock) -> Desk:
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    for name, role, unit in USERS:
        create_user(client, admin, name, [role], unit)
    return Desk(client, clock)


def _id(runtime, username):
    with runtime.engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT id FROM user_account WHERE username = :u"), {"u": username}).scalar())


def _audit(runtime, since_id=0):
    with runtime.engine.connect() as conn:
        return conn.execute(sa.text("SELECT id, action, outcome, reason, fields, targets FROM audit_entry WHERE id > :i ORDER BY id"), {"i": since_id}).all()


def _max_id(runtime):
    with runtime.engine.connect() as conn:
        return conn.execute(sa.text("SELECT max(id) FROM audit_entry")).scalar()


def test_person_out_of_scope_after_transfer(client, runtime, desk):
    subject = desk.subject(sex="male")
    opened = desk.open("corr.street", "community_correction", _correction(desk), subject=subject)
    fid, pid = opened["id"], opened["person_id"]
    desk.move("corr.street", fid, "received", facts=INTAKE)
    desk.move("corr.street", fid, "supervised")
    moved = desk.call("corr.street", "POST", f"{V1}/casefiles/{fid}/transfers", json={"to_org_unit": "320505"})
    assert moved.status_code == 201, moved.text
    acc = desk.call("corr.far", "POST", f"{V1}/transfers/{moved.json()['id']}/accept")
    print("accept", acc.status_code, acc.text[:200])
    print("GET /persons by corr.far:", desk.call("corr.far", "GET", f"{V1}/persons/{pid}").status_code)
    print("GET /casefiles by corr.far:", desk.call("corr.far", "GET", f"{V1}/casefiles/{fid}").status_code)
    got = desk.call("corr.far", "GET", f"{V1}/casefiles/{fid}/documents/intake-registration")
    print("print by corr.far:", got.status_code)
    if got.status_code == 200:
        text = pdfs.text(got.content)
        print("name printed:", subject["name"] in text, "full id printed:", subject["id_number"] in text)
        print("hukou line:", "户籍地" in text)
    # change-of-place notice by the new holder
    got = desk.call("corr.far", "GET", f"{V1}/casefiles/{fid}/documents/change-of-place-notice")
    print("change-of-place by corr.far:", got.status_code)
    if got.status_code == 200:
        text = pdfs.text(got.content)
        print("  full id printed:", subject["id_number"] in text)


def test_permit_person_out_of_scope(client, runtime, desk):
    person = desk.people.person()
    made = desk.call("police.district", "POST", f"{V1}/persons", purpose="registration",
                     json={"id_number": person.id_number, "name": person.name})
    assert made.status_code == 201, made.text
    dw = desk.call("police.district", "POST", f"{V1}/dwellings", purpose="registration",
                   json={"org_unit": STREET, "address": "甲街9号", "kind": "owned"}).json()["id"]
    since = (desk.today - timedelta(days=200)).isoformat()
    reg = desk.call("police.district", "POST", f"{V1}/residence-registrations", purpose="registration",
                    json={"person_id": made.json()["id"], "dwelling_id": dw, "arrived_on": since, "registered_on": since, "basis": "family"})
    assert reg.status_code == 201, reg.text
    print("registration unit", reg.json().get("org_unit"))
    permit = desk.call("police.district", "POST", f"{V1}/residence-permits", purpose="registration",
                       json={"person_id": made.json()["id"], "registration_id": reg.json()["id"], "basis": "employment"}).json()
    print("permit", permit.get("org_unit"))
    desk.call("police.district", "POST", f"{V1}/residence-permits/{permit['id']}/accept", purpose="registration")
    pid = made.json()["id"]
    print("GET /persons by police.street:", desk.call("police.street", "GET", f"{V1}/persons/{pid}", purpose="registration").status_code)
    print("GET /permit by police.street:", desk.call("police.street", "GET", f"{V1}/residence-permits/{permit['id']}", purpose="registration").status_code)
    got = desk.call("police.street", "GET", f"{V1}/residence-permits/{permit['id']}/documents/application-receipt", purpose="registration")
    print("print by police.street:", got.status_code)
    if got.status_code == 200:
        text = pdfs.text(got.content)
        print("  name:", person.name in text, "full id:", person.id_number in text)


ODD = "".join(chr(c) for c in range(1, 32) if c not in (0,)) + "\u202e\u200b\ufeff\u0301𠮷😀\U000f0000\ufffe\uffff\x7f\x85"


def test_odd_values(client, runtime, desk, caplog):
    caplog.set_level(logging.INFO)
    subject = desk.subject(sex="male")
    subject = dict(subject, name="𠮷" + subject["name"][1:])
    details = _correction(desk, prohibition_order=("禁止进入" + ODD + "x" * 40) * 100 + "长" * 5000,
                          residence_address="测试" + ODD[:60])
    made = desk.call("corr.street", "POST", f"{V1}/casefiles", json={"subject": {k: v for k, v in subject.items() if not k.startswith('_')}, "kind": "community_correction", "org_unit": STREET, "details": details})
    print("create", made.status_code, made.text[:300])
    if made.status_code != 201:
        details = _correction(desk, prohibition_order="长" * 10000)
        made = desk.call("corr.street", "POST", f"{V1}/casefiles", json={"subject": {k: v for k, v in subject.items() if not k.startswith('_')}, "kind": "community_correction", "org_unit": STREET, "details": details})
        print("create2", made.status_code, made.text[:300])
    fid = made.json()["id"]
    desk.move("corr.street", fid, "received", facts=INTAKE)
    caplog.clear()
    got = desk.call("corr.street", "GET", f"{V1}/casefiles/{fid}/documents/intake-registration")
    print("print", got.status_code, got.text[:200] if got.status_code != 200 else len(got.content))
    for r in caplog.records:
        print("LOG", r.name, r.levelname, r.getMessage()[:300])
    if got.status_code == 200:
        text = pdfs.text(got.content)
        print("name printed intact:", subject["name"] in text)


def test_restrictions_and_social(client, runtime, desk):
    opened = desk.open("corr.street", "community_correction", _correction(desk))
    fid = opened["id"]
    desk.move("corr.street", fid, "received", facts=INTAKE)
    path = f"{V1}/casefiles/{fid}/documents/intake-registration"
    print("social unassigned:", desk.call("social.street", "GET", path).status_code)
    r = desk.call("corr.street", "PUT", f"{V1}/casefiles/{fid}/restrictions", json={"excluded_user_ids": [_id(runtime, "corr.district")], "restricted_to_user_ids": [_id(runtime, "corr.street")]})
    print("restrict", r.status_code, r.text[:200])
    print("excluded corr.district:", desk.call("corr.district", "GET", path).status_code)
    print("not-restricted corr.street2:", desk.call("corr.street2", "GET", path).status_code)
    print("restricted-to corr.street:", desk.call("corr.street", "GET", path).status_code)
    print("admin:", desk.call("admin.y", "GET", path).status_code)
    print("auditor:", desk.call("auditor.x", "GET", path).status_code)
    # drug file: social worker assigned prints the agreement of a rehab measure
    drug = desk.open("police.street", "drug_rehabilitation", _drug(desk, measure="community_rehab"))
    desk.advance_to(desk.today + timedelta(days=3))
    desk.move("police.street", drug["id"], "active", facts={"agreement_signed": True})
    a = desk.call("police.street", "PUT", f"{V1}/casefiles/{drug['id']}/assignments", json={"user_ids": [_id(runtime, "social.street")]})
    print("assign", a.status_code, a.text[:200])
    got = desk.call("social.street", "GET", f"{V1}/casefiles/{drug['id']}/documents/rehabilitation-agreement")
    print("social drug agreement:", got.status_code)
    if got.status_code == 200:
        text = pdfs.text(got.content)
        print("  title:", text[:20])
    got = desk.call("police.street", "GET", f"{V1}/casefiles/{drug['id']}/documents/rehabilitation-agreement")
    print("police drug agreement title:", pdfs.text(got.content)[:20])


def test_access_report_misc(client, runtime, desk):
    import uuid
    before = _max_id(runtime)
    got = desk.call("auditor.x", "GET", f"{V1}/audit/persons/{uuid.uuid4()}/documents/access-report")
    print("random person:", got.status_code)
    for row in _audit(runtime, before):
        print("  ", row.action, row.outcome, row.reason, row.fields, row.targets)
    got = desk.call("corr.street", "GET", f"{V1}/audit/persons/{uuid.uuid4()}/documents/access-report")
    print("corr:", got.status_code, got.text[:200])
    for row in _audit(runtime, before):
        print("  ", row.action, row.outcome, row.reason, row.fields, row.targets)
