"""Can bad logins stall the service? An authenticated GET's latency, quiet and while
threads of bad logins hammer `/api/v1/auth/token` (issue 13, deliverable 6).

    .venv/bin/python -m bench.login_stall --engine sqlite [--threads 20] [--duration 10]
                                          [--rounds 3] [--unthrottled] [--json [OUT]]

1. A throwaway registry (`registry.bootstrap.initialise`; SQLite in a temp directory, or a
   PostgreSQL database `stall_<hex>` on `$REGISTRY_BENCH_PG_URL`, dropped at the end),
   served by `registry serve` (one worker) on loopback, the login settings at their
   defaults (or, with `--unthrottled`, failure limits so high they never trigger: what the
   lock-free verification alone achieves).
2. Quiet: one client reads `GET /api/v1/org-units` as the bootstrap administrator, back to
   back, for `--duration` s.
3. Attack: the same reader for `--duration` s while `--threads` threads in another process
   post bad passwords for random usernames and for the administrator's, back to back.
   Quiet and attack phases alternate `--rounds` times (the throttle's state carries over,
   as it would under a sustained attack), so background load on a shared machine weighs
   on both alike.
4. Reported: the reader's p50/p90/p99 in both phases and p99 attack ÷ quiet (target ≤ 3),
   the attack's answers by status (401 checked, 429 throttled, 503) and the server's CPU.

The JSON (with `--json`) goes to `bench/results/login-stall-<engine>-<UTC timestamp>.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from bench.load import DEFAULT_PG, ROOT, Service, _cpu_seconds, _free_port, _psql
from bench.load_client import summary_ms
from registry.bootstrap import initialise
from registry.settings import Settings

TARGET = 3.0  # attack p99 ÷ quiet p99


def _reader(base: str, token: str, seconds: float) -> list[float]:
    """Authenticated GETs back to back; each one's latency in seconds."""
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = client.get("/api/v1/org-units")
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"reader: {response.status_code} {response.text[:200]}")
    return latencies


def _attacker(base: str, admin: str, threads: int, seconds: float, out: Any) -> None:
    """In its own process, so the attackers' client work does not share the reader's GIL."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def hammer(index: int) -> None:
        mine: Counter[int] = Counter()
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.perf_counter() + seconds
            n = 0
            while time.perf_counter() < deadline:
                username = admin if (index + n) % 2 else f"guess.{secrets.token_hex(4)}"
                form = {"grant_type": "password", "username": username, "password": secrets.token_urlsafe(12)}
                mine[client.post("/api/v1/auth/token", data=form).status_code] += 1
                n += 1
        with lock:
            statuses.update(mine)

    workers = [threading.Thread(target=hammer, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put(dict(statuses))


@contextlib.contextmanager
def _database(engine: str, work: Path) -> Any:
    if engine == "sqlite":
        yield f"sqlite:///{work / 'registry.db'}"
        return
    admin = os.environ.get("REGISTRY_BENCH_PG_URL", DEFAULT_PG)
    name = f"stall_{uuid.uuid4().hex[:8]}"
    _psql(admin, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        _psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(engine: str, *, threads: int, duration: float, rounds: int, unthrottled: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="login-stall-") as tmp, _database(engine, Path(tmp)) as url:
        work = Path(tmp)
        settings = Settings(data_dir=work / "data", database_url=url, profile="dev")
        init = initialise(settings)
        assert init.admin_username and init.admin_password
        env = {
            "REGISTRY_DATA_DIR": str(settings.data_dir),
            "REGISTRY_DATABASE_URL": url,
            "REGISTRY_PROFILE": "dev",
            "REGISTRY_TOKEN_LIFETIME_SECONDS": "86400",
            "REGISTRY_LOG_LEVEL": "WARNING",
        }
        if unthrottled:
            env |= {"REGISTRY_LOGIN_FAILURES_PER_USERNAME": "1000000", "REGISTRY_LOGIN_FAILURES_PER_CLIENT": "1000000"}
        service = Service("registry", url, _free_port())
        service.start(
            [str(ROOT / ".venv/bin/registry"), "serve", "--port", str(service.port)], env, work / "server.log"
        )
        try:
            form = {"grant_type": "password", "username": init.admin_username, "password": init.admin_password}
            token = httpx.post(f"{service.base}/api/v1/auth/token", data=form, timeout=60).json()["access_token"]
            _reader(service.base, token, 2.0)  # warm-up, not recorded
            assert service.process is not None
            quiet: list[float] = []
            loaded: list[float] = []
            quiet_cpu = loaded_cpu = 0.0
            statuses: Counter[int] = Counter()
            by_round: list[dict[str, Any]] = []
            for _ in range(rounds):
                cpu = _cpu_seconds(service.process.pid)
                quiet += _reader(service.base, token, duration)
                quiet_cpu += _cpu_seconds(service.process.pid) - cpu
                results: multiprocessing.Queue[dict[int, int]] = multiprocessing.Queue()
                attack = multiprocessing.Process(
                    target=_attacker, args=(service.base, init.admin_username, threads, duration + 1.5, results)
                )
                attack.start()
                time.sleep(1.0)  # the attackers are running before the reader starts
                cpu = _cpu_seconds(service.process.pid)
                this_round = _reader(service.base, token, duration)
                loaded += this_round
                loaded_cpu += _cpu_seconds(service.process.pid) - cpu
                answered = results.get(timeout=120)
                statuses.update(answered)
                by_round.append({"attack_ms": summary_ms(this_round), "statuses": answered})
                attack.join()
        finally:
            service.stop()
    q, a = summary_ms(quiet), summary_ms(loaded)
    return {
        "engine": engine,
        "threads": threads,
        "duration_s": duration,
        "rounds": rounds,
        "throttled": not unthrottled,
        "quiet_ms": q,
        "attack_ms": a,
        "p99_ratio": a["p99_ms"] / q["p99_ms"],
        "target": TARGET,
        "attack_statuses": {str(k): v for k, v in sorted(statuses.items())},
        # Round 1 holds the hashing of the first failures; later rounds meet the throttle.
        "attack_rounds": by_round,
        "server_cpu_s": {"quiet": quiet_cpu, "attack": loaded_cpu},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=3, help="quiet/attack phase pairs")
    parser.add_argument("--unthrottled", action="store_true", help="failure limits that never trigger")
    parser.add_argument("--json", nargs="?", const="bench/results", default=None)
    args = parser.parse_args(argv)
    result = run(
        args.engine, threads=args.threads, duration=args.duration, rounds=args.rounds, unthrottled=args.unthrottled
    )
    result |= {
        "command": " ".join([".venv/bin/python -m bench.login_stall", *(argv if argv is not None else sys.argv[1:])]),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
    }
    q, a = result["quiet_ms"], result["attack_ms"]
    print(
        f"{args.engine}: GET p50/p99 quiet {q['p50_ms']:.1f}/{q['p99_ms']:.1f} ms, under {args.threads} threads"
        f" of bad logins {a['p50_ms']:.1f}/{a['p99_ms']:.1f} ms: p99 ratio {result['p99_ratio']:.2f}"
        f" (target ≤ {TARGET});"
        f" attack answers {result['attack_statuses']}"
    )
    if args.json is not None:
        out = Path(args.json)
        if out.is_dir() or not out.suffix:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            out = out / f"login-stall-{args.engine}-{stamp}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
