"""Retention runs and legal holds (`security_admin`): ids and counts only, no personal data."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from registry.access.policy import Permission
from registry.access.policy import Permission as P
from registry.api.contract import may
from registry.api.deps import ContextDep, RuntimeDep, SessionDep, get_uow
from registry.api.middleware import UnitOfWork
from registry.api.routes.keys import JobAccepted
from registry.api.routing import api_router
from registry.audit.actions import Action
from registry.jobs.runner import create_job
from registry.maintenance import retention_work
from registry.people.holds import set_legal_hold

router = api_router(prefix="/api/v1", tags=["keys and retention"])


@router.post("/retention/runs", status_code=202, response_model=JobAccepted, openapi_extra=may(P.RETENTION_RUN))
def start_retention_run(
    runtime: RuntimeDep, session: SessionDep, ctx: ContextDep, uow: Annotated[UnitOfWork, Depends(get_uow)]
) -> JobAccepted:
    """Seal and erase what is due; poll `GET /api/v1/jobs/{job_id}`."""
    ctx.principal.require(Permission.RETENTION_RUN)
    job = create_job(session, ctx.clock, kind="retention", requested_by=str(ctx.principal.account_id))
    ctx.audit.append(session, ctx.event(Action.RETENTION_RUN, targets=(str(job.id),)))
    uow.after_commit.append(lambda: runtime.jobs.submit(job.id, retention_work(runtime, ctx.audit)))
    return JobAccepted(job_id=job.id)


@router.put("/holds/{record_id}", status_code=204, openapi_extra=may(P.RETENTION_RUN))
def place_hold(session: SessionDep, ctx: ContextDep, record_id: uuid.UUID) -> None:
    ctx.principal.require(Permission.RETENTION_RUN)
    set_legal_hold(session, ctx.audit, record_id=record_id, held=True)


@router.delete("/holds/{record_id}", status_code=204, openapi_extra=may(P.RETENTION_RUN))
def lift_hold(session: SessionDep, ctx: ContextDep, record_id: uuid.UUID) -> None:
    ctx.principal.require(Permission.RETENTION_RUN)
    set_legal_hold(session, ctx.audit, record_id=record_id, held=False)
