"""What an operator watches, read from the database on each scrape (`/metrics`): the audit
sequencer's backlog, checkpoint age, verify results, login failures and lockouts, jobs and
the scheduler's sweeps. Every figure is a count, an age or a state: no id, no value. Read
from the database, they are the same whichever process or worker answers the scrape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.access.models import UserAccount
from registry.audit.actions import Action, Outcome
from registry.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from registry.audit.sequencer import LOOKBACK_IDS
from registry.clock import Clock
from registry.db import read_only
from registry.jobs.models import Job, JobStatus, SweepRun


@dataclass(frozen=True)
class Figures:
    tree_size: int
    pending_entries: int  # committed, not yet sequenced (within the sequencer's window)
    oldest_pending_age_s: float  # 0 when none
    checkpoint_size: int
    checkpoint_age_s: float | None  # None: no checkpoint yet
    verify_runs: dict[str, int]  # outcome → count of recorded verify runs
    verify_last_ok: bool | None  # the newest recorded run (None: never run)
    verify_last_at: datetime | None
    login_failures: int  # refused password logins, ever (the log is append-only: a counter)
    lockouts: int
    accounts_locked: int  # now
    jobs: dict[tuple[str, str], int]  # (kind family, status) → count
    running_done: dict[str, tuple[int, int | None]]  # running job family → (done, total)
    sweeps_last_day: dict[str, date] = field(default_factory=dict)


def _count(session: Session, *where: sa.ColumnElement[bool]) -> int:
    return int(session.exec(select(sa.func.count()).select_from(AuditEntry).where(*where)).one())


def figures(engine: Engine, clock: Clock) -> Figures:
    now = clock.now()
    # A reader: on SQLite a WAL snapshot, never the one writer's lock (a scrape holds up no write).
    with Session(read_only(engine)) as session:
        size = session.exec(select(sa.func.max(AuditLeaf.seq))).one()
        newest_sequenced = session.exec(select(sa.func.max(AuditLeaf.entry_id))).one() or 0
        unsequenced = (
            select(sa.func.count(), sa.func.min(AuditEntry.at))
            .select_from(AuditEntry)
            .outerjoin(AuditLeaf, col(AuditLeaf.entry_id) == col(AuditEntry.id))
            .where(col(AuditEntry.id) > newest_sequenced - LOOKBACK_IDS, col(AuditLeaf.entry_id).is_(None))
        )
        pending, oldest = session.exec(unsequenced).one()
        checkpoint = session.exec(
            select(AuditCheckpoint.size, AuditCheckpoint.timestamp).order_by(col(AuditCheckpoint.size).desc()).limit(1)
        ).first()
        verify_runs = {
            outcome: n
            for outcome, n in session.exec(
                select(AuditEntry.outcome, sa.func.count())
                .where(col(AuditEntry.action) == Action.AUDIT_VERIFY)
                .group_by(AuditEntry.outcome)
            )
        }
        last_verify = session.exec(
            select(AuditEntry.outcome, AuditEntry.at)
            .where(col(AuditEntry.action) == Action.AUDIT_VERIFY)
            .order_by(col(AuditEntry.id).desc())
            .limit(1)
        ).first()
        jobs: dict[tuple[str, str], int] = {}
        for kind, status, n in session.exec(
            select(Job.kind, Job.status, sa.func.count()).group_by(Job.kind, Job.status)
        ):
            family = kind.split(":", 1)[0]  # `rotation:kek`, `sweep:retention`: the kind's family
            jobs[(family, status)] = jobs.get((family, status), 0) + n
        running: dict[str, tuple[int, int | None]] = {}
        for kind, done, total in session.exec(
            select(Job.kind, Job.done, Job.total).where(col(Job.status) == JobStatus.RUNNING)
        ):
            family = kind.split(":", 1)[0]
            d, t = running.get(family, (0, 0))
            running[family] = (d + done, None if total is None or t is None else t + total)
        sweeps = {
            name: day
            for name, day in session.exec(
                select(SweepRun.sweep, sa.func.max(SweepRun.day))
                .where(col(SweepRun.day) <= now.date())
                .group_by(SweepRun.sweep)
            )
        }
        return Figures(
            tree_size=0 if size is None else int(size) + 1,
            pending_entries=int(pending),
            oldest_pending_age_s=0.0 if oldest is None else max(0.0, (now - _aware(oldest)).total_seconds()),
            checkpoint_size=0 if checkpoint is None else checkpoint[0],
            checkpoint_age_s=None if checkpoint is None else max(0.0, now.timestamp() - checkpoint[1]),
            verify_runs=verify_runs,
            verify_last_ok=None if last_verify is None else last_verify[0] == Outcome.ALLOWED,
            verify_last_at=None if last_verify is None else _aware(last_verify[1]),
            login_failures=_count(
                session, col(AuditEntry.action) == Action.AUTH_LOGIN, col(AuditEntry.outcome) == Outcome.DENIED
            ),
            lockouts=_count(session, col(AuditEntry.action) == Action.AUTH_LOCKOUT),
            accounts_locked=int(
                session.exec(
                    select(sa.func.count()).select_from(UserAccount).where(col(UserAccount.locked_until) > now)
                ).one()
            ),
            jobs=jobs,
            running_done=running,
            sweeps_last_day=sweeps,
        )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
