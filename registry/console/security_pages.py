"""The security administrator's pages: key versions and rotations with live progress,
retention and scheduler runs (jobs), the health of the key provider."""

from __future__ import annotations

import uuid

from fastapi import Request
from fastapi.responses import Response

from registry.console import session
from registry.console.api import Answer
from registry.console.pages import api, failed, page, paged, posted, render, shown

TARGETS = ("kek", "dek", "index", "credential")


def _job_page(answer: Answer) -> str:
    return f"/console/security/jobs/{answer.body['job_id']}"


@page("GET", "/security/keys", "GET /api/v1/keys")
async def keys(request: Request) -> Response:
    return await shown(request, "/api/v1/keys", "keys.html", name="keys", targets=TARGETS)


@page("POST", "/security/keys/rotations", "POST /api/v1/keys/rotations")
async def rotate(request: Request) -> Response:
    return await posted(request, "/api/v1/keys/rotations", _job_page, lambda form: {"target": form.get("target")})


@page("POST", "/security/retention", "POST /api/v1/retention/runs")
async def retention(request: Request) -> Response:
    return await posted(request, "/api/v1/retention/runs", _job_page)


@page("GET", "/security/jobs", "GET /api/v1/jobs")
async def jobs(request: Request) -> Response:
    """Rotations, retention runs and the scheduler's sweeps (`sweep:`), newest first."""
    kind = request.query_params.get("kind") or None
    return await shown(request, "/api/v1/jobs", "jobs.html", params=paged(request, kind=kind), kind=kind)


@page("GET", "/security/jobs/{job_id}", "GET /api/v1/jobs/{job_id}")
async def job(request: Request, job_id: uuid.UUID) -> Response:
    """One job; its progress block reloads itself (htmx) until the job has finished."""
    template = "job_progress.html" if request.headers.get("hx-request") == "true" else "job.html"
    return await shown(request, f"/api/v1/jobs/{job_id}", template, name="job")


@page("GET", "/security/health", "GET /readyz")
async def health(request: Request) -> Response:
    session.require(request)
    client = api(request)
    answer = await client.get("/readyz")  # 503 when a dependency is not ready: drawn, not refused
    checks = answer.body.get("checks", {}) if isinstance(answer.body, dict) else {}
    if answer.status not in (200, 503):
        return await failed(request, client, answer)
    return await render(request, client, "health.html", checks=checks, ready=answer.ok)
