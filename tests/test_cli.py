"""The README's first command, for real: `registry init` then `registry serve` on a free port."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx

REGISTRY = str(Path(sys.executable).parent / "registry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_init_shows_admin_once_and_serve_accepts_it(tmp_path):
    env = {**os.environ, "REGISTRY_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    first = subprocess.run([REGISTRY, "init"], env=env, capture_output=True, text=True, timeout=60, check=True)
    match = re.search(r"username (\S+) password (\S+)", first.stderr)
    assert match, first.stderr
    username, password = match.groups()
    data = tmp_path / "data"
    assert (data / "keys.json").stat().st_mode & 0o777 == 0o600
    assert (data / "token.secret").stat().st_mode & 0o777 == 0o600
    second = subprocess.run([REGISTRY, "init"], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert password not in second.stderr and "Bootstrap administrator" not in second.stderr

    port = _free_port()
    server = subprocess.Popen([REGISTRY, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        form = {"grant_type": "password", "username": username, "password": password}
        token = httpx.post(f"{base}/api/v1/auth/token", data=form).json()["access_token"]
        units = httpx.get(f"{base}/api/v1/org-units", headers={"Authorization": f"Bearer {token}"})
        assert units.status_code == 200
    finally:
        server.terminate()
        _, logs = server.communicate(timeout=30)
    lines = [line for line in logs.splitlines() if line.startswith("{")]
    assert any('"route": "/api/v1/auth/token"' in line and '"request_id"' in line for line in lines)
    assert password not in logs


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REGISTRY, *args], env=env, capture_output=True, text=True, timeout=60)


def test_users_create_and_approve_from_the_console(tmp_path):
    """The console is never a key (issue 13): the second, founding administrator chooses its
    own password here; every later request and approval is made by an administrator who logs
    in, and the requester cannot approve its own request."""
    env = {**os.environ, "REGISTRY_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "250"}
    first = _run("init", env=env)
    username, password = re.search(r"username (\S+) password (\S+)", first.stderr).groups()
    founding = env | {"REGISTRY_FOUNDING_PASSWORD": "the founder's own choice"}
    made = _run("users", "create", "--username", "second.admin", "--role", "admin", env=founding)
    assert made.returncode == 0, made.stderr
    assert "created founding administrator second.admin" in made.stderr
    assert "one-time password" not in made.stderr and "the founder's own choice" not in made.stderr

    # The ceremony is closed (two founding administrators): from now on an administrator asks.
    unlogged = _run("users", "create", "--username", "third.admin", "--role", "admin", env=founding)
    assert unlogged.returncode == 1 and "invalid credentials" in unlogged.stderr
    requester = env | {"REGISTRY_REQUESTER": username, "REGISTRY_REQUESTER_PASSWORD": password}
    mixed = ("--username", "mixed.admin", "--role", "admin", "--role", "auditor")
    refused = _run("users", "create", *mixed, env=requester)
    assert refused.returncode == 1 and "separation_of_duties" in refused.stderr
    asked = _run("users", "create", "--username", "third.admin", "--role", "admin", env=requester)
    assert asked.returncode == 0, asked.stderr
    request = re.search(r"request ([0-9a-f-]{36}) recorded", asked.stderr).group(1)
    assert "one-time password" not in asked.stderr
    assert request in _run("users", "pending", env=env).stdout
    with closing(sqlite3.connect(tmp_path / "data" / "registry.db")) as conn:
        [(requested_by,)] = conn.execute("SELECT requested_by FROM account_approval").fetchall()
        [(admin_id,)] = conn.execute("SELECT id FROM user_account WHERE username = ?", (username,)).fetchall()
    assert requested_by == admin_id  # the administrator's request, not the system's

    approver = env | {"REGISTRY_APPROVER_PASSWORD": password}
    own = _run("users", "approve", request, "--username", username, env=approver)
    assert own.returncode == 1 and "dual_control" in own.stderr
    approver["REGISTRY_APPROVER_PASSWORD"] = "not the password at all"
    wrong = _run("users", "approve", request, "--username", "second.admin", env=approver)
    assert wrong.returncode == 1 and "invalid credentials" in wrong.stderr
    approver["REGISTRY_APPROVER_PASSWORD"] = "the founder's own choice"
    done = _run("users", "approve", request, "--username", "second.admin", env=approver)
    assert done.returncode == 0, done.stderr
    assert "approved user_create" in done.stderr and "one-time password" in done.stderr
    again = _run("users", "approve", request, "--username", "second.admin", env=approver)
    assert again.returncode == 1 and "already approved" in again.stderr
    assert request not in _run("users", "pending", env=env).stdout


def test_audit_checkpoint_and_verify_from_the_console(tmp_path):
    env = {**os.environ, "REGISTRY_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    subprocess.run([REGISTRY, "init"], env=env, capture_output=True, timeout=60, check=True)
    saved = tmp_path / "witness.note"
    made = subprocess.run(
        [REGISTRY, "audit", "checkpoint", "--out", str(saved)], env=env, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    assert saved.read_text().startswith("registry/audit\n")
    ok = subprocess.run(
        [REGISTRY, "audit", "verify", "--against", str(saved)], env=env, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0 and "audit log verified" in ok.stderr
    # Tamper with the log as someone with the database file would, then verify again.
    db = tmp_path / "data" / "registry.db"
    _tamper_with_python(db)
    bad = subprocess.run(
        [REGISTRY, "audit", "verify", "--against", str(saved)], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1 and "first bad entry: seq 0" in bad.stderr


def _tamper_with_python(db) -> None:
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("DROP TRIGGER audit_entry_no_update")
        conn.execute("UPDATE audit_entry SET reason = 'x'")
        conn.commit()
