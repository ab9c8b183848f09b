"""Declaring a restore (PRIVACY.md §5): after a database has been put back to an earlier
point (`registry restore`, or pgBackRest for PostgreSQL), a security administrator logs in
at the console and the log starts a new epoch (`registry.audit.epochs`); the next
checkpoint carries the checkpoint sink across it. Until then the service refuses to start
on a log that does not extend the checkpoint the sink holds
(`registry.audit.epochs.undeclared_restore`)."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from registry.access.policy import Permission
from registry.accounts.console_login import Credentials, logged_in
from registry.audit.epochs import RestoreReason, RestoreStatement, declare_restore
from registry.context import actor_of
from registry.db import transaction
from registry.errors import RegistryError
from registry.runtime import Runtime

__all__ = ["declare"]


def declare(runtime: Runtime, credentials: Credentials, reason: RestoreReason) -> RestoreStatement:
    """The log as restored, sequenced; then, as the logged-in security administrator, the
    statement and the new epoch's first entry; then a checkpoint over it, which the sink
    takes across the epoch."""
    settings = runtime.settings
    runtime.sequencer.drain()  # what the restored database holds belongs to the old epoch
    failures: list[Callable[[Session], None]] = []
    try:
        with transaction(runtime.engine) as session:
            principal = logged_in(
                session, runtime.engine, runtime.clock, runtime.provider, settings, credentials, failures.append
            )
            principal.require(Permission.RESTORE_DECLARE)
            statement = declare_restore(
                session,
                signer=runtime.provider,
                clock=runtime.clock,
                origin=settings.audit_origin,
                actor=actor_of(principal),
                reason=reason,
                sink=runtime.sequencer.sink,
            )
    except RegistryError:
        with transaction(runtime.engine) as side:
            for remember in failures:
                remember(side)
        raise
    runtime.sequencer.drain()
    runtime.sequencer.checkpoint()
    return statement
