"""Crypto micro-benchmark: per-field cost of the encryption layer and the key rotation rates.

    .venv/bin/python -m bench.crypto_micro [--n N] [--ops OPS] [--repeats R] [--persons P] [--json [OUT]]

For both suites (AES-256-GCM and SM4-GCM) it measures, in one process:

* field encrypt (`fields.seal`) and decrypt (`ciphertext.decrypt` with the matching
  `Aad`) of a synthetic ID number and a synthetic address, each against the raw AEAD
  (`Suite.seal` / `Suite.open` of the same plaintext and as many associated-data bytes),
  so the cost of the format/AAD layer shows as a ratio;
* a blind-index token (`blind_index.token`) against the raw HMAC (`Suite.mac`), and the
  HKDF derivation of a per-field index key (`IndexKey.derive`, done per search);
* DEK wrap and unwrap through a real `FileKeyProvider` (key file in a temp directory)
  against raw AES-256-GCM of the same DEK;
* KEK rotation: N DEKs written through `Keyring.write_key` into a temp SQLite database,
  then `rotate_kek()` and a rewrap of all of them in batches of 1,000 (only the rewrap is
  timed), reported in DEKs/s against the BENCH.md target;
* on a temp registry (`initialise` + `open_runtime`, SQLite) with P real persons created
  through `people.service.create_person` (the seed rate, persons/s): DEK re-encryption
  (`rotation.rotate_deks` over `maintenance.sealed_tables()`, records/s), blind-index
  rotation (`rotation.rotate_index`, records/s), and a second DEK rotation while a reader
  thread calls `service.read_person` in a loop (reads/s during ÷ before: it is online).

Absolute figures on a shared machine drift; every micro-measure runs `--repeats` rounds
interleaved with its baseline and reports the median, and ratios are medians of the
per-round ratios. Nothing here is a test: it asserts only that the rotation round-trips.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shlex
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import cryptography
import sqlalchemy as sa
from cryptography.hazmat.backends.openssl import backend as openssl_backend
from sqlmodel import select

from registry.access.policy import Purpose, Role
from registry.access.principal import Principal
from registry.access.scope import Scope
from registry.audit.log import AuditTrail
from registry.bootstrap import initialise
from registry.clock import SystemClock
from registry.context import Context, actor_of
from registry.crypto import blind_index
from registry.crypto.blind_index import IndexKey
from registry.crypto.ciphertext import HEADER_LENGTH, Aad, DataKey, decrypt
from registry.crypto.fields import seal
from registry.crypto.keyring import Compartment, Keyring, KeyStatus
from registry.crypto.models import DataKeyRecord
from registry.crypto.providers import FileKeyProvider
from registry.crypto.rotation import rotate_deks, rotate_index
from registry.crypto.suites import NONCE_LENGTH, Suite
from registry.db import create_engine, migrate, transaction
from registry.maintenance import sealed_tables
from registry.people import service
from registry.people.schemas import PersonCreate, PersonSearch
from registry.people.synthetic import SyntheticPeople, SyntheticPerson
from registry.runtime import Runtime, open_runtime
from registry.settings import Settings

KEK_ROTATION_TARGET = 20_000  # DEKs/s, ../shared/design/BENCH.md
DEK_ROTATION_TARGET = 2_000  # records/s, "DEK re-encryption, online"
BULK_SEED_TARGET = 2_000  # /s, "bulk seed (person + registration, encrypted, indexed, audited)"
REWRAP_BATCH = 1_000
INSERT_BATCH = 1_000
DEFAULT_N = 20_000
DEFAULT_OPS = 5_000
DEFAULT_REPEATS = 5
DEFAULT_ROTATIONS = 3
DEFAULT_PERSONS = 1_000
SEED_BATCH = 500  # persons per transaction when seeding
READER_BASELINE_S = 2.0  # reader alone, before the online rotation
ORG_UNIT = "320571"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SEED = 20260105  # synthetic values are reproducible run to run
T = TypeVar("T")


# -- micro-measures ------------------------------------------------------------------------


@dataclass
class Measure:
    suite: str
    operation: str
    input: str
    run: Callable[[], object]
    baseline: str | None = None  # `operation` of the raw measure in the same suite
    times_us: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.suite, self.operation


def _time_loop(run: Callable[[], object], ops: int) -> float:
    """µs per call of `run` over `ops` calls; gc off during the loop, as timeit does."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(ops):
            run()
        elapsed = time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    return elapsed / ops * 1e6


