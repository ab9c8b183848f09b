"""Maintenance work shared by the CLI and the API: key rotations and retention runs, as
runnable jobs, and their resumption after a crash."""

from __future__ import annotations

import uuid
from enum import StrEnum

import registry.models  # noqa: F401  (every model module, so every descriptor, is registered)
from registry.accounts import seal
from registry.audit.actions import Action
from registry.audit.log import Actor, AuditTrail, Event
from registry.casefiles.retention import RetentionPolicy
from registry.casefiles.sealing import run_retention
from registry.credentials import keys as credential_keys
from registry.crypto.keyring import KeyStatus
from registry.crypto.rotation import Progress, rotate_deks, rotate_index, rotate_kek
from registry.crypto.sealed import SealedTable, descriptors
from registry.db import transaction
from registry.jobs.runner import Work, create_job, mark_interrupted
from registry.people.retention import BATCH as IDENTITY_BATCH
from registry.people.retention import erase_unlinked
from registry.residence.retention import erase_expired
from registry.runtime import Runtime


def sealed_tables() -> list[SealedTable]:
    """Every sealed table, from the descriptors' registry: what rotation sweeps."""
    return list(descriptors())


class RotationTarget(StrEnum):
    KEK = "kek"
    DEK = "dek"
    INDEX = "index"
    # The permit credential's issuing key: a new one signs from now on; the one before is
    # retired but stays published while a credential it signed may live.
    CREDENTIAL = "credential"


def rotation_work(runtime: Runtime, target: RotationTarget, *, resume: bool = False) -> Work:
    """The rotation as a function of a progress callback; idempotent, so safe to re-run."""

    def run(progress: Progress) -> int:
        if target is RotationTarget.KEK:
            done = rotate_kek(runtime.engine, runtime.keyring, progress=progress, new_version=not resume)
            with transaction(runtime.engine) as session:  # the credential issuing keys too
                done += credential_keys.rewrap(session, runtime.keyring, below=runtime.keyring.provider.kek_version)
            return done
        if target is RotationTarget.CREDENTIAL:
            with transaction(runtime.engine) as session:
                credential_keys.create(session, runtime.keyring, now=runtime.clock.now())
            progress(1, 1)
            return 1
        if target is RotationTarget.DEK:
            return rotate_deks(runtime.engine, runtime.keyring, sealed_tables(), progress=progress)
        _reseal_accounts_under_new_index_root(runtime)
        # Once more just before the old root goes: an account written meanwhile by a
        # transaction that began before the new root existed is moved over too.
        return rotate_index(
            runtime.engine,
            runtime.keyring,
            sealed_tables(),
            progress=progress,
            before_retire=lambda: seal.reseal_accounts(runtime.engine, runtime.keyring),
        )

    return run


def _reseal_accounts_under_new_index_root(runtime: Runtime) -> None:
    """Account seals use the newest index root: make the rotation's `writing` root first
    (`rotate_index` resumes it) and reseal every account under it, before the rotation
    retires the old root, whose seals would then fail (`accounts/seal.py`)."""
    with transaction(runtime.engine) as session:
        if not any(r.status == KeyStatus.WRITING for r in runtime.keyring.index_roots(session)):
            runtime.keyring.add_index_root(session, status=KeyStatus.WRITING)
    seal.reseal_accounts(runtime.engine, runtime.keyring)


def retention_work(runtime: Runtime, trail: AuditTrail) -> Work:
    """Seal and erase what the retention table says is due, as a job."""

    s = runtime.settings
    policy = RetentionPolicy(
        registration_erase_years=s.retention_registration_erase_years,
        permit_erase_years=s.retention_permit_erase_years,
        casefile_seal_years=s.retention_casefile_seal_years,
        casefile_erase_years=s.retention_casefile_erase_years,
        minor_seal_days=s.retention_minor_seal_days,
        drug_relapse_free_years=s.retention_drug_relapse_free_years,
        person_unlinked_days=s.retention_person_unlinked_days,
    )

    def run(progress: Progress) -> int:
        counts = run_retention(runtime.engine, runtime.keyring, trail, policy=policy, progress=progress)
        with transaction(runtime.engine) as session:
            residence = erase_expired(session, runtime.keyring, trail, policy=policy)
        # Identities last: their records' erasure above is what leaves some with nothing live.
        identities = 0
        while True:
            with transaction(runtime.engine) as session:
                erased = erase_unlinked(session, runtime.keyring, trail, unlinked_days=policy.person_unlinked_days)
            identities += erased
            if erased < IDENTITY_BATCH:
                break
        return counts.sealed + counts.erased + residence.registrations + residence.permits + identities

    return run


SYSTEM = Actor("system")


def resume_interrupted(runtime: Runtime) -> list[uuid.UUID]:
    """At start-up: mark what a stopped process left unfinished `interrupted`, then request
    each interrupted rotation and retention run again as `system` (audited), so that a
    crash never leaves old keys alive or due records in place until someone notices.
    Returns the new jobs' ids; call once the runner is up."""
    started: dict[str, bool] = {}
    for kind, running in mark_interrupted(runtime.engine, runtime.clock):
        started[kind] = started.get(kind, False) or running
    trail = AuditTrail(runtime.clock, SYSTEM)
    resumed: list[tuple[uuid.UUID, Work]] = []
    with transaction(runtime.engine) as session:
        for kind in sorted(started):
            if kind == "retention":
                work, action = retention_work(runtime, trail), Action.RETENTION_RUN
            elif kind.removeprefix("rotation:") in set(RotationTarget):
                # A KEK rotation that had started has its new KEK: finish the rewrap under it.
                target = RotationTarget(kind.removeprefix("rotation:"))
                work, action = rotation_work(runtime, target, resume=started[kind]), Action.KEY_ROTATE
            else:
                continue
            job = create_job(session, runtime.clock, kind=kind, requested_by=SYSTEM.account_id)
            trail.append(session, Event(action, targets=(str(job.id), kind), reason="resumed after an interruption"))
            resumed.append((job.id, work))
    for job_id, work in resumed:
        runtime.jobs.submit(job_id, work)
    return [job_id for job_id, _ in resumed]
