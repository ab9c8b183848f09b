"""A real PostgreSQL server for the tests: the machine's own on 127.0.0.1:5432 when it
answers, else a throwaway cluster started here (as the `postgres` user when run as root,
since the server refuses to run as root) on a free loopback port. Tests of what a role
may do get a throwaway cluster of their own that asks every login for its password
(`password_server`): on a server that trusts every local login, roles bound nothing."""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ENV_URL = "REGISTRY_TEST_PG_URL"  # e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayServer:
    """`password`: the superuser's, and every login needs its own (scram-sha-256);
    None: every local login is trusted."""

    def __init__(self, *, password: str | None = None, options: str = "") -> None:
        self.password = password
        self.options = options  # more `-c name=value` server settings (the restore drill: archiving)
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries:
            raise RuntimeError("no PostgreSQL server binaries: install Debian's postgresql (see .ci/run)")
        self.bindir = Path(binaries[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="registry-pg-"))
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres")
            self.root.chmod(0o700)

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> str:
        data = self.root / "data"
        auth = ["--auth=trust"]
        pwfile = self.root / "superuser-password"
        if self.password is not None:
            pwfile.write_text(self.password + "\n")
            pwfile.chmod(0o600)
            if self.as_root:
                shutil.chown(pwfile, "postgres")
            auth = ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        try:
            self._run("initdb", "-D", str(data), "-U", "postgres", *auth, "-E", "UTF8", "--no-sync")
        finally:
            pwfile.unlink(missing_ok=True)
        self.start_server()
        login = "postgres" if self.password is None else f"postgres:{self.password}"
        return f"postgresql+psycopg://{login}@127.0.0.1:{self.port}/postgres"

    def start_server(self) -> None:
        """pg_ctl start on the data directory as it is (after initdb, or after a restore)."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c full_page_writes=off {self.options}"
        data = self.root / "data"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop_server(self) -> None:
        """An immediate stop, as a crash: the data directory stays."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "stop")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def admin_url() -> tuple[str, ThrowawayServer | None]:
    """The URL of a server to create test databases on, and the server if we started it."""
    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL], None
    machine = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    if _answers(machine):
        return machine, None
    server = ThrowawayServer()
    url = server.start()
    _wait_until_it_answers(url)
    return url, server


def _wait_until_it_answers(url: str) -> None:
    deadline = time.monotonic() + 30
    while not _answers(url):
        if time.monotonic() > deadline:
            raise RuntimeError("throwaway PostgreSQL did not start")
        time.sleep(0.2)


@contextlib.contextmanager
def password_server() -> Iterator[str]:
    """A throwaway cluster of its own where every login needs its password
    (scram-sha-256); yields the superuser's URL (with its password) and stops it."""
    server = ThrowawayServer(password=secrets.token_hex(16))  # hex: safe in a URL as is
    try:
        url = server.start()
        _wait_until_it_answers(url)
        yield url
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # never started: nothing to stop
            server.stop()


def run_admin(admin: str, statement: str) -> None:
    with psycopg.connect(admin.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(statement)


@contextlib.contextmanager
def scratch_database(admin: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """A database of its own (a copy of `template` if given), dropped afterwards; yields its URL."""
    name = f"{prefix}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:10]}"
    run_admin(admin, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        run_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
