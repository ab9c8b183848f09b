"""Crash safety of the real server (issue 7): `registry serve` under concurrent writes is
SIGKILLed three times (once plainly, once part-way through a DEK rotation, once during a
retention run) and restarted on the same data; afterwards

- every write the client saw acknowledged (2xx) is stored, and readable over HTTP;
- every stored record has the audit entry of its write (acknowledged or not: none
  without), and the log verifies once the sequencer has caught up;
- a job the kill interrupted is reported `interrupted` at the next start, and the service
  requests it again by itself (`registry.maintenance.resume_interrupted`): the resumed
  rotation finishes the same rotation, the resumed retention run erases what was due.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from registry.audit.models import AuditEntry, AuditLeaf
from registry.audit.verify import verify_log
from registry.bootstrap import initialise
from registry.crypto.models import DataKeyRecord, DekRotation
from registry.jobs.models import Job
from registry.people.models import Person
from registry.people.synthetic import SyntheticPeople
from registry.residence.models import Registration
from registry.runtime import open_runtime
from registry.settings import Settings
from tests.api_helpers import SECOND_ADMIN, STRONG_PASSWORD, as_user, create_tree, create_user
from tests.support.server import REGISTRY, Server

REG = {"X-Purpose": "registration"}
WRITERS = 4
TIMEOUT = httpx.Timeout(10.0)
JOB_TIMEOUT_S = 30.0
ROTATIONS, RETENTION = "/api/v1/keys/rotations", "/api/v1/retention/runs"
# Departed more than 5 years ago: due for erasure at the first retention run.
ARRIVED_ON, REGISTERED_ON, DEPARTED_ON = "2015-03-02", "2015-03-04", "2019-06-30"


@dataclass
class Acknowledged:
    """What the server answered 2xx to: that, and only that, must survive every kill."""

    # id → the names it may have: the acknowledged one, or also the new one of an update
    # whose answer the kill cut off (that update may or may not have committed).
    persons: dict[str, set[str]] = field(default_factory=dict)
    registrations: dict[str, str] = field(default_factory=dict)  # id → employer name
    departed: set[str] = field(default_factory=set)
    unanswered_departures: set[str] = field(default_factory=set)  # may or may not have committed
    updates: int = 0
    server_errors: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.persons) + len(self.registrations) + len(self.departed) + self.updates


class Writers:
    """Threads that each keep creating a person, registering them, departing every other
    one and renaming one of their earlier persons (who may be mid-rotation); a refused
    connection (server down) is retried after a pause."""

    def __init__(self, base_url: str, police: dict[str, str], dwelling_id: str) -> None:
        self.acked = Acknowledged()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._write, args=(base_url, police, dwelling_id, n), daemon=True)
            for n in range(WRITERS)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in self._threads), "a writer hung"

    def _write(self, base_url: str, police: dict[str, str], dwelling_id: str, n: int) -> None:
        people, rng = SyntheticPeople(1000 + n), random.Random(n)
        etags: dict[str, str] = {}  # this writer's persons whose current ETag it knows
        with httpx.Client(base_url=base_url, headers=police | REG, timeout=TIMEOUT) as http:
            for round_ in itertools.count():
                if self._stop.is_set():
                    return
                try:
                    self._one(http, people, dwelling_id, depart=round_ % 2 == 0, etags=etags)
                    if etags:
                        self._rename(http, people, rng.choice(sorted(etags)), etags)
                except httpx.TransportError:
                    time.sleep(0.05)  # killed mid-request, or not up yet: that write is not acknowledged

    def _one(
        self, http: httpx.Client, people: SyntheticPeople, dwelling_id: str, *, depart: bool, etags: dict[str, str]
    ) -> None:
        person = people.person()
        response = http.post("/api/v1/persons", json={"id_number": person.id_number, "name": person.name})
        made = self._ok(response)
        if made is None:
            return
        with self.acked.lock:
            self.acked.persons[made["id"]] = {person.name}
        etags[made["id"]] = response.headers["ETag"]
        employer = people.company_name()
        body = {
            "person_id": made["id"],
            "dwelling_id": dwelling_id,
            "arrived_on": ARRIVED_ON,
            "registered_on": REGISTERED_ON,
            "basis": "employment",
            "employer_name": employer,
            "employer_uscc": people.uscc(),
        }
        registration = self._ok(http.post("/api/v1/residence-registrations", json=body))
        if registration is None:
            return
        with self.acked.lock:
            self.acked.registrations[registration["id"]] = employer
        if depart:
            path = f"/api/v1/residence-registrations/{registration['id']}/depart"
            with self.acked.lock:
                self.acked.unanswered_departures.add(registration["id"])
            departed = self._ok(http.post(path, json={"departed_on": DEPARTED_ON}))
            with self.acked.lock:
                self.acked.unanswered_departures.discard(registration["id"])
                if departed is not None:
                    self.acked.departed.add(registration["id"])

    def _rename(self, http: httpx.Client, people: SyntheticPeople, person_id: str, etags: dict[str, str]) -> None:
        name = people.person().name
        with self.acked.lock:
            self.acked.persons[person_id].add(name)  # until answered, either name may be stored
        # Without an answer its version is unknown: the person is not renamed again.
        response = http.patch(
            f"/api/v1/persons/{person_id}", json={"name": name}, headers={"If-Match": etags.pop(person_id)}
        )
        renamed = self._ok(response)
        with self.acked.lock:
            if renamed is None:
                self.acked.persons[person_id].discard(name)
            else:
                self.acked.persons[person_id] = {name}
                self.acked.updates += 1
                etags[person_id] = response.headers["ETag"]

    def _ok(self, response: httpx.Response) -> dict | None:
        if response.status_code >= 500:
            with self.acked.lock:
                self.acked.server_errors[response.status_code] += 1
        return response.json() if response.is_success else None


@dataclass
class Deployment:
    server: Server
    settings: Settings
    admin: tuple[str, str]
    # A plain engine to watch rows with: it takes no write lock (SQLite's WAL readers don't
    # wait), so watching never queues behind the job it watches, as a poll over HTTP would.
    watch: Engine


@pytest.fixture
def deployment(tmp_path: Path, database_url: str):
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, profile="dev")
    init = initialise(settings)
    assert init.admin_username and init.admin_password
    env = {
        **os.environ,
        "REGISTRY_DATA_DIR": str(settings.data_dir),
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_PROFILE": "dev",
        "REGISTRY_LOG_LEVEL": "WARNING",  # no access log: the load would mostly be writing it
    }
    deployment = Deployment(
        Server(env, tmp_path / "server.log"),
        settings,
        (init.admin_username, init.admin_password),
        sa.create_engine(database_url),
    )
    try:
        yield deployment
    finally:
        deployment.server.kill()
        deployment.watch.dispose()


def test_sigkill_under_load_loses_no_acknowledged_write(deployment: Deployment):
    server = deployment.server
    server.start()
    # The second, founding administrator (the other key of dual control) is made at the
    # console, as an operator would, while the service runs.
    founded = subprocess.run(
        [REGISTRY, "users", "create", "--username", SECOND_ADMIN, "--role", "admin"],
        env=server.env | {"REGISTRY_FOUNDING_PASSWORD": STRONG_PASSWORD},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert founded.returncode == 0, founded.stderr
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        admin = as_user(http, *deployment.admin)
        create_tree(http, admin)
        create_user(http, admin, "police.a", ["police"], "320571")
        create_user(http, admin, "secadmin.x", ["security_admin"], None)
        police, secadmin = as_user(http, "police.a", STRONG_PASSWORD), as_user(http, "secadmin.x", STRONG_PASSWORD)
        dwelling = http.post(
            "/api/v1/dwellings",
            json={"org_unit": "320571001", "address": SyntheticPeople(7).address(), "kind": "owned"},
            headers=police | REG,
        )
        assert dwelling.status_code == 201, dwelling.text

        writers = Writers(server.base_url, police, dwelling.json()["id"])
        writers.start()
        try:
            _wait_for_writes(writers, 100)
            server.kill()
            server.start()
            _wait_for_writes(writers, 100)
            rotation = {"target": "dek"}
            # Killed after its first batch: new DEK versions written, the rows not yet re-sealed.
            _kill_during_job(
                deployment,
                http,
                secadmin,
                ROTATIONS,
                body=rotation,
                until=lambda job: job.done > 0,
                while_down=lambda: _assert_one_unfinished_rotation(deployment.watch),
            )
            _wait_for_writes(writers, 40)
            _kill_during_job(deployment, http, secadmin, RETENTION, until=lambda job: job.status == "running")
            _wait_for_writes(writers, 40)
        finally:
            writers.stop()
        acked = writers.acked
        assert not acked.server_errors, acked.server_errors
        # Registrations departed after the resumed run are due too: one more run erases them.
        _run_to_completion(http, secadmin, RETENTION)

        _check_readable(http, police, acked)
    _wait_until_sequenced(deployment.watch)  # by the restarted server's own sequencer
    server.stop()
    _check_stored_and_audited(deployment.settings, acked)


def _wait_for_writes(writers: Writers, more: int) -> None:
    """Let the load run until `more` further writes are acknowledged, then a random bit
    longer, so that the kill lands in the middle of requests."""
    target, deadline = writers.acked.count() + more, time.monotonic() + 30
    while writers.acked.count() < target:
        assert time.monotonic() < deadline, "the writers made no progress"
        time.sleep(0.02)
    time.sleep(random.uniform(0.0, 0.2))


def _start_job(http: httpx.Client, secadmin: dict[str, str], path: str, body: dict | None) -> uuid.UUID:
    started = http.post(path, json=body, headers=secadmin)
    assert started.status_code == 202, started.text
    return uuid.UUID(started.json()["job_id"])


def _job_status(http: httpx.Client, secadmin: dict[str, str], job_id: uuid.UUID) -> str:
    response = http.get(f"/api/v1/jobs/{job_id}", headers=secadmin)
    assert response.status_code == 200, response.text
    return response.json()["status"]


def _kill_during_job(
    deployment: Deployment,
    http: httpx.Client,
    secadmin: dict[str, str],
    path: str,
    *,
    body: dict | None = None,
    until: Callable[[Job], bool],
    while_down: Callable[[], None] = lambda: None,
) -> None:
    """Start a job, SIGKILL the server as soon as the job's row shows `until`, restart:
    the job is reported `interrupted`, and the service's own resumed job completes."""
    job_id = _start_job(http, secadmin, path, body)
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not until(job := _job_row(deployment.watch, job_id)):
        assert job.status in {"queued", "running"}, f"the job ended before the kill: {job.status}"
        assert time.monotonic() < deadline, f"job still {job.status} after {JOB_TIMEOUT_S} s"
        time.sleep(0.005)
    deployment.server.kill()
    while_down()
    deployment.server.start()
    assert _job_status(http, secadmin, job_id) == "interrupted"
    with Session(deployment.watch) as session:
        resumed = session.exec(select(Job).where(Job.kind == job.kind, Job.requested_by == "system")).all()
    assert len(resumed) == 1, f"{len(resumed)} resumed jobs"
    while (status := _job_status(http, secadmin, resumed[0].id)) in {"queued", "running"}:
        assert time.monotonic() < deadline + JOB_TIMEOUT_S, f"resumed job still {status}"
        time.sleep(0.05)
    assert status == "done"


