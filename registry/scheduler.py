"""The scheduler inside `registry serve`: every process ticks, one leads, and each sweep
of `registry.sweeps.SWEEPS` runs once per due day on the injected clock.

A sweep's day is claimed by inserting its `sweep_run` row, unique per sweep and day, in
the transaction that creates the job and its `sweep:run` audit entry: a restart, a second
process or a tick that comes twice never runs a day twice. After downtime the next tick
runs each sweep once, for today: sweeps work as of today, so one run catches up.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from sqlmodel import Session, col, select

from registry.audit.actions import Action, Outcome
from registry.audit.log import Actor, AuditTrail, Event
from registry.audit.models import AuditEntry
from registry.clock import today
from registry.db import transaction
from registry.jobs.leader import Leadership
from registry.jobs.models import Job, SweepRun
from registry.jobs.runner import create_job
from registry.runtime import Runtime
from registry.sweeps import SWEEPS, Sweep

log = logging.getLogger("registry.scheduler")
SYSTEM = Actor("system")
RUNS = Counter("registry_sweep_runs_total", "Scheduled sweep runs, by sweep and final status", ["sweep", "status"])
LAST_DAY = Gauge("registry_sweep_last_day_timestamp_seconds", "The day of each sweep's newest run", ["sweep"])
FORGED = "sweep_run_forged"
LEADING = Gauge("registry_scheduler_leader", "1 while this process leads the scheduler")


class Scheduler:
    def __init__(self, runtime: Runtime, *, sweeps: Sequence[Sweep] = SWEEPS, lease_s: float = 600.0) -> None:
        self.runtime, self.sweeps = runtime, tuple(sweeps)
        self.leadership = Leadership(runtime.engine, runtime.clock, lease_s=lease_s)
        self.trail = AuditTrail(runtime.clock, SYSTEM)
        self._unclaimed: set[tuple[str, date]] = set()  # days run despite a forged claim

    def tick(self) -> list[uuid.UUID]:
        """Runs, here and in order, every sweep due today; the jobs run (none unless leading)."""
        ran: list[uuid.UUID] = []
        on = today(self.runtime.clock)
        for sweep in self.sweeps:
            leading = self.leadership.lead()  # renewed before each sweep: a long one keeps the lease
            LEADING.set(int(leading))
            if not leading:
                break
            job_id = self._claim(sweep, on)
            if job_id is None:
                continue
            status = self.runtime.jobs.run(job_id, sweep.work(self.runtime, self.trail, on))
            RUNS.labels(sweep.name, status).inc()
            LAST_DAY.labels(sweep.name).set(_timestamp(on))
            ran.append(job_id)
        return ran

    def _claim(self, sweep: Sweep, on: date) -> uuid.UUID | None:
        try:
            with transaction(self.runtime.engine) as session:
                # Rows dated after today (a clock that ran ahead, a row written outside the
                # service) never hold today's run back.
                last = session.exec(
                    select(sa.func.max(SweepRun.day)).where(col(SweepRun.sweep) == sweep.name, col(SweepRun.day) <= on)
                ).one()
                claim = True
                if last is not None and on < last + timedelta(days=sweep.every_days):
                    if last < on or (sweep.name, on) in self._unclaimed or _claimed_by_us(session, sweep, on):
                        return None
                    # Today's row is not a run of ours (written outside the service): run
                    # anyway, once, and put the forgery on the record.
                    self._unclaimed.add((sweep.name, on))
                    claim = False
                    self.trail.append(
                        session,
                        Event(
                            Action.INTEGRITY_FAILURE, Outcome.DENIED, targets=(sweep.name,), reason="sweep_run_forged"
                        ),
                    )
                    log.error("a sweep's day was claimed outside the service", extra={"sweep": sweep.name})
                kind = f"sweep:{sweep.name}"
                job = create_job(session, self.runtime.clock, kind=kind, requested_by=SYSTEM.account_id)
                if claim:
                    session.add(SweepRun(sweep=sweep.name, day=on, job_id=job.id))
                self.trail.append(
                    session, Event(Action.SWEEP_RUN, targets=(str(job.id), sweep.name), reason=f"day {on.isoformat()}")
                )
                session.flush()
                return job.id
        except sa.exc.IntegrityError:  # another process claimed the day first
            return None


def _claimed_by_us(session: Session, sweep: Sweep, on: date) -> bool:
    """Today's `sweep_run` row names a job of this sweep that the scheduler started, with its
    `sweep:run` audit entry (a row inserted by hand has neither)."""
    row = session.exec(select(SweepRun).where(col(SweepRun.sweep) == sweep.name, col(SweepRun.day) == on)).first()
    job = None if row is None else session.get(Job, row.job_id)
    if job is None or job.kind != f"sweep:{sweep.name}" or job.requested_by != SYSTEM.account_id:
        return False
    started = session.exec(
        select(AuditEntry.targets).where(
            col(AuditEntry.action) == Action.SWEEP_RUN, col(AuditEntry.reason) == f"day {on.isoformat()}"
        )
    ).all()
    return any(isinstance(t, list) and t[:2] == [str(job.id), sweep.name] for t in started)


def _timestamp(on: date) -> float:
    return float((on - date(1970, 1, 1)).days * 86_400)


class SchedulerThread:
    """Ticks every `interval_s` until stopped; a failed tick is logged (its class only) and
    the next one tries again."""

    def __init__(self, scheduler: Scheduler, *, interval_s: float) -> None:
        self.scheduler, self.interval_s = scheduler, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="registry-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        if not self._thread.is_alive():  # a sweep still running keeps its lease (and its connection)
            self.scheduler.leadership.release()
        LEADING.set(0)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.scheduler.tick()
            except Exception as exc:  # the next tick tries again; the job row says what failed
                log.error("scheduler tick failed", extra={"error": type(exc).__name__})
