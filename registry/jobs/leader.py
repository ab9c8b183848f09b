"""Leader election for the scheduler: of every process serving one database, one leads.

PostgreSQL: a session advisory lock, held on a connection of the leader's own for as
long as it leads; a process that dies loses its connection, and with it the lock, at
once. SQLite: a lease row renewed on each tick and taken over only once it has expired
(on the injected clock), written under SQLite's database write lock.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from registry.clock import Clock
from registry.db import is_sqlite, transaction
from registry.jobs.models import SchedulerLease

# pg_try_advisory_lock key: "scheduler" as a stable 63-bit number (the sequencer's differs).
SCHEDULER_LOCK = 0x5343484544554C52
LEASE = "scheduler"


class Leadership:
    """`lead()` before each tick: True while this process is the leader. `release()` on
    shutdown hands leadership on at once instead of after the lease."""

    def __init__(self, engine: Engine, clock: Clock, *, lease_s: float) -> None:
        self.engine, self.clock, self.lease = engine, clock, timedelta(seconds=lease_s)
        self.holder = f"{uuid.uuid4()}"
        self._held: sa.Connection | None = None  # PostgreSQL: the connection holding the lock

    def lead(self) -> bool:
        return self._lease() if is_sqlite(self.engine) else self._advisory_lock()

    def release(self) -> None:
        if is_sqlite(self.engine):
            with transaction(self.engine) as session:
                mine = sa.and_(col(SchedulerLease.name) == LEASE, col(SchedulerLease.holder) == self.holder)
                session.execute(sa.update(SchedulerLease).where(mine).values(expires_at=self.clock.now()))
            return
        if self._held is not None:
            held, self._held = self._held, None
            try:
                held.execute(sa.select(sa.func.pg_advisory_unlock(SCHEDULER_LOCK)))
            finally:
                held.close()

    def _lease(self) -> bool:
        now = self.clock.now()
        with transaction(self.engine) as session:  # BEGIN IMMEDIATE: one writer decides
            lease = session.get(SchedulerLease, LEASE)
            if lease is None:
                session.add(SchedulerLease(name=LEASE, holder=self.holder, expires_at=now + self.lease))
                return True
            # Another holder's lease runs until it expires, but never longer than one lease
            # from now: a far-off expiry (a clock that ran ahead, a row written outside the
            # service) would otherwise hold leadership, and every sweep, for good.
            if lease.holder != self.holder and now < lease.expires_at <= now + self.lease:
                return False
            lease.holder, lease.expires_at = self.holder, now + self.lease
            return True

    def _advisory_lock(self) -> bool:
        if self._held is not None:
            try:
                self._held.execute(sa.text("SELECT 1"))
                return True
            except sa.exc.DBAPIError:  # the connection is gone, and the lock with it
                self._held.invalidate()
                self._held = None
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if conn.execute(sa.select(sa.func.pg_try_advisory_lock(SCHEDULER_LOCK))).scalar():
            self._held = conn
            return True
        conn.close()
        return False
