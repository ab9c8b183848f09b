"""What a running service holds for its lifetime: settings, engine, clock, keys."""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from registry import runlock
from registry.accounts import seal
from registry.audit.epochs import undeclared_restore
from registry.audit.sequencer import Sequencer
from registry.audit.sink import CheckpointSink
from registry.clock import Clock, SystemClock
from registry.crypto.erasure_journal import ErasureJournal
from registry.crypto.keyring import Keyring, configured_suite
from registry.crypto.providers import KeyProvider, open_provider
from registry.db import check_private_storage, check_service_login, create_engine, read_only, transaction
from registry.errors import ConfigurationError
from registry.jobs.runner import JobRunner
from registry.settings import Profile, Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    provider: KeyProvider
    keyring: Keyring
    jobs: JobRunner
    sequencer: Sequencer
    token_secret: bytes = field(repr=False)
    clock: Clock = field(default_factory=SystemClock)
    run_lock: int | None = field(default=None, repr=False)  # `registry.runlock.shared`'s descriptor

    def close(self) -> None:
        """Release the database and the run lock (a process that ends does both anyway)."""
        self.engine.dispose()
        if self.run_lock is not None:
            os.close(self.run_lock)
            self.run_lock = None

    @property
    def token_lifetime(self) -> timedelta:
        return timedelta(seconds=self.settings.token_lifetime_seconds)


def write_secret_file(path: Path) -> None:
    """A new random secret in a 0600 file; refuses to overwrite one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))


def read_secret_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigurationError(f"{path} is missing: run `registry init` first") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(f"{path} is readable by others: run `chmod 600 {path}`")
    return path.read_bytes().strip()


def open_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    recovering: bool = False,
) -> Runtime:
    """Everything a command or the service runs on. A database behind the erasure journal
    or the checkpoint sink (a restored backup) is refused unless `recovering`: the
    commands that replay, declare or inspect a restore."""
    if settings.profile is Profile.PRODUCTION:
        check_private_storage(settings.resolved_database_url, settings.data_dir)
    # Not while a restore runs; a recovering command is a restore's own step, or a reader.
    lock = None if recovering else runlock.shared(settings.data_dir)
    try:
        return _open(settings, clock, engine, recovering, lock)
    except BaseException:
        if lock is not None:
            os.close(lock)
        raise


def _open(
    settings: Settings, clock: Clock | None, engine: Engine | None, recovering: bool, lock: int | None
) -> Runtime:
    secret = settings.token_secret.get_secret_value().encode() or read_secret_file(settings.token_secret_file)
    clock = clock or SystemClock()
    engine = engine or create_engine(settings.service_database_url)
    check_service_login(engine, settings.database_role)  # PostgreSQL: never as the owner
    provider = open_provider(settings.key_provider, data_dir=settings.data_dir, environ=os.environ)
    with transaction(engine) as session:
        suite, index_bits = configured_suite(session)
    sink = CheckpointSink(settings.checkpoint_sink, origin=settings.audit_origin, public_key=provider.public_key())
    journal = ErasureJournal(settings.erasure_journal_path, provider)
    with transaction(engine) as session:
        journal.flush(session)  # erasures committed but not journaled yet (a crash between)
    with transaction(engine) as session:
        behind = journal.behind(session)  # a journal deleted, cut short or altered stops here
    if behind and not recovering:
        # A restored backup: it predates erasures, and may hold the erased persons' keys.
        raise ConfigurationError(
            "the database predates erasures in the erasure journal (a restored backup?): run "
            "`registry erasures replay` before serving"
        )
    if not recovering:
        with Session(read_only(engine)) as session:
            # A restored backup's log is shorter than what the sink witnessed: declared first.
            gap = undeclared_restore(session, sink)
        if gap is not None:
            raise ConfigurationError(gap)
    keyring = Keyring(provider, suite, clock, index_bits=index_bits, journal=journal)
    seal.use(engine, keyring)  # account writes on this engine are sealed with its keys
    seal.initialise_once(engine, keyring, clock)  # rows from before migration 0018, once
    return Runtime(
        settings=settings,
        engine=engine,
        provider=provider,
        keyring=keyring,
        jobs=JobRunner(engine, clock),
        sequencer=Sequencer(engine, provider, clock, origin=settings.audit_origin, sink=sink),
        token_secret=secret,
        clock=clock,
        run_lock=lock,
    )
