"""Incoming notices open casefiles (issue 17, item 5), on both engines: files in their first
state with their deadlines, as the account that logged in and audited under it; a re-run
opens nothing; rejected rows are reported by number and rule, never by value, and leave
nothing; rows beyond the account's scope or its permissions are refused; the command line
end to end; the README's columns, the JSON Schemas and the examples held to the code.

Comparisons of personal values are made into booleans or counts first, so that pytest's
assertion rewriting has nothing personal to print (the people are synthetic; the habit matters).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from registry.access.policy import Purpose, Role
from registry.access.principal import Principal, system_principal
from registry.accounts.console_login import Credentials, log_in
from registry.api.jsonschemas import SCHEMAS_DIR, render
from registry.audit.log import AuditTrail
from registry.audit.models import AuditEntry
from registry.casefiles import service as casefiles
from registry.casefiles.models import Casefile, NoticeReceipt
from registry.casefiles.notices.formats import FORMATS, NoticeKind
from registry.casefiles.notices.importer import HELD_ELSEWHERE, RECEIVED_ELSEWHERE, UNIT_UNKNOWN, import_file
from registry.casefiles.notices.synthetic import EXAMPLES, csv_text, example_text, ndjson_text, notice_rows
from registry.casefiles.workflows import resettlement
from registry.clock import SystemClock, today
from registry.context import Context, actor_of
from registry.crypto.models import BlindIndexEntry, DataKeyRecord
from registry.db import transaction
from registry.demo import ensure_demo_tree
from registry.errors import Forbidden, Unauthenticated
from registry.people.identifiers import id_number_check_char
from registry.people.models import Person
from registry.people.schemas import PersonCreate
from registry.people.service import create_person
from registry.people.synthetic import SyntheticPeople
from registry.residence.importer import system_context
from tests.api_helpers import STRONG_PASSWORD, as_user, create_user

ROOT = Path(__file__).resolve().parents[2]
UNITS = ["990171001", "990171002"]  # streets of the importing district 990171
PERSONAL = ("document_no", "id_number", "name", "hukou_address", "residence_address", "prohibition_order")


@pytest.fixture
def accounts(client, runtime, bootstrap):
    """A corrections officer and a civil-affairs officer of district 990171 (demo tree)."""
    ensure_demo_tree(runtime)
    admin = as_user(client, *bootstrap)
    made = {
        "corrections": create_user(client, admin, "corrections.notices", ["corrections"], "990171"),
        "civil_affairs": create_user(client, admin, "civil.notices", ["civil_affairs"], "990171"),
    }
    return {"admin": admin, **made}


def _log_in(runtime, username: str, password: str = STRONG_PASSWORD) -> Principal:
    return log_in(
        runtime.engine, runtime.clock, runtime.provider, runtime.settings, Credentials(username, password, None)
    )


def _count(runtime, model) -> int:
    with transaction(runtime.engine) as session:
        return session.exec(select(sa.func.count()).select_from(model)).one()


def _counts(runtime) -> dict[str, int]:
    models = {
        "persons": Person,
        "casefiles": Casefile,
        "receipts": NoticeReceipt,
        "keys": DataKeyRecord,
        "index": BlindIndexEntry,
        "audit": AuditEntry,
    }
    return {name: _count(runtime, model) for name, model in models.items()}


def _files(runtime, kind: str) -> list[Casefile]:
    with transaction(runtime.engine) as session:
        return list(session.exec(select(Casefile).where(Casefile.kind == kind)))


def _write(path: Path, kind: NoticeKind, rows) -> Path:
    text = csv_text(kind, rows) if path.suffix == ".csv" else ndjson_text(rows)
    path.write_text(text, encoding="utf-8")
    return path


def test_notices_open_files_in_their_first_state_with_their_deadlines(runtime, accounts, tmp_path):
    officer = _log_in(runtime, "corrections.notices")
    on = today(runtime.clock)
    releases = notice_rows(NoticeKind.prison_release, 12, seed=1701, units=UNITS, on=on)
    assert any(r["key_person"] for r in releases) and not all(r["key_person"] for r in releases)
    # The same notice again, its number typed another way (half-width brackets, a space): a duplicate.
    again = dict(releases[3], document_no=releases[3]["document_no"].replace("〔", "(").replace("〕", ") "))
    source = _write(tmp_path / "releases.ndjson", NoticeKind.prison_release, [*releases, again])
    counts = import_file(runtime, source, kind=NoticeKind.prison_release, principal=officer, batch_size=5)
    assert (counts.rows, counts.opened, counts.subjects_registered, counts.duplicates, counts.rejected) == (
        13,
        12,
        12,
        1,
        0,
    )
    files = _files(runtime, "resettlement")
    assert {f.status for f in files} == {"notified"} and len(files) == 12
    # A key person's hand-over at the gate is due on release day; nobody else has one.
    keyed = sorted(r["release_on"] for r in releases if r["key_person"])
    assert sorted(f.handover_due_on for f in files if f.handover_due_on is not None) == keyed
    assistance = sorted(resettlement.assistance_ends_on(r["release_on"]) for r in releases)  # 5 years
    assert sorted(f.term_ends_on for f in files) == assistance
    assert {f.org_unit_code for f in files} <= set(UNITS) and {f.opened_on for f in files} == {on}

    corrections = notice_rows(NoticeKind.court_correction, 9, seed=1702, units=UNITS, on=on)
    source_csv = _write(tmp_path / "corrections.csv", NoticeKind.court_correction, corrections)
    counts = import_file(runtime, source_csv, kind=NoticeKind.court_correction, principal=officer, batch_size=4)
    assert (counts.opened, counts.duplicates, counts.rejected) == (9, 0, 0)
    files = _files(runtime, "community_correction")
    assert {f.status for f in files} == {"awaiting_report"}
    # 社区矫正法 Art. 21: report within 10 days of the judgment taking effect.
    due = sorted(r["judgment_effective_on"] + timedelta(days=10) for r in corrections)
    assert sorted(f.report_due_on for f in files) == due
    assert sorted(f.term_ends_on for f in files) == sorted(r["term_ends_on"] for r in corrections)

    # The details keep the key-person flag and the court's number, sealed; read back as the officer.
    key_file = next(f for f in _files(runtime, "resettlement") if f.handover_due_on is not None)
    one = _files(runtime, "community_correction")[0]
    with transaction(runtime.engine) as session:
        ctx = Context(officer, AuditTrail(runtime.clock, actor_of(officer)), runtime.clock, Purpose.ASSISTANCE)
        _, details, _, _ = casefiles.read_casefile(session, ctx, runtime.keyring, casefile_id=key_file.id)
        assert details["key_person"] is True and details["source"] == "prison"
        ctx = Context(officer, AuditTrail(runtime.clock, actor_of(officer)), runtime.clock, Purpose.SUPERVISION)
        _, details, _, _ = casefiles.read_casefile(session, ctx, runtime.keyring, casefile_id=one.id)
        numbers = {r["document_no"] for r in corrections}
        assert (details["document_no"] in numbers) is True
        session.rollback()  # the reads' audit entries are not what this test counts

    # Every file opened is on the record as created by the officer, for the kind's purpose.
    with transaction(runtime.engine) as session:
        created = session.exec(select(AuditEntry).where(AuditEntry.action == "casefile:create")).all()
        ids = {str(i): kind for i, kind in session.exec(select(Casefile.id, Casefile.kind))}
    assert {e.targets[0] for e in created} == set(ids) and len(created) == len(ids) == 21
    assert {e.actor_id for e in created} == {str(officer.account_id)}
    purposes = {(ids[e.targets[0]], e.purpose) for e in created}
    assert purposes == {("resettlement", "assistance"), ("community_correction", "supervision")}

    # Re-running either file opens, writes and audits nothing.
    before = _counts(runtime)
    again_counts = import_file(runtime, source, kind=NoticeKind.prison_release, principal=officer)
    assert (again_counts.rows, again_counts.opened, again_counts.duplicates) == (13, 0, 13)
    again_counts = import_file(runtime, source_csv, kind=NoticeKind.court_correction, principal=officer)
    assert (again_counts.opened, again_counts.duplicates) == (0, 9)
    assert _counts(runtime) == before


def _held_by(runtime, unit: str, person) -> uuid.UUID:
    """A person registered by the console for `unit` (police, tree-wide)."""
    with transaction(runtime.engine) as session:
        ctx = system_context(session, runtime)
        data = PersonCreate(id_number=person.id_number, name=person.name, org_unit=unit)
        return create_person(session, ctx, runtime.keyring, data=data).id


def test_rejected_rows_name_no_value_and_leave_nothing_behind(runtime, accounts, tmp_path):
    officer = _log_in(runtime, "corrections.notices")
    on = today(runtime.clock)
    people = SyntheticPeople(1703)
    outside, inside = people.person(), people.person()
    outside_id = _held_by(runtime, "990105001", outside)  # another district: outside the officer's scope
    inside_id = _held_by(runtime, "990171002", inside)
    start = _counts(runtime)

    rows = notice_rows(NoticeKind.court_correction, 12, seed=1704, units=UNITS, on=on)
    bad_id = rows[1]["id_number"][:17] + ("0" if id_number_check_char(rows[1]["id_number"][:17]) != "0" else "1")
    wrong_sex = "female" if int(rows[9]["id_number"][16]) % 2 else "male"
    later = {"judgment_effective_on": on + timedelta(days=2), "term_starts_on": on + timedelta(days=3)}
    changes = {
        1: ({"id_number": bad_id}, "id_number: check character does not match"),
        2: ({"org_unit": "990105001"}, UNIT_UNKNOWN),  # exists, outside the scope
        3: ({"org_unit": "990171999"}, UNIT_UNKNOWN),  # does not exist: the same answer
        4: ({"id_number": outside.id_number, "name": outside.name}, HELD_ELSEWHERE),
        6: ({"term_ends_on": rows[6]["term_starts_on"] - timedelta(days=1)}, "term_ends_on: must be after"),
        7: ({"category": "house_arrest"}, "category: Input should be"),
        # Fails once the subject is registered (in the row's SAVEPOINT): both roll back.
        8: (later, "judgment_effective_on: in the future"),
        9: ({"sex": wrong_sex}, "sex: disagrees with the ID number"),
        10: ({"deciding_authority": None}, "deciding_authority: Field required"),
    }
    for n, (change, _) in changes.items():
        rows[n] = {k: v for k, v in (rows[n] | change).items() if v is not None}
    rows[5] |= {"id_number": inside.id_number, "name": inside.name, "sex": inside.sex}  # registered in scope
    rows[5].pop("birth_date", None)
    rows[11]["document_no"] = rows[6]["document_no"]  # row 7 was rejected: this one is no duplicate
    source = _write(tmp_path / "mixed.csv", NoticeKind.court_correction, rows)
    rejects = tmp_path / "rejects.csv"
    counts = import_file(
        runtime, source, kind=NoticeKind.court_correction, principal=officer, rejects=rejects, batch_size=4
    )
    assert (counts.rows, counts.opened, counts.subjects_registered, counts.duplicates, counts.rejected) == (
        12,
        3,
        2,
        0,
        9,
    )

    with rejects.open(encoding="utf-8", newline="") as handle:
        reported = list(csv.reader(handle))
    assert reported[0] == ["row_number", "reason"]
    by_row = {int(number): reason for number, reason in reported[1:]}
    assert sorted(by_row) == [n + 1 for n in changes]
    wrong = [n + 1 for n, (_, rule) in changes.items() if rule not in by_row[n + 1]]
    assert not wrong, f"rows with an unexpected reason: {wrong}"
    text = rejects.read_text(encoding="utf-8")
    values = {str(row[c]) for row in rows for c in PERSONAL if c in row and len(str(row[c])) > 2}
    values |= {outside.id_number, outside.name, inside.id_number, inside.name}
    leaked = sum(1 for v in values if v in text)
    assert leaked == 0, f"{leaked} personal values in the rejects file"

    # Three files (rows 1, 6 and 12), two new subjects; the rejected rows left no person,
    # key, index entry or receipt: each new subject has two DEKs (identity, casefile), the
    # registered one a casefile DEK.
    after = _counts(runtime)
    assert after["casefiles"] == after["receipts"] == 3
    assert after["persons"] == start["persons"] + 2
    assert after["keys"] == start["keys"] + 2 * 2 + 1
    with transaction(runtime.engine) as session:
        indexed = Counter(session.exec(select(BlindIndexEntry.record_table)))
        holders = set(session.exec(select(Casefile.person_id)))
        assert session.get(Person, outside_id).org_unit_code == "990105001"  # not moved
    assert indexed["notice_receipt"] == 3 and indexed["person"] == 2 * after["persons"]  # ID number, name+birth
    assert inside_id in holders and outside_id not in holders

    # On the record: the two ID numbers found registered (as the API's 409), and the refusal
    # naming the person held elsewhere, all under the officer's account.
    with transaction(runtime.engine) as session:
        denied = session.exec(select(AuditEntry).where(AuditEntry.outcome == "denied")).all()
    mine = [e for e in denied if e.actor_id == str(officer.account_id)]
    assert sorted(e.targets[0] for e in mine if e.action == "person:create") == sorted(
        [str(outside_id), str(inside_id)]
    )
    assert [e.targets for e in mine if e.action == "access:denied"] == [[str(outside_id)]]


def test_an_account_without_the_kinds_permission_is_refused_as_a_whole(runtime, accounts, tmp_path):
    clerk = _log_in(runtime, "civil.notices")  # civil affairs: resettlement files only
    on = today(runtime.clock)
    rows = notice_rows(NoticeKind.court_correction, 3, seed=1705, units=UNITS, on=on)
    source = _write(tmp_path / "corrections.csv", NoticeKind.court_correction, rows)
    before = _counts(runtime)
    rejects = tmp_path / "rejects.csv"
    with pytest.raises(Forbidden, match="casefile:community_correction"):
        import_file(runtime, source, kind=NoticeKind.court_correction, principal=clerk, rejects=rejects)
    after = _counts(runtime)
    assert {k: after[k] - before[k] for k in after} == {k: 0 for k in after} | {"audit": 1}
    assert not rejects.exists()
    with transaction(runtime.engine) as session:
        entry = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()  # type: ignore[union-attr]
    assert (entry.action, entry.outcome, entry.actor_id) == ("access:denied", "denied", str(clerk.account_id))

    # Its own kind it may import: release notices open resettlement files as civil affairs.
    releases = notice_rows(NoticeKind.prison_release, 2, seed=1706, units=UNITS, on=on)
    source = _write(tmp_path / "releases.csv", NoticeKind.prison_release, releases)
    assert import_file(runtime, source, kind=NoticeKind.prison_release, principal=clerk).opened == 2

    # The console's tree-wide principal never imports notices, whatever its roles.
    with pytest.raises(Forbidden, match="named account"):
        import_file(runtime, source, kind=NoticeKind.prison_release, principal=system_principal(Role.CORRECTIONS))


def test_a_wrong_password_or_a_disabled_account_imports_nothing(client, runtime, accounts, tmp_path):
    with pytest.raises(Unauthenticated, match="invalid credentials"):
        _log_in(runtime, "corrections.notices", "not the password")
    with transaction(runtime.engine) as session:
        refused = session.exec(select(AuditEntry).where(AuditEntry.action == "auth:login")).all()
    assert [(e.outcome, e.targets, e.reason) for e in refused][-1] == (
        "denied",
        [str(accounts["corrections"]["id"])],
        "bad_password",
    )

    # Logged in, then disabled: the next batch stops the import (as a token dies with it).
    officer = _log_in(runtime, "corrections.notices")
    version = {"If-Match": f'"{accounts["corrections"]["version"]}"'}
    disabled = client.patch(
        f"/api/v1/users/{officer.account_id}", json={"status": "disabled"}, headers=accounts["admin"] | version
    )
    assert disabled.status_code == 200, disabled.text
    rows = notice_rows(NoticeKind.prison_release, 2, seed=1707, units=UNITS, on=today(runtime.clock))
    source = _write(tmp_path / "releases.ndjson", NoticeKind.prison_release, rows)
    with pytest.raises(Unauthenticated, match="disabled"):
        import_file(runtime, source, kind=NoticeKind.prison_release, principal=officer)
    assert _count(runtime, Casefile) == 0


def test_the_command_imports_as_the_account_with_a_progress_bar(runtime, accounts, settings, database_url, tmp_path):
    """`registry import notices` end to end, in a process of its own on this test's database."""
    registry = str(Path(sys.executable).parent / "registry")
    env = {
        **os.environ,
        "REGISTRY_DATA_DIR": str(settings.data_dir),
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_PROFILE": "dev",
        "COLUMNS": "200",
    }
    rows = notice_rows(NoticeKind.court_correction, 4, seed=1708, units=UNITS, on=today(SystemClock()))
    rows[2]["org_unit"] = "990105001"  # outside the officer's district
    source, rejects = _write(tmp_path / "in.csv", NoticeKind.court_correction, rows), tmp_path / "rejects.csv"
    command = [registry, "import", "notices", str(source), "--kind", "court_correction"]
    command += ["--username", "corrections.notices", "--rejects", str(rejects)]

    def run(password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            env=env | {"REGISTRY_IMPORTER_PASSWORD": password},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )

    refused = run("not the password")
    assert refused.returncode == 2 and "invalid credentials" in refused.stderr, refused.stderr
    assert _count(runtime, Casefile) == 0

    first = run(STRONG_PASSWORD)
    assert first.returncode == 1, first.stderr  # one row rejected
    assert "4/4" in first.stderr  # the progress bar's rows done of all
    summary = "rows 4, files opened 3 (3 with a new subject), skipped as duplicates 0, rejected 1"
    assert summary in first.stderr, first.stderr
    assert rejects.read_text(encoding="utf-8").splitlines() == ["row_number,reason", f"3,{UNIT_UNKNOWN}"]
    second = run(STRONG_PASSWORD)
    assert "files opened 0 (0 with a new subject), skipped as duplicates 3, rejected 1" in second.stderr
    shown = first.stderr + second.stderr + first.stdout + second.stdout
    assert sum(1 for r in rows for c in PERSONAL if c in r and str(r[c]) in shown) == 0
    with transaction(runtime.engine) as session:
        actors = set(session.exec(select(AuditEntry.actor_id).where(AuditEntry.action == "casefile:create")))
    assert actors == {str(accounts["corrections"]["id"])}


