"""Audit log benchmark: append rate, sequencer rate, full verify time, proof latency.

    .venv/bin/python -m bench.audit_bench [--entries N] [--engine sqlite|postgresql|both] [--json [OUT]]
    .venv/bin/python -m bench.audit_bench --entries 100000          # quick mode (about a minute on SQLite)
    .venv/bin/python -m bench.audit_bench --entries 100000 --profile  # + cProfile hot spots per phase

BENCH.md scenario 5 ("audit: appends/s through the sequencer, full verify time, inclusion-proof
time") and its targets: audit verify of 1M entries ≤ 30 s, inclusion proof at 1M entries ≤ 5 ms.

Each engine gets a scratch database initialised with `registry.bootstrap.initialise` (so the
real migrations, triggers and the `system:init` entry) and opened with `runtime.open_runtime`:
SQLite in a temp directory (WAL, `BEGIN IMMEDIATE`, as `registry.db` configures it), or on
PostgreSQL a database `audit_bench_<hex>` created on the machine's server
(`postgresql+psycopg://postgres@127.0.0.1:5432/postgres`, or `$REGISTRY_BENCH_PG_URL`) with
psycopg in autocommit and dropped at the end (WITH (FORCE)); the runtime connects as the
service does (`SET ROLE registry_app`). The log ends with exactly N entries + the init entry.

1. **Appends** (all go into the one log, in this order, so the request-path sample runs on a
   log that is already almost N large):
   - *seed*: N − the samples below, as `session.execute(sa.insert(AuditEntry), [dicts])` in
     transactions of 5,000. This is the fastest legitimate way to build the log, NOT the
     service path: the dicts hold exactly what `AuditTrail.entry` would (same columns, aware
     UTC `at`), but skip the ORM. Reported for context only;
   - *bulk*: `AuditTrail.append_all(session, events)` with 5,000 events per `transaction`
     (ORM unit of work), on a sample of min(100,000, N/10) entries;
   - *request path*: `AuditTrail.append(session, event)` with one entry per `transaction`
     and a fresh trail (actor, request id, client address) per transaction, as an API
     request does, on a sample of min(2,000, N/10) entries.
   Events are synthetic and varied: person read/update/search (search token = 64 hex chars,
   never a value), user reads, denials with a reason; targets are uuid4s.
2. **Sequencer**: one `Sequencer(engine, provider, clock, origin=…, batch=B)` drains the whole
   backlog with `drain()` (B = `--drain-batch`, default 5,000; the progress of each batch is
   recorded by wrapping the instance's `sequence_batch`, so `drain()` itself drives the loop).
   One backlog can only be sequenced once, so the two batch sizes of the brief are compared in
   the *steady state* too: afterwards a backlog of min(10,000, N/20) entries is appended
   (`append_all`) and drained with batch 1,000, then another with batch 5,000, each on top of
   the whole sequenced log — what the sequencer thread does in production. The per-decile
   rates of the big drain show how the rate depends on how much is already sequenced, and the
   duration of each drain's last `sequence_batch` call (which finds nothing) is the per-call
   cost of finding unsequenced entries, whatever the batch size. Then one `checkpoint()`
   (timed) signs the full tree.
3. **Verify**: `verify.verify_log(engine, provider.public_key(), origin, progress=…)` over the
   whole log (default batch 20,000); seconds and entries/s against the 30 s target; must be ok.
4. **Proofs**: `proofs.inclusion(session, seq=, size=checkpoint size)` for `--proofs` random
   seqs (default 1,000, fixed seed), and `proofs.consistency(session, old_size=, new_size=
   checkpoint size)` for `--consistency` random old sizes (default 200), each call in a fresh
   `Session` (as a request would; on SQLite its first query opens `BEGIN IMMEDIATE`), timed
   around the whole `with Session(...)` block. A few warm-up calls are not counted. Sampling
   stops early when `--proof-budget-s` (default 60 s per kind) runs out; the table then says
   how many were measured. Every proof is checked with `merkle.verify_inclusion` /
   `verify_consistency` against the signed root (outside the timing).

Output: the exact command, the versions and load, and a Markdown table per engine with the
figure, the BENCH.md target, figure ÷ target and whether it meets it (for "≤" targets a
ratio ≤ 1.00× meets), then the drain's per-decile rates. `--json [OUT]` writes
`bench/results/audit-<engine>-<UTC timestamp>.json` (or OUT: a file, or a directory).
`--profile` runs the drain, verify and inclusion phases under cProfile and prints the top
functions by own time (profiling slows them: read its figures as shares, not as rates).

Run time on the shared 2-core machine: `--entries 100000` about 1 min; the default 1M on
SQLite 6.5–7.5 min (seed ~1 min, drain 2–2.5 min, verify ~1.4 min, proofs ~1.7 min, the two
proof kinds stopped by their 60 s budget because each SQLite proof takes ~0.23 s at 1M);
`--entries 200000 --engine postgresql` about 1.6 min.

Nothing here is a test: it asserts only that verify is ok and that every proof verifies.
Progress goes to stderr with elapsed seconds. Absolute figures on the shared 2-core machine
drift run to run; the load average at start and end is printed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.engine import make_url
from sqlmodel import Session

from registry.audit import proofs
from registry.audit.actions import Action, Outcome
from registry.audit.log import Actor, AuditTrail, Event, RequestMeta
from registry.audit.merkle import Frontier, verify_consistency, verify_inclusion
from registry.audit.models import AuditEntry
from registry.audit.sequencer import Sequencer
from registry.audit.tree import stored_hashes
from registry.audit.verify import verify_log
from registry.bootstrap import initialise
from registry.clock import Clock, SystemClock
from registry.db import transaction
from registry.runtime import Runtime, open_runtime
from registry.settings import Settings

VERIFY_TARGET_S = 30.0  # ../shared/design/BENCH.md: audit verify of 1M entries ≤ 30 s
INCLUSION_TARGET_MS = 5.0  # inclusion proof at 1M entries ≤ 5 ms
TARGET_ENTRIES = 1_000_000  # the size both targets are stated for
DEFAULT_ENTRIES = 1_000_000
BATCH = 5_000  # seed and bulk append transaction size
REQUEST_SAMPLE = 2_000
BULK_SAMPLE = 100_000
STEADY_BACKLOG = 10_000
STEADY_BATCHES = (1_000, 5_000)
DEFAULT_DRAIN_BATCH = 5_000
DEFAULT_PROOFS = 1_000
DEFAULT_CONSISTENCY = 200
DEFAULT_PROOF_BUDGET_S = 60.0
WARMUP_PROOFS = 3
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_URL_ENV = "REGISTRY_BENCH_PG_URL"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SEED = 20260105
T = TypeVar("T")

_STARTED = time.perf_counter()


def _log(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


# -- synthetic events ------------------------------------------------------------------------------


class Events:
    """Reproducible, varied audit events and actors; opaque ids only, never values."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.actors = [
            Actor(str(uuid.UUID(int=self.rng.getrandbits(128))), roles, unit)
            for roles, unit in (
                (("police",), "320571"),
                (("police",), "320572"),
                (("police", "supervisor"), "320571"),
                (("auditor",), "320500"),
                (("registrar",), "320571"),
            )
            for _ in range(20)
        ]

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def actor(self) -> Actor:
        return self.rng.choice(self.actors)

    def meta(self) -> RequestMeta:
        return RequestMeta(
            request_id=self._uuid(), client_addr=f"10.0.{self.rng.randrange(256)}.{self.rng.randrange(256)}"
        )

    def event(self) -> Event:
        kind = self.rng.random()
        if kind < 0.55:
            return Event(
                Action.PERSON_READ,
                targets=(self._uuid(),),
                fields=("id_number", "name", "phone")[: self.rng.randrange(1, 4)],
                purpose="registration",
            )
        if kind < 0.75:
            return Event(
                Action.PERSON_SEARCH,
                targets=tuple(self._uuid() for _ in range(self.rng.randrange(0, 3))),
                fields=("id_number",),
                search_token=f"{self.rng.getrandbits(256):064x}",
                purpose="investigation",
            )
        if kind < 0.88:
            return Event(Action.PERSON_UPDATE, targets=(self._uuid(),), fields=("phone", "hukou_address"))
        if kind < 0.96:
            return Event(Action.USER_READ, targets=(self._uuid(),))
        return Event(
            Action.ACCESS_DENIED,
            outcome=Outcome.DENIED,
            targets=(self._uuid(),),
            reason="outside the principal's org-unit scope",
        )

    def row(self, clock: Clock) -> dict[str, Any]:
        """The columns `AuditTrail(clock, actor, meta).entry(event)` would fill (seeding only)."""
        actor, meta, event = self.actor(), self.meta(), self.event()
        return {
            "at": clock.now(),
            "actor_id": actor.account_id,
            "actor_roles": sorted(actor.roles),
            "actor_org_unit": actor.org_unit,
            "action": event.action.value,
            "targets": list(event.targets),
            "fields": list(event.fields),
            "search_token": event.search_token,
            "purpose": event.purpose,
            "break_glass_grant": event.break_glass_grant,
            "outcome": event.outcome.value,
            "reason": event.reason,
            "request_id": meta.request_id,
            "client_addr": meta.client_addr,
        }