def _run_to_completion(http: httpx.Client, secadmin: dict[str, str], path: str) -> None:
    job_id = _start_job(http, secadmin, path, None)
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while (status := _job_status(http, secadmin, job_id)) in {"queued", "running"}:
        assert time.monotonic() < deadline, f"job still {status} after {JOB_TIMEOUT_S} s"
        time.sleep(0.05)
    assert status == "done"


def _job_row(engine: Engine, job_id: uuid.UUID) -> Job:
    with Session(engine) as session:
        job = session.get(Job, job_id)
    assert job is not None
    return job


def _wait_until_sequenced(engine: Engine) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        with Session(engine) as session:
            entries = session.exec(select(sa.func.count()).select_from(AuditEntry)).one()
            leaves = session.exec(select(sa.func.count()).select_from(AuditLeaf)).one()
        if entries == leaves:
            return
        assert time.monotonic() < deadline, f"{entries - leaves} audit entries still unsequenced"
        time.sleep(0.1)


def _assert_one_unfinished_rotation(engine: Engine) -> None:
    """The kill landed mid-rotation: new DEK versions written, the rows not yet re-sealed."""
    with Session(engine) as session:
        unfinished = session.exec(select(DekRotation.id).where(DekRotation.finished_at.is_(None))).all()  # type: ignore[union-attr]
    assert len(unfinished) == 1


