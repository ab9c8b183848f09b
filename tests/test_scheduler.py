"""The scheduler inside the service (issue 15): one leader, each sweep once per due day on
the injected clock, one catch-up run after downtime, and the sweeps' effects."""

from __future__ import annotations

import base64
import threading
import uuid
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.audit.models import AuditEntry
from registry.casefiles.deadlines import RULE
from registry.casefiles.models import Casefile
from registry.casefiles.workflows import correction
from registry.crypto.keyring import KeyStatus
from registry.db import create_engine, transaction
from registry.jobs.leader import Leadership
from registry.jobs.models import Job, JobStatus, SchedulerLease, SweepRun
from registry.people.models import Person
from registry.people.synthetic import SyntheticPeople
from registry.runtime import open_runtime
from registry.scheduler import Scheduler
from registry.sweeps import SWEEPS
from tests.api.test_retention import SUP, _correction, _discharged_file, _person, world
from tests.api_helpers import STRONG_PASSWORD, as_user, create_user

__all__ = ["world"]  # a fixture, imported for pytest

NAMES = [sweep.name for sweep in SWEEPS]
DAYS = 400
DOWN = range(150, 160)  # the service is down these days; it restarts on day 160


def _system_entries(session: Session, action: str) -> list[AuditEntry]:
    return list(
        session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.actor_id) == "system", col(AuditEntry.action) == action)
            .order_by(col(AuditEntry.id))
        )
    )


def _awaiting_report_file(client, world) -> tuple[str, date]:
    corr = world["heads"]["corr.a"] | SUP
    details = _correction("2027-01-31") | {"judgment_effective_on": "2026-02-01", "term_starts_on": "2026-02-01"}
    made = client.post(
        "/api/v1/casefiles",
        json={
            "person_id": _person(client, world, minor=False),
            "kind": "community_correction",
            "org_unit": "320571",
            "opened_on": "2026-02-04",
            "details": details,
        },
        headers=corr,
    )
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "awaiting_report" and made.json()["report_due_on"] == "2026-02-11"
    return uuid.UUID(made.json()["id"]), date(2026, 2, 11)


def _unlinked_person(client) -> str:
    as_police = as_user(client, "police.a", STRONG_PASSWORD) | {"X-Purpose": "registration"}
    person = SyntheticPeople(808).person()
    made = client.post("/api/v1/persons", json={"id_number": person.id_number, "name": person.name}, headers=as_police)
    assert made.status_code == 201, made.text
    return uuid.UUID(made.json()["id"])


def test_every_sweep_runs_once_per_due_day_over_400_days_with_a_restart(client, runtime, world, clock, settings):
    minor_file = uuid.UUID(_discharged_file(client, world, clock, minor=True))  # closed 2026-02-04: sealed on 02-07
    awaiting, due = _awaiting_report_file(client, world)  # missing from 02-12
    unlinked = _unlinked_person(client)  # no record: erased 30 days on
    start = clock.now().date()
    scheduler = Scheduler(runtime)
    ticked: list[date] = []
    later = None
    try:
        for day in range(DAYS):
            if day == DOWN.start:
                scheduler.leadership.release()  # the old process stops
            if day in DOWN:
                clock.advance(days=1)
                continue
            if day == DOWN.stop:  # a new process on the same database
                later = open_runtime(settings, clock=clock)
                scheduler = Scheduler(later)
            ran = scheduler.tick()
            assert len(ran) == len(NAMES), (day, ran)
            assert scheduler.tick() == []  # a second tick the same day runs nothing
            ticked.append(clock.now().date())
            clock.advance(days=1)
    finally:
        scheduler.leadership.release()
        if later is not None:
            later.engine.dispose()

    with Session(runtime.engine) as session:
        runs = session.exec(select(SweepRun.sweep, SweepRun.day, SweepRun.job_id)).all()
        for name in NAMES:
            assert sorted(d for s, d, _ in runs if s == name) == ticked, name  # once per day, none while down
        statuses = {job.id: job.status for job in session.exec(select(Job).where(col(Job.kind).startswith("sweep:")))}
        assert {statuses[job_id] for *_, job_id in runs} == {JobStatus.DONE}
        assert len(statuses) == len(runs) == len(NAMES) * (DAYS - len(DOWN))
        started = _system_entries(session, "sweep:run")
        assert sorted((e.targets[1], e.reason) for e in started) == sorted(
            (name, f"day {day.isoformat()}") for name in NAMES for day in ticked
        )
        # Effects, each on the first day it was due, each once.
        missing = _system_entries(session, "casefile:transition")
        assert [(e.targets, e.at.date()) for e in missing] == [([str(awaiting)], due + timedelta(days=1))]
        assert missing[0].reason.startswith("awaiting_report->missing")
        assert session.get(Casefile, awaiting).status == correction.Status.missing
        sealed = [e for e in _system_entries(session, "casefile:seal") if str(minor_file) in e.targets]
        assert [e.at.date() for e in sealed] == [date(2026, 2, 7)]
        erased = [e for e in _system_entries(session, "person:erase") if str(unlinked) in e.targets]
        assert len(erased) == 1 and erased[0].at.date() == start + timedelta(days=30)
        assert session.get(Person, unlinked).erased_at is not None
    assert RULE == "report_overdue"


