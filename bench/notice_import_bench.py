"""Notice import benchmark: rows/s of `registry import notices` (issue 17, item 5).

    .venv/bin/python -m bench.notice_import_bench [--rows 10000] [--kind court_correction|prison_release]
                                                  [--batch 200] [--engine sqlite|postgresql] [--seed 1]
                                                  [--rerun] [--cli]

Each row is a notice for a subject new to the registry, so each opens a casefile through
the casefile service as a logged-in officer: the subject registered (a DEK, six sealed
fields, blind-index entries), the details sealed under a second DEK, the notice's
receipt sealed and indexed, and their audit entries (person:create, the birth date read
as a rule input, casefile:create), one SAVEPOINT per row. BENCH.md sets no target for it.

1. A scratch registry is initialised with `registry.bootstrap.initialise` (SQLite in a temp
   directory, or a throwaway PostgreSQL database `notice_bench_<hex>` on
   `$REGISTRY_BENCH_PG_URL`, default `postgresql+psycopg://postgres@127.0.0.1:5432/postgres`,
   dropped at the end), the demo org-unit tree created, and a corrections officer of
   district 990171 made as the console makes one (a second founding administrator
   requests it, the bootstrap administrator approves it, the owner chooses a password).
2. `--rows` synthetic notices (`registry.casefiles.notices.synthetic.notice_rows`, the
   district's three streets) are written as CSV.
3. The officer logs in (`console_login.log_in`) and `notices.importer.import_file` runs on
   the file under a Rich progress bar (timed as a whole: counting the rows, parsing,
   every batch). rows/s = rows ÷ seconds. With `--cli` the command itself runs instead,
   `registry import notices FILE --kind … --username …` in a process of its own, timed
   from start to exit (its start-up and login included).
4. `--rerun` imports the same file again (every row a duplicate) and times that too.
Nothing here is a test; it asserts only that no row was rejected and that a re-run opened
nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress
from sqlalchemy.engine import make_url
from sqlmodel import select

from registry.access.models import AccountApproval
from registry.access.policy import Role
from registry.accounts import login
from registry.accounts.console_login import Credentials, log_in
from registry.accounts.schemas import OneTimePasswordSet, UserCreate
from registry.accounts.throttle import LoginThrottle
from registry.accounts.users_console import approve_from_console, create_founding_admin_at_console, create_from_console
from registry.audit.log import AuditTrail
from registry.bootstrap import initialise
from registry.casefiles.models import Casefile
from registry.casefiles.notices.formats import NoticeKind
from registry.casefiles.notices.importer import DEFAULT_BATCH, NoticeCounts, import_file
from registry.casefiles.notices.synthetic import csv_text, notice_rows
from registry.clock import today
from registry.db import read_only, transaction
from registry.demo import ensure_demo_tree, leaf_units
from registry.runtime import Runtime, open_runtime
from registry.settings import Settings

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DISTRICT = "990171"
PASSWORD = "bench notices correct horse"
OFFICER = "bench.officer"


def _log(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)


def _psql(url: str, statement: str) -> None:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(statement)


def _officer(runtime: Runtime, settings: Settings, admin: tuple[str, str]) -> None:
    """A corrections officer of the district, through dual control at the console."""
    engine, clock, provider = runtime.engine, runtime.clock, runtime.provider
    second = UserCreate(username="bench.admin", display_name="bench.admin", roles=[Role.ADMIN])
    create_founding_admin_at_console(engine, clock, data=second, password=PASSWORD)
    wanted = UserCreate(username=OFFICER, display_name=OFFICER, roles=[Role.CORRECTIONS], org_unit=DISTRICT)
    requester = Credentials("bench.admin", PASSWORD, None)
    request = create_from_console(engine, clock, provider, settings, requester, data=wanted)
    assert isinstance(request, AccountApproval)
    approver = Credentials(admin[0], admin[1], None)
    done = approve_from_console(engine, clock, provider, settings, approver, approval_id=request.id)
    assert done.one_time_password is not None
    policy = login.LoginPolicy(max_failures=5, lockout=timedelta(minutes=15), mfa_required=False)
    attempt = login.Attempt(LoginThrottle(per_username=10, per_client=30, concurrent_verifications=1), OFFICER, None)
    chosen = OneTimePasswordSet(username=OFFICER, one_time_password=done.one_time_password, new_password=PASSWORD)
    with transaction(engine) as session:
        login.set_password_with_one_time(
            session, read_only(engine), AuditTrail(clock), provider, policy, attempt, lambda _: None, data=chosen
        )


def _import(runtime: Runtime, settings: Settings, source: Path, kind: NoticeKind, batch: int) -> NoticeCounts:
    officer = log_in(runtime.engine, runtime.clock, runtime.provider, settings, Credentials(OFFICER, PASSWORD, None))
    console = Console(stderr=True)
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=console) as bar:
        task = bar.add_task("importing", total=None)
        return import_file(
            runtime,
            source,
            kind=kind,
            principal=officer,
            batch_size=batch,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )


def _command(settings: Settings, source: Path, kind: NoticeKind) -> None:
    """The command itself, in a process of its own (its progress bar and summary on stderr)."""
    env = {
        **os.environ,
        "REGISTRY_DATA_DIR": str(settings.data_dir),
        "REGISTRY_DATABASE_URL": settings.database_url,
        "REGISTRY_PROFILE": "dev",
        "REGISTRY_IMPORTER_PASSWORD": PASSWORD,
    }
    registry = str(Path(sys.executable).parent / "registry")
    command = [registry, "import", "notices", str(source), "--kind", kind.value, "--username", OFFICER]
    subprocess.run(command, env=env, stdin=subprocess.DEVNULL, check=True)


def _files(runtime: Runtime) -> int:
    with transaction(runtime.engine) as session:
        return session.exec(select(sa.func.count()).select_from(Casefile)).one()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--kind", type=NoticeKind, choices=list(NoticeKind), default=NoticeKind.court_correction)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rerun", action="store_true", help="import the same file a second time")
    parser.add_argument("--cli", action="store_true", help="time `registry import notices` in a process of its own")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print("command: .venv/bin/python -m bench.notice_import_bench " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")

    with tempfile.TemporaryDirectory(prefix="notice-bench-") as tmp:
        base = Path(tmp)
        pg_admin = pg_name = None
        if args.engine == "sqlite":
            url = f"sqlite:///{base / 'registry.db'}"
        else:
            pg_admin = os.environ.get("REGISTRY_BENCH_PG_URL", DEFAULT_PG)
            pg_name = f"notice_bench_{uuid.uuid4().hex[:8]}"
            _psql(pg_admin, f'CREATE DATABASE "{pg_name}"')
            url = make_url(pg_admin).set(database=pg_name).render_as_string(hide_password=False)
        try:
            settings = Settings(data_dir=base / "data", database_url=url, profile="dev")
            admin = initialise(settings)
            assert admin.admin_username is not None and admin.admin_password is not None
            runtime = open_runtime(settings)
            ensure_demo_tree(runtime)
            _officer(runtime, settings, (admin.admin_username, admin.admin_password))
            with transaction(runtime.engine) as session:
                units = leaf_units(session, DISTRICT)
            rows = notice_rows(args.kind, args.rows, seed=args.seed, units=units, on=today(runtime.clock))
            source = base / "notices.csv"
            source.write_text(csv_text(args.kind, rows), encoding="utf-8")
            _log(f"wrote {args.rows} {args.kind} notices ({source.stat().st_size / 1e6:.1f} MB); importing", started)

            runs = ("first", "re-run (all duplicates)") if args.rerun else ("first",)
            print(
                "\n| engine | kind | run | rows | batch | files opened | duplicates | s | rows/s "
                "| CPU s (this process) |\n|---|---|---|---|---|---|---|---|---|---|"
            )
            for run in runs:
                t0, c0 = time.perf_counter(), time.process_time()
                if args.cli:
                    before = _files(runtime)
                    _command(settings, source, args.kind)
                    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
                    opened = str(_files(runtime) - before)
                    duplicates = str(args.rows - int(opened))
                else:
                    counts = _import(runtime, settings, source, args.kind, args.batch)
                    assert counts.rejected == 0, f"{counts.rejected} rows rejected"
                    assert run == "first" or counts.opened == 0
                    opened, duplicates = str(counts.opened), str(counts.duplicates)
                    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
                print(
                    f"| {args.engine} | {args.kind} | {run}{' (command)' if args.cli else ''} | {args.rows} | "
                    f"{args.batch} | {opened} | {duplicates} | {seconds:.2f} | {args.rows / seconds:,.0f} | {cpu:.2f} |"
                )
            runtime.engine.dispose()
        finally:
            if pg_admin is not None:
                _psql(pg_admin, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    print(f"load at end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
