"""DEK re-encryption online over every sealed table (BENCH.md: ≥ 2,000 records/s).

Seeds `--persons` synthetic residents through the demo seed (person, dwelling,
registration), then gives a share of them a permit (issued) and a community-correction
file with events and a leave request, so that every table the descriptors name holds rows;
then runs `rotate_deks` over `maintenance.sealed_tables()` while a reader thread reads
persons, and reports records re-sealed per second (rows of every table) with the reader's
throughput and latency before and during. One process; SQLite in a temporary directory, or
(`--engine postgresql`) a scratch database `rotation_bench_<hex>` on
`$REGISTRY_BENCH_PG_URL` (default the local server as `postgres`), dropped at the end.
The load average is recorded with the figures (the machine is shared).

    .venv/bin/python -m bench.rotation_all_tables --persons 5000
    .venv/bin/python -m bench.rotation_all_tables --persons 2000 --engine postgresql
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.engine import make_url

import registry.models  # noqa: F401  (every descriptor registered)
from registry.access.policy import Purpose, Role
from registry.access.principal import Principal
from registry.access.scope import Scope
from registry.audit.log import AuditTrail
from registry.bootstrap import initialise
from registry.casefiles import leaves
from registry.casefiles import service as casefiles
from registry.casefiles.schemas import CasefileCreate, EventCreate, Transition
from registry.clock import SystemClock
from registry.context import Context, actor_of
from registry.crypto.models import DataKeyRecord
from registry.crypto.rotation import rotate_deks
from registry.crypto.sealed import descriptors
from registry.db import transaction
from registry.demo import seed
from registry.maintenance import sealed_tables
from registry.people import service as people
from registry.people.models import Person
from registry.residence import permits
from registry.residence.models import Registration
from registry.residence.policy import ResidencePolicy
from registry.residence.rules import PermitAction
from registry.residence.schemas import PermitCreate
from registry.runtime import open_runtime
from registry.settings import Settings

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
INTAKE = {"documents_checked": True, "identity_verified": True, "rules_read": True}
RESULTS = Path(__file__).parent / "results"
CORRECTION = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2025)测刑初1号",
    "judgment_effective_on": "2025-12-20",
    "term_starts_on": "2025-12-20",
    "term_ends_on": "2027-12-19",
}


def _ctx(clock: SystemClock, role: Role, purpose: Purpose) -> Context:
    principal = Principal(uuid.uuid4(), f"bench.{role}", "human", frozenset({role}), None, Scope(None))
    return Context(principal, AuditTrail(clock, actor_of(principal)), clock, purpose)


def _files(runtime, share: float) -> int:  # type: ignore[no-untyped-def]
    """Permits and correction files (with two events and a leave) for `share` of the persons."""
    clock, keyring = runtime.clock, runtime.keyring
    police = _ctx(clock, Role.POLICE, Purpose.REGISTRATION)
    corrections = _ctx(clock, Role.CORRECTIONS, Purpose.SUPERVISION)
    policy = ResidencePolicy(min_months=0)
    with transaction(runtime.engine) as session:
        rows = session.execute(sa.select(Registration.id, Registration.person_id, Registration.org_unit_code)).all()
    picked = rows[:: max(1, round(1 / share))]
    today = clock.now().date()
    for first in range(0, len(picked), 200):
        with transaction(runtime.engine) as session:
            for registration_id, person_id, unit in picked[first : first + 200]:
                body = PermitCreate(person_id=person_id, registration_id=registration_id, basis="residence")
                permit = permits.apply_for_permit(session, police, policy, data=body)
                session.flush()
                for step in (PermitAction.accept, PermitAction.issue):
                    permits.take_step(session, police, keyring, policy, permit_id=permit.id, action=step)
                data = CasefileCreate(
                    person_id=person_id, kind="community_correction", org_unit=unit, details=CORRECTION
                )
                casefile = casefiles.create_casefile(session, corrections, keyring, data=data)
                session.flush()
                for n in range(2):
                    event = EventCreate(type="visit", occurred_on=today - timedelta(days=n), body={"note": "家访"})
                    casefiles.add_event(session, corrections, keyring, casefile_id=casefile.id, data=event)
                intake = Transition(to="received", on=today, facts=INTAKE)
                casefiles.transition(session, corrections, keyring, casefile_id=casefile.id, data=intake)
                leaves.request_leave(
                    session,
                    corrections,
                    keyring=keyring,
                    casefile_id=casefile.id,
                    starts_on=today + timedelta(days=3),
                    ends_on=today + timedelta(days=4),
                    destination="测试市",
                    reason="探亲",
                )
    return len(picked)


def _reader(runtime, ids: list[uuid.UUID], stop: threading.Event, out: list) -> None:  # type: ignore[no-untyped-def,type-arg]
    ctx = _ctx(runtime.clock, Role.POLICE, Purpose.REGISTRATION)
    latencies, i = [], 0
    started = time.perf_counter()
    while not stop.is_set():
        begun = time.perf_counter()
        with transaction(runtime.engine) as session:
            people.read_person(session, ctx, runtime.keyring, person_id=ids[i % len(ids)])
        latencies.append((time.perf_counter() - begun) * 1e3)
        i += 1
    out.append((len(latencies), time.perf_counter() - started, sorted(latencies)))


def _check(runtime, ids: list[uuid.UUID]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """After the rotation: every person reads back, and no owner keeps more than one DEK version."""
    ctx = _ctx(runtime.clock, Role.POLICE, Purpose.REGISTRATION)
    with transaction(runtime.engine) as session:
        for person_id in ids:
            people.read_person(session, ctx, runtime.keyring, person_id=person_id)
        versions = session.execute(
            sa.select(sa.func.count())
            .select_from(DataKeyRecord)
            .group_by(DataKeyRecord.owner_id, DataKeyRecord.compartment)
        ).scalars()
        most = max(versions, default=0)
    assert most == 1, f"an owner keeps {most} DEK versions"
    return {"persons_read": len(ids), "max_dek_versions_per_owner": most}


def _read_while(runtime, ids, work):  # type: ignore[no-untyped-def]
    stop, out = threading.Event(), []
    thread = threading.Thread(target=_reader, args=(runtime, ids, stop, out), daemon=True)
    thread.start()
    try:
        value = work()
    finally:
        stop.set()
        thread.join()
    reads, seconds, latencies = out[0]
    stats = {"reads_per_s": reads / seconds, "p50_ms": latencies[len(latencies) // 2] if latencies else None}
    stats["p99_ms"] = latencies[int(len(latencies) * 0.99)] if latencies else None
    return stats, value


@contextlib.contextmanager
def _database(engine: str, base: Path) -> Any:
    """The database URL: a file in `base`, or a scratch PostgreSQL database dropped after."""
    if engine == "sqlite":
        yield f"sqlite:///{base / 'registry.db'}"
        return
    admin = os.environ.get("REGISTRY_BENCH_PG_URL", PG_ADMIN_URL)
    plain = admin.replace("+psycopg", "")
    name = f"rotation_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=5000)
    parser.add_argument("--share", type=float, default=0.2, help="share of persons with a permit and a casefile")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, _database(args.engine, Path(tmp)) as url:
        base = Path(tmp)
        settings = Settings(data_dir=base / "data", database_url=url, profile="dev")
        clock = SystemClock()
        initialise(settings, clock=clock)
        runtime = open_runtime(settings, clock=clock)
        started = time.perf_counter()
        seed(runtime, persons=args.persons, seed=7)
        with_files = _files(runtime, args.share)
        seeded_s = time.perf_counter() - started
        with runtime.engine.connect() as conn:
            rows = {
                d.name: conn.execute(sa.select(sa.func.count()).select_from(d.table)).scalar() for d in descriptors()
            }
            ids = list(conn.execute(sa.select(Person.id)).scalars())
        before, _ = _read_while(runtime, ids, lambda: time.sleep(3))
        load_before = os.getloadavg()
        started = time.perf_counter()
        during, resealed = _read_while(
            runtime, ids, lambda: rotate_deks(runtime.engine, runtime.keyring, sealed_tables())
        )
        seconds = time.perf_counter() - started
        load_after = os.getloadavg()
        checked = _check(runtime, ids)
        runtime.engine.dispose()
    result = {
        "bench": "rotation_all_tables",
        "date": date.today().isoformat(),
        "engine": args.engine,
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "persons": args.persons,
        "with_permit_and_casefile": with_files,
        "rows_by_table": rows,
        "seed_s": round(seeded_s, 1),
        "resealed": resealed,
        "rotation_s": round(seconds, 2),
        "records_per_s": round(resealed / seconds),
        "target_records_per_s": 2000,
        "checked_after": checked,
        "reader_before": before,
        "reader_during": during,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"rotation_all_tables-{args.engine}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
