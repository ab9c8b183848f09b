"""sqlmap (Debian's package) against a live registry: the person search and the list routes.

Starts `registry init` + `registry serve` in a temporary directory (SQLite, or a scratch
PostgreSQL database with `--engine postgresql`), seeds a few synthetic residents, logs in
as a police officer in scope, then points sqlmap at every parameter of:

- `POST /api/v1/persons/search` (JSON body: id_number; phone; name + birth_date),
- `GET /api/v1/residence-registrations`, `/residence-permits`, `/casefiles`
  (org_unit, status, cursor, limit).

Records per target sqlmap's verdict, the number of requests the server answered and how
many of them were 5xx, as JSON under bench/results/. Run from the project root:

    apt-get install -y sqlmap
    .venv/bin/python -m bench.sqlmap_probe [--engine sqlite|postgresql] [--level 3 --risk 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

RESULTS = Path(__file__).parent / "results"
REGISTRY = str(Path(sys.executable).parent / "registry")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "correct horse battery"
# (name, method, path with sqlmap's * markers, JSON body or None, purpose declared)
TARGETS = [
    (
        "persons/search id_number",
        "POST",
        "/api/v1/persons/search",
        '{"id_number": "11010519491231002X*"}',
        "registration",
    ),
    ("persons/search phone", "POST", "/api/v1/persons/search", '{"phone": "13800000000*"}', "registration"),
    (
        "persons/search name",
        "POST",
        "/api/v1/persons/search",
        '{"name": "测试*", "birth_date": "1990-01-01*"}',
        "registration",
    ),
    (
        "residence-registrations",
        "GET",
        "/api/v1/residence-registrations?org_unit=320571*&status=active*&limit=5*",
        None,
        "registration",
    ),
    ("residence-permits", "GET", "/api/v1/residence-permits?org_unit=320571*&status=issued*", None, "registration"),
    (
        "casefiles",
        "GET",
        "/api/v1/casefiles?kind=drug_rehabilitation*&status=active*&org_unit=320571*",
        None,
        "supervision",
    ),
    ("list cursor", "GET", "/api/v1/residence-registrations?cursor=abc*", None, "registration"),
]
VERDICTS = {
    "not injectable": re.compile(r"all tested parameters do not appear to be injectable"),
    "injectable": re.compile(r"is vulnerable|sqlmap identified the following injection point"),
}


@contextmanager
def _database(engine: str, data: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{data / 'registry.db'}"
        return
    name = f"registry_sqlmap_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _init(env: dict[str, str], persons: int) -> tuple[str, str]:
    """`registry init` (the admin's password is printed once) and `registry demo seed`."""
    first = subprocess.run([REGISTRY, "init"], env=env, capture_output=True, text=True, timeout=300, check=True)
    match = re.search(r"username (\S+) password (\S+)", first.stderr)
    assert match, "init printed no bootstrap administrator"
    seed = [REGISTRY, "demo", "seed", "--persons", str(persons)]
    subprocess.run(seed, env=env, capture_output=True, timeout=900, check=True)
    return match.group(1), match.group(2)


@contextmanager
def _serving(env: dict[str, str], log: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with log.open("ab") as out:
        server = subprocess.Popen(
            [REGISTRY, "serve", "--port", str(port)], env=env, stdout=out, stderr=out, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(base):
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _statuses(log: Path) -> Counter[int]:
    """Status codes from the server's JSON access log (one line per request)."""
    counts: Counter[int] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"status"' in line:
            status = json.loads(line).get("status")
            if isinstance(status, int):
                counts[status] += 1
    return counts


def _police_token(base: str, admin: tuple[str, str]) -> str:
    form = {"grant_type": "password", "username": admin[0], "password": admin[1]}
    head = {"Authorization": "Bearer " + httpx.post(f"{base}/api/v1/auth/token", data=form).json()["access_token"]}
    body = {"username": "police.sqlmap", "display_name": "sqlmap", "roles": ["police"], "password": PASSWORD}
    made = httpx.post(f"{base}/api/v1/users", json=body | {"org_unit": "320571"}, headers=head)
    assert made.status_code == 201, made.text
    form = {"grant_type": "password", "username": "police.sqlmap", "password": PASSWORD}
    return httpx.post(f"{base}/api/v1/auth/token", data=form).json()["access_token"]


def _sqlmap(base: str, token: str, target: tuple, args, out: Path) -> tuple[str, str]:
    _, method, path, data, purpose = target
    headers = f"Authorization: Bearer {token}\nX-Purpose: {purpose}"
    if data is not None:
        headers += "\nContent-Type: application/json"
    command = ["sqlmap", "-u", base + path, "--method", method, "--headers", headers, "--batch", "--flush-session"]
    command += [f"--level={args.level}", f"--risk={args.risk}", "--threads=1", "--timeout=10", "--retries=1"]
    command += ["--output-dir", str(out), "--disable-coloring"]
    if data is not None:
        command += ["--data", data]
    run = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    text = run.stdout + run.stderr
    for verdict, pattern in VERDICTS.items():
        if pattern.search(text):
            return verdict, text
    return "inconclusive", text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--risk", type=int, default=1)
    parser.add_argument("--persons", type=int, default=50)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per sqlmap target")
    args = parser.parse_args()
    if shutil.which("sqlmap") is None:
        sys.exit("sqlmap is not installed: apt-get install -y sqlmap")
    print("command:", " ".join([Path(sys.executable).name, "-m", "bench.sqlmap_probe", *sys.argv[1:]]))
    print("sqlmap:", subprocess.run(["sqlmap", "--version"], capture_output=True, text=True).stdout.strip())
    results = []
    with tempfile.TemporaryDirectory() as tmp, _database(args.engine, Path(tmp)) as database_url:
        work = Path(tmp)
        env = {**os.environ, "REGISTRY_DATA_DIR": str(work / "data"), "REGISTRY_DATABASE_URL": database_url}
        admin = _init(env, args.persons)
        log = work / "server.log"
        with _serving(env, log) as base:
            token = _police_token(base, admin)
            for target in TARGETS:
                started = time.monotonic()
                before = _statuses(log)
                verdict, text = _sqlmap(base, token, target, args, work / "sqlmap")
                statuses = _statuses(log) - before
                results.append(
                    {
                        "target": target[0],
                        "method": target[1],
                        "verdict": verdict,
                        "requests": sum(statuses.values()),
                        "statuses": {str(k): v for k, v in sorted(statuses.items())},
                        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
                        "seconds": round(time.monotonic() - started, 1),
                    }
                )
                print(json.dumps(results[-1], ensure_ascii=False))
                if verdict == "inconclusive":
                    print(text[-2000:])
    run = {
        "bench": "sqlmap_probe",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "engine": args.engine,
        "level": args.level,
        "risk": args.risk,
        "load_average": os.getloadavg(),
        "targets": results,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"sqlmap_probe-{args.engine}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(run, indent=2, ensure_ascii=False) + "\n")
    print("wrote", out)
    total: Counter[str] = Counter(r["verdict"] for r in results)
    print("summary:", dict(total), "server errors:", sum(r["server_errors"] for r in results))


if __name__ == "__main__":
    main()
