"""Backups and restores of the embedded default (SQLite): `registry backup` copies the live
database with SQLite's online backup (consistent while the service runs: pages are copied
under a read transaction), and `registry restore` writes a backup over the database and then
replays the erasure journal (`registry.erasures`), so a person erased after the backup was
taken stays erased. PostgreSQL is backed up with pgBackRest (docs/operations.md)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from registry.crypto.ciphertext import DecryptionError
from registry.crypto.keyring import Keyring
from registry.db import schema_is_current
from registry.errors import ConfigurationError

__all__ = ["backup", "check_backup", "restore_file", "sqlite_path"]


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
        with closing(sqlite3.connect(out)) as target:
            source.backup(target)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    finally:
        raw.close()
    return out.stat().st_size


def check_backup(backup_file: Path, keyring_of: Callable[[Engine], Keyring]) -> None:
    """Refuse what is not a backup of this registry at this schema: an intact SQLite file
    (`PRAGMA integrity_check`), the schema at head, and key tables whose index root this
    installation's key provider unwraps (another installation's backup does not)."""
    try:
        with closing(sqlite3.connect(f"{backup_file.resolve().as_uri()}?mode=ro", uri=True)) as probe:
            verdict = probe.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError:
        verdict = None
    if verdict is None or verdict[0] != "ok":
        raise ConfigurationError(f"{backup_file} is not an intact SQLite database")
    engine = sa.create_engine(f"sqlite:///{backup_file.resolve().as_uri()}?mode=ro&uri=true")
    try:
        try:
            current = schema_is_current(engine)
        except sa.exc.SQLAlchemyError:
            current = False
        if not current:
            raise ConfigurationError(f"{backup_file} is not a registry database at this version's schema")
        try:
            with Session(engine) as session:
                keyring = keyring_of(engine)
                roots = keyring.index_roots(session)
                for root in roots[:1]:
                    keyring.index_key(root, table="probe", field="probe")
        except (DecryptionError, sa.exc.SQLAlchemyError, ConfigurationError):
            roots = []
        if not roots:
            foreign = f"{backup_file} is not a backup of this registry: its keys are not this key provider's"
            raise ConfigurationError(foreign)
    finally:
        engine.dispose()


def restore_file(backup_file: Path, database_url: str, *, keep_current: Path | None = None) -> None:
    """Write `backup_file` (checked with `check_backup` first) over the database, the service
    stopped, page by page through SQLite's backup, so the database's own file stays. With
    `keep_current`, the database as it was is first copied there (a new 0600 file, a backup
    like any other: it holds the keys of whoever is erased later, so it is kept where backups
    are, not beside the key file)."""
    target_path = sqlite_path(database_url)
    if keep_current is not None and target_path.exists():
        fd = os.open(keep_current, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        with closing(sqlite3.connect(target_path)) as live, closing(sqlite3.connect(keep_current)) as copy:
            live.backup(copy)
    source = closing(sqlite3.connect(f"{backup_file.resolve().as_uri()}?mode=ro", uri=True))
    with source as backup_db, closing(sqlite3.connect(target_path)) as target:
        backup_db.backup(target)
