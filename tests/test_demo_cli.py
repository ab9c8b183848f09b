"""`registry demo seed` for real: init, seed 50 synthetic residents, seed again (nothing
added), and the audit log still verifies."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from registry.db import transaction
from registry.demo import DEMO_ROOT, DEMO_TREE
from registry.runtime import open_runtime
from registry.settings import Settings

REGISTRY = str(Path(sys.executable).parent / "registry")
SUMMARY = re.compile(
    r"seeded: (\d+) org units, (\d+) persons, (\d+) dwellings, (\d+) registrations "
    r"\((\d+) already present, (\d+) rejected\)"
)


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REGISTRY, *args], env=env, capture_output=True, text=True, timeout=180)


def test_demo_seed_then_audit_verify(tmp_path):
    env = {**os.environ, "REGISTRY_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    assert _run(env, "init").returncode == 0

    first = _run(env, "demo", "seed", "--persons", "50")
    assert first.returncode == 0, first.stderr
    match = SUMMARY.search(first.stderr)
    assert match, first.stderr
    units, persons, dwellings, registrations, present, rejected = map(int, match.groups())
    assert (units, persons, registrations, present, rejected) == (8, 50, 50, 0, 0)
    assert 1 <= dwellings <= 50  # tenants share rented flats

    again = _run(env, "demo", "seed", "--persons", "50")
    assert again.returncode == 0, again.stderr
    match = SUMMARY.search(again.stderr)
    assert match, again.stderr
    assert tuple(map(int, match.groups())) == (0, 0, 0, 0, 50, 0)

    verified = _run(env, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "audit log verified" in verified.stderr


def test_demo_seed_never_mixes_into_a_real_tree_unless_told(tmp_path):
    """Demo units live under 990100, a code no real division has; on a registry with units
    of its own the seed is refused, unless asked for by name (issue 21)."""
    assert DEMO_ROOT.startswith("99") and all(code.startswith("99") for code, _, _ in DEMO_TREE)
    env = {**os.environ, "REGISTRY_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    assert _run(env, "init").returncode == 0
    runtime = open_runtime(Settings(data_dir=tmp_path / "data"))
    with transaction(runtime.engine) as session:
        session.execute(
            sa.text("INSERT INTO org_unit (code, name, path, created_at) VALUES ('320500', 'x', '/320500/', :at)"),
            {"at": runtime.clock.now()},
        )
    runtime.engine.dispose()
    refused = _run(env, "demo", "seed", "--persons", "5")
    assert (
        refused.returncode == 1 and "demo.real_units" in refused.stderr and "--alongside-real-units" in refused.stderr
    )
    told = _run(env, "demo", "seed", "--persons", "5", "--alongside-real-units")
    assert told.returncode == 0, told.stderr