# -- results ---------------------------------------------------------------------------------------


@dataclass
class Rate:
    measure: str
    how: str
    entries: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0


@dataclass
class Drain:
    batch: int
    entries: int
    seconds: float
    log_before: int  # entries already sequenced when the drain started
    marks: list[tuple[float, int]] = field(default_factory=list, repr=False)  # (s since start, done)

    @property
    def per_s(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0

    @property
    def empty_call_ms(self) -> float | None:
        """The last `sequence_batch` call, which finds nothing: the per-call cost of looking for
        unsequenced entries, whatever the batch size."""
        if len(self.marks) >= 2 and self.marks[-1][1] == self.marks[-2][1]:
            return (self.marks[-1][0] - self.marks[-2][0]) * 1e3
        return None

    def deciles(self) -> list[dict[str, float]]:
        """Rate over each tenth of the drain (by entries), from the per-batch marks."""
        if not self.marks or self.entries < 10:
            return []
        out, prev_t, prev_done = [], 0.0, 0
        for k in range(1, 11):
            goal = self.entries * k // 10
            t, done = next((t, d) for t, d in self.marks if d >= goal)
            if done > prev_done:
                out.append(
                    {
                        "sequenced_before": self.log_before + prev_done,
                        "entries": done - prev_done,
                        "seconds": t - prev_t,
                        "per_s": (done - prev_done) / (t - prev_t) if t > prev_t else 0.0,
                    }
                )
            prev_t, prev_done = t, done
        return out


@dataclass
class Latencies:
    kind: str
    requested: int
    ms: list[float] = field(default_factory=list)
    budget_hit: bool = False

    def q(self, quantile: float) -> float:
        """Nearest-rank quantile in ms (1.0 is the max)."""
        data = sorted(self.ms) or [float("nan")]
        return data[min(len(data) - 1, max(0, int(round(quantile * len(data) + 0.5)) - 1))]

    @property
    def median(self) -> float:
        return statistics.median(self.ms) if self.ms else float("nan")


@dataclass
class EngineRun:
    engine: str
    server: str
    entries: int  # N requested (the log holds N + the init entry)
    log_size: int = 0
    appends: list[Rate] = field(default_factory=list)
    drain: Drain | None = None
    steady: list[Drain] = field(default_factory=list)
    checkpoint_ms: float = 0.0
    verify_s: float = 0.0
    verify_workers: int = 1
    verify_size: int = 0
    verify_checkpoints: int = 0
    verify_ok: bool = False
    verify_marks: list[tuple[float, int]] = field(default_factory=list, repr=False)
    inclusion: Latencies | None = None
    consistency: Latencies | None = None
    database_bytes: int | None = None
    phase_s: dict[str, float] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)


