"""`registry init`: data directory, key provider, token secret, schema, first administrator.

Idempotent: a second run only applies pending migrations and creates nothing twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlmodel import select

from registry.access import passwords
from registry.access.models import UserAccount
from registry.accounts import seal
from registry.accounts.users import create_bootstrap_admin
from registry.audit.actions import Action
from registry.audit.log import AuditTrail, Event
from registry.clock import Clock, SystemClock
from registry.crypto.blind_index import default_bits
from registry.crypto.keyring import Keyring, KeyStatus, record_suite
from registry.crypto.providers import create_provider, key_file_path, open_provider
from registry.crypto.suites import Suite
from registry.db import create_engine, migrate, transaction
from registry.runtime import write_secret_file
from registry.settings import Settings

BOOTSTRAP_USERNAME = "admin"


@dataclass(frozen=True)
class InitResult:
    admin_username: str | None
    # Shown once by the CLI and stored nowhere but as a hash.
    admin_password: str | None


def initialise(settings: Settings, *, clock: Clock | None = None, suite: Suite = Suite.AES256GCM) -> InitResult:
    clock = clock or SystemClock()
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # `file` refuses to overwrite a key file; the other kinds create only what is absent.
    if settings.key_provider == "file" and key_file_path(settings.data_dir).exists():
        provider = open_provider("file", data_dir=settings.data_dir, environ=os.environ)
    else:
        provider = create_provider(settings.key_provider, data_dir=settings.data_dir, environ=os.environ)
    if not settings.token_secret.get_secret_value() and not settings.token_secret_file.exists():
        write_secret_file(settings.token_secret_file)
    # The owner's login (PostgreSQL): the only one that may change the schema and grants.
    engine = create_engine(settings.owner_database_url)
    try:
        migrate(
            engine,
            service_role=settings.database_role,
            # A separate owner login means production-like: a DBA made the service role.
            create_service_role=not settings.migration_database_url.get_secret_value(),
        )
        with transaction(engine) as session:
            record_suite(session, clock, suite=suite, index_bits=default_bits())
            keyring = Keyring(provider, suite, clock, index_bits=default_bits())
            if not keyring.index_roots(session):
                keyring.add_index_root(session, status=KeyStatus.ACTIVE)
        seal.use(engine, keyring)
        with transaction(engine) as session:
            if session.exec(select(UserAccount.id).limit(1)).first() is not None:
                made = None
            else:
                password = passwords.generate_password()
                admin = create_bootstrap_admin(session, clock, username=BOOTSTRAP_USERNAME, password=password)
                AuditTrail(clock).append(session, Event(Action.SYSTEM_INIT, targets=(str(admin.id),)))
                made = InitResult(BOOTSTRAP_USERNAME, password)
        # An upgrade's accounts (migration 0018) are sealed once; a new database's window closes now.
        seal.initialise_once(engine, keyring, clock)
        return made or InitResult(None, None)
    finally:
        engine.dispose()
