"""Backup and restore times at N persons, each with a dwelling and a registration (the
demo seed), on the embedded default (SQLite) or on PostgreSQL with pgBackRest:

    .venv/bin/python -m bench.backup_bench --persons 100000 [--engine postgresql] [--json]

Times `registry backup` (SQLite's online backup, while nothing else runs) and the three
steps of `registry restore`: writing the backup over the database, declaring the restore
(which first recomputes and verifies the whole audit log as of the restore point), and
replaying the erasure journal (one person erased after the backup). Calls the same
functions the commands do, in one process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from registry.accounts.console_login import Credentials
from registry.api.app import create_app
from registry.audit.epochs import RestoreReason
from registry.audit.log import AuditTrail
from registry.backups import backup, restore_file
from registry.bootstrap import initialise
from registry.clock import SystemClock
from registry.db import transaction
from registry.demo import DEMO_ROOT, seed
from registry.erasures import replay
from registry.people.synthetic import SyntheticPeople
from registry.restores import declare
from registry.runtime import open_runtime
from registry.settings import Settings
from tests.api_helpers import STRONG_PASSWORD, as_user, create_user
from tests.support import postgres
from tests.support.backrest import Archived


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="registry-backup-bench-"))
    archived = None
    if args.engine == "postgresql":  # pgBackRest: a full backup, the WAL archive, a restore to a named point
        archived = Archived()
        postgres.run_admin(archived.url, "CREATE DATABASE registry")
        url = str(make_url(archived.url).set(database="registry"))
        settings = Settings(data_dir=work / "data", database_url=url, profile="dev")
    else:
        settings = Settings(data_dir=work / "data", profile="dev")
    admin = initialise(settings, clock=SystemClock())
    runtime = open_runtime(settings)
    started = time.monotonic()
    seed(runtime, persons=args.persons)
    seeded = time.monotonic() - started
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        head = as_user(client, admin.admin_username, admin.admin_password)
        create_user(client, head, "secadmin.x", ["security_admin"], None)
        create_user(client, head, "police.x", ["police"], DEMO_ROOT)
        secadmin = as_user(client, "secadmin.x", STRONG_PASSWORD)
        police = as_user(client, "police.x", STRONG_PASSWORD) | {"X-Purpose": "registration"}
        someone = SyntheticPeople(99).person()  # in the backup, erased after it
        made = client.post(
            "/api/v1/persons", json={"id_number": someone.id_number, "name": someone.name}, headers=police
        )
        assert made.status_code == 201, made.text
        erased = made.json()["id"]
        saved = work / "backup.db"
        started = time.monotonic()
        if archived is None:
            size = backup(runtime.engine, saved)
        else:
            archived.backrest("backup", "--type=full")
            postgres.run_admin(archived.url, "SELECT pg_create_restore_point('bench')")
            size = _repository_bytes(archived.server.root / "repo")
        backed_up = time.monotonic() - started
        gone = client.post(
            f"/api/v1/persons/{erased}/erasure", json={"reason": "data_subject_request"}, headers=secadmin
        )
        assert gone.status_code == 204, gone.text
        runtime.sequencer.drain()
        runtime.sequencer.checkpoint()
    runtime.close()
    if archived is not None:
        archived.archive_now()
    started = time.monotonic()
    if archived is None:
        restore_file(saved, settings.service_database_url)
    else:
        archived.lose_and_restore_to("bench")
    written = time.monotonic() - started
    recovering = open_runtime(settings, recovering=True)
    started = time.monotonic()
    declare(recovering, Credentials("secadmin.x", STRONG_PASSWORD, None), RestoreReason.DRILL)
    declared = time.monotonic() - started
    started = time.monotonic()
    with transaction(recovering.engine) as session:
        replay(session, recovering.keyring.journal, AuditTrail(recovering.clock))
    replayed = time.monotonic() - started
    recovering.close()
    if archived is not None:
        archived.server.stop()
    result = {
        "engine": args.engine,
        "persons": args.persons,
        "database_bytes": size,
        "seed_s": seeded,
        "backup_s": backed_up,
        "restore_write_s": written,
        "restore_declare_s": declared,
        "restore_replay_s": replayed,
        "load": os.getloadavg()[0],
    }
    print(f"{platform.node()}, {os.cpu_count()} cores")
    for name, value in result.items():
        print(f"{name:20} {value:.2f}" if isinstance(value, float) else f"{name:20} {value}")
    if args.json:
        out = Path("bench/results") / f"backup_bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        print(f"wrote {out}")


def _repository_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


if __name__ == "__main__":
    main()
