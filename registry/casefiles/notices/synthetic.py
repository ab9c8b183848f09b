"""Synthetic notices, for tests, the benchmark and the examples in `docs/examples/`.

Subjects come from `SyntheticPeople`; institutions, courts and numbers say 测试/样例
(test, sample): nothing here describes a real person, prison or court. Dates are drawn
around `on`, the day of the import, as notices arrive: a release notice about 30 days
ahead of the release, a court's notice within days of the judgment taking effect.

    .venv/bin/python -m registry.casefiles.notices.synthetic    # rewrite the examples
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from registry.casefiles.notices.formats import FORMATS, NoticeKind
from registry.casefiles.workflows.common import add_years
from registry.people.synthetic import SyntheticPeople, SyntheticPerson

__all__ = ["EXAMPLES", "csv_text", "ndjson_text", "notice_rows"]

Row = dict[str, Any]
_PRISONS = {
    "male": (("测试省第一监狱", "测一监"), ("测试省第二监狱", "测二监")),
    "female": (("样例省女子监狱", "样女监"),),
}
_COURTS = (("测试市示范区人民法院", "测示"), ("测试市样例区人民法院", "测样"), ("测试市中级人民法院", "测中"))
_CATEGORIES = (("probation", 0.6), ("parole", 0.2), ("control", 0.1), ("temporary_out_of_prison", 0.1))
_ORDERS = ("禁止进入娱乐场所", "禁止接触被害人及其近亲属", "禁止从事食品生产经营活动")
KEY_PERSON_SHARE = 0.15


def _pick(rng: random.Random, shares: tuple[tuple[str, float], ...]) -> str:
    x = rng.random()
    for name, share in shares:
        if x < share:
            return name
        x -= share
    return shares[-1][0]


def _identity(rng: random.Random, p: SyntheticPerson) -> Row:
    """The subject as a notice names them: always ID number and name, the rest at times."""
    row: Row = {"id_number": p.id_number, "name": p.name}
    if rng.random() < 0.5:
        row["hukou_address"] = p.hukou_address
    if rng.random() < 0.3:
        row |= {"sex": p.sex, "birth_date": p.birth_date}
    return row


def _offence(rng: random.Random, p: SyntheticPerson, before: date) -> date | None:
    """An offence date the judgment gives (committed as an adult, these subjects), or none."""
    offence = before - timedelta(days=rng.randint(60, 6 * 365))
    return offence if rng.random() < 0.6 and offence >= add_years(p.birth_date, 18) else None


def _release(rng: random.Random, people: SyntheticPeople, n: int, unit: str, on: date) -> Row:
    p = people.person()
    release_on = on + timedelta(days=rng.randint(3, 45))  # notified about 30 days ahead (Art. 7)
    prison, short = rng.choice(_PRISONS[p.sex])
    row: Row = {
        "document_no": f"{short}释通〔{on.year}〕{n:05d}号",
        **_identity(rng, p),
        "org_unit": unit,
        "releasing_institution": prison,
        "release_on": release_on,
        "key_person": rng.random() < KEY_PERSON_SHARE,
        "offence_date": _offence(rng, p, release_on - timedelta(days=365)),
    }
    if rng.random() < 0.6:
        row["residence_address"] = people.address()
    return row


def _correction(rng: random.Random, people: SyntheticPeople, n: int, unit: str, on: date) -> Row:
    p = people.person()
    effective = on - timedelta(days=rng.randint(0, 9))  # the court notifies within 5 days (Art. 20)
    months = rng.randint(6, 48)
    court, short = rng.choice(_COURTS)
    row: Row = {
        "document_no": f"({effective.year}){short}刑初{n}号",
        **_identity(rng, p),
        "org_unit": unit,
        "category": _pick(rng, _CATEGORIES),
        "deciding_authority": court,
        "judgment_effective_on": effective,
        "term_starts_on": effective,
        "term_ends_on": effective + timedelta(days=30 * months),
        "offence_date": _offence(rng, p, effective),
        "residence_address": people.address(),
    }
    if rng.random() < 0.2:
        row["prohibition_order"] = rng.choice(_ORDERS)
    return row


def notice_rows(kind: NoticeKind, count: int, *, seed: int, units: list[str], on: date) -> list[Row]:
    """`count` notices of `kind` for subjects new to the registry, in `units`, as
    arriving around `on`; values typed (dates, booleans), absent ones left out."""
    people = SyntheticPeople(seed)
    rng = random.Random(seed ^ 0x0071CE)  # noqa: S311 - reproducible synthetic data, not a secret
    make = _release if kind is NoticeKind.prison_release else _correction
    rows = []
    for n in range(1, count + 1):
        row = make(rng, people, n, rng.choice(units), on)
        rows.append({c: row[c] for c in FORMATS[kind].columns if row.get(c) is not None})
    return rows


def _text(value: Any, *, csv_form: bool) -> Any:
    if isinstance(value, bool):
        return ("1" if value else "0") if csv_form else value
    return value.isoformat() if isinstance(value, date) else value


def csv_text(kind: NoticeKind, rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = FORMATS[kind].columns
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if c not in row else _text(row[c], csv_form=True) for c in columns])
    return out.getvalue()


def ndjson_text(rows: list[Row]) -> str:
    lines = [json.dumps({c: _text(v, csv_form=False) for c, v in row.items()}, ensure_ascii=False) for row in rows]
    return "\n".join(lines) + "\n"


# The examples README points to: imported by a test on its clock's day, in the demo tree.
EXAMPLE_DAY = date(2026, 1, 5)
EXAMPLE_UNITS = ["990171001", "990171002", "990171003"]
EXAMPLE_SEEDS = {NoticeKind.prison_release: 20260111, NoticeKind.court_correction: 20260106}  # with key persons
EXAMPLES: dict[str, tuple[NoticeKind, str]] = {
    "notices-prison-release.ndjson": (NoticeKind.prison_release, "ndjson"),
    "notices-court-correction.csv": (NoticeKind.court_correction, "csv"),
}


def example_text(name: str) -> str:
    kind, form = EXAMPLES[name]
    rows = notice_rows(kind, 6, seed=EXAMPLE_SEEDS[kind], units=EXAMPLE_UNITS, on=EXAMPLE_DAY)
    return ndjson_text(rows) if form == "ndjson" else csv_text(kind, rows)


def write_examples(directory: Path) -> None:
    for name in EXAMPLES:
        (directory / name).write_text(example_text(name), encoding="utf-8")


if __name__ == "__main__":
    write_examples(Path(__file__).resolve().parents[3] / "docs" / "examples")
