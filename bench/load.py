"""HTTP load benchmark: the registry against the plaintext baseline, same data, same engine.

    .venv/bin/python -m bench.load --engine sqlite --persons 10000 [--duration 10] [--warmup 2]
                                   [--concurrency 1,4,16] [--scenarios read,write,casefile]
                                   [--workers 1] [--seed 1] [--json [OUT]]

BENCH.md scenarios 1-3 over real HTTP, with a ratio to the baseline measured in the same run:

1. Two throwaway databases on the engine (SQLite files in a temp directory, or PostgreSQL
   databases `load_registry_<hex>` / `load_baseline_<hex>` on `$REGISTRY_BENCH_PG_URL`,
   default `postgresql+psycopg://postgres@127.0.0.1:5432/postgres`, dropped at the end).
2. The registry: `registry.bootstrap.initialise`, then `registry.demo.seed` (the code behind
   `registry demo seed --persons N --seed S`: the demo tree, N synthetic residents with
   dwellings and active registrations, through the services, sealed, indexed, audited;
   timed: scenario 4 on this path) and a sequencer drain (so the servers start with a
   sequenced log). The baseline: its tables (`bench.baseline.models`) and plain inserts of
   the same rows (`registry.demo.seed_rows`, same seed and org units).
3. Both services start as uvicorn subprocesses on loopback with the same worker count:
   `registry serve --workers W` and `uvicorn bench.baseline.app:app --workers W`.
4. Over HTTP, before any timing: a police account scoped to the whole demo city and a
   corrections account for district 990171 (registry; the baseline has one static token);
   2,000 sampled residents are looked up by ID number on each service and their active
   registration id read from that service's database; 5 casefiles with 25 events each are
   created on each service for male residents of 990171 (the same persons on both).
5. For each scenario and each concurrency, a load client process (`bench.load_client`) runs
   against one service, then against the other, back to back (the order alternates from one
   pair to the next): `--warmup` s not recorded, then `--duration` s recorded. Recorded:
   iterations/s, latency percentiles of the iteration and of each request, errors, the
   client's CPU and the server's CPU (/proc, server process and its workers) per iteration.
6. Registry ÷ baseline for throughput and for p50/p90/p99 at each concurrency.

The JSON (with `--json`) goes to `bench/results/load-<engine>-<persons>-<UTC timestamp>.json`;
`bench/load_report.py` turns every such file (and the latest audit and crypto results) into
the Markdown table and the plots.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from bench.accounts import found_second_admin, staff_account
from bench.baseline import models as plain
from bench.baseline.app import create_engine as baseline_engine
from bench.baseline.app import create_schema
from bench.baseline.seed import seed_baseline
from bench.load_report import run_table, summarise_stacks
from registry.bootstrap import initialise
from registry.clock import today
from registry.db import transaction
from registry.demo import DEMO_ROOT, leaf_units, seed, seed_rows
from registry.residence.models import Registration
from registry.runtime import open_runtime
from registry.scheduler import Scheduler
from registry.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SAMPLE = 2000
CASEFILES, EVENTS = 5, 25


def _correction(on: date) -> dict[str, str]:
    """A probation decided a month before the run and running half a year past it (the
    server checks the term against its own today)."""
    decided = (on - timedelta(days=30)).isoformat()
    return {
        "category": "probation",
        "deciding_authority": "测试区人民法院",
        "document_no": "(2025)测刑初1号",
        "judgment_effective_on": decided,
        "term_starts_on": decided,
        "term_ends_on": (on + timedelta(days=150)).isoformat(),
    }


PURPOSE = {"read": "registration", "write": "registration", "casefile": "supervision"}


def _log(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)


def _loadavg() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _psql(url: str, statement: str) -> None:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(statement)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn workers), from /proc."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
    return total


@dataclass
class Service:
    name: str  # registry | baseline
    url: str  # database URL
    port: int
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # per scenario
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        handle = log.open("wb")
        self.process = subprocess.Popen(command, cwd=ROOT, env=os.environ | env, stdout=handle, stderr=handle)  # noqa: S603
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not answer /healthz: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _registry_accounts(service: Service, admin: tuple[str, str]) -> None:
    """A police account over the whole demo city and a corrections account for 990171,
    each approved under dual control (`bench.accounts`)."""
    with httpx.Client(base_url=service.base) as http:
        police = staff_account(http, admin, "bench.police", "police", DEMO_ROOT)
        corrections = staff_account(http, admin, "bench.corrections", "corrections", "990171")
    service.headers = {
        "read": police | {"X-Purpose": PURPOSE["read"]},
        "write": police | {"X-Purpose": PURPOSE["write"]},
        "casefile": corrections | {"X-Purpose": PURPOSE["casefile"]},
    }


def _baseline_headers(service: Service, token: str) -> None:
    # The registry's purpose header is sent too (ignored): the same request bytes on both.
    service.headers = {s: {"Authorization": f"Bearer {token}", "X-Purpose": p} for s, p in PURPOSE.items()}


def _targets(service: Service, id_numbers: list[str], registration_table: Any) -> list[list[str]]:
    """[ID number, active registration id] per sampled resident: the person's id by a search
    over HTTP, the registration's from the service's own database."""

    with httpx.Client(base_url=service.base, headers=service.headers["read"], timeout=60) as http:

        def search(id_number: str) -> str:
            response = http.post("/api/v1/persons/search", json={"id_number": id_number})
            response.raise_for_status()
            (item,) = response.json()["items"]
            return str(item["id"])

        with ThreadPoolExecutor(4) as pool:
            person_ids = list(pool.map(search, id_numbers))
    engine = baseline_engine(service.url) if service.name == "baseline" else sa.create_engine(service.url)
    registrations: dict[str, str] = {}
    with Session(engine) as session:
        wanted = [uuid.UUID(p) for p in person_ids]
        for start in range(0, len(wanted), 500):
            rows = session.exec(
                select(registration_table.person_id, registration_table.id).where(
                    registration_table.person_id.in_(wanted[start : start + 500]),
                    registration_table.status == "active",
                )
            ).all()
            registrations.update({str(p): str(r) for p, r in rows})
    engine.dispose()
    return [[n, registrations[p]] for n, p in zip(id_numbers, person_ids, strict=True)]


def _casefiles(service: Service, person_ids: list[str], on: date) -> list[str]:
    """CASEFILES community-correction casefiles with EVENTS events each, through the API."""
    headers = service.headers["casefile"]
    made = []
    with httpx.Client(base_url=service.base, headers=headers, timeout=60) as http:
        for person in person_ids:
            body = {
                "person_id": person,
                "kind": "community_correction",
                "org_unit": "990171",
                "details": _correction(on),
            }
            created = http.post("/api/v1/casefiles", json=body)
            if created.status_code != 201:
                raise RuntimeError(f"{service.name} casefile: {created.status_code} {created.text[:300]}")
            casefile = created.json()["id"]
            for n in range(EVENTS):
                event = {
                    "type": "report",
                    "occurred_on": on.isoformat(),  # a file opened today has no earlier event
                    "body": {"summary": f"synthetic monthly report {n + 1}"},
                }
                added = http.post(f"/api/v1/casefiles/{casefile}/events", json=event)
                if added.status_code != 201:
                    raise RuntimeError(f"{service.name} event: {added.status_code} {added.text[:300]}")
            made.append(casefile)
    return made


def _person_id(service: Service, id_number: str) -> str:
    response = httpx.post(
        f"{service.base}/api/v1/persons/search",
        json={"id_number": id_number},
        headers=service.headers["read"],
        timeout=60,
    )
    response.raise_for_status()
    return str(response.json()["items"][0]["id"])


def _settle(url: str) -> None:
    """After the bulk seed, what a database would have done on its own before long, so the
    first measured runs do not pay for it: SQLite folds the WAL back into the database file;
    PostgreSQL vacuums and analyses (autovacuum's job). Done alike for both services."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


@contextlib.contextmanager
def _analysed_while_seeding(url: str, every_s: float = 30.0) -> Iterator[None]:
    """PostgreSQL: ANALYZE every `every_s` while the seed grows the tables, as autovacuum
    would; the shared server here runs with autovacuum off, and a planner that still takes
    the blind index for empty then filters every entry for each batch's tokens (the seed
    slowed to 90 persons/s at 170k; 770/s after one ANALYZE). Nothing to do on SQLite."""
    if url.startswith("sqlite"):
        yield
        return
    stop = threading.Event()
    failed: list[BaseException] = []

    def analyse() -> None:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            while not stop.wait(every_s):
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("ANALYZE")
        except Exception as exc:  # noqa: BLE001 - reported when the seed ends
            failed.append(exc)
        finally:
            engine.dispose()

    worker = threading.Thread(target=analyse, name="autoanalyse", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()
    if failed:
        print(f"warning: ANALYZE during the seed failed ({type(failed[0]).__name__}); the seed rate is suspect")


def _run_client(service: Service, plan: dict[str, Any], work: Path) -> dict[str, Any]:
    tag = f"{service.name}-{plan['scenario']}-{plan['concurrency']}"
    plan_path, out_path = work / f"plan-{tag}.json", work / f"out-{tag}.json"
    plan_path.write_text(json.dumps(plan | {"base_url": service.base, "headers": service.headers[plan["scenario"]]}))
    assert service.process is not None
    load_before, cpu_before = _loadavg(), _cpu_seconds(service.process.pid)
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.load_client", str(plan_path), str(out_path)],
        cwd=ROOT,
        check=True,
        timeout=plan["warmup_s"] + plan["duration_s"] + 300,
    )
    server_cpu = _cpu_seconds(service.process.pid) - cpu_before
    result = json.loads(out_path.read_text())
    seconds = plan["warmup_s"] + plan["duration_s"]
    return {
        "service": service.name,
        "scenario": plan["scenario"],
        "concurrency": plan["concurrency"],
        "loadavg_before": load_before,
        # Server CPU over warm-up + run, per second and per recorded-rate iteration.
        "server_cpu_s": server_cpu,
        "server_cpu_ms_per_iteration": 1000 * server_cpu / max(1, result["iterations_per_s"] * seconds),
        **result,
    }


def _audit_verify_outcome(engine: sa.Engine) -> str | None:
    """The outcome of the newest `audit:verify` entry (what today's sweep recorded)."""
    newest = sa.text("SELECT outcome FROM audit_entry WHERE action = 'audit:verify' ORDER BY at DESC, id DESC LIMIT 1")
    with engine.connect() as conn:
        return conn.execute(newest).scalar()


def _profile_registry(
    service: Service, plan: dict[str, Any], work: Path, out: Path, *, gil: bool = False
) -> dict[str, Any]:
    """One more registry run of the scenario, not counted, with py-spy sampling the server
    (100 Hz, active threads only, or with `gil` only the thread holding the interpreter:
    where the one core a worker can use goes); the collapsed stacks go to `out`, a summary
    is returned."""
    assert service.process is not None
    seconds = plan["warmup_s"] + plan["duration_s"]
    spy = subprocess.Popen(  # noqa: S603
        [str(ROOT / ".venv/bin/py-spy"), "record", "-p", str(service.process.pid), "-r", "100", "-d", str(int(seconds))]
        + ["--format", "raw", "-o", str(out), "--nonblocking", "--subprocesses"]
        + (["--gil"] if gil else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches
    result = _run_client(service, plan, work)
    spy.wait(timeout=120)
    return {"file": out.name, "run": result, "summary": summarise_stacks(out)}


def _ratios(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_key = {(r["scenario"], r["concurrency"], r["service"]): r for r in runs}
    out = []
    for (scenario, concurrency, service), reg in by_key.items():
        if service != "registry" or (scenario, concurrency, "baseline") not in by_key:
            continue
        base = by_key[(scenario, concurrency, "baseline")]
        ratio = {"scenario": scenario, "concurrency": concurrency}
        ratio["throughput"] = reg["iterations_per_s"] / base["iterations_per_s"] if base["iterations_per_s"] else None
        for q in ("p50_ms", "p90_ms", "p99_ms"):
            ratio[q.replace("_ms", "")] = reg["latency"][q] / base["latency"][q] if base["latency"]["n"] else None
        ratio["server_cpu_per_iteration"] = reg["server_cpu_ms_per_iteration"] / base["server_cpu_ms_per_iteration"]
        out.append(ratio)
    return out


@contextlib.contextmanager
def _databases(engine: str, base: Path) -> Iterator[tuple[str, str, str]]:
    """(registry URL, baseline URL, server description); PostgreSQL databases dropped after."""
    if engine == "sqlite":
        server = f"SQLite {sqlite3.sqlite_version}"
        yield f"sqlite:///{base / 'registry.db'}", f"sqlite:///{base / 'baseline.db'}", server
        return
    admin = os.environ.get("REGISTRY_BENCH_PG_URL", DEFAULT_PG)
    names = [f"load_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("registry", "baseline")]
    for name in names:
        _psql(admin, f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(admin.replace("+psycopg", "")) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        urls = [make_url(admin).set(database=n).render_as_string(hide_password=False) for n in names]
        yield urls[0], urls[1], f"PostgreSQL {version}"
    finally:
        for name in names:
            _psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=10.0, help="recorded seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each run")
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--scenarios", default="read,write,casefile")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers, the same for both services")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", nargs="?", const=str(RESULTS), default=None, metavar="OUT")
    parser.add_argument(
        "--profile",
        default="",
        metavar="SCENARIO:CLIENTS,…",
        help="after the measured pair, one extra registry run under py-spy (e.g. read:4,write:4)",
    )
    parser.add_argument(
        "--profile-gil", action="store_true", help="profile only the thread holding the GIL (py-spy --gil)"
    )
    args = parser.parse_args(argv)
    # On SIGTERM, unwind: stop both servers, drop the PostgreSQL databases, remove the temp dir.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    argv_shown = sys.argv[1:] if argv is None else argv
    started = time.perf_counter()
    header = {
        "benchmark": "load",
        "command": ".venv/bin/python -m bench.load " + " ".join(argv_shown),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {m.__name__: m.__version__ for m in (sa, httpx, psycopg)}
        | {name: __import__(name).__version__ for name in ("fastapi", "uvicorn", "pydantic")},
        "cpus": os.cpu_count(),
        "loadavg_start": _loadavg(),
    }
    print(f"command: {header['command']}")
    print(f"python {header['python']}, {header['versions']}, {header['cpus']} CPUs, load {header['loadavg_start']}")
    concurrency = [int(c) for c in args.concurrency.split(",")]
    scenarios = args.scenarios.split(",")

    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        registry_url, baseline_url, server = stack.enter_context(_databases(args.engine, work))
        registry = Service("registry", registry_url, _free_port())
        baseline = Service("baseline", baseline_url, _free_port())
        stack.callback(baseline.stop)
        stack.callback(registry.stop)
        setup: dict[str, Any] = {"server": server}

        # -- seed both -----------------------------------------------------------------
        settings = Settings(data_dir=work / "data", database_url=registry_url, profile="dev")
        init = initialise(settings)
        assert init.admin_username is not None and init.admin_password is not None
        runtime = open_runtime(settings)
        _log(f"seeding the registry with {args.persons} persons on {args.engine}", started)
        t0 = time.perf_counter()
        with _analysed_while_seeding(registry_url):
            counts = seed(runtime, persons=args.persons, seed=args.seed)
        seconds = time.perf_counter() - t0
        setup["registry_seed"] = asdict(counts) | {"seconds": seconds, "persons_per_s": counts.persons / seconds}
        t0 = time.perf_counter()
        setup["registry_seed"]["sequenced"] = runtime.sequencer.drain()
        # Signed as a server's sequencer signs while entries arrive: without a checkpoint the
        # daily verify below rightly fails a log whose entries are older than its grace.
        runtime.sequencer.checkpoint()
        setup["registry_seed"]["sequencer_drain_s"] = time.perf_counter() - t0
        with transaction(runtime.engine) as session:
            units = leaf_units(session, DEMO_ROOT)
        on = today(runtime.clock)
        found_second_admin(runtime.engine, runtime.clock)
        # Today's sweeps (the daily audit verify recomputes the whole log, the key-version and
        # retention sweeps read every record) run here, timed, not inside the measured runs:
        # a server started on a seeded database would otherwise spend its first minutes on them.
        t0 = time.perf_counter()
        scheduler = Scheduler(runtime)
        setup["registry_seed"]["daily_sweeps"] = len(scheduler.tick())
        scheduler.leadership.release()
        setup["registry_seed"]["daily_sweeps_s"] = time.perf_counter() - t0
        verified = _audit_verify_outcome(runtime.engine)
        setup["registry_seed"]["audit_verify"] = verified
        if verified != "allowed":
            _log(f"the daily audit verify did not pass ({verified}): see the audit:verify entry", started)
        runtime.engine.dispose()
        rows = seed_rows(args.persons, seed=args.seed, units=units, on=on)
        _log(f"registry seeded in {seconds:.1f} s ({counts.persons / seconds:,.0f} persons/s); baseline next", started)
        engine = baseline_engine(baseline_url)
        create_schema(engine)
        t0 = time.perf_counter()
        with _analysed_while_seeding(baseline_url):  # as the registry's, though plain inserts look nothing up
            plain_counts = seed_baseline(engine, rows)
        seconds = time.perf_counter() - t0
        engine.dispose()
        for url in (registry_url, baseline_url):
            _settle(url)
        setup["baseline_seed"] = plain_counts | {"seconds": seconds, "persons_per_s": plain_counts["persons"] / seconds}
        setup["units"] = units
        print(
            f"seed: registry {setup['registry_seed']['persons']} persons, {counts.dwellings} dwellings, "
            f"{counts.registrations} registrations in {setup['registry_seed']['seconds']:.1f} s "
            f"({setup['registry_seed']['persons_per_s']:,.0f} persons/s through the services) + sequencer drain "
            f"{setup['registry_seed']['sequencer_drain_s']:.1f} s; baseline {plain_counts} in {seconds:.1f} s "
            "(plain inserts)"
        )

        # -- serve both ----------------------------------------------------------------
        token = uuid.uuid4().hex
        registry.start(
            [str(ROOT / ".venv/bin/registry"), "serve", "--port", str(registry.port), "--workers", str(args.workers)],
            {
                "REGISTRY_DATA_DIR": str(settings.data_dir),
                "REGISTRY_DATABASE_URL": registry_url,
                "REGISTRY_PROFILE": "dev",
                "REGISTRY_TOKEN_LIFETIME_SECONDS": "86400",
                "REGISTRY_LOG_LEVEL": "WARNING",
            },
            work / "registry.log",
        )
        baseline.start(
            [sys.executable, "-m", "uvicorn", "bench.baseline.app:app", "--host", "127.0.0.1"]
            + [
                "--port",
                str(baseline.port),
                "--workers",
                str(args.workers),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            {"BASELINE_DATABASE_URL": baseline_url, "BASELINE_TOKEN": token},
            work / "baseline.log",
        )
        _registry_accounts(registry, (init.admin_username, init.admin_password))
        _baseline_headers(baseline, token)
        _log("both services up; looking up the sampled residents and creating casefiles", started)
        sample = random.Random(args.seed).sample(rows, min(SAMPLE, len(rows)))
        id_numbers = [r.id_number for r in sample]
        targets = {
            "registry": _targets(registry, id_numbers, Registration),
            "baseline": _targets(baseline, id_numbers, plain.Registration),
        }
        subjects = [
            r.id_number
            for r in sample
            if r.dwelling_org_unit.startswith("990171") and int(r.id_number[16]) % 2 == 1  # male: odd sequence
        ][:CASEFILES]
        casefiles = {s.name: _casefiles(s, [_person_id(s, n) for n in subjects], on) for s in (registry, baseline)}
        seeded_file = work / "seeded-id-numbers.txt"
        seeded_file.write_text("\n".join(r.id_number for r in rows))
        setup |= {"sampled_residents": len(sample), "casefiles": len(subjects), "events_per_casefile": EVENTS}

        # -- load ----------------------------------------------------------------------
        runs: list[dict[str, Any]] = []
        profiles: list[dict[str, Any]] = []
        pair = 0
        for scenario in scenarios:
            for clients in concurrency:
                order = (registry, baseline) if pair % 2 == 0 else (baseline, registry)
                for service in order:
                    plan = {
                        "scenario": scenario,
                        "concurrency": clients,
                        "warmup_s": args.warmup,
                        "duration_s": args.duration,
                        "targets": targets[service.name],
                        "casefiles": casefiles[service.name],
                        "units": units,
                        "today": on.isoformat(),
                        "seeded_id_numbers_file": str(seeded_file),
                        "people_seed": 1_000_000 + pair,  # the same new persons for both services
                    }
                    result = _run_client(service, plan, work)
                    runs.append(result)
                    lat = result["latency"]
                    _log(
                        f"{scenario:8s} c={clients:2d} {service.name:8s} {result['iterations_per_s']:8.1f} it/s "
                        f"p50 {lat['p50_ms']:7.1f} p90 {lat['p90_ms']:7.1f} p99 {lat['p99_ms']:7.1f} ms, "
                        f"errors {result['errors']}, server CPU {result['server_cpu_ms_per_iteration']:.1f} ms/it, "
                        f"load {result['loadavg_before']}",
                        started,
                    )
                    if result["first_errors"]:
                        _log(f"  first errors: {result['first_errors']}", started)
                if f"{scenario}:{clients}" in args.profile.split(","):
                    stacks = RESULTS / f"profile-{args.engine}-{args.persons}-{scenario}-{clients}.txt"
                    profiles.append(
                        _profile_registry(
                            registry,
                            plan
                            | {
                                "targets": targets["registry"],
                                "casefiles": casefiles["registry"],
                                "people_seed": 2_000_000 + pair,
                            },
                            work,
                            stacks,
                            gil=args.profile_gil,
                        )
                    )
                    _log(f"profiled: {json.dumps(profiles[-1]['summary']['layers'])}", started)
                pair += 1
        registry.stop()
        baseline.stop()
        for service in (registry, baseline):
            assert service.log is not None
            tail = service.log.read_text()[-1500:].strip()
            if "Traceback" in tail or "ERROR" in tail:
                print(f"\n{service.name} log tail:\n{tail}")

    result = header | {
        "engine": args.engine,
        "persons": args.persons,
        "workers": args.workers,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "concurrency": concurrency,
        "seed": args.seed,
        "setup": setup,
        "runs": runs,
        "ratios": _ratios(runs),
        "profiles": profiles,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "loadavg_end": _loadavg(),
    }
    result["markdown"] = run_table(result)
    print()
    print(result["markdown"])
    print(f"elapsed {result['elapsed_s']} s, load at end {result['loadavg_end']}")
    if args.json is not None:
        out = Path(args.json)
        if out.is_dir() or not out.suffix:
            out.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            out = out / f"load-{args.engine}-{args.persons}-{stamp}.json"
        out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
