"""Jobs (`security_admin`): rotations, retention runs and the scheduler's sweeps, with their
progress; kinds, counts and account ids only, never personal data. Every read is audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel

from registry.access.policy import Permission
from registry.access.policy import Permission as P
from registry.accounts.schemas import Page
from registry.api.contract import may
from registry.api.deps import ContextDep, SessionDep
from registry.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from registry.api.routing import api_router
from registry.audit.actions import Action
from registry.errors import BadRequest, NotFound
from registry.jobs.models import Job, JobStatus
from registry.jobs.runner import list_jobs

router = api_router(prefix="/api/v1", tags=["keys and retention"])


class JobRead(BaseModel):
    id: uuid.UUID
    kind: str
    status: str
    done: int
    total: int | None
    requested_by: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


@router.get("/jobs", response_model=Page[JobRead], openapi_extra=may(P.KEY_MANAGE))
def list_jobs_route(
    session: SessionDep,
    ctx: ContextDep,
    kind: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_:]+$", examples=["sweep:retention"])] = None,
    status: JobStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[JobRead]:
    """Newest first; `kind` matches exactly, or a prefix ending in `:` (`sweep:` for every sweep)."""
    ctx.principal.require(Permission.KEY_MANAGE)
    rows = list_jobs(session, kind=kind, status=status, before=_position(decode_cursor(cursor)), limit=limit + 1)
    items = [JobRead.model_validate(job, from_attributes=True) for job in rows[:limit]]
    ctx.audit.append(session, ctx.event(Action.JOB_LIST, targets=tuple(str(job.id) for job in items)))
    last = items[-1] if len(rows) > limit else None
    after = None if last is None else encode_cursor(f"{last.created_at.isoformat()}|{last.id}")
    return Page(items=items, next_cursor=after)


def _position(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    try:
        at, _, job_id = cursor.partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when.astimezone(UTC), uuid.UUID(job_id)
    except (ValueError, OverflowError):
        raise BadRequest("cursor is not valid") from None


@router.get("/jobs/{job_id}", response_model=JobRead, openapi_extra=may(P.KEY_MANAGE))
def read_job(session: SessionDep, ctx: ContextDep, job_id: uuid.UUID) -> JobRead:
    ctx.principal.require(Permission.KEY_MANAGE)
    job = session.get(Job, job_id)
    ctx.audit.append(session, ctx.event(Action.JOB_READ, targets=(str(job_id),)))
    if job is None:
        raise NotFound("job not found")
    return JobRead.model_validate(job, from_attributes=True)
