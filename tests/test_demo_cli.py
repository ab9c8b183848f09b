"""`registry demo seed` for real: init, seed 50 synthetic residents, seed again (nothing
added), and the audit log still verifies."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
