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
from registry.audit.actions import Action, Outcome
from registry.audit.checkpoints import CheckpointError
from registry.audit.epochs import RestoreReason, RestoreStatement, declare_restore, restore_point
from registry.audit.log import AuditTrail, Event
from registry.audit.tree import tree_size
from registry.audit.verify import Timeliness, Witness, verify_log
from registry.context import actor_of
from registry.db import transaction
from registry.errors import ConfigurationError, Forbidden, RegistryError
from registry.runtime import Runtime

__all__ = ["declare"]


def declare(runtime: Runtime, credentials: Credentials, reason: RestoreReason) -> RestoreStatement:
    """The log as restored, sequenced and verified as of its restore point; then, as the
    logged-in security administrator, the statement and the new epoch's first entry; then
    a checkpoint over it, which the sink takes across the epoch."""
    settings = runtime.settings
    runtime.sequencer.drain()  # what the restored database holds belongs to the old epoch
    _check_restored(runtime)
    failures: list[Callable[[Session], None]] = []
    try:
        with transaction(runtime.engine) as session:
            principal = logged_in(
                session, runtime.engine, runtime.clock, runtime.provider, settings, credentials, failures.append
            )
            try:
                principal.require(Permission.RESTORE_DECLARE)
            except Forbidden as exc:
                refused = Event(Action.ACCESS_DENIED, Outcome.DENIED, reason=exc.detail[:200])
                trail = AuditTrail(runtime.clock, actor_of(principal))
                failures.append(lambda side: trail.append(side, refused))
                raise
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
    sink = runtime.sequencer.sink
    if sink is not None and statement.superseded is not None:
        held = sink.newest()
        # Not moved: it still holds the checkpoint the restore superseded (or nothing newer).
        if held is None or held == statement.superseded or held.size <= statement.restored_size:
            raise ConfigurationError(
                f"the restore is declared (epoch {statement.epoch}) but the checkpoint sink ({sink}) could not be "
                "moved across it: make it writable and run `registry audit checkpoint`"
            )
    return statement


def _check_restored(runtime: Runtime) -> None:
    """A restore keeps only what verifies: the restored log recomputed and checked against
    its own signed checkpoints, none older than the grace period left unsigned as of the
    restore point, and the sink's checkpoint where it lies within the restored log. Else a
    rewrite of the history the restore keeps could be declared with it."""
    settings, public_key = runtime.settings, runtime.provider.public_key()
    sink = runtime.sequencer.sink
    with transaction(runtime.engine) as session:
        size = tree_size(session)
        point = restore_point(session, size)
    try:
        held = None if sink is None else sink.newest()
    except CheckpointError as exc:
        raise ConfigurationError(f"the checkpoint sink's note does not verify ({exc})") from None
    witnesses = [Witness("the checkpoint sink", held)] if held is not None and held.size <= size else []
    timeliness = Timeliness(
        now=point or runtime.clock.now(),
        grace_s=settings.audit_checkpoint_grace_s,
        checkpoint_interval_s=settings.audit_checkpoint_interval_s,
    )
    report = verify_log(runtime.engine, public_key, settings.audit_origin, witnesses=witnesses, timeliness=timeliness)
    if not report.ok:
        raise ConfigurationError(
            f"the restored audit log does not verify, so no restore is declared: {report.problems[0]}"
        )
