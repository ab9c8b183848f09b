"""A throwaway PostgreSQL server whose WAL goes to a pgBackRest repository beside it
(deploy/pgbackrest), restored to a point after the database is lost: the PostgreSQL
restore drill and bench/backup_bench.py's PostgreSQL half."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

from tests.support import postgres

CONF = Path(__file__).resolve().parents[2] / "deploy" / "pgbackrest" / "pgbackrest.conf.in"


class Archived:
    """A throwaway server whose WAL goes to a pgBackRest repository beside it."""

    def __init__(self) -> None:
        self.server = postgres.ThrowawayServer()
        self.url = self.server.start()
        root = self.server.root
        self.config = root / "pgbackrest.conf"
        values = {
            "@REPO@": root / "repo",
            "@LOG@": root / "pgbr-log",
            "@LOCK@": root / "pgbr-lock",
            "@SPOOL@": root / "pgbr-spool",
            "@DATA@": root / "data",
            "@PORT@": self.server.port,
            "@SOCKET@": root,
            "@CIPHER_PASS@": secrets.token_hex(32),
        }
        text = CONF.read_text()
        for name, value in values.items():
            text = text.replace(name, str(value))
        self.config.write_text(text)
        self.config.chmod(0o600)  # it holds the repository's cipher pass
        if self.server.as_root:
            shutil.chown(self.config, "postgres")
        archive = f"pgbackrest --config={self.config} --stanza=registry archive-push %p"
        postgres.run_admin(self.url, "ALTER SYSTEM SET archive_mode = on")
        postgres.run_admin(self.url, f"ALTER SYSTEM SET archive_command = '{archive}'")
        self.server.stop_server()
        self.server.start_server()
        self.backrest("stanza-create")
        self.backrest("check")

    def backrest(self, *args: str) -> None:
        command = ["pgbackrest", f"--config={self.config}", "--stanza=registry", *args]
        if self.server.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    def archive_now(self) -> None:
        """Close the current WAL segment and wait until the archive holds it (`check` does both)."""
        self.backrest("check")

    def lose_and_restore_to(self, point: str) -> None:
        self.server.stop_server()
        shutil.rmtree(self.server.root / "data")  # the database is lost
        (self.server.root / "data").mkdir(mode=0o700)
        if self.server.as_root:
            shutil.chown(self.server.root / "data", "postgres")
        self.backrest("restore", "--type=name", f"--target={point}", "--target-action=promote")
        try:
            self.server.start_server()
        except subprocess.CalledProcessError:
            log = (self.server.root / "log").read_text(errors="replace")
            raise AssertionError(f"the restored server did not start: {log[-3000:]}") from None
        deadline = time.monotonic() + 60
        while True:  # recovery replays the archive up to the point, then promotes
            try:
                with sa.create_engine(self.url).connect() as conn:
                    if not conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar():
                        return
            except sa.exc.OperationalError:
                pass
            assert time.monotonic() < deadline, "the restored server did not finish recovery"
            time.sleep(0.2)
