"""The residence importer on both engines: good rows land once, bad rows are reported by
number and rule (never by value) and leave nothing behind, a second run adds nothing, and
every imported record has its audit entry.

Comparisons of personal values are made into booleans or counts first, so that pytest's
assertion rewriting has nothing personal to print (the people are synthetic; the habit matters).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from registry.audit.models import AuditEntry
from registry.clock import SystemClock, today
from registry.crypto.models import BlindIndexEntry, DataKeyRecord
from registry.db import transaction
from registry.demo import DEMO_ROOT, ensure_demo_tree, leaf_units, seed_rows
from registry.people import service as people
from registry.people.identifiers import id_number_check_char, parse_uscc
from registry.people.models import Person
from registry.people.schemas import PersonSearch
from registry.people.synthetic import SyntheticPeople
from registry.residence.dwellings import normalise_address
from registry.residence.importer import (
    COLUMNS,
    ImportFileError,
    ResidenceRow,
    count_rows,
    import_file,
    read_rows,
    system_context,
)
from registry.residence.models import Dwelling, Employer, Registration

GOOD = 291
PERSONAL = (
    "id_number",
    "name",
    "phone",
    "hukou_address",
    "dwelling_address",
    "landlord_id_number",
    "employer_name",
    "employer_uscc",
)


def _write_csv(path: Path, rows: list[ResidenceRow]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in rows:
            values = asdict(row)
            writer.writerow(["" if values[c] is None else str(values[c]) for c in COLUMNS])


def _bad_rows(on, units: list[str]) -> list[tuple[ResidenceRow, str]]:
    """Nine bad rows (3 % of 300), each a fresh synthetic person, with the rule each breaks."""
    source = SyntheticPeople(990_001)
    uscc = source.uscc()

    def base(**changes) -> ResidenceRow:
        p = source.person()
        row = ResidenceRow(
            id_number=p.id_number,
            name=p.name,
            phone=p.phone,
            hukou_address=p.hukou_address,
            dwelling_org_unit=units[0],
            dwelling_address=f"坏行测试路{len(p.name)}号{p.phone[-4:]}室",
            dwelling_kind="owned",
            arrived_on=on - timedelta(days=30),
            registered_on=on - timedelta(days=29),
            basis="family",
        )
        return replace(row, **changes)

    good_id = base().id_number
    wrong_check = "0" if id_number_check_char(good_id[:17]) != "0" else "1"
    wrong_uscc = uscc[:17] + ("0" if uscc[17] != "0" else "1")
    shared_address = "回滚验证路8号1幢101室"
    return [
        (replace(base(), id_number=good_id[:17] + wrong_check), "id_number: check character does not match"),
        (base(phone="12345678901"), "phone: not a mainland mobile number"),
        (
            base(basis="employment", employer_name="测试样本有限公司", employer_uscc=wrong_uscc),
            "uscc: check character does not match",
        ),
        (base(registered_on=on - timedelta(days=31)), "registered_on: before arrived_on"),
        (base(dwelling_org_unit="990171999"), "dwelling_org_unit: org unit not found"),
        # Fails in the registration service, after its person and dwelling were written
        # in the row's SAVEPOINT: both must be rolled back (a later good row reuses the address).
        (base(basis="employment", dwelling_address=shared_address), "employer: employment needs"),
        (base(dwelling_kind="rental"), "landlord: a rental names its landlord"),
        (base(dwelling_kind="tent"), "dwelling_kind: Input should be"),
        (base(arrived_on=on + timedelta(days=2), registered_on=None), "arrived_on: in the future"),
    ]


@pytest.fixture
def world(runtime, tmp_path):
    ensure_demo_tree(runtime)
    with transaction(runtime.engine) as session:
        units = leaf_units(session, DEMO_ROOT)
    on = today(runtime.clock)
    good = seed_rows(GOOD, seed=4242, units=units, on=on)
    bad = _bad_rows(on, units)
    # The good row after the rolled-back one reuses its dwelling address.
    reuse = next(i for i, r in enumerate(good) if i > 200 and r.dwelling_kind == "owned")
    good[reuse] = replace(good[reuse], dwelling_org_unit=units[0], dwelling_address=bad[5][0].dwelling_address)
    rows: list[ResidenceRow] = list(good)
    for k, (row, _) in enumerate(bad):
        rows.insert(30 + 25 * k, row)  # after the landlords' own rows; the 6th bad row precedes `reuse`
    expected = {rows.index(row) + 1: rule for row, rule in bad}
    assert len(rows) == 300 and rows.index(bad[5][0]) < rows.index(good[reuse])
    source = tmp_path / "residents.csv"
    _write_csv(source, rows)
    return {"source": source, "good": good, "bad": [r for r, _ in bad], "expected": expected, "rows": rows}


def _counts(runtime) -> dict[str, int]:
    with transaction(runtime.engine) as session:
        return {
            name: session.exec(select(sa.func.count()).select_from(model)).one()
            for name, model in (
                ("persons", Person),
                ("dwellings", Dwelling),
                ("employers", Employer),
                ("registrations", Registration),
                ("keys", DataKeyRecord),
                ("index", BlindIndexEntry),
                ("audit", AuditEntry),
            )
        }


def test_import_lands_good_rows_once_and_reports_bad_rows_without_values(runtime, world, tmp_path):
    rejects = tmp_path / "rejects.csv"
    counts = import_file(runtime, world["source"], rejects=rejects, batch_size=64)
    assert (counts.rows, counts.imported, counts.duplicates, counts.rejected) == (300, GOOD, 0, 9)

    # Rejections: the right row numbers, the rule named, and no personal value anywhere.
    with rejects.open(encoding="utf-8", newline="") as handle:
        reported = list(csv.reader(handle))
    assert reported[0] == ["row_number", "reason"]
    by_row = {int(number): reason for number, reason in reported[1:]}
    assert sorted(by_row) == sorted(world["expected"])
    wrong = [n for n, rule in world["expected"].items() if rule not in by_row[n]]
    assert not wrong, f"rows with an unexpected reason: {wrong}"
    text = rejects.read_text(encoding="utf-8")
    values = {
        str(v)
        for row in world["rows"]
        for v in (getattr(row, c) for c in PERSONAL)
        if v is not None and len(str(v)) > 2
    }
    leaked = sum(1 for v in values if v in text)
    assert leaked == 0, f"{leaked} personal values in the rejects file"

    # Good rows landed exactly once; the bad rows left nothing (no person, key or index entry).
    good = world["good"]
    ids = {r.id_number for r in good}
    addresses = {(r.dwelling_org_unit, normalise_address(r.dwelling_address)) for r in good}
    after = _counts(runtime)
    assert after["persons"] == len(ids) == counts.persons_created
    assert after["registrations"] == GOOD
    assert after["dwellings"] == len(addresses) == counts.dwellings_created
    # Two DEKs per person (identity, residence), one per dwelling and per employer (each
    # registered once, by its USCC): no orphan from a rolled-back row.
    employers = {parse_uscc(r.employer_uscc) for r in good if r.employer_uscc}
    assert after["employers"] == len(employers)
    assert after["keys"] == 2 * len(ids) + len(addresses) + len(employers)
    with_phone = sum(1 for r in good if r.phone)
    assert after["index"] == 2 * len(ids) + with_phone + len(addresses) + len(employers)

    with transaction(runtime.engine) as session:
        ctx = system_context(session, runtime)
        found_good = [
            len(people.search_persons(session, ctx, runtime.keyring, query=PersonSearch(id_number=r.id_number)))
            for r in good[::37]
        ]
        found_bad = [
            len(people.search_persons(session, ctx, runtime.keyring, query=PersonSearch(id_number=r.id_number)))
            for r in world["bad"][1:]  # the first has an invalid ID number: it cannot even be searched
        ]
        session.rollback()  # the searches' audit entries are not what this test counts
    assert found_good == [1] * len(found_good)
    assert found_bad == [0] * len(found_bad)

    # Every imported record has its audit entry, by the `system` actor for `registration`.
    with transaction(runtime.engine) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.actor_id == "system")).all()
        registration_ids = {str(i) for i in session.exec(select(Registration.id))}
        person_ids = {str(i) for i in session.exec(select(Person.id))}
        dwelling_ids = {str(i) for i in session.exec(select(Dwelling.id))}
        employer_ids = {str(i) for i in session.exec(select(Employer.id))}
        employment = select(Registration.employer_id).where(Registration.basis == "employment")
        linked = {str(i) for i in session.exec(employment)}
    audited: dict[str, set[str]] = {}
    for entry in entries:
        audited.setdefault(entry.action, set()).update(entry.targets)
        assert entry.purpose == "registration" or entry.action == "org_unit:create"
    assert registration_ids <= audited["registration:create"]
    assert person_ids <= audited["person:create"]
    assert dwelling_ids <= audited["dwelling:create"]
    # Each employment registration links to the one employer of its USCC.
    assert employer_ids <= audited["employer:create"] and linked == employer_ids

    # A second run adds nothing: every good row is a duplicate, the bad ones are rejected again.
    again = import_file(runtime, world["source"], rejects=tmp_path / "again.csv", batch_size=64)
    assert (again.rows, again.imported, again.duplicates, again.rejected) == (300, 0, GOOD, 9)
    assert (again.persons_created, again.dwellings_created) == (0, 0)
    assert _counts(runtime) == after


def test_org_unit_option_limits_the_import_to_a_subtree(runtime, tmp_path):
    ensure_demo_tree(runtime)
    on = today(runtime.clock)
    rows = seed_rows(6, seed=7, units=["990171001", "990105001"], on=on)
    rows = [replace(r, dwelling_kind="owned", landlord_id_number=None, pledge_signed_on=None) for r in rows]
    source = tmp_path / "two-districts.csv"
    _write_csv(source, rows)
    inside = sum(1 for r in rows if r.dwelling_org_unit.startswith("990105"))
    rejected: list = []
    counts = import_file(runtime, source, org_unit="990105", on_reject=rejected.append)
    assert counts.imported == inside and counts.rejected == len(rows) - inside
    assert all("dwelling_org_unit: org unit not found" in r.reason for r in rejected)
    with transaction(runtime.engine) as session:
        units = set(session.exec(select(Registration.org_unit_code)))
    assert units <= {"990105001"}


def test_ndjson_rows_and_unusable_lines(runtime, tmp_path):
    ensure_demo_tree(runtime)
    on = today(runtime.clock)
    good = seed_rows(3, seed=11, units=["990171002"], on=on)
    lines = []
    for row in good:
        values = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in asdict(row).items()}
        values = {k: v for k, v in values.items() if v is not None}
        lines.append(json.dumps(values | ({"phone": int(row.phone)} if row.phone else {}), ensure_ascii=False))
    extra = json.loads(lines[0]) | {"favourite_colour": "blue"}
    lines[1:1] = ["", "{not json", json.dumps(["a", "list"]), json.dumps(extra, ensure_ascii=False)]
    source = tmp_path / "rows.ndjson"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert count_rows(source) == 6
    rejected: list = []
    counts = import_file(runtime, source, on_reject=rejected.append)
    assert (counts.rows, counts.rejected) == (6, 3)
    # Row numbers are line numbers (the blank line 2 is skipped but counted).
    assert [(r.row_number, r.reason) for r in rejected] == [
        (3, "row: not valid JSON"),
        (4, "row: not a JSON object"),
        (5, "row: unknown fields"),
    ]
    assert counts.imported + counts.duplicates == 3


def test_unusable_files_are_refused_before_anything_is_written(tmp_path):
    wrong = tmp_path / "rows.txt"
    wrong.write_text("id_number\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="must end in"):
        count_rows(wrong)
    missing = tmp_path / "missing.csv"
    missing.write_text("id_number,name\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="lacks required columns: arrived_on, basis"):
        count_rows(missing)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(",".join((*COLUMNS, "张三")) + "\n", encoding="utf-8")
    with pytest.raises(ImportFileError) as refused:
        count_rows(unknown)
    assert "张三" not in refused.value.detail
    latin = tmp_path / "latin.csv"
    latin.write_bytes(",".join(COLUMNS).encode() + b"\n\xff\xfe\n")
    with pytest.raises(ImportFileError, match="UTF-8"):
        count_rows(latin)
    spilled = tmp_path / "spilled.csv"
    spilled.write_text(",".join(COLUMNS) + "\n" + "," * len(COLUMNS) + "x\n", encoding="utf-8")
    assert list(read_rows(spilled)) == [(1, {None: "row: more fields than the header"})]


def test_import_command_writes_rejects_and_a_summary(tmp_path):
    """`registry import residence` end to end on the embedded default (SQLite)."""
    registry = str(Path(sys.executable).parent / "registry")
    env = {**os.environ, "REGISTRY_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    subprocess.run([registry, "init"], env=env, capture_output=True, timeout=60, check=True)
    subprocess.run([registry, "demo", "seed", "--persons", "1"], env=env, capture_output=True, timeout=120, check=True)
    rows = seed_rows(4, seed=5, units=["990171001"], on=today(SystemClock()))  # the CLI runs on the system clock
    bad_id = rows[2].id_number[:17] + ("0" if rows[2].id_number[17] != "0" else "1")
    rows[2] = replace(rows[2], id_number=bad_id)
    source, rejects = tmp_path / "in.csv", tmp_path / "rejects.csv"
    _write_csv(source, rows)
    first = subprocess.run(
        [registry, "import", "residence", str(source), "--rejects", str(rejects)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 1, first.stderr  # some rows were rejected
    assert "rows 4, imported 3, skipped as duplicates 0, rejected 1" in first.stderr
    assert rejects.read_text(encoding="utf-8").splitlines() == [
        "row_number,reason",
        "3,id_number: check character does not match",
    ]
    second = subprocess.run(
        [registry, "import", "residence", str(source)], env=env, capture_output=True, text=True, timeout=120
    )
    assert "rows 4, imported 0, skipped as duplicates 3, rejected 1" in second.stderr
    assert "row 3: id_number: check character does not match" in second.stderr
    assert (bad_id in first.stderr + second.stderr) is False


def test_an_import_never_takes_over_a_person_another_unit_holds(runtime, tmp_path):
    """Jurisdiction moves only by consent: a district's import that names a person held by
    another district is refused for that row; a tree-wide import (a unit above both) may
    move them, and the move is on the record."""
    ensure_demo_tree(runtime)
    on = today(runtime.clock)
    [row] = seed_rows(1, seed=11, units=["990105001"], on=on)
    row = replace(row, dwelling_kind="owned", landlord_id_number=None, pledge_signed_on=None)
    first = tmp_path / "held-in-b.csv"
    _write_csv(first, [row])
    assert import_file(runtime, first, org_unit="990105").imported == 1
    with transaction(runtime.engine) as session:  # the person leaves B's dwelling (departure)
        session.execute(sa.update(Registration).values(status="departed", departed_on=on))
    arrival = replace(row, dwelling_org_unit="990171001", dwelling_address=row.dwelling_address + "A")
    second = tmp_path / "arrives-in-a.csv"
    _write_csv(second, [arrival])
    rejected: list = []
    counts = import_file(runtime, second, org_unit="990171", on_reject=rejected.append)
    assert (counts.imported, counts.rejected) == (0, 1)
    assert "jurisdiction" in rejected[0].reason
    with transaction(runtime.engine) as session:
        assert set(session.exec(select(Person.org_unit_code))) == {"990105001"}
    assert import_file(runtime, second).imported == 1  # tree-wide: a unit above both
    with transaction(runtime.engine) as session:
        assert set(session.exec(select(Person.org_unit_code))) == {"990171001"}
        moves = session.exec(select(AuditEntry).where(AuditEntry.action == "person:jurisdiction-move")).all()
    assert len(moves) == 1 and moves[0].reason.endswith("(import)")
