"""Employers (以业管人, issue 17 Deliver 4) over HTTP and through the employer report import,
on both engines: an employer record held by a unit, its USCC checked (GB 32100) and found
wherever held by exact match, its sealed fields, registrations linked to it (one employer per
USCC, never a copy), workers listed only in the caller's scope, and an employer's report of
hires and leavers (浙江省流动人口居住登记条例 Art. 8) that links and unlinks registrations,
idempotently, with a rejects file that holds no personal value."""

from __future__ import annotations

import csv
import json
import re
import uuid
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.access.policy import Role
from registry.access.principal import system_principal
from registry.accounts.console_login import Credentials, log_in
from registry.audit.log import AuditTrail
from registry.audit.models import AuditEntry
from registry.errors import Forbidden
from registry.people.synthetic import SyntheticPeople
from registry.residence.employer_reports import COLUMNS, REQUIRED, import_report, working_days_after
from registry.residence.models import Employer, Registration
from registry.residence.retention import erase_expired
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}
V1 = "/api/v1"
LINKED = select(sa.func.count()).select_from(Registration).where(Registration.employer_id.is_not(None))


@pytest.fixture
def world(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "police.b", ["police"], "320505")
    create_user(client, admin, "auditor.x", ["auditor"], None)
    heads = {n: as_user(client, n, STRONG_PASSWORD) for n in ("police.a", "police.b", "auditor.x")}
    heads["admin"] = admin
    people = SyntheticPeople(1717)
    dwellings = {}
    for who, unit in (("police.a", "320571001"), ("police.b", "320505")):
        made = client.post(
            f"{V1}/dwellings",
            json={"org_unit": unit, "address": f"测试路{unit}号", "kind": "dormitory"},
            headers=heads[who] | REG,
        )
        assert made.status_code == 201, made.text
        dwellings[who] = made.json()["id"]
    return {"heads": heads, "people": people, "dwellings": dwellings}


def _person(client, w, who):
    p = w["people"].person()
    made = client.post(f"{V1}/persons", json={"id_number": p.id_number, "name": p.name}, headers=w["heads"][who] | REG)
    assert made.status_code == 201, made.text
    return p, made.json()["id"]


def _register(client, w, who, person_id, *, uscc=None, name="测试样本有限公司", basis="employment"):
    body = {"person_id": person_id, "dwelling_id": w["dwellings"][who], "arrived_on": "2026-01-02", "basis": basis}
    if uscc:
        body |= {"employer_name": name, "employer_uscc": uscc}
    made = client.post(f"{V1}/residence-registrations", json=body, headers=w["heads"][who] | REG)
    assert made.status_code == 201, made.text
    return made.json()


def _employer_body(w, **extra):
    contact = w["people"].person()
    body = {
        "org_unit": "320571",
        "name": w["people"].company_name(),
        "uscc": w["people"].uscc(),
        "address": "测试路88号",
        "contact_name": contact.name,
        "contact_phone": contact.phone,
    }
    return body | extra


