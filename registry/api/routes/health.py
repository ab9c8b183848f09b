"""Liveness, readiness and metrics. No personal data, no authentication (loopback/ops)."""

from __future__ import annotations

import hmac
from typing import Annotated

import sqlalchemy as sa
from fastapi import Header, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from registry.api import metrics, problems
from registry.api.deps import RuntimeDep
from registry.api.errors import problem
from registry.api.routing import api_router
from registry.db import schema_is_current

router = api_router(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is not ready"}})
def readyz(request: Request, runtime: RuntimeDep) -> Response:
    checks: dict[str, str] = {}
    try:
        with runtime.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["database"] = "ok" if schema_is_current(runtime.engine) else "schema not migrated"
    except Exception:
        checks["database"] = "unreachable"
    try:
        runtime.provider.check()
        checks["key_provider"] = "ok"
    except Exception:
        checks["key_provider"] = "unavailable"
    thread = getattr(request.app.state, "sequencer_thread", None)
    checks["sequencer"] = "ok" if thread is not None and thread.healthy else "not running"
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    return problem(503, "Not ready", "a dependency is not ready", checks=checks)


@router.get("/metrics", responses={401: {"description": "`REGISTRY_METRICS_TOKEN` is set and was not sent"}})
def prometheus(runtime: RuntimeDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    expected = runtime.settings.metrics_token.get_secret_value()
    if expected and not hmac.compare_digest((authorization or "").encode(), f"Bearer {expected}".encode()):
        return problem(401, "Unauthorized", "the metrics token is required")
    body, content_type = metrics.exposition(runtime)
    return Response(body, media_type=content_type)


@router.get("/problems", include_in_schema=False)
def problem_types() -> HTMLResponse:
    return HTMLResponse(problems.index())


@router.get("/problems/{slug}", include_in_schema=False)
def problem_type(slug: str) -> Response:
    """The page each problem `type` names (RFC 9457: a type URI a person can read)."""
    found = problems.page(slug)
    if found is None:
        return problem(404, "Not found", "no such problem type")
    return HTMLResponse(found)
