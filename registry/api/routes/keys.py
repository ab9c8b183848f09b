"""Key administration (`security_admin`): what keys exist (never their material), rotations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from pydantic import BaseModel, ConfigDict

from registry.access.policy import Permission
from registry.access.policy import Permission as P
from registry.api.contract import may
from registry.api.deps import ContextDep, RuntimeDep, SessionDep, get_uow
from registry.api.middleware import UnitOfWork
from registry.api.routing import api_router
from registry.audit.actions import Action
from registry.crypto.rotation import key_status
from registry.jobs.runner import create_job
from registry.maintenance import RotationTarget, rotation_work

router = api_router(prefix="/api/v1", tags=["keys and retention"])


class KeyRead(BaseModel):
    id: str
    purpose: str
    suite: str
    version: int
    status: str
    count: int
    created_at: datetime | None


class RotationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: RotationTarget


class JobAccepted(BaseModel):
    job_id: uuid.UUID


@router.get("/keys", response_model=list[KeyRead], openapi_extra=may(P.KEY_MANAGE))
def list_keys(runtime: RuntimeDep, session: SessionDep, ctx: ContextDep) -> list[KeyRead]:
    ctx.principal.require(Permission.KEY_MANAGE)
    return [
        KeyRead(
            id=f"{r.purpose}:v{r.version}",
            purpose=r.purpose,
            suite=runtime.keyring.suite,
            version=r.version,
            status=r.status,
            count=r.count,
            created_at=r.created_at,
        )
        for r in key_status(session, runtime.keyring)
    ]


@router.post("/keys/rotations", status_code=202, response_model=JobAccepted, openapi_extra=may(P.KEY_MANAGE))
def start_rotation(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: ContextDep,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    body: RotationRequest,
) -> JobAccepted:
    """Starts an online rotation; poll `GET /api/v1/jobs/{job_id}`."""
    ctx.principal.require(Permission.KEY_MANAGE)
    job = create_job(session, ctx.clock, kind=f"rotation:{body.target}", requested_by=str(ctx.principal.account_id))
    ctx.audit.append(session, ctx.event(Action.KEY_ROTATE, targets=(str(job.id), str(body.target))))
    # The job row must be committed before the worker looks for it.
    uow.after_commit.append(lambda: runtime.jobs.submit(job.id, rotation_work(runtime, body.target)))
    return JobAccepted(job_id=job.id)