def test_an_employer_is_a_sealed_record_held_by_its_unit_and_found_anywhere_by_its_code(client, world, runtime):
    w, a, b = world, world["heads"]["police.a"] | REG, world["heads"]["police.b"] | REG
    body = _employer_body(w)
    made = client.post(f"{V1}/employers", json=body, headers=a)
    assert made.status_code == 201, made.text
    employer = made.json()
    assert made.headers["ETag"] == '"1"' and employer["org_unit"] == "320571"
    assert {k: employer[k] for k in ("name", "uscc", "address", "contact_name", "contact_phone")} == {
        k: body[k] for k in ("name", "uscc", "address", "contact_name", "contact_phone")
    }
    # GB 32100: a wrong check character is refused, naming the rule and not the value.
    wrong = body["uscc"][:17] + ("0" if body["uscc"][17] != "0" else "1")
    refused = client.post(f"{V1}/employers", json=body | {"uscc": wrong}, headers=a)
    assert refused.status_code == 422 and wrong not in refused.text
    # One employer per code: the second is a 409 naming the first, from any unit.
    again = client.post(f"{V1}/employers", json=body | {"org_unit": "320505"}, headers=b)
    assert again.status_code == 409 and again.json()["employer_id"] == employer["id"]
    with Session(runtime.engine) as session:
        searched = session.exec(select(AuditEntry).where(AuditEntry.action == "employer:search")).all()
    assert [(e.outcome, e.targets[0]) for e in searched] == [("denied", employer["id"])]
    # Held by 320571: another district does not read it, but finds its id by the exact code.
    assert client.get(f"{V1}/employers/{employer['id']}", headers=b).status_code == 404
    assert client.get(f"{V1}/employers/{employer['id']}", headers=a).json()["contact_phone"] == body["contact_phone"]
    found = client.post(f"{V1}/employers/search", json={"uscc": body["uscc"].lower()}, headers=b)
    assert found.status_code == 200 and found.json() == [{"id": employer["id"], "org_unit": None}]
    mine = client.post(f"{V1}/employers/search", json={"uscc": body["uscc"]}, headers=a).json()
    assert mine == [{"id": employer["id"], "org_unit": "320571"}]
    assert client.post(f"{V1}/employers/search", json={"uscc": w["people"].uscc()}, headers=b).json() == []
    # Separation of duties: an auditor sees no employer record.
    auditor = w["heads"]["auditor.x"]
    assert client.get(f"{V1}/employers/{employer['id']}", headers=auditor | REG).status_code in (400, 403)
    # Sealed at rest: neither the name nor the contact is stored in clear.
    with Session(runtime.engine) as session:
        row = session.get(Employer, uuid.UUID(employer["id"]))
        stored = b"".join(v for v in (row.name_ct, row.uscc_ct, row.contact_name_ct, row.contact_phone_ct) if v)
    for value in (body["name"], body["contact_name"], body["contact_phone"], body["uscc"]):
        assert value.encode() not in stored


def test_registrations_link_to_one_employer_and_workers_show_only_in_scope(client, world, runtime):
    w, heads = world, world["heads"]
    uscc = w["people"].uscc()
    _, pa = _person(client, w, "police.a")
    _, pb = _person(client, w, "police.b")
    _, pc = _person(client, w, "police.a")
    ra = _register(client, w, "police.a", pa, uscc=uscc)
    rb = _register(client, w, "police.b", pb, uscc=uscc.lower(), name="另一个写法")
    rc = _register(client, w, "police.a", pc, basis="family")
    # The first registration registered the employer, held by the district above its
    # dwelling's street (never the street a worker lives in); the second, in another
    # district, linked to the same one.
    assert ra["employer_id"] is not None and rb["employer_id"] == ra["employer_id"] and rc["employer_id"] is None
    employer_id = ra["employer_id"]
    with Session(runtime.engine) as session:
        assert session.exec(select(sa.func.count()).select_from(Employer)).one() == 1
        assert session.get(Employer, uuid.UUID(employer_id)).org_unit_code == "320571"
        linked = session.exec(select(AuditEntry).where(AuditEntry.action == "registration:create")).all()
        created = session.exec(select(AuditEntry).where(AuditEntry.action == "employer:create")).all()
    assert [e.targets[0] for e in created] == [employer_id]
    assert all(employer_id in e.targets for e in linked if e.targets[0] in (ra["id"], rb["id"]))
    for who, mine in (("police.a", ra), ("police.b", rb)):
        listed = client.get(f"{V1}/employers/{employer_id}/workers", headers=heads[who] | REG)
        assert listed.status_code == 200, listed.text
        assert [x["registration_id"] for x in listed.json()["items"]] == [mine["id"]]
        assert set(listed.json()["items"][0]) == {
            "registration_id",
            "person_id",
            "dwelling_id",
            "org_unit",
            "arrived_on",
        }
    unknown = client.get(f"{V1}/employers/{uuid.uuid4()}/workers", headers=heads["police.a"] | REG)
    assert unknown.status_code == 404
    # A move changes the home, not the job: the new registration keeps the link.
    other = client.post(
        f"{V1}/dwellings",
        json={"org_unit": "320571", "address": "测试路2号", "kind": "owned"},
        headers=heads["police.a"] | REG,
    ).json()["id"]
    moved = client.post(
        f"{V1}/residence-registrations/{ra['id']}/move",
        json={"dwelling_id": other, "moved_on": "2026-01-04"},
        headers=heads["police.a"] | REG,
    )
    assert moved.status_code == 201, moved.text
    assert moved.json()["employer_id"] == employer_id
    listed = client.get(f"{V1}/employers/{employer_id}/workers", headers=heads["police.a"] | REG).json()["items"]
    assert [x["registration_id"] for x in listed] == [moved.json()["id"]]


