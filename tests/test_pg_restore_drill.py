"""A point-in-time restore drill on PostgreSQL with pgBackRest (issue 19, Deliver 3-5):
a throwaway server archiving its WAL to a pgBackRest repository (deploy/pgbackrest); a full
backup; a change after it; a named restore point; then a person erased, and more written.
The database is lost; pgBackRest restores it to the restore point (the change after the
full backup replayed from the archive, the erasure not). The service refuses to start until
the restore is declared and the erasure journal replayed; then the erased person stays
erased (410), the change before the point reads back, what came after is gone, and the
audit log verifies across the declared epoch against the sink's notes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from registry.accounts.console_login import Credentials
from registry.api.app import create_app
from registry.audit.epochs import RestoreReason
from registry.audit.log import AuditTrail
from registry.bootstrap import initialise
from registry.clock import FixedClock
from registry.db import transaction
from registry.erasures import replay
from registry.errors import ConfigurationError
from registry.people.synthetic import SyntheticPeople
from registry.restores import declare
from registry.runtime import open_runtime
from registry.settings import Settings
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user
from tests.support import postgres
from tests.support.audit import assert_restored, verify_against_sink
from tests.support.backrest import Archived

REG = {"X-Purpose": "registration"}

pytestmark = pytest.mark.skipif(
    shutil.which("pgbackrest") is None or not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
    reason="pgBackRest or the PostgreSQL server binaries are absent (scripts/system-deps installs them as root)",
)


@pytest.fixture
def archived():
    server = Archived()
    try:
        yield server
    finally:
        server.server.stop()


def _person(client, police, people):
    p = people.person()
    answer = client.post("/api/v1/persons", json={"id_number": p.id_number, "name": p.name}, headers=police | REG)
    assert answer.status_code == 201, answer.text
    return p, answer.json()["id"]


def test_a_point_in_time_restore_keeps_erasures_erased_and_declares_its_epoch(archived, tmp_path):
    postgres.run_admin(archived.url, "CREATE DATABASE registry")
    url = str(sa.engine.make_url(archived.url).set(database="registry"))
    settings = Settings(data_dir=tmp_path / "data", database_url=url, profile="dev")
    clock = FixedClock()
    admin = initialise(settings, clock=clock)
    people = SyntheticPeople(2201)
    runtime = open_runtime(settings, clock=clock)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        head = as_user(client, admin.admin_username, admin.admin_password)
        create_tree(client, head)
        create_user(client, head, "police.a", ["police"], "320571")
        create_user(client, head, "secadmin.x", ["security_admin"], None)
        police = as_user(client, "police.a", STRONG_PASSWORD)
        secadmin = as_user(client, "secadmin.x", STRONG_PASSWORD)
        erased, erased_id = _person(client, police, people)
        archived.backrest("backup", "--type=full")
        kept, kept_id = _person(client, police, people)  # after the full backup: from the WAL archive
        runtime.sequencer.drain()
        runtime.sequencer.checkpoint()
        postgres.run_admin(url, "SELECT pg_create_restore_point('drill')")
        clock.advance(seconds=60)
        gone = client.post(
            f"/api/v1/persons/{erased_id}/erasure", json={"reason": "data_subject_request"}, headers=secadmin
        )
        assert gone.status_code == 204
        _, later_id = _person(client, police, people)
        runtime.sequencer.drain()
        witnessed = runtime.sequencer.checkpoint()
        assert witnessed is not None
    runtime.close()
    archived.archive_now()  # the segment holding the point reaches the archive

    archived.lose_and_restore_to("drill")
    with pytest.raises(ConfigurationError, match="predates erasures"):
        open_runtime(settings, clock=clock)
    recovering = open_runtime(settings, clock=clock, recovering=True)
    clock.advance(seconds=60)
    statement = declare(recovering, Credentials("secadmin.x", STRONG_PASSWORD, None), RestoreReason.DRILL)
    assert statement.superseded is not None and statement.superseded.size == witnessed.size
    with transaction(recovering.engine) as session:
        assert replay(session, recovering.keyring.journal, AuditTrail(clock)).keys >= 1
    recovering.close()

    served = open_runtime(settings, clock=clock)
    with TestClient(create_app(served), raise_server_exceptions=False) as again:
        police = as_user(again, "police.a", STRONG_PASSWORD)
        assert_restored(again, police, erased, erased_id, kept, kept_id, later_id)
    report = verify_against_sink(served)
    served.close()
    assert report.ok, report.problems
    assert report.epochs
