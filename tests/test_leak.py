"""No personal value at rest or in logs: seed 1,000 synthetic persons over HTTP, give some
of them a dwelling, a registration and a community-correction file whose timeline notes
name them (as staff notes do), then look for every name, ID number and phone in the
database files (SQLite, WAL included) or a pg_dump (PostgreSQL), the captured log lines
and the audit table.

Failures report artefacts and counts only, never a value (the people are synthetic, but
the habit matters); comparisons of personal values are made into booleans first so that
pytest's assertion rewriting has nothing to print.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import registry.models  # noqa: F401  (every descriptor registered)
from registry.audit.models import AuditEntry
from registry.crypto.sealed import descriptors
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user
from tests.support.leak import Needles, captured_logs, pg_dump
from tests.support.notices import receive_notice

SEED = 20260105
COUNT = 1_000
ORG_UNIT = "320571"
PURPOSE = {"X-Purpose": "registration"}
KNOWN_PUBLIC = b"Test district A"  # an org unit name: proves an artefact holds this test's data


def _seed(client, police, people) -> list[str]:
    ids = []
    for p in people:
        body = {"id_number": p.id_number, "name": p.name, "phone": p.phone, "hukou_address": p.hukou_address}
        response = client.post("/api/v1/persons", json=body | {"org_unit": ORG_UNIT}, headers=police)
        assert response.status_code == 201, f"create answered {response.status_code}"
        ids.append(response.json()["id"])
    return ids


def _read_and_search(client, police, people, ids) -> None:
    for p, person_id in list(zip(people, ids, strict=True))[:: len(people) // 5]:
        read = client.get(f"/api/v1/persons/{person_id}", headers=police)
        assert read.status_code == 200, f"read answered {read.status_code}"
        same = read.json()["id_number"] == p.id_number and read.json()["phone"] == p.phone
        assert same, "read returned another person's values"
        search = client.post("/api/v1/persons/search", json={"id_number": p.id_number}, headers=police)
        assert search.status_code == 200, f"search answered {search.status_code}"
        assert [m["id"] for m in search.json()["items"]] == [person_id]


INTAKE = {"documents_checked": True, "identity_verified": True, "rules_read": True}
WORKLOAD = 20  # persons who also get a dwelling, a registration and a casefile with notes
CORRECTION = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2025)测刑初9号",
    "judgment_effective_on": "2025-12-20",
    "term_starts_on": "2025-12-20",
    "term_ends_on": "2026-12-19",
}


def _residence_and_casefiles(client, police, corrections, people, ids, synthetic) -> None:
    """The rest of the workload: records whose sealed parts name the person."""
    for n, (p, person_id) in enumerate(list(zip(people, ids, strict=True))[:WORKLOAD]):
        landlord_id = ids[-1 - n]
        dwelling = {
            "org_unit": "320571001",
            "address": synthetic.address(),
            "kind": "rental",
            "landlord_person_id": landlord_id,
            "pledge_signed_on": "2025-12-01",
        }
        made = client.post("/api/v1/dwellings", json=dwelling, headers=police)
        assert made.status_code == 201, f"dwelling answered {made.status_code}"
        dwelling_id = made.json()["id"]
        # A sole trader (个体工商户): the employer's name is the person's, and so is its contact.
        uscc = synthetic.uscc()
        employer = {"org_unit": "320571", "name": f"{p.name}小吃店", "uscc": uscc, "address": synthetic.address()}
        employer |= {"contact_name": p.name, "contact_phone": p.phone}
        made = client.post("/api/v1/employers", json=employer, headers=police)
        assert made.status_code == 201, f"employer answered {made.status_code}"
        registration = {"person_id": person_id, "dwelling_id": dwelling_id, "arrived_on": "2026-01-02"}
        registration |= {"basis": "employment", "employer_name": "测试科技有限公司", "employer_uscc": uscc}
        made = client.post("/api/v1/residence-registrations", json=registration, headers=police)
        assert made.status_code == 201, f"registration answered {made.status_code}"
        casefile = {"person_id": person_id, "kind": "community_correction", "org_unit": "320571"}
        made = client.post("/api/v1/casefiles", json=casefile | {"details": CORRECTION}, headers=corrections)
        assert made.status_code == 201, f"casefile answered {made.status_code}"
        note = {"note": f"{p.name}（{p.phone}，{p.id_number}）按时报到"}
        event = {"type": "visit", "occurred_on": "2026-01-05", "body": note}
        made = client.post(f"/api/v1/casefiles/{made.json()['id']}/events", json=event, headers=corrections)
        assert made.status_code == 201, f"event answered {made.status_code}: {made.json().get('detail')}"


def _free_text(client, police, corrections, corrections_b, p, person_id, synthetic) -> None:
    """Every other sealed column, each holding text that names the person (staff write
    such text): the permit's materials list and reason, a leave's destination, reason and
    decision note, a break-glass justification."""
    dwelling = {"org_unit": "320571001", "address": synthetic.address(), "kind": "owned"}
    dwelling_id = client.post("/api/v1/dwellings", json=dwelling, headers=police).json()["id"]
    registration = {"person_id": person_id, "dwelling_id": dwelling_id, "arrived_on": "2025-06-01", "basis": "family"}
    registration["registered_on"] = "2025-06-01"  # six months before the clock: a permit is possible
    registration_id = client.post("/api/v1/residence-registrations", json=registration, headers=police).json()["id"]
    permit = {"person_id": person_id, "registration_id": registration_id, "basis": "residence"}
    made = client.post("/api/v1/residence-permits", json=permit, headers=police)
    assert made.status_code == 201, f"permit answered {made.status_code}"
    permit_id = made.json()["id"]
    for step, body in (("request-materials", {"missing": [f"{p.name}的居住证明"]}), ("reject", {"reason": p.name})):
        made = client.post(f"/api/v1/residence-permits/{permit_id}/{step}", json=body, headers=police)
        assert made.status_code == 200, f"{step} answered {made.status_code}"
    issued = client.post("/api/v1/residence-permits", json=permit, headers=police).json()["id"]
    for step in ("accept", "issue"):
        made = client.post(f"/api/v1/residence-permits/{issued}/{step}", headers=police)
        assert made.status_code == 200, f"{step} answered {made.status_code}"
    casefile = {"person_id": person_id, "kind": "community_correction", "org_unit": "320571", "details": CORRECTION}
    file_id = client.post("/api/v1/casefiles", json=casefile, headers=corrections).json()["id"]
    intake = {"to": "received", "on": "2026-01-05", "facts": INTAKE}
    made = client.post(f"/api/v1/casefiles/{file_id}/transitions", json=intake, headers=corrections)
    assert made.status_code == 200, f"intake answered {made.status_code}"
    leave = {"starts_on": "2026-01-10", "ends_on": "2026-01-12", "destination": p.name, "reason": f"探望{p.name}"}
    made = client.post(f"/api/v1/casefiles/{file_id}/leave-requests", json=leave, headers=corrections)
    assert made.status_code == 201, f"leave answered {made.status_code}"
    decision = {"approve": False, "note": f"{p.name}：与报到冲突"}
    made = client.post(f"/api/v1/leave-requests/{made.json()['id']}/decision", json=decision, headers=corrections)
    assert made.status_code == 200, f"decision answered {made.status_code}"
    grant = {"reason_code": "emergency", "justification": f"协查{p.name}（{p.phone}）"}
    made = client.post(f"/api/v1/casefiles/{file_id}/break-glass", json=grant, headers=corrections_b)
    assert made.status_code == 201, f"break-glass answered {made.status_code}"


def _every_sealed_column_written(engine: sa.Engine) -> None:
    """The workload reaches every column the descriptors seal: a new one fails here until
    the workload writes it, so the scan below covers it."""
    with engine.connect() as conn:
        for d in descriptors():
            for f in d.fields:
                column = d.table.c[f.column]
                written = conn.execute(sa.select(sa.func.count()).where(column.is_not(None))).scalar()
                assert written, f"{d.name}.{f.name}: the leak workload writes no value into it"


def _audit_rows(engine: sa.Engine) -> bytes:
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(sa.select(AuditEntry.__table__))]
    assert sum(r["action"] == "person:create" and r["outcome"] == "allowed" for r in rows) == COUNT
    # The duplicate (a 409 that tells an ID number exists) is on the record as refused; so is
    # the notice's subject, found registered (and the file opened on them).
    assert sum(r["action"] == "person:create" and r["outcome"] == "denied" for r in rows) == 2
    return json.dumps(rows, default=str, ensure_ascii=False).encode()


def _sqlite_artefacts(database_url: str) -> dict[str, bytes]:
    db = Path(make_url(database_url).database or "")
    wal = Path(f"{db}-wal")
    assert wal.exists(), "no WAL file: is the database still in WAL mode?"
    artefacts = {"sqlite database file": db.read_bytes(), "sqlite WAL file": wal.read_bytes()}
    assert KNOWN_PUBLIC in artefacts["sqlite database file"] + artefacts["sqlite WAL file"]
    with closing(sqlite3.connect(db, timeout=10)) as conn:  # a connection of its own
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0, "checkpoint blocked"
    artefacts["sqlite database file after checkpoint"] = db.read_bytes()
    artefacts["sqlite WAL file after checkpoint"] = wal.read_bytes()
    assert KNOWN_PUBLIC in artefacts["sqlite database file after checkpoint"]
    return artefacts


def test_no_personal_value_in_storage_logs_or_audit(client, bootstrap, runtime, database_url, tmp_path):
    people = list(SyntheticPeople(SEED).people(COUNT + 1))
    seeded, refused = people[:COUNT], people[COUNT]  # `refused` only ever travels in a 422
    wanted = Needles(
        {
            "name": [p.name for p in people],
            "id_number": [p.id_number for p in people],
            "phone": [p.phone for p in people],
        }
    )
    control = next(p.name for p in seeded if len(p.name) == 2)  # contains no other seeded name

    with captured_logs("DEBUG") as buffer:
        admin = as_user(client, *bootstrap)
        create_tree(client, admin)
        create_user(client, admin, "officer.leak", ["police"], ORG_UNIT)
        create_user(client, admin, "corrections.leak", ["corrections"], ORG_UNIT)
        police = as_user(client, "officer.leak", STRONG_PASSWORD) | PURPOSE
        corrections = as_user(client, "corrections.leak", STRONG_PASSWORD) | {"X-Purpose": "supervision"}

        started = time.perf_counter()
        ids = _seed(client, police, seeded)
        seconds = time.perf_counter() - started
        engine = runtime.engine.dialect.name
        print(f"\n{engine}: {COUNT} creates in {seconds:.1f} s ({1000 * seconds / COUNT:.1f} ms each)")

        _read_and_search(client, police, seeded, ids)
        _residence_and_casefiles(client, police, corrections, seeded, ids, SyntheticPeople(SEED + 1))
        create_user(client, admin, "corrections.other", ["corrections"], "320505")
        corrections_b = as_user(client, "corrections.other", STRONG_PASSWORD) | {"X-Purpose": "emergency"}
        # A person outside the first workload, who has no registration yet.
        _free_text(
            client, police, corrections, corrections_b, seeded[WORKLOAD], ids[WORKLOAD], SyntheticPeople(SEED + 2)
        )
        noticed = seeded[WORKLOAD + 1]  # a court's notice names them: a file, and the notice's receipt
        receive_notice(
            runtime, tmp_path, username="corrections.leak", id_number=noticed.id_number, name=noticed.name,
            org_unit=ORG_UNIT, document_no="(2025)测刑初1017号",
        )  # fmt: skip
        _every_sealed_column_written(runtime.engine)
        first = seeded[0]
        duplicate = {"id_number": first.id_number, "name": first.name, "phone": first.phone}
        assert client.post("/api/v1/persons", json=duplicate, headers=police).status_code == 409
        unknown_field = {"id_number": refused.id_number, "name": refused.name, "guardian_phone": refused.phone}
        invalid = client.post("/api/v1/persons", json=unknown_field, headers=police)
        assert invalid.status_code == 422

        log_text = buffer.getvalue()
        # The control: one name logged on purpose, through the same handler and formatter;
        # it is scanned on its own and kept out of the text scanned for leaks.
        logging.getLogger("test").info(control)
        control_line = buffer.getvalue()[len(log_text) :]

    requests = [json.loads(line) for line in log_text.splitlines() if '"message": "request"' in line]
    assert sum(r.get("route") == "/api/v1/persons" and r.get("status") == 201 for r in requests) == COUNT
    control_found = wanted.found(control_line.encode())
    assert control_found == {"name": 1}, f"the scanner misses a name in a captured log line: {control_found}"

    artefacts = {"log lines": log_text.encode(), "422 response body": invalid.content}
    artefacts["audit_entry rows as JSON"] = _audit_rows(runtime.engine)
    if engine == "sqlite":
        artefacts |= _sqlite_artefacts(database_url)
    else:
        artefacts["pg_dump"] = pg_dump(database_url)
        assert KNOWN_PUBLIC in artefacts["pg_dump"]

    leaks = {name: hits for name, artefact in artefacts.items() if (hits := wanted.found(artefact))}
    assert not leaks, f"personal values found (distinct values per kind, by artefact): {leaks}"