def test_working_days_skip_the_weekend():
    assert working_days_after(date(2026, 1, 2), 3) == date(2026, 1, 7)  # Friday → Wednesday
    assert working_days_after(date(2026, 1, 5), 3) == date(2026, 1, 8)  # Monday → Thursday


def _officer(runtime, username):
    """The account logged in at the console, as `registry import employer-report` does."""
    return log_in(
        runtime.engine, runtime.clock, runtime.provider, runtime.settings, Credentials(username, STRONG_PASSWORD, None)
    )


def _report(path, rows, kind):
    if kind == "csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["employer_uscc", "employer_name", "id_number", "event", "on"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.parametrize("kind", ["csv", "ndjson"])
def test_an_employer_report_links_hires_and_unlinks_leavers_once(client, world, runtime, tmp_path, kind):
    w = world
    uscc, name = w["people"].uscc(), w["people"].company_name()
    hired, ida = _person(client, w, "police.a")
    leaver, idl = _person(client, w, "police.a")
    elsewhere, ide = _person(client, w, "police.b")
    stranger = w["people"].person()  # never registered
    ra = _register(client, w, "police.a", ida, basis="other")
    rl = _register(client, w, "police.a", idl, uscc=uscc, name=name)
    _register(client, w, "police.b", ide, basis="other")
    rows = [
        {
            "employer_uscc": uscc,
            "employer_name": "",
            "id_number": hired.id_number,
            "event": "hired",
            "on": "2026-01-02",
        },
        {
            "employer_uscc": uscc,
            "employer_name": "",
            "id_number": leaver.id_number,
            "event": "left",
            "on": "2025-12-20",
        },
        {
            "employer_uscc": uscc,
            "employer_name": "",
            "id_number": elsewhere.id_number,
            "event": "hired",
            "on": "2026-01-02",
        },
        {
            "employer_uscc": uscc,
            "employer_name": "",
            "id_number": stranger.id_number,
            "event": "hired",
            "on": "2026-01-02",
        },
        {
            "employer_uscc": uscc[:17] + "?",
            "employer_name": "",
            "id_number": hired.id_number,
            "event": "hired",
            "on": "2026-01-02",
        },
        {
            "employer_uscc": uscc,
            "employer_name": "",
            "id_number": hired.id_number,
            "event": "fired",
            "on": "2026-01-02",
        },
        {
            "employer_uscc": uscc,
            "employer_name": "",
            "id_number": hired.id_number,
            "event": "hired",
            "on": "2026-02-01",
        },
    ]
    if kind == "ndjson":
        rows = [{k: v for k, v in r.items() if v != ""} for r in rows]
    source, rejects = tmp_path / f"report.{kind}", tmp_path / "rejects.csv"
    _report(source, rows, kind)
    # The report of district A, imported in district A's subtree.
    officer = _officer(runtime, "police.a")
    counts = import_report(runtime, source, rejects=rejects, principal=officer)
    assert (counts.rows, counts.linked, counts.unlinked, counts.duplicates, counts.rejected) == (7, 1, 1, 0, 5)
    assert counts.late == 1  # the leaver was reported more than three working days after leaving
    reported = rejects.read_text(encoding="utf-8")
    reasons = dict(line.split(",", 1) for line in reported.splitlines()[1:])
    assert sorted(reasons) == ["3", "4", "5", "6", "7"]
    # Registered in another district, or nowhere: the same reason, which tells no one where.
    assert reasons["3"] == reasons["4"] and "no active residence registration" in reasons["3"]
    assert "uscc" in reasons["5"] and "event" in reasons["6"] and "future" in reasons["7"]
    for value in (hired.id_number, leaver.id_number, elsewhere.id_number, stranger.id_number, hired.name, uscc):
        assert value not in reported
    heads = w["heads"]["police.a"] | REG
    assert (
        client.get(f"{V1}/residence-registrations/{ra['id']}", headers=heads).json()["employer_id"] == rl["employer_id"]
    )
    assert client.get(f"{V1}/residence-registrations/{rl['id']}", headers=heads).json()["employer_id"] is None
    workers = client.get(f"{V1}/employers/{rl['employer_id']}/workers", headers=heads).json()["items"]
    assert [x["registration_id"] for x in workers] == [ra["id"]]
    with Session(runtime.engine) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.action == "registration:employer")).all()
        linked = session.exec(
            select(sa.func.count()).select_from(Registration).where(Registration.employer_id.is_not(None))
        ).one()
    assert sorted(e.reason for e in entries) == ["hired", "left"]
    # Each row's search by ID number is on the record with its token, a refusal as denied
    # (the person registered elsewhere is named; the stranger has no id to name).
    with Session(runtime.engine) as session:
        searched = session.exec(select(AuditEntry).where(AuditEntry.action == "person:search")).all()
    assert sorted(e.outcome for e in searched) == ["allowed", "allowed", "denied", "denied"]
    # … as the officer who imported the report, never the console.
    assert all(e.search_token for e in searched) and all(e.actor_id == str(officer.account_id) for e in searched)
    assert sorted(tuple(e.targets) for e in searched if e.outcome == "denied") == [(), (ide,)]
    # Run again: nothing changes, nothing new on the record.
    again = import_report(runtime, source, principal=_officer(runtime, "police.a"))
    assert (again.linked, again.unlinked, again.duplicates, again.rejected) == (0, 0, 2, 5)
    with Session(runtime.engine) as session:
        assert len(session.exec(select(AuditEntry).where(AuditEntry.action == "registration:employer")).all()) == 2
        assert (
            session.exec(
                select(sa.func.count()).select_from(Registration).where(Registration.employer_id.is_not(None))
            ).one()
            == linked
        )


