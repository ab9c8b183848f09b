"""What the README tells an integrator (issue 21) is what the service does: the purpose
codes and the roles that may declare each come from the policy table, and the import
columns and the example files are those the importer reads (the examples import cleanly)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from registry.access.policy import POLICY, Purpose, Role
from registry.cli import app as cli_app
from registry.demo import ensure_demo_tree
from registry.residence.importer import COLUMNS, REQUIRED, import_file, parse_row
from registry.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLES = ROOT / "docs/examples"


def _table(heading: str) -> list[list[str]]:
    section = README[README.index(heading) :]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if (line.startswith("| `") or line.startswith("| **`")) and "|---" not in line and "X-Purpose`" not in line:
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_purpose_table_is_the_policy_table():
    documented = {row[0].strip("`"): {r.strip() for r in row[2].split(",")} for row in _table("### Purpose codes")}
    actual = {p.value: {r.value for r in Role if p in POLICY[r].purposes} for p in Purpose}
    assert documented == actual


def test_the_import_columns_are_the_importers():
    documented = []
    for row in _table("### Import formats"):
        names = re.findall(r"`([a-z_]+)`", row[0])
        documented += names
        bold = row[0].startswith("**")
        assert all((name in REQUIRED) == bold for name in names), row[0]
    assert documented == list(COLUMNS)


def test_the_example_files_hold_the_same_rows_and_import(runtime, tmp_path):
    with (EXAMPLES / "residence-import.csv").open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        from_csv = [parse_row({k: v for k, v in row.items() if v}) for row in reader]
    lines = (EXAMPLES / "residence-import.ndjson").read_text(encoding="utf-8").splitlines()
    from_ndjson = [parse_row(json.loads(line)) for line in lines]
    assert from_csv == from_ndjson and len(from_csv) >= 3
    ensure_demo_tree(runtime)
    for name in ("residence-import.csv", "residence-import.ndjson"):
        rejected: list = []
        counts = import_file(runtime, EXAMPLES / name, rejects=tmp_path / f"{name}.rejects", on_reject=rejected.append)
        assert counts.rejected == 0, rejected
    assert counts.imported == 0 and counts.duplicates == len(from_csv)  # the second file: the same rows


def test_every_setting_is_in_the_readme():
    """Each `REGISTRY_*` setting is named in the README (spelled out, or as the `…_TAIL` of
    a row that names its family); a setting added without a word there fails here."""
    named = set(re.findall(r"REGISTRY_[A-Z0-9_]+", README))
    tails = set(re.findall(r"…(_[A-Z0-9_]+)", README))
    families = {n.rstrip("_*") for n in re.findall(r"REGISTRY_[A-Z0-9_]+_\*", README)}
    missing = []
    for field in Settings.model_fields:
        env = f"REGISTRY_{field.upper()}"
        if env in named or any(env.endswith(t) for t in tails) or any(env.startswith(f) for f in families):
            continue
        missing.append(env)
    assert not missing, missing


def test_serve_help_names_host_port_workers_and_every_setting():
    shown = CliRunner().invoke(cli_app, ["serve", "--help"], env={"COLUMNS": "200"}).stdout
    assert all(option in shown for option in ("--host", "--port", "--workers"))
    missing = [f"REGISTRY_{f.upper()}" for f in Settings.model_fields if f"REGISTRY_{f.upper()}" not in shown]
    assert not missing, missing
