"""Crypto micro-benchmark: per-field cost of the encryption layer and the KEK rotation rate.

    .venv/bin/python -m bench.crypto_micro [--n N] [--ops OPS] [--repeats R] [--json [OUT]]

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
  timed), reported in DEKs/s against the BENCH.md target.

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
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cryptography
import sqlalchemy as sa
from cryptography.hazmat.backends.openssl import backend as openssl_backend
from sqlmodel import select

from registry.clock import SystemClock
from registry.crypto import blind_index
from registry.crypto.blind_index import IndexKey
from registry.crypto.ciphertext import HEADER_LENGTH, Aad, DataKey, decrypt
from registry.crypto.fields import seal
from registry.crypto.keyring import Compartment, Keyring
from registry.crypto.models import DataKeyRecord
from registry.crypto.providers import FileKeyProvider
from registry.crypto.suites import NONCE_LENGTH, Suite
from registry.db import create_engine, migrate, transaction
from registry.people.synthetic import SyntheticPeople

KEK_ROTATION_TARGET = 20_000  # DEKs/s, ../shared/design/BENCH.md
REWRAP_BATCH = 1_000
INSERT_BATCH = 1_000
DEFAULT_N = 20_000
DEFAULT_OPS = 5_000
DEFAULT_REPEATS = 5
DEFAULT_ROTATIONS = 3
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SEED = 20260105  # synthetic values are reproducible run to run


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
    rewrap_call_s: list[float]  # of which inside Keyring.rewrap (unwrap + wrap)

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
            rows = session.exec(
                select(DataKeyRecord).where(DataKeyRecord.kek_version < current).limit(REWRAP_BATCH)
            ).all()
            if not rows:
                return done, in_rewrap
            start = time.perf_counter()
            for row in rows:
                keyring.rewrap(row)
            in_rewrap += time.perf_counter() - start
            done += len(rows)


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


def render(measures: list[Measure], rotations: list[Rotation], meta: dict[str, object]) -> str:
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
    return "\n".join(lines)


def to_json(measures: list[Measure], rotations: list[Rotation], meta: dict[str, object]) -> dict[str, object]:
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
    return {"benchmark": "crypto_micro", **meta, "micro": micro, "kek_rotation": rotation}


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
    args = parser.parse_args(argv)
    for name in ("n", "ops", "repeats", "rotations"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")

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
    meta["elapsed_s"] = round(time.perf_counter() - started, 1)
    meta["loadavg_end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())

    print(render(measures, rotations, meta))
    print(f"\nwall time {meta['elapsed_s']} s · load avg at end {meta['loadavg_end']}")
    if args.json:
        path = _json_path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(to_json(measures, rotations, meta), indent=2, ensure_ascii=False) + "\n")
        print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