def _dek_aad(owner: str, compartment: str, version: int) -> bytes:
    # Same layout as `keyring._dek_aad` (private there), so wrap sees realistic AAD.
    return f"registry|dek|{owner}|{compartment}|{version}".encode()


def _suite_measures(suite: Suite, provider: FileKeyProvider, id_number: str, address: str) -> list[Measure]:
    name = suite.value
    key = DataKey.generate(suite, version=1)
    secret = key.get_secret_value()
    record_id = str(uuid.uuid4())
    nonce = os.urandom(NONCE_LENGTH)
    measures: list[Measure] = []

    for label, table, column, value in (
        ("id_number", "person", "id_number", id_number),
        ("address", "registration", "address", address),
    ):
        plain = value.encode("utf-8")
        described = f"{label}: {len(value)} chars, {len(plain)} B"
        # The format binds header(6) ‖ Aad.encode(); the raw AEAD gets as many bytes.
        associated = os.urandom(HEADER_LENGTH + len(Aad(table, column, record_id, 1).encode()))
        raw_sealed = suite.seal(secret, nonce, plain, associated)
        blob = seal(key, value, table=table, column=column, record_id=record_id)
        assert decrypt(key, blob, aad=Aad(table, column, record_id, key.version)) == plain

        raw_seal, raw_open = f"raw AEAD seal ({label})", f"raw AEAD open ({label})"
        measures += [
            Measure(name, raw_seal, described, lambda p=plain, a=associated: suite.seal(secret, nonce, p, a)),
            Measure(name, raw_open, described, lambda s=raw_sealed, a=associated: suite.open(secret, nonce, s, a)),
            Measure(
                name,
                f"fields.seal ({label})",
                described,
                lambda v=value, t=table, c=column: seal(key, v, table=t, column=c, record_id=record_id),
                baseline=raw_seal,
            ),
            Measure(
                name,
                f"ciphertext.decrypt ({label})",
                described + ", Aad built per call",
                lambda b=blob, t=table, c=column: decrypt(key, b, aad=Aad(t, c, record_id, key.version)),
                baseline=raw_open,
            ),
        ]

    root = os.urandom(32)
    bits = blind_index.default_bits()
    index_key = IndexKey.derive(root, suite=suite, table="person", field="id_number", version=1)
    mac_key = os.urandom(32)
    id_bytes = id_number.encode("utf-8")
    measures += [
        Measure(
            name,
            "raw HMAC (id_number)",
            f"{suite.hash_algorithm().name}, {len(id_bytes)} B",
            lambda: suite.mac(mac_key, id_bytes),
        ),
        Measure(
            name,
            "blind_index.token (id_number)",
            f"{bits} bits (default_bits())",
            lambda: blind_index.token(index_key, id_number, bits=bits),
            baseline="raw HMAC (id_number)",
        ),
        Measure(
            name,
            "IndexKey.derive (HKDF)",
            "per (table, field, version)",
            lambda: IndexKey.derive(root, suite=suite, table="person", field="id_number", version=1),
            baseline="raw HMAC (id_number)",
        ),
    ]

    # KEKs are AES-256-GCM whatever the suite; only the DEK length differs.
    aad = _dek_aad(str(uuid.uuid4()), Compartment.IDENTITY, 1)
    wrapped = provider.wrap(secret, aad=aad)
    assert provider.unwrap(wrapped, aad=aad) == secret
    kek = os.urandom(32)
    kek_associated = os.urandom(5 + len(aad))  # wrap header(5) ‖ aad
    raw_wrapped = Suite.AES256GCM.seal(kek, nonce, secret, kek_associated)
    dek = f"DEK {len(secret)} B, FileKeyProvider"
    measures += [
        Measure(
            name,
            "raw AES-256-GCM seal (DEK)",
            f"DEK {len(secret)} B",
            lambda: Suite.AES256GCM.seal(kek, nonce, secret, kek_associated),
        ),
        Measure(
            name,
            "raw AES-256-GCM open (DEK)",
            f"DEK {len(secret)} B",
            lambda: Suite.AES256GCM.open(kek, nonce, raw_wrapped, kek_associated),
        ),
        Measure(
            name,
            "provider.wrap (DEK)",
            dek,
            lambda: provider.wrap(secret, aad=aad),
            baseline="raw AES-256-GCM seal (DEK)",
        ),
        Measure(
            name,
            "provider.unwrap (DEK)",
            dek,
            lambda: provider.unwrap(wrapped, aad=aad),
            baseline="raw AES-256-GCM open (DEK)",
        ),
    ]
    return measures