def test_a_file_whose_report_is_due_today_is_not_missing_yet(client, runtime, world, clock):
    clock.current = datetime.combine(date(2026, 2, 4), clock.now().timetz())
    world["relogin"]()
    awaiting, due = _awaiting_report_file(client, world)
    clock.current = datetime.combine(due, clock.now().timetz())
    scheduler = Scheduler(runtime)
    try:
        scheduler.tick()
        with Session(runtime.engine) as session:
            assert session.get(Casefile, awaiting).status == correction.Status.awaiting_report
        clock.advance(days=1)
        scheduler.tick()
    finally:
        scheduler.leadership.release()
    with Session(runtime.engine) as session:
        assert session.get(Casefile, awaiting).status == correction.Status.missing
    world["relogin"]()
    events = client.get(f"/api/v1/casefiles/{awaiting}/events", headers=world["heads"]["corr.a"] | SUP)
    assert events.status_code == 200, events.text
    (moved,) = [e for e in events.json() if e["type"] == "transition"]
    assert moved["body"]["to"] == "missing" and moved["body"]["reason"] == "report_overdue"


def test_the_key_sweep_finishes_a_rotation_left_half_done(runtime):
    with transaction(runtime.engine) as session:
        old = [r.version for r in runtime.keyring.index_roots(session)]
        runtime.keyring.add_index_root(session, status=KeyStatus.WRITING)  # a rotation stopped here
    scheduler = Scheduler(runtime)
    try:
        ran = scheduler.tick()
    finally:
        scheduler.leadership.release()
    (job_id,) = [j for j, sweep in zip(ran, NAMES, strict=True) if sweep == "key_versions"]
    with Session(runtime.engine) as session:
        roots = {r.version: r.status for r in runtime.keyring.index_roots(session)}
        assert session.get(Job, job_id).status == JobStatus.DONE
    # The old roots are retired (destroyed, so no longer listed) and the new one reads.
    assert old and not set(old) & set(roots)
    assert list(roots.values()) == [KeyStatus.ACTIVE]


def test_two_processes_never_both_lead(runtime, settings, clock):
    """Two schedulers on engines of their own (as two processes have): one leads; the other
    takes over only when the first lets go (or, on SQLite, stops renewing for a lease)."""
    other = open_runtime(settings, clock=clock)
    first = Leadership(runtime.engine, clock, lease_s=60)
    second = Leadership(other.engine, clock, lease_s=60)
    try:
        assert first.lead() and not second.lead()
        assert first.lead() and not second.lead()  # renewing keeps it
        first.release()
        assert second.lead() and not first.lead()
        if runtime.engine.dialect.name == "sqlite":
            clock.advance(seconds=59)
            assert not first.lead()
            clock.advance(seconds=2)  # the second stopped renewing: its lease ran out
            assert first.lead() and not second.lead()
        else:
            second._held.invalidate()  # the second process dies: its connection, and the lock, go
            second._held = None
            assert first.lead() and not second.lead()
    finally:
        first.release()
        second.release()
        other.engine.dispose()


