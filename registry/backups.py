"""Backups and restores of the embedded default (SQLite): `registry backup` copies the live
database with SQLite's online backup (consistent while the service runs: pages are copied
under a read transaction), and `registry restore` writes a backup over the database and then
replays the erasure journal (`registry.erasures`), so a person erased after the backup was
taken stays erased. PostgreSQL is backed up with pgBackRest (docs/operations.md)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from registry.errors import ConfigurationError

__all__ = ["backup", "restore_file", "sqlite_path"]


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise ConfigurationError(
            "registry backup and restore are for the embedded SQLite database; back PostgreSQL up with pgBackRest "
            "(docs/operations.md)"
        )
    return Path(url.database)


def backup(engine: Engine, out: Path) -> int:
    """Copy the live database to `out` (a new 0600 file); returns its size in bytes."""
    sqlite_path(str(engine.url))
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never over another file
    os.close(fd)
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        with sqlite3.connect(out) as target:
            source.backup(target)
        target.close()
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    finally:
        raw.close()
    return out.stat().st_size


def restore_file(backup_file: Path, database_url: str) -> None:
    """Write `backup_file` over the database (the service stopped). The backup is checked
    first (`PRAGMA integrity_check`); the database is replaced page by page through SQLite's
    backup, so its own journal mode and file stay."""
    target_path = sqlite_path(database_url)
    source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        try:
            verdict = source.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError:
            verdict = None
        if verdict is None or verdict[0] != "ok":
            raise ConfigurationError(f"{backup_file} is not an intact SQLite database")
        target = sqlite3.connect(target_path)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
