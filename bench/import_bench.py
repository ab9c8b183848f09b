"""Bulk import benchmark: rows/s of `registry import residence` through the service layer.

    .venv/bin/python -m bench.import_bench [--rows 10000] [--batch 300] [--engine sqlite|postgresql]
                                           [--seed 1] [--profile] [--rerun]

BENCH.md scenario 4 (bulk seed, person + registration, encrypted, indexed, audited) and its
target: ≥ 2,000 /s. Each row here is a person, a dwelling lookup (and a dwelling for about
two rows in three), a residence registration and their audit entries.

1. A 10,000-row CSV (default) of synthetic residents is written to a temp directory: the
   rows `registry.demo.seed_rows` makes from `SyntheticPeople` (landlords first, tenants
   sharing rented flats, owners, dormitories; mixed bases, employers with valid credit
   codes, some late registrations), in the importer's CSV columns.
2. A scratch registry is initialised with `registry.bootstrap.initialise` (SQLite in the
   temp directory, or a throwaway PostgreSQL database `import_bench_<hex>` on
   `$REGISTRY_BENCH_PG_URL`, default `postgresql+psycopg://postgres@127.0.0.1:5432/postgres`,
   dropped at the end) and opened with `open_runtime`; the demo org-unit tree is created.
3. `registry.residence.importer.import_file` runs on the file (timed as a whole: counting
   the rows, parsing, every batch transaction). rows/s = rows ÷ seconds.
4. `--rerun` imports the same file again (everything is a duplicate) and times that too.

`--profile` runs the first import under cProfile and prints the top functions by own and
cumulative time (profiling slows it: read shares, not rates). Nothing here is a test; it
asserts only that no row was rejected and, with --rerun, that the second run added nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import os
import platform
import pstats
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from registry.bootstrap import initialise
from registry.clock import today
from registry.db import transaction
from registry.demo import DEMO_ROOT, ensure_demo_tree, leaf_units, seed_rows
from registry.residence.importer import COLUMNS, import_file
from registry.runtime import open_runtime
from registry.settings import Settings

TARGET = 2000.0
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _log(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)


def _write_csv(path: Path, rows) -> None:  # type: ignore[no-untyped-def]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in rows:
            values = asdict(row)
            writer.writerow(["" if values[c] is None else str(values[c]) for c in COLUMNS])


def _psql(url: str, statement: str) -> None:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(statement)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--rerun", action="store_true", help="import the same file a second time")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print("command: .venv/bin/python -m bench.import_bench " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")

    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        base = Path(tmp)
        pg_admin = pg_name = None
        if args.engine == "sqlite":
            url = f"sqlite:///{base / 'registry.db'}"
        else:
            pg_admin = os.environ.get("REGISTRY_BENCH_PG_URL", DEFAULT_PG)
            pg_name = f"import_bench_{uuid.uuid4().hex[:8]}"
            _psql(pg_admin, f'CREATE DATABASE "{pg_name}"')
            url = make_url(pg_admin).set(database=pg_name).render_as_string(hide_password=False)
        try:
            settings = Settings(data_dir=base / "data", database_url=url, profile="dev")
            initialise(settings)
            runtime = open_runtime(settings)
            ensure_demo_tree(runtime)
            with transaction(runtime.engine) as session:
                units = leaf_units(session, DEMO_ROOT)
            rows = seed_rows(args.rows, seed=args.seed, units=units, on=today(runtime.clock))
            source = base / "residents.csv"
            _write_csv(source, rows)
            _log(f"wrote {args.rows} rows ({source.stat().st_size / 1e6:.1f} MB); importing on {args.engine}", started)

            profiler = cProfile.Profile() if args.profile else None
            t0, c0 = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            counts = import_file(runtime, source, batch_size=args.batch)
            if profiler is not None:
                profiler.disable()
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            assert counts.rejected == 0, f"{counts.rejected} rows rejected"
            rate = counts.rows / seconds
            print(
                "\n| engine | rows | batch | persons | dwellings | registrations | s | rows/s | target | ÷ target "
                "| CPU s (this process) | rows per CPU-s |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
                f"| {args.engine} | {counts.rows} | {args.batch} | {counts.persons_created} | "
                f"{counts.dwellings_created} | {counts.imported} | {seconds:.2f} | {rate:,.0f} | "
                f"≥ {TARGET:,.0f} | {rate / TARGET:.2f}× | {cpu:.2f} | {counts.rows / cpu:,.0f} |"
            )
            if args.rerun:
                t0, c0 = time.perf_counter(), time.process_time()
                again = import_file(runtime, source, batch_size=args.batch)
                seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
                assert again.imported == 0 and again.duplicates == counts.rows - counts.rejected
                print(
                    f"| {args.engine}, re-run (all duplicates) | {again.rows} | {args.batch} | 0 | 0 | 0 | "
                    f"{seconds:.2f} | {again.rows / seconds:,.0f} | | | {cpu:.2f} | {again.rows / cpu:,.0f} |"
                )
            if profiler is not None:
                stats = pstats.Stats(profiler, stream=sys.stdout)
                print("\n## top 25 by own time")
                stats.sort_stats("tottime").print_stats(25)
                print("\n## top 40 by cumulative time")
                stats.sort_stats("cumulative").print_stats(40)
            runtime.engine.dispose()
        finally:
            if pg_admin is not None:
                _psql(pg_admin, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    print(f"load at end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
