"""Runs jobs one at a time on a background thread, recording progress in the job row.

Each progress update and the final state are written in transactions of their own, so
`GET /jobs/{id}` sees them while the job runs. Jobs must be idempotent: a job that a
crash interrupted is marked `interrupted` at the next start and requested again (the
maintenance jobs by the service itself, `registry.maintenance.resume_interrupted`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.clock import Clock
from registry.db import transaction
from registry.jobs.models import Job, JobStatus

log = logging.getLogger("registry.jobs")
Progress = Callable[[int, int], None]
Work = Callable[[Progress], int]
# Progress rows are written at most this often; the final count is always written.
PROGRESS_INTERVAL_S = 0.5


def create_job(session: Session, clock: Clock, *, kind: str, requested_by: str | None) -> Job:
    job = Job(kind=kind, status=JobStatus.QUEUED, requested_by=requested_by, created_at=clock.now())
    session.add(job)
    session.flush()
    return job


def list_jobs(
    session: Session,
    *,
    kind: str | None,
    status: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Job]:
    """Newest first; `kind` exact, or a prefix when it ends in `:`; `before` is the position
    (created_at, id) of the last job of the previous page."""
    query = select(Job)
    if kind is not None:
        query = query.where(
            col(Job.kind).startswith(kind, autoescape=True) if kind.endswith(":") else col(Job.kind) == kind
        )
    if status is not None:
        query = query.where(col(Job.status) == status)
    if before is not None:
        at, job_id = before
        query = query.where(sa.or_(col(Job.created_at) < at, sa.and_(col(Job.created_at) == at, col(Job.id) < job_id)))
    return list(session.exec(query.order_by(col(Job.created_at).desc(), col(Job.id).desc()).limit(limit)))


def mark_interrupted(engine: Engine, clock: Clock) -> list[tuple[str, bool]]:
    """At startup: jobs left queued or running belonged to a process that is gone. Returns
    (kind, whether it had started) for each job so marked."""
    unfinished = Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])  # type: ignore[attr-defined]
    with transaction(engine) as session:
        jobs = [
            (kind, status == JobStatus.RUNNING)
            for kind, status in session.exec(select(Job.kind, Job.status).where(unfinished))
        ]
        session.execute(sa.update(Job).where(unfinished).values(status=JobStatus.INTERRUPTED, finished_at=clock.now()))
        return jobs


class JobRunner:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine, self.clock = engine, clock
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-job")
        self._futures: dict[uuid.UUID, Future[str]] = {}
        self._lock = threading.Lock()

    def submit(self, job_id: uuid.UUID, work: Work) -> None:
        """Call after the transaction that created the job row has committed."""
        with self._lock:
            try:
                self._futures[job_id] = self._pool.submit(self.run, job_id, work)
            except RuntimeError:  # shutting down: say so in the row; the job is requested again
                self._set(job_id, status=JobStatus.INTERRUPTED, finished_at=self.clock.now())
                raise

    def wait(self, job_id: uuid.UUID, timeout: float | None = None) -> None:
        future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _set(self, job_id: uuid.UUID, **values: object) -> None:
        with transaction(self.engine) as session:
            session.execute(sa.update(Job).where(col(Job.id) == job_id).values(**values))

    def run(self, job_id: uuid.UUID, work: Work) -> str:
        """Runs the job here, in the caller's thread (the scheduler's sweeps); its final status."""
        self._set(job_id, status=JobStatus.RUNNING)
        last = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_INTERVAL_S or done >= total:
                last = now
                self._set(job_id, done=done, total=total)

        try:
            count = work(progress)
        except Exception as exc:
            log.error("job failed", extra={"job_id": str(job_id), "error": type(exc).__name__})
            self._set(job_id, status=JobStatus.FAILED, error=type(exc).__name__, finished_at=self.clock.now())
            return JobStatus.FAILED
        self._set(job_id, status=JobStatus.DONE, done=count, total=count, finished_at=self.clock.now())
        return JobStatus.DONE
