"""A restore drill on the embedded default (issue 19, Deliver 3-4; PRIVACY.md §1): back up,
change data, erase a person, lose the database, restore, replay the erasure journal. The
person erased after the backup stays erased (410, found by no search), what was there at
the backup reads back, what came after is gone, and the service refuses to serve between
the restore and the replay. The journal is signed: a line changed by someone with the file
stops the service rather than being believed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

from registry.accounts.console_login import Credentials
from registry.api.app import create_app
from registry.audit.epochs import RestoreReason
from registry.audit.log import AuditTrail
from registry.backups import backup, restore_file
from registry.cli import app
from registry.crypto.keyring import Compartment
from registry.db import transaction
from registry.erasures import replay
from registry.errors import ConfigurationError, IntegrityFailure
from registry.people.synthetic import SyntheticPeople
from registry.restores import declare
from registry.runtime import open_runtime
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user
from tests.support.audit import assert_restored, verify_against_sink

REG = {"X-Purpose": "registration"}


@pytest.fixture
def sqlite_only(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("`registry backup`/`restore` are SQLite's; PostgreSQL is backed up with pgBackRest")


def _stop(client) -> None:
    """The service stopped, as before a restore: the app's shutdown ends its sequencer
    thread (closing the client alone would leave it sequencing on the old runtime)."""
    client.__exit__(None, None, None)


def _people(client, police, people, n):
    made = []
    for _ in range(n):
        p = people.person()
        answer = client.post("/api/v1/persons", json={"id_number": p.id_number, "name": p.name}, headers=police | REG)
        assert answer.status_code == 201, answer.text
        made.append((p, answer.json()["id"]))
    return made


def test_a_person_erased_after_the_backup_stays_erased_after_the_restore(
    sqlite_only, client, runtime, bootstrap, settings, clock, tmp_path
):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "secadmin.x", ["security_admin"], None)
    police, secadmin = as_user(client, "police.a", STRONG_PASSWORD), as_user(client, "secadmin.x", STRONG_PASSWORD)
    people = SyntheticPeople(1901)
    (erased, erased_id), (kept, kept_id) = _people(client, police, people, 2)

    saved = tmp_path / "backup.db"
    assert backup(runtime.engine, saved) > 0
    with pytest.raises(FileExistsError):
        backup(runtime.engine, saved)  # never over a file

    ((later, later_id),) = _people(client, police, people, 1)
    answer = client.post(
        f"/api/v1/persons/{erased_id}/erasure", json={"reason": "data_subject_request"}, headers=secadmin
    )
    assert answer.status_code == 204, answer.text
    journal = settings.erasure_journal_path.read_text(encoding="utf-8")
    assert erased_id in journal and erased.id_number not in journal and erased.name not in journal
    clock.advance(seconds=60)
    runtime.sequencer.drain()
    runtime.sequencer.checkpoint()
    witnessed = runtime.sequencer.sink.newest()  # the log as witnessed when the database is lost

    # The database is lost; the backup is restored over it.
    _stop(client)
    runtime.close()
    restore_file(saved, settings.service_database_url)
    with pytest.raises(ConfigurationError, match="predates erasures"):
        open_runtime(settings, clock=clock)  # the erased person's keys came back: no serving yet

    recovering = open_runtime(settings, clock=clock, recovering=True)
    clock.advance(seconds=60)
    statement = declare(recovering, Credentials("secadmin.x", STRONG_PASSWORD, None), RestoreReason.DRILL)
    assert statement.superseded == witnessed and statement.restored_size < witnessed.size
    with transaction(recovering.engine) as session:
        done = replay(session, recovering.keyring.journal, AuditTrail(clock))
    assert done.keys >= 1 and done.records >= 1
    with transaction(recovering.engine) as session:
        assert replay(session, recovering.keyring.journal, AuditTrail(clock)).keys == 0  # idempotent
    recovering.close()

    served = open_runtime(settings, clock=clock)
    with TestClient(create_app(served), raise_server_exceptions=False) as again:
        police = as_user(again, "police.a", STRONG_PASSWORD)
        assert_restored(again, police, erased, erased_id, kept, kept_id, later_id)
    # The restore is declared, not a rewrite: the log verifies against the note it superseded.
    report = verify_against_sink(served)
    assert report.ok, report.problems
    assert report.epochs and f"epoch 1 from seq {statement.restored_size}" in report.epochs[0]
    served.close()


def _one_erasure(client, bootstrap, seed):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    create_user(client, admin, "secadmin.x", ["security_admin"], None)
    police, secadmin = as_user(client, "police.a", STRONG_PASSWORD), as_user(client, "secadmin.x", STRONG_PASSWORD)
    ((_, person_id),) = _people(client, police, SyntheticPeople(seed), 1)
    erase = {"reason": "data_subject_request"}
    assert client.post(f"/api/v1/persons/{person_id}/erasure", json=erase, headers=secadmin).status_code == 204
    return person_id


@pytest.mark.parametrize("tamper", ["altered", "cut", "deleted", "headless"])
def test_a_journal_altered_cut_or_deleted_stops_the_service(
    sqlite_only, client, runtime, bootstrap, settings, clock, tamper
):
    """Someone with the file: a line changed fails its signature, a line removed or the
    whole journal gone falls short of the erasures the database records."""
    _one_erasure(client, bootstrap, 1902)
    path = settings.erasure_journal_path
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) >= 2  # one line per compartment shredded
    if tamper == "altered":
        line = json.loads(lines[0])
        line["entry"]["at"] = "2020-01-01T00:00:00+00:00"  # as if erased long ago
        lines[0] = json.dumps(line) + "\n"
        path.write_text("".join(lines), encoding="utf-8")
        failure = "line 1"
    elif tamper == "cut":
        path.write_text("".join(lines[:-1]), encoding="utf-8")
        failure = "lacks erasure"
    elif tamper == "deleted":
        path.unlink()
        failure = "lacks erasure"
    else:  # the first line removed: the chain breaks where it was
        lines = lines[1:]
        path.write_text("".join(lines), encoding="utf-8")
        failure = "line 1"
    with pytest.raises(IntegrityFailure, match=failure):
        open_runtime(settings, clock=clock)


def test_a_restore_over_a_database_its_journal_falls_short_of_is_refused(
    sqlite_only, client, runtime, bootstrap, settings, tmp_path
):
    """A journal cut short stops the service; restoring an old backup must not be the way
    round it (the backup holds the keys of the erasures the journal lost)."""
    _one_erasure(client, bootstrap, 1903)
    saved = tmp_path / "saved.db"
    backup(runtime.engine, saved)
    path = settings.erasure_journal_path
    path.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]), encoding="utf-8")
    _stop(client)
    runtime.close()
    env = {
        "REGISTRY_DATA_DIR": str(settings.data_dir),
        "REGISTRY_DATABASE_URL": settings.database_url,
        "REGISTRY_PROFILE": "dev",
        "REGISTRY_RESTORER_PASSWORD": STRONG_PASSWORD,
    }
    refused = CliRunner().invoke(app, ["restore", str(saved), "--by", "secadmin.x", "--reason", "drill"], env=env)
    assert refused.exit_code == 2 and "lacks erasure" in refused.output, refused.output


def test_an_erasure_that_does_not_commit_is_never_journaled(sqlite_only, runtime, settings):
    with Session(runtime.engine) as session:
        runtime.keyring.shred(session, owner="00000000-0000-0000-0000-000000000001", compartment=Compartment.IDENTITY)
        session.rollback()
    assert not settings.erasure_journal_path.exists()
    with Session(runtime.engine) as session:
        runtime.keyring.shred(session, owner="00000000-0000-0000-0000-000000000001", compartment=Compartment.IDENTITY)
        session.commit()
    assert len(settings.erasure_journal_path.read_text(encoding="utf-8").splitlines()) == 1


def test_the_commands_back_up_and_restore_the_embedded_default(sqlite_only, client, runtime, bootstrap, settings):
    """`registry backup` while the service runs, then `registry restore` declared by a
    security administrator who logs in (refused while a registry process holds the data
    directory; nothing to replay), then `registry audit verify` names the epoch; neither
    command writes over a file or accepts something not a database."""
    admin = as_user(client, *bootstrap)
    create_user(client, admin, "secadmin.x", ["security_admin"], None)
    registry = str(Path(sys.executable).parent / "registry")
    env = {
        **os.environ,
        "REGISTRY_DATA_DIR": str(settings.data_dir),
        "REGISTRY_DATABASE_URL": settings.database_url,
        "REGISTRY_PROFILE": "dev",
        "REGISTRY_RESTORER_PASSWORD": STRONG_PASSWORD,
        "COLUMNS": "200",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([registry, *args], env=env, capture_output=True, text=True, timeout=120)

    saved = settings.data_dir.parent / "saved.db"
    made = run("backup", "--out", str(saved))
    assert made.returncode == 0, made.stderr
    assert saved.stat().st_mode & 0o077 == 0  # 0600: it holds everything the database does
    again = run("backup", "--out", str(saved))
    assert again.returncode == 2 and "exists" in again.stderr
    restore = ("restore", str(saved), "--by", "secadmin.x", "--reason", "drill")
    busy = run(*restore)
    assert busy.returncode == 2 and "stop it before a restore" in busy.stderr  # this process serves
    _stop(client)
    runtime.close()
    restored = run(*restore)
    assert restored.returncode == 0, restored.stderr
    assert "restore declared: epoch 1" in restored.stderr and "erasures replayed: 0 data keys" in restored.stderr
    assert "retention caught up: 0 records" in restored.stderr
    verified = run("audit", "verify", "--workers", "1")
    assert verified.returncode == 0, verified.stderr
    assert "declared restore: epoch 1" in verified.stderr
    junk = settings.data_dir.parent / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    refused = run("restore", str(junk), "--by", "secadmin.x", "--reason", "drill")
    assert refused.returncode == 2 and "not an intact SQLite database" in refused.stderr
