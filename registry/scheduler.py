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
from sqlmodel import col, select

from registry.audit.actions import Action
from registry.audit.log import Actor, AuditTrail, Event
from registry.clock import today
from registry.db import transaction
from registry.jobs.leader import Leadership
from registry.jobs.models import SweepRun
from registry.jobs.runner import create_job
from registry.runtime import Runtime
from registry.sweeps import SWEEPS, Sweep

log = logging.getLogger("registry.scheduler")
SYSTEM = Actor("system")
RUNS = Counter("registry_sweep_runs_total", "Scheduled sweep runs, by sweep and final status", ["sweep", "status"])
LAST_DAY = Gauge("registry_sweep_last_day_timestamp_seconds", "The day of each sweep's newest run", ["sweep"])
LEADING = Gauge("registry_scheduler_leader", "1 while this process leads the scheduler")


class Scheduler:
    def __init__(self, runtime: Runtime, *, sweeps: Sequence[Sweep] = SWEEPS, lease_s: float = 600.0) -> None:
        self.runtime, self.sweeps = runtime, tuple(sweeps)
        self.leadership = Leadership(runtime.engine, runtime.clock, lease_s=lease_s)
        self.trail = AuditTrail(runtime.clock, SYSTEM)

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
                if last is not None and on < last + timedelta(days=sweep.every_days):
                    return None
                kind = f"sweep:{sweep.name}"
                job = create_job(session, self.runtime.clock, kind=kind, requested_by=SYSTEM.account_id)
                session.add(SweepRun(sweep=sweep.name, day=on, job_id=job.id))
                self.trail.append(
                    session, Event(Action.SWEEP_RUN, targets=(str(job.id), sweep.name), reason=f"day {on.isoformat()}")
                )
                session.flush()
                return job.id
        except sa.exc.IntegrityError:  # another process claimed the day first
            return None


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
        self.scheduler.leadership.release()
        LEADING.set(0)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.scheduler.tick()
            except Exception as exc:  # the next tick tries again; the job row says what failed
                log.error("scheduler tick failed", extra={"error": type(exc).__name__})