# -- scratch databases -----------------------------------------------------------------------------


@contextmanager
def _sqlite_database(workdir: str | None) -> Iterator[tuple[Settings, str, Callable[[], int]]]:
    with tempfile.TemporaryDirectory(prefix="audit-bench-", dir=workdir) as tmp:
        base = Path(tmp)
        db = base / "registry.db"
        settings = Settings(data_dir=base / "data", database_url=f"sqlite:///{db}", profile="dev")

        def size() -> int:
            return sum(p.stat().st_size for p in base.glob("registry.db*"))

        yield settings, f"SQLite {sqlite3.sqlite_version} (file in {base.parent}, WAL)", size


def _pg_admin(url: str) -> str:
    return url.replace("+psycopg", "")


@contextmanager
def _pg_database(workdir: str | None) -> Iterator[tuple[Settings, str, Callable[[], int]]]:
    admin = os.environ.get(PG_URL_ENV, PG_ADMIN_URL)
    name = f"audit_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_pg_admin(admin), autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    _log(f"PostgreSQL: created scratch database {name}")
    try:
        with tempfile.TemporaryDirectory(prefix="audit-bench-pg-", dir=workdir) as tmp:
            settings = Settings(data_dir=Path(tmp) / "data", database_url=url, profile="dev")

            def size() -> int:
                with psycopg.connect(_pg_admin(url)) as c:
                    row = c.execute("SELECT pg_database_size(current_database())").fetchone()
                    return int(row[0]) if row else 0

            server = f"PostgreSQL {version[0] if version else '?'} at {make_url(admin).render_as_string()}"
            yield settings, server, size
    finally:
        with psycopg.connect(_pg_admin(admin), autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
        _log(f"PostgreSQL: dropped {name}")


# -- phases ----------------------------------------------------------------------------------------


class Profiler:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.reports: dict[str, str] = {}

    def run(self, name: str, work: Callable[[], T]) -> T:
        if not self.enabled:
            return work()
        profile = cProfile.Profile()
        value = profile.runcall(work)
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("tottime").print_stats(14)
        stats.sort_stats("cumulative").print_stats(14)
        self.reports[name] = _trim_pstats(out.getvalue())
        return value


def _trim_pstats(text: str) -> str:
    keep = [line.rstrip() for line in text.splitlines() if line.strip() and not line.startswith("   Random listing")]
    return "\n".join(line.replace(str(Path.cwd()) + "/", "") for line in keep)


def _seed(engine: sa.Engine, events: Events, clock: Clock, count: int) -> Rate:
    start = time.perf_counter()
    done = 0
    next_report = max(count // 10, BATCH)
    while done < count:
        rows = [events.row(clock) for _ in range(min(BATCH, count - done))]
        with transaction(engine) as session:
            session.execute(sa.insert(AuditEntry), rows)
        done += len(rows)
        if done >= next_report or done == count:
            _log(f"seed: {done:,}/{count:,} entries ({done / (time.perf_counter() - start):,.0f}/s)")
            next_report += max(count // 10, BATCH)
    seconds = time.perf_counter() - start
    return Rate(
        "seed (not the service path)",
        f"`session.execute(sa.insert(AuditEntry), [dicts])`, {BATCH:,} per transaction",
        count,
        seconds,
    )


def _bulk(engine: sa.Engine, events: Events, clock: Clock, count: int, *, label: bool = True) -> Rate:
    """`AuditTrail.append_all`, BATCH events per transaction (events built outside the timing)."""
    seconds, done = 0.0, 0
    while done < count:
        n = min(BATCH, count - done)
        trail = AuditTrail(clock, events.actor(), events.meta())
        batch = [events.event() for _ in range(n)]
        start = time.perf_counter()
        with transaction(engine) as session:
            trail.append_all(session, batch)
        seconds += time.perf_counter() - start
        done += n
    return Rate(
        "append, bulk" if label else "append (backlog)",
        f"`AuditTrail.append_all`, {BATCH:,} entries per transaction (ORM)",
        count,
        seconds,
    )


def _request_path(engine: sa.Engine, events: Events, clock: Clock, count: int) -> Rate:
    """`AuditTrail.append`, one entry per transaction, a fresh trail per 'request'."""
    work = [(events.actor(), events.meta(), events.event()) for _ in range(count)]
    start = time.perf_counter()
    for actor, meta, event in work:
        with transaction(engine) as session:
            AuditTrail(clock, actor, meta).append(session, event)
    seconds = time.perf_counter() - start
    return Rate("append, request path", "`AuditTrail.append`, 1 entry per transaction", count, seconds)


def _drain(runtime: Runtime, batch: int, log_before: int, *, report: bool) -> tuple[Sequencer, Drain]:
    sequencer = Sequencer(
        runtime.engine, runtime.provider, runtime.clock, origin=runtime.settings.audit_origin, batch=batch
    )
    original = sequencer.sequence_batch
    marks: list[tuple[float, int]] = []
    done = 0
    start = time.perf_counter()
    last_report = start

    def timed_batch() -> int:
        nonlocal done, last_report
        count = original()
        done += count
        now = time.perf_counter()
        marks.append((now - start, done))
        if report and count and now - last_report >= 15:
            _log(f"drain (batch {batch:,}): {done:,} sequenced, {done / (now - start):,.0f}/s so far")
            last_report = now
        return count

    sequencer.sequence_batch = timed_batch  # type: ignore[method-assign]  # drain() calls it per batch
    try:
        total = sequencer.drain()
        seconds = time.perf_counter() - start
    finally:
        del sequencer.sequence_batch
    return sequencer, Drain(batch, total, seconds, log_before, marks)


def _proof_samples(
    kind: str,
    engine: sa.Engine,
    requested: int,
    budget_s: float,
    call: Callable[[Session, int], T],
    check: Callable[[int, T], bool],
    pick: Callable[[], int],
) -> Latencies:
    result = Latencies(kind, requested)
    for _ in range(min(WARMUP_PROOFS, requested)):
        arg = pick()
        with Session(engine) as session:
            call(session, arg)
    deadline = time.perf_counter() + budget_s
    next_report = time.perf_counter() + 15
    for i in range(requested):
        arg = pick()
        start = time.perf_counter()
        with Session(engine) as session:
            value = call(session, arg)
        result.ms.append((time.perf_counter() - start) * 1e3)
        if not check(arg, value):
            raise RuntimeError(f"{kind} proof for {arg} does not verify")
        now = time.perf_counter()
        if now >= next_report:
            _log(f"{kind}: {i + 1:,}/{requested:,} proofs, median so far {statistics.median(result.ms):.1f} ms")
            next_report = now + 15
        if now > deadline and i + 1 < requested:
            result.budget_hit = True
            _log(f"{kind}: time budget {budget_s:.0f} s used up after {i + 1:,} of {requested:,} proofs")
            break
    return result


def run_engine(engine_name: str, args: argparse.Namespace, profiler: Profiler) -> EngineRun:
    n = args.entries
    request_n = min(REQUEST_SAMPLE, n // 10)
    bulk_n = min(BULK_SAMPLE, n // 10)
    steady_n = min(STEADY_BACKLOG, n // 20)
    seed_n = n - request_n - bulk_n - steady_n * len(STEADY_BATCHES)
    database = _sqlite_database if engine_name == "sqlite" else _pg_database
    phase_start = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal phase_start
        now = time.perf_counter()
        run.phase_s[name] = now - phase_start
        phase_start = now

    with database(args.workdir) as (settings, server, db_size):
        run = EngineRun(engine_name, server, n)
        clock = SystemClock()
        initialise(settings, clock=clock)
        runtime = open_runtime(settings, clock=clock)
        engine = runtime.engine
        events = Events(SEED)
        try:
            with Session(engine) as session:
                initial = session.execute(sa.select(sa.func.count()).select_from(AuditEntry)).scalar_one()
            phase("initialise")

            _log(f"{engine_name}: seeding {seed_n:,} entries, then {bulk_n:,} bulk and {request_n:,} request-path")
            seed = _seed(engine, events, clock, seed_n)
            bulk = _bulk(engine, events, clock, bulk_n) if bulk_n else None
            _log(f"bulk append_all: {bulk_n:,} entries at {bulk.per_s if bulk else 0:,.0f}/s")
            request = _request_path(engine, events, clock, request_n) if request_n else None
            _log(f"request path: {request_n:,} entries at {request.per_s if request else 0:,.0f}/s")
            run.appends = [r for r in (request, bulk, seed) if r is not None]
            phase("append")

            backlog = initial + seed_n + bulk_n + request_n
            _log(f"drain: {backlog:,} entries with batch {args.drain_batch:,}")
            sequencer, drain = profiler.run("drain", lambda: _drain(runtime, args.drain_batch, 0, report=True))
            if drain.entries != backlog:
                raise RuntimeError(f"drained {drain.entries:,} entries, expected {backlog:,}")
            run.drain = drain
            _log(f"drain: {drain.entries:,} in {drain.seconds:.1f} s = {drain.per_s:,.0f}/s")
            phase("drain")

            sequenced = backlog
            for batch in STEADY_BATCHES if steady_n else ():
                _bulk(engine, events, clock, steady_n, label=False)
                _, steady = _drain(runtime, batch, sequenced, report=False)
                if steady.entries != steady_n:
                    raise RuntimeError(f"drained {steady.entries:,} entries, expected {steady_n:,}")
                sequenced += steady.entries
                run.steady.append(steady)
                _log(
                    f"steady state, batch {batch:,}: {steady.entries:,} on a log of {steady.log_before:,} "
                    f"at {steady.per_s:,.0f}/s"
                )
            phase("steady state")

            start = time.perf_counter()
            checkpoint = sequencer.checkpoint()
            run.checkpoint_ms = (time.perf_counter() - start) * 1e3
            if checkpoint is None or checkpoint.size != sequenced:
                raise RuntimeError(f"checkpoint did not sign the whole tree of {sequenced:,}")
            run.log_size = size = checkpoint.size
            root = checkpoint.root_hash

            public_key = runtime.provider.public_key()
            origin = settings.audit_origin
            marks: list[tuple[float, int]] = []
            verify_start = time.perf_counter()
            last = [verify_start]

            def progress(done: int, total: int) -> None:
                now = time.perf_counter()
                marks.append((now - verify_start, done))
                if now - last[0] >= 15 or done == total:
                    _log(f"verify: {done:,}/{total:,} ({done / (now - verify_start):,.0f}/s)")
                    last[0] = now

            report = profiler.run(
                "verify",
                lambda: verify_log(engine, public_key, origin, progress=progress, workers=args.verify_workers),
            )
            run.verify_s = time.perf_counter() - verify_start
            run.verify_workers = args.verify_workers
            run.verify_size, run.verify_checkpoints, run.verify_ok = report.size, report.checkpoints_checked, report.ok
            run.verify_marks = marks
            if not report.ok or report.size != size:
                raise RuntimeError(f"verify_log failed: {report.problems[:3]} (size {report.size:,})")
            _log(f"verify: {size:,} entries in {run.verify_s:.1f} s")
            phase("checkpoint + verify")

            rng = random.Random(SEED + 1)

            def inclusion(session: Session, seq: int) -> tuple[bytes, list[bytes]]:
                return proofs.inclusion(session, seq=seq, size=size)

            def inclusion_ok(seq: int, value: tuple[bytes, list[bytes]]) -> bool:
                leaf, path = value
                return verify_inclusion(leaf, seq, size, path, root)

            run.inclusion = profiler.run(
                "inclusion",
                lambda: _proof_samples(
                    "inclusion",
                    engine,
                    args.proofs,
                    args.proof_budget_s,
                    inclusion,
                    inclusion_ok,
                    lambda: rng.randrange(size),
                ),
            )
            _log(f"inclusion: median {run.inclusion.median:.2f} ms over {len(run.inclusion.ms):,}")

            def consistency(session: Session, old: int) -> list[bytes]:
                return proofs.consistency(session, old_size=old, new_size=size)

            def consistency_ok(old: int, path: list[bytes]) -> bool:
                with Session(engine) as session:
                    old_root = Frontier.from_hash_source(stored_hashes(session), old).root()
                return verify_consistency(old, size, old_root, root, path)

            run.consistency = _proof_samples(
                "consistency",
                engine,
                args.consistency,
                args.proof_budget_s,
                consistency,
                consistency_ok,
                lambda: rng.randrange(1, size),
            )
            _log(f"consistency: median {run.consistency.median:.2f} ms over {len(run.consistency.ms):,}")
            phase("proofs")
            run.database_bytes = db_size()
        finally:
            engine.dispose()
    run.profiles = dict(profiler.reports)
    profiler.reports.clear()
    return run


# -- output ----------------------------------------------------------------------------------------


def _command() -> str:
    python = sys.executable
    try:
        relative = os.path.relpath(python)
        if not relative.startswith(".."):
            python = relative if relative.startswith(".") else f"./{relative}"
    except ValueError:
        pass
    if python.startswith("./.venv/"):
        python = python[2:]
    return shlex.join([python, "-m", "bench.audit_bench", *sys.argv[1:]])


def _rate_row(measure: str, how: str, entries: int, seconds: float, per_s: float, detail: str = "") -> str:
    return f"| {measure} | {how} | {entries:,} | {seconds:,.2f} s | {per_s:,.0f} entries/s | {detail} | — | — | — |"


def _le_cells(value: float, target: float, unit: str) -> str:
    ratio = value / target
    return f"≤ {target:g} {unit} | {ratio:.2f}× | {'yes' if ratio <= 1 else 'NO'} |"


def render_run(run: EngineRun) -> list[str]:
    at = f"{run.log_size:,} entries" if run.log_size else "—"
    scale = TARGET_ENTRIES / run.log_size if run.log_size else 1.0
    lines = [
        "",
        f"### {run.engine}: {run.server}",
        "",
        f"Log of {at} (N = {run.entries:,} + the `system:init` entry); BENCH.md targets are stated for "
        f"{TARGET_ENTRIES:,} entries"
        + ("" if run.log_size >= TARGET_ENTRIES else f" — this run is at {run.log_size / TARGET_ENTRIES:.1%} of that")
        + ".",
        "",
        "| measure | how | entries | time | figure | detail | target | ÷ target | meets |",
        "|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in run.appends:
        detail = "seeding only: skips the ORM, not what a request does" if r.measure.startswith("seed") else ""
        lines.append(_rate_row(r.measure, r.how, r.entries, r.seconds, r.per_s, detail))
    if run.drain:
        d = run.drain
        dec = d.deciles()
        detail = (
            f"first 10 %: {dec[0]['per_s']:,.0f}/s → last 10 %: {dec[-1]['per_s']:,.0f}/s "
            f"(on {dec[-1]['sequenced_before']:,} already sequenced); final empty call {d.empty_call_ms or 0:,.0f} ms"
            if dec
            else ""
        )
        lines.append(
            _rate_row(
                "sequencer, whole backlog",
                f"`Sequencer(batch={d.batch:,}).drain()` from an empty tree",
                d.entries,
                d.seconds,
                d.per_s,
                detail,
            )
        )
    for d in run.steady:
        lines.append(
            _rate_row(
                f"sequencer, steady state, batch {d.batch:,}",
                f"`Sequencer(batch={d.batch:,}).drain()` of a fresh backlog",
                d.entries,
                d.seconds,
                d.per_s,
                f"on top of {d.log_before:,} sequenced entries; {len(d.marks)} `sequence_batch` calls, "
                f"{d.seconds / max(1, len(d.marks)) * 1e3:,.0f} ms each on average; the last one, which finds "
                f"nothing, {d.empty_call_ms or 0:,.0f} ms",
            )
        )
    lines.append(
        f"| checkpoint | `Sequencer.checkpoint()` (root from stored nodes + Ed25519 note) | {run.log_size:,} | "
        f"{run.checkpoint_ms:,.1f} ms | {run.checkpoint_ms:,.1f} ms | | — | — | — |"
    )
    if run.verify_s:
        projected = run.verify_s * scale
        lines.append(
            f"| verify, full log | `verify_log(engine, public_key, origin, workers={run.verify_workers})`, "
            f"batch 20,000 | {run.verify_size:,} | "
            f"{run.verify_s:,.1f} s | {run.verify_s:,.1f} s | {run.verify_size / run.verify_s:,.0f} entries/s; "
            f"{run.verify_checkpoints} checkpoint(s) checked, ok"
            + ("" if scale <= 1 else f"; ≈ {projected:,.0f} s per 1M if linear")
            + f" | {_le_cells(run.verify_s * max(scale, 1.0), VERIFY_TARGET_S, 's')}"
        )
    for lat in (run.inclusion, run.consistency):
        if lat is None or not lat.ms:
            continue
        how = (
            f"`proofs.inclusion(session, seq=random, size={run.log_size:,})`"
            if lat.kind == "inclusion"
            else f"`proofs.consistency(session, old_size=random, new_size={run.log_size:,})`"
        )
        count = f"{len(lat.ms):,} of {lat.requested:,} (time budget)" if lat.budget_hit else f"{len(lat.ms):,}"
        spread = f"{count} proofs, fresh Session each; p90 {lat.q(0.9):,.2f} · max {lat.q(1.0):,.2f} ms"
        target = (
            (lambda v: _le_cells(v, INCLUSION_TARGET_MS, "ms"))
            if lat.kind == "inclusion"
            else (lambda v: "— | — | — |")
        )
        lines.append(
            f"| {lat.kind} proof, median | {how} | {run.log_size:,} | {lat.median:,.2f} ms | {lat.median:,.2f} ms | "
            f"{spread} | {target(lat.median)}"
        )
        lines.append(
            f"| {lat.kind} proof, p99 | same samples | {run.log_size:,} | {lat.q(0.99):,.2f} ms | "
            f"{lat.q(0.99):,.2f} ms | nearest rank | {target(lat.q(0.99))}"
        )
    if scale > 1 and run.verify_s:
        lines += [
            "",
            f"The verify ratio is against the target scaled linearly to 1M ({run.verify_s:.1f} s × {scale:.2f}); "
            "the proof figures are at this log's size, not at 1M.",
        ]
    if run.drain and run.drain.deciles():
        lines += [
            "",
            f"Sequencer drain (batch {run.drain.batch:,}) by tenth of the backlog:",
            "",
            "| already sequenced | entries | s | entries/s |",
            "|---:|---:|---:|---:|",
        ]
        for dec in run.drain.deciles():
            lines.append(
                f"| {dec['sequenced_before']:,.0f} | {dec['entries']:,.0f} | {dec['seconds']:,.1f} | "
                f"{dec['per_s']:,.0f} |"
            )
    phases = " · ".join(f"{k} {v:,.1f} s" for k, v in run.phase_s.items())
    size = f" · database {run.database_bytes / 2**20:,.0f} MiB" if run.database_bytes else ""
    lines += ["", f"Wall time by phase: {phases}{size}"]
    for name, text in run.profiles.items():
        lines += ["", f"cProfile of `{name}` (top by own time, then cumulative):", "", "```", text, "```"]
    return lines


def render(runs: list[EngineRun], meta: dict[str, object]) -> str:
    lines = [
        f"command: `{meta['command']}`",
        "",
        f"{meta['timestamp']} · Python {meta['python']} · SQLAlchemy {meta['sqlalchemy']} · "
        f"{meta['cpus']} CPUs · load avg at start {meta['loadavg_start']}",
        "figure ÷ target: for a ≤ target, ≤ 1.00× meets it",
    ]
    for run in runs:
        lines += render_run(run)
    return "\n".join(lines)


def to_json(run: EngineRun, meta: dict[str, object]) -> dict[str, object]:
    def lat(latencies: Latencies | None) -> dict[str, object] | None:
        if latencies is None:
            return None
        return {
            "requested": latencies.requested,
            "measured": len(latencies.ms),
            "budget_hit": latencies.budget_hit,
            "median_ms": latencies.median,
            "p90_ms": latencies.q(0.9),
            "p99_ms": latencies.q(0.99),
            "max_ms": latencies.q(1.0),
            "samples_ms": latencies.ms,
        }

    scale = TARGET_ENTRIES / run.log_size if run.log_size else 1.0
    return {
        "benchmark": "audit",
        **meta,
        "engine": run.engine,
        "server": run.server,
        "entries_requested": run.entries,
        "log_size": run.log_size,
        "database_bytes": run.database_bytes,
        "phase_s": run.phase_s,
        "appends": [{**asdict(r), "entries_per_s": r.per_s} for r in run.appends],
        "sequencer_drain": None
        if run.drain is None
        else {
            "batch": run.drain.batch,
            "entries": run.drain.entries,
            "seconds": run.drain.seconds,
            "entries_per_s": run.drain.per_s,
            "empty_call_ms": run.drain.empty_call_ms,
            "deciles": run.drain.deciles(),
        },
        "sequencer_steady_state": [
            {
                "batch": d.batch,
                "entries": d.entries,
                "log_before": d.log_before,
                "seconds": d.seconds,
                "entries_per_s": d.per_s,
                "sequence_batch_calls": len(d.marks),
                "empty_call_ms": d.empty_call_ms,
            }
            for d in run.steady
        ],
        "checkpoint_ms": run.checkpoint_ms,
        "verify": {
            "entries": run.verify_size,
            "seconds": run.verify_s,
            "entries_per_s": run.verify_size / run.verify_s if run.verify_s else None,
            "checkpoints_checked": run.verify_checkpoints,
            "ok": run.verify_ok,
            "seconds_scaled_to_1m": run.verify_s * scale,
            "target_s": VERIFY_TARGET_S,
            "ratio_to_target": run.verify_s * max(scale, 1.0) / VERIFY_TARGET_S,
            "meets_target": run.verify_s * max(scale, 1.0) <= VERIFY_TARGET_S,
        },
        "inclusion": {
            **(lat(run.inclusion) or {}),
            "target_ms": INCLUSION_TARGET_MS,
            "meets_target_median": bool(run.inclusion and run.inclusion.median <= INCLUSION_TARGET_MS),
            "meets_target_p99": bool(run.inclusion and run.inclusion.q(0.99) <= INCLUSION_TARGET_MS),
        },
        "consistency": lat(run.consistency),
        "profiles": run.profiles or None,
        "markdown": "\n".join(render_run(run)).strip(),
    }


def _json_path(option: str, engine: str, stamp: str, engines: int) -> Path:
    name = f"audit-{engine}-{stamp}.json"
    if option == "auto":
        return RESULTS_DIR / name
    path = Path(option)
    if path.is_dir():
        return path / name
    return path if engines == 1 else path.with_name(f"{path.stem}-{engine}{path.suffix or '.json'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--entries",
        type=int,
        default=DEFAULT_ENTRIES,
        help=f"audit entries in the log (default {DEFAULT_ENTRIES:,}; 100000 is the quick mode)",
    )
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument(
        "--json",
        nargs="?",
        const="auto",
        metavar="OUT",
        help="write JSON; without OUT to bench/results/audit-<engine>-<timestamp>.json; OUT a file or directory",
    )
    parser.add_argument(
        "--drain-batch",
        type=int,
        default=DEFAULT_DRAIN_BATCH,
        help="sequencer batch for the whole backlog (default %(default)s)",
    )
    parser.add_argument("--proofs", type=int, default=DEFAULT_PROOFS, help="inclusion proofs (default %(default)s)")
    parser.add_argument(
        "--consistency", type=int, default=DEFAULT_CONSISTENCY, help="consistency proofs (default %(default)s)"
    )
    parser.add_argument(
        "--proof-budget-s",
        type=float,
        default=DEFAULT_PROOF_BUDGET_S,
        help="stop sampling a proof kind after this many seconds (default %(default)s)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the drain, verify and inclusion phases")
    parser.add_argument(
        "--verify-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes recomputing leaf hashes, as `registry audit verify --workers` (default: CPUs, %(default)s)",
    )
    parser.add_argument("--workdir", help="parent directory for the SQLite file and data dirs (default: $TMPDIR)")
    args = parser.parse_args(argv)
    if args.entries < 100:
        parser.error("--entries must be at least 100")
    for name in ("drain_batch", "proofs", "consistency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    meta: dict[str, object] = {
        "command": _command(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "sqlalchemy": sa.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_start": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "entries": args.entries,
        "drain_batch": args.drain_batch,
        "proofs": args.proofs,
        "consistency": args.consistency,
        "proof_budget_s": args.proof_budget_s,
        "profiled": args.profile,
    }
    profiler = Profiler(args.profile)
    runs = []
    for engine in engines:
        run = run_engine(engine, args, profiler)
        runs.append(run)
    meta["elapsed_s"] = round(time.perf_counter() - _STARTED, 1)
    meta["loadavg_end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())

    print(render(runs, meta))
    print(f"\nwall time {meta['elapsed_s']} s · load avg at end {meta['loadavg_end']}")
    if args.json:
        for run in runs:
            path = _json_path(args.json, run.engine, stamp, len(runs))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(to_json(run, meta), indent=2, ensure_ascii=False) + "\n")
            print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
