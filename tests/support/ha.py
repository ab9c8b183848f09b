"""The HA cluster (deploy/ha/cluster) and a registry served on it, with writing clients
that send every write with an Idempotency-Key and again on a failure: shared by the
failover test and bench/ha_bench.py (which puts the same load on one plain server)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient

from registry.api.app import create_app
from registry.bootstrap import initialise
from registry.clock import SystemClock
from registry.people.synthetic import SyntheticPeople
from registry.runtime import open_runtime
from registry.settings import Settings
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user
from tests.support.server import Server

CLUSTER = Path(__file__).resolve().parents[2] / "deploy" / "ha" / "cluster"
TOOLS = ("patroni", "patronictl", "etcd", "etcdctl")
Login = Callable[[str, str, str], str]  # (user, password, database) -> URL


def available() -> bool:
    return all(shutil.which(tool) for tool in TOOLS)


def run_cluster(*args: str) -> str:
    done = subprocess.run([str(CLUSTER), *args], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _free_base() -> int:
    """A base port whose cluster ports (base+1..3, +11..13, +21..22) are all free."""
    for _ in range(50):
        base = 20000 + secrets.randbelow(2000) * 10
        try:
            for port in (base + n for n in (1, 2, 3, 11, 12, 13, 21, 22)):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports for the cluster")


@dataclass(frozen=True)
class Cluster:
    directory: Path
    base: int

    @property
    def secrets(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in (self.directory / "secrets").read_text().split())

    def login(self, user: str, password: str, database: str) -> str:
        """A multi-host URL that finds whichever node is primary."""
        hosts = "&".join(f"host=127.0.0.1:{self.base + n}" for n in (1, 2, 3))
        return f"postgresql+psycopg://{user}:{password}@/{database}?{hosts}&target_session_attrs=read-write"

    def node_url(self, node: str, *, password: bool = True) -> str:
        login = f"postgres:{self.secrets['SUPERUSER_PASSWORD']}" if password else "postgres"
        return f"postgresql+psycopg://{login}@127.0.0.1:{self.base + int(node.removeprefix('node'))}/postgres"

    def leader(self) -> str:
        return run_cluster("leader", str(self.directory)).strip()


@contextmanager
def cluster() -> Iterator[Cluster]:
    # Not under pytest's 0700 temporary root: the servers run as `postgres`.
    running = Cluster(Path(tempfile.mkdtemp(prefix="registry-ha-")), _free_base())
    run_cluster("start", str(running.directory), str(running.base))
    try:
        yield running
    finally:
        run_cluster("stop", str(running.directory))
        shutil.rmtree(running.directory, ignore_errors=True)


def deploy(login: Login, superuser_password: str, data_dir: Path) -> tuple[Settings, tuple[str, str]]:
    """What a DBA and `registry init` do: an owner and a service login with passwords, a
    database the owner owns, the schema, the bootstrap administrator."""
    superuser = sa.create_engine(login("postgres", superuser_password, "postgres"))
    owner_pw, service_pw = secrets.token_hex(16), secrets.token_hex(16)
    with superuser.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"CREATE ROLE reg_owner LOGIN PASSWORD '{owner_pw}'")
        conn.exec_driver_sql(f"CREATE ROLE reg_service LOGIN PASSWORD '{service_pw}'")
        conn.exec_driver_sql("CREATE DATABASE registry OWNER reg_owner")
    superuser.dispose()
    settings = Settings(
        data_dir=data_dir,
        database_url=login("reg_service", service_pw, "registry"),
        migration_database_url=login("reg_owner", owner_pw, "registry"),
        database_role="reg_service",
        profile="dev",
    )
    admin = initialise(settings, clock=SystemClock())
    assert admin.admin_username and admin.admin_password
    return settings, (admin.admin_username, admin.admin_password)


def serve(settings: Settings, admin: tuple[str, str], log_path: Path) -> Server:
    """`registry serve` on the deployment, with an officer `police.ha` to write as."""
    runtime = open_runtime(settings)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        head = as_user(client, *admin)
        create_tree(client, head)
        create_user(client, head, "police.ha", ["police"], "320571")
    runtime.close()
    env = {
        **os.environ,
        "REGISTRY_DATA_DIR": str(settings.data_dir),
        "REGISTRY_DATABASE_URL": settings.database_url,
        "REGISTRY_MIGRATION_DATABASE_URL": settings.migration_database_url.get_secret_value(),
        "REGISTRY_DATABASE_ROLE": settings.database_role,
        "REGISTRY_PROFILE": "dev",
    }
    server = Server(env, log_path)
    server.start()
    return server


@dataclass
class Writers:
    """`count` clients creating persons as fast as they are answered. Every write carries
    an Idempotency-Key and is sent again with it on a 5xx or a broken connection until it
    is acknowledged (201, or 303: done before); any other answer stops its client and is
    kept in `failures`."""

    base_url: str
    count: int = 8
    acked: list[tuple[float, str, str]] = field(default_factory=list)  # (when, key, person id)
    retries: int = 0
    replays: int = 0
    failures: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock, self._stop = threading.Lock(), threading.Event()
        with httpx.Client(base_url=self.base_url) as http:
            self._headers = as_user(http, "police.ha", STRONG_PASSWORD) | {"X-Purpose": "registration"}
        self._threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(self.count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> float:
        """Stop after the writes in flight; returns when the stop was asked."""
        stopped_at = time.monotonic()
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self._threads)
        return stopped_at

    def _run(self, k: int) -> None:
        try:
            self._write(k)
        except BaseException as exc:
            with self._lock:
                self.failures.append(exc)

    def _write(self, k: int) -> None:
        people = SyntheticPeople(4000 + k)
        with httpx.Client(base_url=self.base_url, timeout=20) as http:
            for i in range(1_000_000):
                if self._stop.is_set():
                    return
                person, key = people.person(), f"client{k}-{i}"
                body = {"id_number": person.id_number, "name": person.name}
                while True:  # the same key until the write is acknowledged
                    try:
                        answer = http.post(
                            "/api/v1/persons", json=body, headers=self._headers | {"Idempotency-Key": key}
                        )
                    except httpx.TransportError:
                        answer = None
                    if answer is None or answer.status_code >= 500:
                        with self._lock:
                            self.retries += 1
                        time.sleep(0.1)
                        continue
                    if answer.status_code == 201:
                        made = answer.json()["id"]
                    elif answer.status_code == 303:
                        made = answer.headers["Location"].rsplit("/", 1)[1]
                        with self._lock:
                            self.replays += 1
                    else:
                        raise AssertionError(f"{answer.status_code}: {answer.text}")
                    with self._lock:
                        self.acked.append((time.monotonic(), key, made))
                    break