# -- the formats as documented --------------------------------------------------------------


def _readme_tables() -> list[list[str]]:
    """The column cells of each table under README's "#### Incoming notices", in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("#### Incoming notices") :].split("\n#", 1)[0]
    tables: list[list[str]] = []
    inside = False
    for line in section.splitlines():
        if line.startswith("| column"):
            tables.append([])
            inside = True
        elif inside and line.startswith("| ") and not line.startswith("|---"):
            tables[-1].append(line.strip("|").split("|")[0].strip())
        elif not line.startswith("|"):
            inside = False
    return tables


def test_the_readme_lists_the_columns_each_kind_reads():
    common, *per_kind = _readme_tables()
    assert len(per_kind) == 2
    for kind, cells in zip((NoticeKind.prison_release, NoticeKind.court_correction), per_kind, strict=True):
        form = FORMATS[kind]
        documented = []
        for cell in [*common, *cells]:
            names = re.findall(r"`([a-z_]+)`", cell)
            documented += names
            for name in names:  # bold when required: `**`name`**`
                assert (f"**`{name}`**" in cell) == (name in form.required), (kind, name)
        assert documented == list(form.columns), kind


def test_the_json_schemas_are_the_row_models():
    files = render()
    for kind, form in FORMATS.items():
        name = f"notice.{kind}.json"
        published = json.loads((SCHEMAS_DIR / name).read_text(encoding="utf-8"))
        assert published == json.loads(files[name])
        assert set(published["properties"]) == set(form.columns)  # the files sort their keys
        assert set(published["required"]) == form.required and published["additionalProperties"] is False


def test_the_examples_are_generated_and_import(runtime, accounts):
    officer = _log_in(runtime, "corrections.notices")
    assert today(runtime.clock) == date(2026, 1, 5)  # the examples' day (`synthetic.EXAMPLE_DAY`)
    for name, (kind, _) in EXAMPLES.items():
        path = ROOT / "docs" / "examples" / name
        assert path.read_text(encoding="utf-8") == example_text(name), f"{name}: run the generator"
        rejected: list = []
        counts = import_file(runtime, path, kind=kind, principal=officer, on_reject=rejected.append)
        assert (counts.opened, counts.rejected) == (6, 0), rejected


def test_one_judgment_opens_a_file_per_co_defendant_and_says_nothing_across_units(client, runtime, accounts, tmp_path):
    """helper-35: a judgment names several co-defendants (one number, a file each); a notice
    whose file another district holds is a refusal on the record, never a silent duplicate;
    the row's own unit is checked before any receipt is consulted."""
    create_user(client, accounts["admin"], "corrections.b", ["corrections"], "990105")
    a, b = _log_in(runtime, "corrections.notices"), _log_in(runtime, "corrections.b")
    on = today(runtime.clock)
    first, second = notice_rows(NoticeKind.court_correction, 2, seed=1711, units=["990171001"], on=on)
    number = first["document_no"]
    second["document_no"] = number  # a co-defendant of the same judgment
    source = _write(tmp_path / "a.ndjson", NoticeKind.court_correction, [first])
    assert import_file(runtime, source, kind=NoticeKind.court_correction, principal=a).opened == 1

    # District B: the same notice (spelt with a zero-width space) for the subject A holds,
    # the co-defendant (twice), and the number alone in a unit that is not B's.
    spelt = number[:3] + "\u200b" + number[3:]
    rows = [
        first | {"document_no": spelt, "org_unit": "990105001"},
        second | {"org_unit": "990105001"},
        second | {"org_unit": "990105001"},
        second | {"org_unit": "990171002"},
        second | {"document_no": "\u200b\u200b", "org_unit": "990105001"},
    ]
    source = _write(tmp_path / "b.ndjson", NoticeKind.court_correction, rows)
    rejected = []
    counts = import_file(runtime, source, kind=NoticeKind.court_correction, principal=b, on_reject=rejected.append)
    assert (counts.opened, counts.duplicates, counts.rejected) == (1, 1, 3)
    reasons = {r.row_number: r.reason for r in rejected}
    assert reasons[1] == RECEIVED_ELSEWHERE and reasons[4] == UNIT_UNKNOWN and "visible" in reasons[5]
    with transaction(runtime.engine) as session:
        files = {c.org_unit_code: c.id for c in session.exec(select(Casefile))}
        denied = session.exec(
            select(AuditEntry).where(AuditEntry.actor_id == str(b.account_id), AuditEntry.action == "access:denied")
        ).all()
    assert sorted(files) == ["990105001", "990171001"]
    assert [e.targets for e in denied] == [[str(files["990171001"])]]  # A's file, named on B's record

    # A again: its own notice is a duplicate; the co-defendant's file is B's: refused.
    source = _write(tmp_path / "a2.ndjson", NoticeKind.court_correction, [first, second])
    rejected = []
    counts = import_file(runtime, source, kind=NoticeKind.court_correction, principal=a, on_reject=rejected.append)
    assert (counts.opened, counts.duplicates, counts.rejected) == (0, 1, 1)
    assert [r.reason for r in rejected] == [RECEIVED_ELSEWHERE]


def test_a_password_changed_during_the_import_stops_it(client, runtime, accounts, tmp_path):
    """A session dies with the account's token version, as every bearer token does."""
    officer = _log_in(runtime, "corrections.notices")
    own = as_user(client, "corrections.notices", STRONG_PASSWORD)
    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": STRONG_PASSWORD, "new_password": STRONG_PASSWORD + "-2"},
        headers=own,
    )
    assert changed.status_code == 204, changed.text
    rows = notice_rows(NoticeKind.prison_release, 2, seed=1712, units=UNITS, on=today(runtime.clock))
    source = _write(tmp_path / "releases.ndjson", NoticeKind.prison_release, rows)
    with pytest.raises(Unauthenticated, match="reset"):
        import_file(runtime, source, kind=NoticeKind.prison_release, principal=officer)
    assert _count(runtime, Casefile) == 0