def test_a_report_naming_an_unknown_employer_registers_it_only_with_its_name(client, world, runtime, tmp_path):
    w = world
    uscc, name = w["people"].uscc(), w["people"].company_name()
    worker, pid = _person(client, w, "police.a")
    reg = _register(client, w, "police.a", pid, basis="other")
    source = tmp_path / "report.ndjson"
    row = {"employer_uscc": uscc, "id_number": worker.id_number, "event": "hired", "on": "2026-01-05"}
    _report(source, [row], "ndjson")
    rejected = []
    assert (
        import_report(runtime, source, principal=_officer(runtime, "police.a"), on_reject=rejected.append).rejected == 1
    )
    assert "employer_name" in rejected[0].reason
    _report(source, [row | {"employer_name": name}], "ndjson")
    assert import_report(runtime, source, principal=_officer(runtime, "police.a")).linked == 1
    linked = client.get(f"{V1}/residence-registrations/{reg['id']}", headers=w["heads"]["police.a"] | REG).json()
    employer = client.get(f"{V1}/employers/{linked['employer_id']}", headers=w["heads"]["police.a"] | REG).json()
    assert (employer["name"], employer["uscc"], employer["org_unit"]) == (name, uscc, "320571")


def test_a_report_is_imported_as_a_logged_in_account_within_its_scope(client, world, runtime, tmp_path):
    """Never as the console: another district's officer links no one of district A, an
    auditor and the console's own principal import nothing (refused on the record)."""
    w = world
    worker, pid = _person(client, w, "police.a")
    _register(client, w, "police.a", pid, basis="other")
    source = tmp_path / "report.ndjson"
    row = {"employer_uscc": w["people"].uscc(), "employer_name": w["people"].company_name()}
    _report(source, [row | {"id_number": worker.id_number, "event": "hired", "on": "2026-01-05"}], "ndjson")
    elsewhere = import_report(runtime, source, principal=_officer(runtime, "police.b"))
    assert (elsewhere.linked, elsewhere.rejected) == (0, 1)
    with pytest.raises(Forbidden):
        import_report(runtime, source, principal=_officer(runtime, "auditor.x"))
    with pytest.raises(Forbidden, match="named account"):
        import_report(runtime, source, principal=system_principal(Role.POLICE))
    with Session(runtime.engine) as session:
        assert session.exec(select(Employer)).all() == []  # nothing registered by a refused import


