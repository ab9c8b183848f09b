"""Monthly reports per unit (issue 15): the draft, submission (frozen and signed), revisions
and their versions, as JSON, CSV or XLSX. Aggregates only; every call is audited."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from registry.access.policy import Permission as P
from registry.api.contract import may
from registry.api.deps import ContextDep, RuntimeDep, SessionDep
from registry.api.routes.residence import PolicyDep
from registry.api.routing import api_router
from registry.reports import service
from registry.reports.formats import FORMATS, render
from registry.reports.models import MonthlyReport
from registry.reports.service import DEPARTMENTS, RevisionReason, Signer
from registry.runtime import Runtime

router = api_router(prefix="/api/v1/reports/monthly", tags=["statistics"])
Format = Literal["json", "csv", "xlsx"]
Period = Annotated[str, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-01"])]
Unit = Annotated[str, Query(min_length=1, max_length=15, examples=["320571"])]
Department = Annotated[str, Query(json_schema_extra={"enum": [d.value for d in DEPARTMENTS]})]
FILES: dict[int | str, dict[str, Any]] = {200: {"content": {media: {} for media in FORMATS.values()}}}


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_unit: Annotated[str, StringConstraints(min_length=1, max_length=15)]
    period: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    department: Annotated[str, StringConstraints(max_length=16)]


class RevisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason_code: RevisionReason
    reference: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9./-]{0,63}$")] | None = None


class ReportVersion(BaseModel):
    id: uuid.UUID
    org_unit: str
    period: str
    department: str
    version: int
    supersedes: uuid.UUID | None
    reason_code: str | None
    reference: str | None
    submitted_by: str
    submitted_at: datetime
    signed_note: str


def _signer(runtime: Runtime) -> Signer:
    provider = runtime.provider
    return Signer(provider.sign, provider.public_key(), runtime.settings.audit_origin)


def _version(report: MonthlyReport) -> ReportVersion:
    return ReportVersion(
        id=report.id,
        org_unit=report.org_unit_code,
        period=report.period,
        department=report.department,
        version=report.version,
        supersedes=report.supersedes,
        reason_code=report.reason_code,
        reference=report.reference,
        submitted_by=report.submitted_by,
        submitted_at=report.submitted_at,
        signed_note=report.signed_note,
    )


def _file(document: dict[str, Any], fmt: str) -> Response:
    body, media = render(document, fmt)
    return Response(content=body, media_type=media)


@router.get("/draft", responses=FILES, openapi_extra=may(P.STATS_READ))
def draft(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: ContextDep,
    policy: PolicyDep,
    org_unit: Unit,
    period: Period,
    department: Department,
    format: Format = "json",
) -> Response:
    """The month's cells as they stand now: what a submission would freeze."""
    content = service.draft(
        session,
        ctx,
        _signer(runtime),
        policy,
        org_unit=org_unit,
        period=period,
        department=department,
        handover_days=runtime.settings.kpi_handover_days,
    )
    return _file(content, format)


@router.post(
    "", status_code=201, response_model=ReportVersion, responses={409: {}, 422: {}}, openapi_extra=may(P.STATS_READ)
)
def submit(
    runtime: RuntimeDep, session: SessionDep, ctx: ContextDep, policy: PolicyDep, body: ReportRequest
) -> ReportVersion:
    """Submit the month to the unit above: frozen and signed; 409 once submitted (revise it)."""
    signer, days = _signer(runtime), runtime.settings.kpi_handover_days
    content = service.draft(session, ctx, signer, policy, **body.model_dump(), handover_days=days)
    return _version(service.submit(session, ctx, signer, content))


@router.post(
    "/{report_id}/revisions",
    status_code=201,
    response_model=ReportVersion,
    responses={404: {}, 409: {}},
    openapi_extra=may(P.STATS_READ),
)
def revise(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: ContextDep,
    policy: PolicyDep,
    report_id: uuid.UUID,
    body: RevisionRequest,
) -> ReportVersion:
    """A new version of the newest one, with a coded reason; both are kept. Counts that moved
    by less than 5 suppress their whole table in the revision."""
    previous = service.readable(session, ctx, report_id)
    content = service.draft(
        session,
        ctx,
        _signer(runtime),
        policy,
        org_unit=previous.org_unit_code,
        period=previous.period,
        department=previous.department,
        handover_days=runtime.settings.kpi_handover_days,
    )
    revised = service.revise(
        session, ctx, _signer(runtime), previous, content, reason_code=body.reason_code, reference=body.reference
    )
    return _version(revised)


@router.get("", response_model=list[ReportVersion], openapi_extra=may(P.STATS_READ))
def versions(
    runtime: RuntimeDep, session: SessionDep, ctx: ContextDep, org_unit: Unit, period: Period, department: Department
) -> list[ReportVersion]:
    """Every submitted version of the unit's month, oldest first (409 if one was altered or removed)."""
    rows = service.versions(session, ctx, _signer(runtime), org_unit=org_unit, period=period, department=department)
    return [_version(r) for r in rows]


@router.get("/{report_id}", responses={**FILES, 404: {}, 409: {}}, openapi_extra=may(P.STATS_READ))
def read(
    runtime: RuntimeDep, session: SessionDep, ctx: ContextDep, report_id: uuid.UUID, format: Format = "json"
) -> Response:
    """A submitted version, once its signature and hash verify (409 if the row was altered)."""
    report, content = service.read(session, ctx, _signer(runtime), report_id)
    return _file({"id": str(report.id), **content}, format)