def _check_readable(http: httpx.Client, police: dict[str, str], acked: Acknowledged) -> None:
    """Every acknowledged write, read back as its writer: the latest acknowledged names,
    opened under the rotated keys; employers, until retention erased them (the departed)."""

    def person(item: tuple[str, set[str]]) -> None:
        read = http.get(f"/api/v1/persons/{item[0]}", headers=police | REG)
        assert read.status_code == 200 and read.json()["name"] in item[1], read.text

    def registration(item: tuple[str, str]) -> None:
        read = http.get(f"/api/v1/residence-registrations/{item[0]}", headers=police | REG)
        assert read.status_code == 200, read.text
        status = read.json()["status"]
        if item[0] not in acked.unanswered_departures:
            assert status == ("departed" if item[0] in acked.departed else "active")
        assert read.json()["employer_name"] == (None if status == "departed" else item[1])

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(person, acked.persons.items()))
        list(pool.map(registration, acked.registrations.items()))


def _check_stored_and_audited(settings: Settings, acked: Acknowledged) -> None:
    runtime = open_runtime(settings)
    try:
        assert runtime.sequencer.drain() == 0
        runtime.sequencer.checkpoint()
        report = verify_log(runtime.engine, runtime.provider.public_key(), settings.audit_origin)
        assert report.ok and report.pending == 0 and report.checkpoints_checked >= 1, report.problems
        with Session(runtime.engine) as session:
            audited = _audited(session)
            persons = {str(p.id): p.version for p in session.exec(select(Person))}
            registrations = {str(r.id): r for r in session.exec(select(Registration))}
            rotations = session.exec(select(DekRotation)).all()
            key_versions = Counter((k.owner_id, k.compartment) for k in session.exec(select(DataKeyRecord)))
    finally:
        runtime.engine.dispose()
    # Every acknowledged write is stored; every stored write, acknowledged or not, has its entry.
    assert set(acked.persons) <= set(persons) <= set(audited["person:create"])
    assert all(audited["person:update"][pid] == version - 1 for pid, version in persons.items())
    assert set(acked.registrations) <= set(registrations) <= set(audited["registration:create"])
    departed = {rid for rid, r in registrations.items() if r.status == "departed"}
    assert acked.departed <= departed <= set(audited["registration:depart"])
    # The interrupted retention run, resumed, erased every due registration exactly once.
    assert all(registrations[rid].erased_at and registrations[rid].employer_name_ct is None for rid in departed)
    assert audited["registration:erase"] == Counter(departed)
    # The interrupted rotation, resumed, finished: the old DEK versions are destroyed.
    assert len(rotations) == 1 and rotations[0].finished_at is not None
    assert max(key_versions.values()) == 1
    print(
        f"\n{settings.resolved_database_url.split(':')[0]}: acknowledged {len(acked.persons)} persons, "
        f"{len(acked.registrations)} registrations, {len(acked.departed)} departures, {acked.updates} renames; "
        f"stored {len(persons)} persons, {len(registrations)} registrations"
    )


def _audited(session: Session) -> dict[str, Counter[str]]:
    """How many entries of each action name each record (as their first target)."""
    audited: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for action, targets in session.exec(select(AuditEntry.action, AuditEntry.targets)):
        audited[action].update(targets[:1])
    return audited
