"""Statistics routes (API.md, Statistics): aggregate counts with small cells suppressed.

No personal data leaves here, so no `X-Purpose` is asked for; each read is still audited.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, ConfigDict

from registry import kpis
from registry.access.policy import Permission as P
from registry.api.contract import may
from registry.api.deps import ContextDep, RuntimeDep, SessionDep
from registry.api.routes.residence import PolicyDep
from registry.api.routing import api_router
from registry.casefiles.stats import casefile_stats as casefile_stats_service
from registry.residence import stats

StatsPeriod = Annotated[str, Query(pattern=stats.PERIOD_PATTERN, examples=["2026", "2026-01", "2026-Q1"])]
router = api_router(prefix="/api/v1/stats", tags=["statistics"])


class StatCell(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    value: int | float | None  # None when suppressed
    suppressed: bool


class ResidenceStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_unit: str
    period: str
    as_of: date
    cells: list[StatCell]


@router.get("/residence", response_model=ResidenceStats, responses={404: {}, 422: {}}, openapi_extra=may(P.STATS_READ))
def residence_stats(
    session: SessionDep,
    ctx: ContextDep,
    policy: PolicyDep,
    org_unit: Annotated[str, Query(min_length=1, max_length=15, examples=["320571"])],
    period: StatsPeriod,
) -> ResidenceStats:
    """Counts for the org unit's subtree: registrations in the period, permits by status on
    `as_of` (the period's last day, or today if earlier). Cells below 5 are null with
    `suppressed: true`, and complements are suppressed so none can be recovered by subtraction."""
    return ResidenceStats.model_validate(stats.residence_stats(session, ctx, policy, org_unit=org_unit, period=period))


@router.get("/casefiles", response_model=ResidenceStats, responses={404: {}, 422: {}}, openapi_extra=may(P.STATS_READ))
def casefile_stats(
    session: SessionDep,
    ctx: ContextDep,
    org_unit: Annotated[str, Query(min_length=1, max_length=15, examples=["320571"])],
    period: StatsPeriod,
) -> ResidenceStats:
    """Casefiles open in the period by kind and state, for the kinds the caller's role may
    know of only; cells below 5 suppressed, with complements."""
    return ResidenceStats.model_validate(casefile_stats_service(session, ctx, org_unit=org_unit, period=period))


@router.get("/kpis", response_model=ResidenceStats, responses={404: {}, 422: {}}, openapi_extra=may(P.STATS_READ))
def kpi_stats(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: ContextDep,
    org_unit: Annotated[str, Query(min_length=1, max_length=15, examples=["320571"])],
    period: StatsPeriod,
) -> ResidenceStats:
    """The seed documents' KPIs (README "KPIs") the caller's role may see: for each,
    `kpi.<name>.numerator`, `.denominator` and `.rate` (per 1,000 for `reoffence_per_1000`),
    counts below 5 suppressed with their complements, the rate only when both are published."""
    return ResidenceStats.model_validate(
        kpis.kpis(session, ctx, org_unit=org_unit, period=period, handover_days=runtime.settings.kpi_handover_days)
    )