def test_concurrent_ticks_claim_each_day_once(runtime, settings, clock):
    """Two processes tick at the same moment, again and again: each sweep's day runs once."""
    other = open_runtime(settings, clock=clock)
    schedulers = [Scheduler(runtime), Scheduler(other)]
    ran: list[list[object]] = [[], []]
    barrier = threading.Barrier(2)

    def tick(i: int) -> None:
        for _ in range(5):
            barrier.wait()
            ran[i] += schedulers[i].tick()

    try:
        threads = [threading.Thread(target=tick, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for scheduler in schedulers:
            scheduler.leadership.release()
        other.engine.dispose()
    assert len(ran[0]) + len(ran[1]) == len(NAMES)
    assert not (ran[0] and ran[1])  # one process led
    with Session(runtime.engine) as session:
        assert session.exec(select(sa.func.count()).select_from(SweepRun)).one() == len(NAMES)


def test_the_job_list_pages_newest_first_filters_and_is_audited(client, runtime, bootstrap, clock):
    admin = as_user(client, *bootstrap)
    create_user(client, admin, "secadmin.q", ["security_admin"], None)
    scheduler = Scheduler(runtime)
    try:
        for _ in range(3):
            scheduler.tick()
            clock.advance(days=1)
    finally:
        scheduler.leadership.release()
    sec = as_user(client, "secadmin.q", STRONG_PASSWORD)
    seen, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/jobs", params={"kind": "sweep:", "limit": 4} | ({"cursor": cursor} if cursor else {}), headers=sec
        )
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 3 * len(NAMES) and len({j["id"] for j in seen}) == len(seen)
    assert [j["created_at"] for j in seen] == sorted((j["created_at"] for j in seen), reverse=True)
    assert {j["status"] for j in seen} == {"done"} and {j["requested_by"] for j in seen} == {"system"}
    retention = client.get("/api/v1/jobs", params={"kind": "sweep:retention", "status": "done"}, headers=sec).json()
    assert [j["kind"] for j in retention["items"]] == ["sweep:retention"] * 3
    assert client.get("/api/v1/jobs", params={"kind": "sweep:x|y"}, headers=sec).status_code == 422
    assert client.get("/api/v1/jobs", params={"status": "sleeping"}, headers=sec).status_code == 422
    assert client.get("/api/v1/jobs", params={"cursor": "bm90IGEgY3Vyc29y"}, headers=sec).status_code == 400
    admin = as_user(client, *bootstrap)  # the clock moved on: a fresh token
    assert client.get("/api/v1/jobs", headers=admin).status_code == 403  # administrators run no jobs
    with Session(runtime.engine) as session:
        listed = session.exec(
            select(AuditEntry).where(col(AuditEntry.action) == "job:list").order_by(col(AuditEntry.id))
        ).all()
    total = 3 * len(NAMES)  # pages of 4, then the three retention runs
    pages = [4] * (total // 4) + ([total % 4] if total % 4 else [])
    assert [len(e.targets) for e in listed][: len(pages) + 1] == [*pages, 3]


def test_a_run_dated_in_the_future_does_not_hold_today_back(runtime, clock):
    """A clock that ran ahead once, or a row written outside the service, must not stop
    sealing and erasure for years: only days up to today decide whether a sweep is due."""
    scheduler = Scheduler(runtime)
    try:
        clock.advance(days=3650)
        assert len(scheduler.tick()) == len(NAMES)
        clock.advance(days=-3650)
        assert len(scheduler.tick()) == len(NAMES)  # today's runs, despite the row ten years on
        assert scheduler.tick() == []
    finally:
        scheduler.leadership.release()


def test_a_lease_that_runs_for_ever_is_taken_over(runtime, settings, clock):
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL leads by an advisory lock, which dies with its session")
    with transaction(runtime.engine) as session:
        session.add(SchedulerLease(name="scheduler", holder="squatter", expires_at=clock.now() + timedelta(days=9999)))
    leader = Leadership(runtime.engine, clock, lease_s=60)
    try:
        assert leader.lead()
    finally:
        leader.release()


def test_a_job_cursor_without_a_time_zone_or_out_of_range_is_a_400(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_user(client, admin, "secadmin.c", ["security_admin"], None)
    sec = as_user(client, "secadmin.c", STRONG_PASSWORD)
    job = "00000000-0000-4000-8000-000000000000"
    for position in ("2026-01-01T00:00:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "x"):
        cursor = base64.urlsafe_b64encode(f"{position}|{job}".encode()).decode().rstrip("=")
        got = client.get("/api/v1/jobs", params={"cursor": cursor}, headers=sec)
        assert got.status_code == 400, (position, got.text)


def test_a_day_claimed_outside_the_service_still_runs(runtime, database_url, clock):
    """A `sweep_run` row for tomorrow written by hand (the service's role may insert) would
    make tomorrow's claim collide: the sweep runs anyway, once, and the forgery is audited."""
    tomorrow = clock.now().date() + timedelta(days=1)
    owner = create_engine(database_url)
    try:
        with owner.begin() as conn:
            for name in NAMES:
                job = uuid.uuid4()
                conn.execute(
                    sa.insert(Job.__table__).values(id=job, kind="x", status="done", done=0, created_at=clock.now())
                )
                conn.execute(sa.insert(SweepRun.__table__).values(sweep=name, day=tomorrow, job_id=job))
    finally:
        owner.dispose()
    scheduler = Scheduler(runtime)
    try:
        assert len(scheduler.tick()) == len(NAMES)
        clock.advance(days=1)
        assert len(scheduler.tick()) == len(NAMES)
        assert scheduler.tick() == []
    finally:
        scheduler.leadership.release()
    with Session(runtime.engine) as session:
        assert len(_system_entries(session, "integrity:failure")) == len(NAMES)
