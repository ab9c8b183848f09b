"""What the scheduler runs, described once: each sweep's name, how often, why, and its work.

Every sweep is idempotent and works "as of today", so one run catches up with however
many days the service was down (a missed daily run runs once, not once per missed day).
Each run is a job (`GET /api/v1/jobs?kind=sweep:<name>`) started as `system`, audited
(`sweep:run`), and each of its effects is audited by the code that makes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from registry.audit.checkpoints import CheckpointError
from registry.audit.log import AuditTrail
from registry.audit.sink import CheckpointSink
from registry.audit.verify import Timeliness, VerifyReport, sink_witness, verify_log
from registry.audit.verify import record as record_verify
from registry.casefiles.deadlines import BATCH as DEADLINE_BATCH
from registry.casefiles.deadlines import mark_missing
from registry.credentials import keys as credential_keys
from registry.credentials.status import publish as publish_status_list
from registry.crypto.keyring import KeyStatus
from registry.crypto.models import DekRotation
from registry.crypto.rotation import Progress, pending_kek_rewraps
from registry.db import transaction
from registry.jobs.models import Job, JobStatus
from registry.jobs.runner import Work
from registry.maintenance import RotationTarget, retention_work, rotation_work
from registry.residence.policy import ResidencePolicy
from registry.runtime import Runtime
from registry.settings import Profile

WorkFor = Callable[[Runtime, AuditTrail, date], Work]
log = logging.getLogger("registry.sweeps")


@dataclass(frozen=True)
class Sweep:
    name: str
    every_days: int
    why: str
    work: WorkFor


def _deadlines(runtime: Runtime, trail: AuditTrail, on: date) -> Work:
    def run(progress: Progress) -> int:
        moved = 0
        while True:
            with transaction(runtime.engine) as session:
                batch = mark_missing(session, runtime.keyring, trail, on=on)
            moved += batch
            progress(moved, moved)
            if batch < DEADLINE_BATCH:
                return moved

    return run


def _retention(runtime: Runtime, trail: AuditTrail, on: date) -> Work:
    return retention_work(runtime, trail)


def _kek_rewraps_left(session: Session, runtime: Runtime) -> bool:
    """Data keys, index roots and the credential issuing keys still under an older KEK."""
    keyring = runtime.keyring
    return pending_kek_rewraps(session, keyring) + credential_keys.pending_rewraps(session, keyring) > 0


def _key_versions(runtime: Runtime, trail: AuditTrail, on: date) -> Work:
    """Finish what a rotation left: DEKs still wrapped under an older KEK, a DEK rotation
    not finished, an index root still `writing`. Never starts a new rotation, and leaves
    alone a rotation some process is running now."""

    def run(progress: Progress) -> int:
        with transaction(runtime.engine) as session:
            rotating = session.exec(
                select(Job.id).where(
                    col(Job.kind).startswith("rotation:"), col(Job.status).in_([JobStatus.QUEUED, JobStatus.RUNNING])
                )
            ).first()
            if rotating is not None:
                return 0
            unfinished = [
                target
                for target, left in (
                    (
                        RotationTarget.KEK,
                        pending_kek_rewraps(session, runtime.keyring)
                        + credential_keys.pending_rewraps(session, runtime.keyring)
                        > 0,
                    ),
                    (
                        RotationTarget.DEK,
                        session.exec(select(DekRotation.id).where(col(DekRotation.finished_at).is_(None))).first()
                        is not None,
                    ),
                    (
                        RotationTarget.INDEX,
                        any(r.status == KeyStatus.WRITING for r in runtime.keyring.index_roots(session)),
                    ),
                )
                if left
            ]
        return sum(rotation_work(runtime, target, resume=True)(progress) for target in unfinished)

    return run


def _audit_verify(runtime: Runtime, trail: AuditTrail, on: date) -> Work:
    """The whole log recomputed against its signed checkpoints and the sink's witness, and
    the result on the record (`audit:verify`), which `/metrics` and the alert rules read."""

    def run(progress: Progress) -> int:
        settings = runtime.settings
        public_key = runtime.provider.public_key()
        report = VerifyReport()
        try:
            sink = CheckpointSink(settings.checkpoint_sink, origin=settings.audit_origin, public_key=public_key)
            witness = sink_witness(sink, in_data_dir=settings.checkpoint_sink_in_data_dir)
        except (CheckpointError, OSError) as exc:
            report.fail(f"the checkpoint sink's note cannot be used as a witness ({type(exc).__name__})")
        else:
            report = verify_log(
                runtime.engine,
                public_key,
                settings.audit_origin,
                witnesses=() if witness is None else (witness,),
                timeliness=Timeliness(
                    now=runtime.clock.now(),
                    grace_s=settings.audit_checkpoint_grace_s,
                    checkpoint_interval_s=settings.audit_checkpoint_interval_s,
                ),
                progress=progress,
            )
            if settings.profile is Profile.PRODUCTION and not report.witnesses:
                # As `registry audit verify` requires there: a log checked only against itself
                # could have lost its tail with its checkpoints.
                report.fail("a witness is required: the checkpoint sink holds no checkpoint")
        with transaction(runtime.engine) as session:
            record_verify(session, trail, report)
        if not report.ok:
            log.error("the audit log did not verify", extra={"problems": len(report.problems)})
        return report.size

    return run


def _credential_status(runtime: Runtime, trail: AuditTrail, on: date) -> Work:
    """The credential status list follows the calendar: a permit whose anniversary passed
    unendorsed reads suspended from the next day, and an erased holder's credentials invalid."""

    def run(progress: Progress) -> int:
        with transaction(runtime.engine) as session:
            changed = publish_status_list(
                session,
                runtime.keyring,
                ResidencePolicy.from_settings(runtime.settings),
                issuer=runtime.settings.credential_issuer,
                now=runtime.clock.now(),
            )
        progress(1, 1)
        return int(changed)

    return run


SWEEPS = (
    Sweep(
        "deadlines",
        1,
        "社区矫正法 Art. 21, 30: a subject not reported by the deadline is missing, and searched for",
        _deadlines,
    ),
    Sweep(
        "retention",
        1,
        "DOMAIN.md retention; 社区矫正法 Art. 54: a minor's file sealed within 3 days of discharge",
        _retention,
    ),
    Sweep("key_versions", 1, "PRIVACY.md key rotation: no record stays under a key being retired", _key_versions),
    Sweep(
        "audit_verify",
        1,
        "PRIVACY.md §5: the log is recomputed and checked every day, not only when asked",
        _audit_verify,
    ),
    Sweep(
        "credential_status",
        1,
        "IETF Token Status List: the permit credentials' status follows each permit's state by date",
        _credential_status,
    ),
)