def run_micro(measures: list[Measure], *, ops: int, repeats: int) -> None:
    """Round-robin: every round times every measure once, so drift hits all alike."""
    by_key = {m.key: m for m in measures}
    warmup = max(1, ops // 10)
    for m in measures:
        _time_loop(m.run, warmup)
    for _ in range(repeats):
        for m in measures:
            m.times_us.append(_time_loop(m.run, ops))
    for m in measures:
        if m.baseline is not None:
            base = by_key[(m.suite, m.baseline)]
            m.ratios = [t / b for t, b in zip(m.times_us, base.times_us, strict=True)]


# -- KEK rotation --------------------------------------------------------------------------


@dataclass
class Rotation:
    suite: str
    deks: int
    insert_s: float
    insert_per_s: float
    rewrap_s: list[float]  # wall time of each full rewrap pass
    rewrap_call_s: list[float]  # of which inside Keyring.rewrap (select, unwraps + wraps, update; not commit)

    @property
    def rate(self) -> float:
        return self.deks / statistics.median(self.rewrap_s)

    @property
    def crypto_share(self) -> float:
        return statistics.median(c / w for c, w in zip(self.rewrap_call_s, self.rewrap_s, strict=True))


def _rewrap_all(engine: sa.Engine, keyring: Keyring) -> tuple[int, float]:
    """Rewrap every DEK under an older KEK, 1,000 per transaction; (count, s in rewrap)."""
    provider = keyring.provider
    current = provider.kek_version
    done, in_rewrap = 0, 0.0
    while True:
        with transaction(engine) as session:
            start = time.perf_counter()
            count = keyring.rewrap(session, below=current, limit=REWRAP_BATCH)
            in_rewrap += time.perf_counter() - start
            if not count:
                return done, in_rewrap
            done += count


def run_rotation(suite: Suite, workdir: Path, n: int, rotations: int) -> Rotation:
    provider = FileKeyProvider.create(workdir / suite.value / "keys.json")
    engine = create_engine(f"sqlite:///{workdir / suite.value / 'registry.db'}")
    try:
        migrate(engine)
        keyring = Keyring(provider, suite, SystemClock(), index_bits=blind_index.default_bits())
        owners = [str(uuid.uuid4()) for _ in range(n)]

        start = time.perf_counter()
        for first in range(0, n, INSERT_BATCH):
            with transaction(engine) as session:
                for owner in owners[first : first + INSERT_BATCH]:
                    keyring.write_key(session, owner=owner, compartment=Compartment.IDENTITY)
        insert_s = time.perf_counter() - start

        # A few owners' keys as written, to check they survive every rotation unchanged.
        sample = owners[:: max(1, n // 50)]
        with transaction(engine) as session:
            before = {
                o: keyring.read_key(session, owner=o, compartment=Compartment.IDENTITY, version=1) for o in sample
            }
            expected = {o: k.get_secret_value() for o, k in before.items()}

        walls, calls = [], []
        for _ in range(rotations):
            provider.rotate_kek()  # not timed: one key-file write
            start = time.perf_counter()
            count, in_rewrap = _rewrap_all(engine, keyring)
            walls.append(time.perf_counter() - start)
            calls.append(in_rewrap)
            if count != n:
                raise RuntimeError(f"rewrapped {count} DEKs, expected {n}")

        fresh = Keyring(provider, suite, SystemClock(), index_bits=keyring.index_bits)  # empty unwrap cache
        with transaction(engine) as session:
            stale = session.exec(
                select(sa.func.count())
                .select_from(DataKeyRecord)
                .where(DataKeyRecord.kek_version < provider.kek_version)
            ).one()
            for owner, secret in expected.items():
                key = fresh.read_key(session, owner=owner, compartment=Compartment.IDENTITY, version=1)
                if key.get_secret_value() != secret:
                    raise RuntimeError("a DEK changed during KEK rotation")
        if stale:
            raise RuntimeError(f"{stale} DEKs left under an old KEK")
    finally:
        engine.dispose()
    return Rotation(suite.value, n, insert_s, n / insert_s, walls, calls)


# -- DEK re-encryption and blind-index rotation on real persons -------------------------------


@dataclass
class ReaderRun:
    """`service.read_person` in a loop on one thread, each read in its own transaction."""

    reads: int  # successful reads
    seconds: float
    latencies_ms: list[float] = field(repr=False)  # of successful reads
    failed: int = 0  # reads that raised (e.g. SQLITE_BUSY after the busy timeout)
    first_error: str | None = None

    @property
    def rate(self) -> float:
        return self.reads / self.seconds if self.seconds else 0.0

    def ms(self, quantile: float) -> float:
        """Latency at `quantile` (nearest rank) of the successful reads; 1.0 is the max."""
        lat = sorted(self.latencies_ms) or [0.0]
        return lat[min(len(lat) - 1, int(len(lat) * quantile))]

    def summary(self) -> dict[str, object]:
        return {
            "reads": self.reads,
            "failed_reads": self.failed,
            "first_error": self.first_error,
            "seconds": self.seconds,
            "reads_per_s": self.rate,
            "p50_ms": self.ms(0.5),
            "p99_ms": self.ms(0.99),
            "max_ms": self.ms(1.0),
        }


@dataclass
class SealedRotation:
    suite: str
    persons: int
    seed_s: float
    dek_resealed: int
    dek_s: float
    dek_phases_s: dict[str, float]  # new versions / re-seal pass / verification pass + retire
    index_entries: int
    index_s: float
    index_phases_s: dict[str, float]  # new root + backfill / switch + drop old entries
    online_resealed: int | None = None
    online_s: float | None = None
    reader_before: ReaderRun | None = None
    reader_during: ReaderRun | None = None

    @property
    def seed_rate(self) -> float:
        return self.persons / self.seed_s

    @property
    def dek_rate(self) -> float:
        return self.dek_resealed / self.dek_s

    @property
    def index_rate(self) -> float:
        return self.persons / self.index_s

    @property
    def online_rate(self) -> float | None:
        return None if self.online_s is None else (self.online_resealed or 0) / self.online_s


def _police(clock: SystemClock) -> Context:
    # As `_police()` in tests/crypto/test_rotation.py: a police officer of 320571, no scope limit.
    principal = Principal(uuid.uuid4(), "police.bench", "human", frozenset({Role.POLICE}), ORG_UNIT, Scope(None))
    return Context(principal, AuditTrail(clock, actor_of(principal)), clock, Purpose.REGISTRATION)


class _Marks:
    """A rotation's progress callback that timestamps every batch."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.marks.append((time.perf_counter(), done, total))


def _dek_phases(start: float, end: float, marks: list[tuple[float, int, int]]) -> dict[str, float]:
    """rotate_deks reports (done, 2·total): ≤ total while adding versions, then total + done
    of each sweep pass; the first pass re-seals, the next one finds nothing and stops."""
    if not marks:
        return {}
    total = marks[0][2] // 2
    first_sweep = next((i for i, (_, done, _) in enumerate(marks) if done > total), len(marks))
    versions_end = marks[first_sweep - 1][0] if first_sweep else start
    pass_end = next((t for t, done, t2 in marks[first_sweep:] if done >= t2), end)
    return {
        "new DEK versions": versions_end - start,
        "re-seal pass": pass_end - versions_end,
        "verification pass + retire": end - pass_end,
    }


def _read_loop(runtime: Runtime, ctx: Context, ids: list[uuid.UUID], stop: threading.Event) -> ReaderRun:
    latencies: list[float] = []
    failed, first_error, i = 0, None, 0
    start = time.perf_counter()
    while not stop.is_set():
        person_id = ids[i % len(ids)]
        i += 1
        begun = time.perf_counter()
        try:
            with transaction(runtime.engine) as session:
                service.read_person(session, ctx, runtime.keyring, person_id=person_id)
        except Exception as exc:  # counted and shown: a failed read means the rotation is not online
            failed += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
            continue
        latencies.append((time.perf_counter() - begun) * 1e3)
    return ReaderRun(len(latencies), time.perf_counter() - start, latencies, failed, first_error)


def _with_reader(runtime: Runtime, ctx: Context, ids: list[uuid.UUID], work: Callable[[], T]) -> tuple[ReaderRun, T]:
    """Run `work` on this thread while a reader thread reads; stop the reader when it ends."""
    stop = threading.Event()
    runs: list[ReaderRun] = []
    reader = threading.Thread(target=lambda: runs.append(_read_loop(runtime, ctx, ids, stop)), daemon=True)
    reader.start()
    try:
        value = work()
    finally:
        stop.set()
        reader.join()
    return runs[0], value


def run_sealed_rotation(suite: Suite, workdir: Path, persons: int, *, online: bool) -> SealedRotation:
    base = workdir / f"persons-{suite.value}"
    settings = Settings(data_dir=base / "data", database_url=f"sqlite:///{base / 'registry.db'}", profile="dev")
    clock = SystemClock()
    initialise(settings, clock=clock, suite=suite)
    runtime = open_runtime(settings, clock=clock)
    engine, keyring = runtime.engine, runtime.keyring
    try:
        with transaction(engine) as session:
            session.execute(
                sa.text(
                    "INSERT INTO org_unit (code, name, path, created_at) VALUES (:code, 'bench', :path, '2026-01-01')"
                ),
                {"code": ORG_UNIT, "path": f"/{ORG_UNIT}/"},
            )
        ctx = _police(clock)
        people = list(SyntheticPeople(SEED + 1).people(persons))  # generated before the clock starts
        ids: list[uuid.UUID] = []

        start = time.perf_counter()
        for first in range(0, persons, SEED_BATCH):
            with transaction(engine) as session:
                for p in people[first : first + SEED_BATCH]:
                    created = service.create_person(
                        session,
                        ctx,
                        keyring,
                        data=PersonCreate(
                            id_number=p.id_number, name=p.name, phone=p.phone, hukou_address=p.hukou_address
                        ),
                    )
                    ids.append(created.id)
        seed_s = time.perf_counter() - start

        marks = _Marks()
        start = time.perf_counter()
        resealed = rotate_deks(engine, keyring, sealed_tables(), progress=marks)
        end = time.perf_counter()
        dek_s, dek_phases = end - start, _dek_phases(start, end, marks.marks)
        if resealed != persons:
            raise RuntimeError(f"DEK rotation re-sealed {resealed} persons, expected {persons}")

        marks = _Marks()
        start = time.perf_counter()
        entries = rotate_index(engine, keyring, sealed_tables(), progress=marks)
        end = time.perf_counter()
        backfilled = marks.marks[-1][0] if marks.marks else start
        index_phases = {"new root + backfill": backfilled - start, "switch + drop old entries": end - backfilled}
        if entries != 3 * persons:  # id_number, phone, name_birth: every synthetic person has all three
            raise RuntimeError(f"index rotation backfilled {entries} entries, expected {3 * persons}")

        result = SealedRotation(
            suite.value, persons, seed_s, resealed, dek_s, dek_phases, entries, end - start, index_phases
        )
        if online:
            order = ids[:]
            random.Random(SEED).shuffle(order)
            reader_ctx = _police(clock)
            result.reader_before, _ = _with_reader(runtime, reader_ctx, order, lambda: time.sleep(READER_BASELINE_S))
            start = time.perf_counter()
            result.reader_during, online_resealed = _with_reader(
                runtime, reader_ctx, order, lambda: rotate_deks(engine, keyring, sealed_tables())
            )
            result.online_s = time.perf_counter() - start
            result.online_resealed = online_resealed
            if result.online_resealed != persons:
                raise RuntimeError(f"online DEK rotation re-sealed {result.online_resealed}, expected {persons}")

        _check_persons(runtime, ctx, suite, ids, people)
    finally:
        engine.dispose()
    return result


def _check_persons(
    runtime: Runtime, ctx: Context, suite: Suite, ids: list[uuid.UUID], people: list[SyntheticPerson]
) -> None:
    """Every rotation must leave persons readable and searchable, under one key version each."""
    fresh = Keyring(runtime.provider, suite, SystemClock(), index_bits=runtime.keyring.index_bits)  # empty cache
    with transaction(runtime.engine) as session:
        for i in range(0, len(ids), max(1, len(ids) // 25)):
            person_id, p = ids[i], people[i]
            _, values = service.read_person(session, ctx, fresh, person_id=person_id)
            if (values["id_number"], values["name"], values["phone"]) != (p.id_number, p.name, p.phone):
                raise RuntimeError(f"person {person_id} reads back wrong after rotation")
            for query in (PersonSearch(id_number=p.id_number), PersonSearch(phone=p.phone)):
                found = service.search_persons(session, ctx, fresh, query=query)
                if [m["id"] for m in found] != [person_id]:
                    raise RuntimeError(f"person {person_id} not found by {query!r} after rotation")
        keys = session.exec(select(sa.func.count()).select_from(DataKeyRecord)).one()
        live_roots = [r.status for r in fresh.index_roots(session)]
    if keys != len(ids):
        raise RuntimeError(f"{keys} DEK versions for {len(ids)} persons: old versions not retired")
    if live_roots != [KeyStatus.ACTIVE]:
        raise RuntimeError(f"index roots not retired: {live_roots}")


# -- output ----------------------------------------------------------------------------------


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
    return shlex.join([python, "-m", "bench.crypto_micro", *sys.argv[1:]])


def _fmt_us(value: float) -> str:
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def _target_cells(rate: float, target: float | None) -> str:
    if target is None:
        return "— | — | — |"
    return f"≥ {target:,} | {rate / target:.2f}× | {'yes' if rate >= target else 'NO'} |"


def _phases(phases: dict[str, float]) -> str:
    return " · ".join(f"{name} {s:.1f} s" for name, s in phases.items())


def render_sealed(sealed: list[SealedRotation]) -> list[str]:
    lines = [
        "",
        f"Persons on a temp registry (`initialise` + `open_runtime`, SQLite WAL, FileKeyProvider): seeded through "
        f"`service.create_person` in one process (no HTTP), {SEED_BATCH} per transaction; then "
        "`rotate_deks` and `rotate_index` over `sealed_tables()` (default batch 500); one run each",
        "",
        "| suite | measure | persons | records | s | records/s | detail | target | ÷ target | meets |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in sealed:
        lines.append(
            f"| {r.suite} | bulk seed: `create_person` (6 fields sealed, 3 index entries, audited; no registration) "
            f"| {r.persons:,} | {r.persons:,} | {r.seed_s:.1f} | {r.seed_rate:,.0f} | persons/s, service layer, "
            f"1 thread | {_target_cells(r.seed_rate, BULK_SEED_TARGET)}"
        )
        lines.append(
            f"| {r.suite} | DEK re-encryption: `rotate_deks`, quiet | {r.persons:,} | {r.dek_resealed:,} | "
            f"{r.dek_s:.1f} | {r.dek_rate:,.0f} | {_phases(r.dek_phases_s)} | "
            f"{_target_cells(r.dek_rate, DEK_ROTATION_TARGET)}"
        )
        if r.online_rate is not None and r.reader_before and r.reader_during:
            lines.append(
                f"| {r.suite} | DEK re-encryption, online: `rotate_deks` + reader thread | {r.persons:,} | "
                f"{r.online_resealed:,} | {r.online_s:.1f} | {r.online_rate:,.0f} | reader "
                f"{r.reader_during.rate:,.0f} reads/s during vs {r.reader_before.rate:,.0f} before "
                f"({r.reader_during.rate / r.reader_before.rate:.2f}×) | "
                f"{_target_cells(r.online_rate, DEK_ROTATION_TARGET)}"
            )
        lines.append(
            f"| {r.suite} | blind-index rotation: `rotate_index` | {r.persons:,} | {r.persons:,} | {r.index_s:.1f} | "
            f"{r.index_rate:,.0f} | {r.index_entries:,} entries = {r.index_entries / r.index_s:,.0f} entries/s · "
            f"{_phases(r.index_phases_s)} | {_target_cells(r.index_rate, None)}"
        )
    online = [r for r in sealed if r.reader_before is not None and r.reader_during is not None]
    if online:
        lines += [
            "",
            f"Reader thread (`service.read_person`, one transaction per read, audited) alone for "
            f"{READER_BASELINE_S:.0f} s, then during the online DEK rotation (same process, so it shares the GIL)",
            "",
            "| suite | reads/s before | reads/s during | during ÷ before | p50 ms before → during | "
            "p99 ms before → during | max ms before → during | reads during | failed reads during |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in online:
            b, d = r.reader_before, r.reader_during
            assert b is not None and d is not None
            lines.append(
                f"| {r.suite} | {b.rate:,.0f} | {d.rate:,.0f} | {d.rate / b.rate:.2f}× | "
                f"{b.ms(0.5):.1f} → {d.ms(0.5):.1f} | {b.ms(0.99):.1f} → {d.ms(0.99):.1f} | "
                f"{b.ms(1.0):,.0f} → {d.ms(1.0):,.0f} | {d.reads:,} | {d.failed:,} |"
            )
        errors = [f"{r.suite}: {r.reader_during.first_error}" for r in online if r.reader_during.first_error]
        if errors:
            lines += ["", "first failed read: " + "; ".join(errors)]
    return lines


def render(
    measures: list[Measure], rotations: list[Rotation], sealed: list[SealedRotation], meta: dict[str, object]
) -> str:
    lines = [
        f"command: `{meta['command']}`",
        "",
        f"{meta['timestamp']} · Python {meta['python']} · cryptography {meta['cryptography']} · "
        f"{meta['openssl']} · {meta['cpus']} CPUs · load avg at start {meta['loadavg_start']}",
        f"micro: {meta['repeats']} interleaved rounds × {meta['ops']:,} ops, median shown; "
        f"ratio = median of per-round (op ÷ baseline)",
        "",
        "| suite | operation | input | µs/op | ops/s | min–max µs | ratio | ÷ baseline |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for m in measures:
        med = statistics.median(m.times_us)
        ratio = f"{statistics.median(m.ratios):.2f}×" if m.ratios else ""
        lines.append(
            f"| {m.suite} | {m.operation} | {m.input} | {_fmt_us(med)} | {1e6 / med:,.0f} | "
            f"{_fmt_us(min(m.times_us))}–{_fmt_us(max(m.times_us))} | {ratio} | {m.baseline or ''} |"
        )
    if rotations:
        lines += [
            "",
            f"KEK rotation, SQLite file in a temp dir, FileKeyProvider, batches of {REWRAP_BATCH:,} per "
            f"transaction; {meta['rotations']} rotations, median shown",
            "",
            "| suite | DEKs | write_key insert DEKs/s | rewrap DEKs/s (median) | min–max DEKs/s | "
            "share in Keyring.rewrap | µs/DEK ÷ (wrap + unwrap) | target | meets |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        by_key = {m.key: m for m in measures}
        for r in rotations:
            wrap = statistics.median(by_key[(r.suite, "provider.wrap (DEK)")].times_us)
            unwrap = statistics.median(by_key[(r.suite, "provider.unwrap (DEK)")].times_us)
            per_dek_us = 1e6 / r.rate
            rates = [r.deks / s for s in r.rewrap_s]
            lines.append(
                f"| {r.suite} | {r.deks:,} | {r.insert_per_s:,.0f} | {r.rate:,.0f} | "
                f"{min(rates):,.0f}–{max(rates):,.0f} | {r.crypto_share:.0%} | "
                f"{per_dek_us / (wrap + unwrap):.2f}× | ≥ {KEK_ROTATION_TARGET:,} | "
                f"{'yes' if r.rate >= KEK_ROTATION_TARGET else 'NO'} |"
            )
    if sealed:
        lines += render_sealed(sealed)
    return "\n".join(lines)


def _sealed_json(r: SealedRotation) -> dict[str, object]:
    return {
        "suite": r.suite,
        "persons": r.persons,
        "bulk_seed": {
            "seconds": r.seed_s,
            "persons_per_s": r.seed_rate,
            "target_per_s": BULK_SEED_TARGET,
            "ratio_to_target": r.seed_rate / BULK_SEED_TARGET,
            "meets_target": r.seed_rate >= BULK_SEED_TARGET,
        },
        "dek_rotation": {
            "records_resealed": r.dek_resealed,
            "seconds": r.dek_s,
            "records_per_s": r.dek_rate,
            "phases_s": r.dek_phases_s,
            "target_records_per_s": DEK_ROTATION_TARGET,
            "ratio_to_target": r.dek_rate / DEK_ROTATION_TARGET,
            "meets_target": r.dek_rate >= DEK_ROTATION_TARGET,
        },
        "dek_rotation_online": None
        if r.online_rate is None or r.reader_before is None or r.reader_during is None
        else {
            "records_resealed": r.online_resealed,
            "seconds": r.online_s,
            "records_per_s": r.online_rate,
            "target_records_per_s": DEK_ROTATION_TARGET,
            "ratio_to_target": r.online_rate / DEK_ROTATION_TARGET,
            "meets_target": r.online_rate >= DEK_ROTATION_TARGET,
            "reader_before": r.reader_before.summary(),
            "reader_during": r.reader_during.summary(),
            "reads_per_s_during_over_before": r.reader_during.rate / r.reader_before.rate,
        },
        "index_rotation": {
            "records": r.persons,
            "entries_backfilled": r.index_entries,
            "seconds": r.index_s,
            "records_per_s": r.index_rate,
            "entries_per_s": r.index_entries / r.index_s,
            "phases_s": r.index_phases_s,
            "target": None,
        },
    }


def to_json(
    measures: list[Measure], rotations: list[Rotation], sealed: list[SealedRotation], meta: dict[str, object]
) -> dict[str, object]:
    micro = []
    for m in measures:
        med = statistics.median(m.times_us)
        micro.append(
            {
                "suite": m.suite,
                "operation": m.operation,
                "input": m.input,
                "us_per_op_median": med,
                "ops_per_s_median": 1e6 / med,
                "us_per_op_rounds": m.times_us,
                "baseline": m.baseline,
                "ratio_median": statistics.median(m.ratios) if m.ratios else None,
                "ratio_rounds": m.ratios or None,
            }
        )
    rotation = [
        {
            **asdict(r),
            "rewrap_deks_per_s_median": r.rate,
            "rewrap_deks_per_s_rounds": [r.deks / s for s in r.rewrap_s],
            "share_in_keyring_rewrap": r.crypto_share,
            "target_deks_per_s": KEK_ROTATION_TARGET,
            "meets_target": r.rate >= KEK_ROTATION_TARGET,
        }
        for r in rotations
    ]
    return {
        "benchmark": "crypto_micro",
        **meta,
        "micro": micro,
        "kek_rotation": rotation,
        "sealed_rotation": [_sealed_json(r) for r in sealed],
        "sealed_rotation_markdown": "\n".join(render_sealed(sealed)).strip() if sealed else None,
    }


def _json_path(option: str) -> Path:
    if option == "auto":
        return RESULTS_DIR / f"crypto_micro-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path = Path(option)
    if path.is_dir():
        return path / f"crypto_micro-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crypto_micro", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=DEFAULT_N, help=f"DEKs to rotate per suite (default {DEFAULT_N:,})")
    parser.add_argument("--ops", type=int, default=DEFAULT_OPS, help=f"calls per micro round (default {DEFAULT_OPS:,})")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="micro rounds (default %(default)s)")
    parser.add_argument(
        "--rotations", type=int, default=DEFAULT_ROTATIONS, help="KEK rotations timed per suite (default %(default)s)"
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const="auto",
        metavar="OUT",
        help="write JSON; without OUT to bench/results/crypto_micro-<timestamp>.json, OUT may be a file or directory",
    )
    parser.add_argument(
        "--suite", choices=[s.value for s in Suite], action="append", help="only this suite (repeatable; default both)"
    )
    parser.add_argument(
        "--persons",
        type=int,
        default=DEFAULT_PERSONS,
        help=f"persons seeded per suite for the DEK and index rotations (default {DEFAULT_PERSONS:,}; 0 skips them)",
    )
    parser.add_argument(
        "--no-online", action="store_true", help="skip the second DEK rotation run with a reader thread"
    )
    args = parser.parse_args(argv)
    for name in ("n", "ops", "repeats", "rotations"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.persons < 0:
        parser.error("--persons must be 0 or more")

    suites = [Suite(s) for s in dict.fromkeys(args.suite)] if args.suite else list(Suite)
    meta: dict[str, object] = {
        "command": _command(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "openssl": openssl_backend.openssl_version_text(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_start": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "n": args.n,
        "ops": args.ops,
        "repeats": args.repeats,
        "rotations": args.rotations,
        "persons": args.persons,
        "online": not args.no_online,
    }
    people = SyntheticPeople(SEED)
    person = people.person()
    address = next(a for a in iter(people.address, None) if len(a) >= 24)  # one with building and room

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crypto-micro-") as tmp:
        workdir = Path(tmp)
        provider = FileKeyProvider.create(workdir / "micro" / "keys.json")
        measures = [m for suite in suites for m in _suite_measures(suite, provider, person.id_number, address)]
        run_micro(measures, ops=args.ops, repeats=args.repeats)
        rotations = [run_rotation(suite, workdir, args.n, args.rotations) for suite in suites]
        sealed = (
            [run_sealed_rotation(suite, workdir, args.persons, online=not args.no_online) for suite in suites]
            if args.persons
            else []
        )
    meta["elapsed_s"] = round(time.perf_counter() - started, 1)
    meta["loadavg_end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())

    print(render(measures, rotations, sealed, meta))
    print(f"\nwall time {meta['elapsed_s']} s · load avg at end {meta['loadavg_end']}")
    if args.json:
        path = _json_path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(to_json(measures, rotations, sealed, meta), indent=2, ensure_ascii=False) + "\n")
        print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