def test_the_readme_lists_the_report_columns():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("#### Employer reports") :]
    documented, required = [], set()
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith(("| `", "| **`")):
            name = re.findall(r"`([a-z_]+)`", line.split("|")[1])[0]
            documented.append(name)
            if line.startswith("| **"):
                required.add(name)
    assert tuple(documented) == COLUMNS and required == REQUIRED


def test_a_leaver_stays_unlinked_through_a_move_and_erasure_cuts_the_link(client, world, runtime, clock, tmp_path):
    w, police = world, world["heads"]["police.a"] | REG
    uscc = w["people"].uscc()
    workers = [_person(client, w, "police.a") for _ in range(3)]
    regs = [_register(client, w, "police.a", pid, uscc=uscc) for _, pid in workers]
    employer_id = regs[0]["employer_id"]
    # Paged: one registration a page, and each entry names only the page's person.
    seen, cursor = [], None
    while True:
        page = client.get(
            f"{V1}/employers/{employer_id}/workers",
            params={"limit": 1} | ({"cursor": cursor} if cursor else {}),
            headers=police,
        ).json()
        seen += [x["registration_id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(r["id"] for r in regs)
    with Session(runtime.engine) as session:
        listed = session.exec(select(AuditEntry).where(AuditEntry.action == "employer:workers")).all()
    assert [len(e.targets) for e in listed] == [2, 2, 2]
    # The employer reports the first worker has left; a later move does not link them again.
    source = tmp_path / "left.ndjson"
    _report(
        source,
        [{"employer_uscc": uscc, "id_number": workers[0][0].id_number, "event": "left", "on": "2026-01-05"}],
        "ndjson",
    )
    assert import_report(runtime, source, principal=_officer(runtime, "police.a")).unlinked == 1
    other = client.post(
        f"{V1}/dwellings", json={"org_unit": "320571", "address": "测试路3号", "kind": "owned"}, headers=police
    ).json()["id"]
    moved = client.post(
        f"{V1}/residence-registrations/{regs[0]['id']}/move",
        json={"dwelling_id": other, "moved_on": "2026-01-05"},
        headers=police,
    )
    assert moved.status_code == 201 and moved.json()["employer_id"] is None
    # Departed and past retention: the registration is erased, and the link with it.
    departed = client.post(
        f"{V1}/residence-registrations/{regs[1]['id']}/depart", json={"departed_on": "2026-01-05"}, headers=police
    )
    assert departed.status_code == 200, departed.text
    clock.advance(days=6 * 366)
    with Session(runtime.engine) as session:
        erase_expired(session, runtime.keyring, AuditTrail(clock))
        session.commit()
        erased = session.get(Registration, uuid.UUID(regs[1]["id"]))
        assert erased.erased_at is not None and erased.employer_id is None
        assert session.get(Registration, uuid.UUID(regs[2]["id"])).employer_id == uuid.UUID(employer_id)
