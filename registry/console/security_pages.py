"""The security administrator's pages: key versions and rotations with live progress,
retention and scheduler runs (jobs), the health of the key provider."""

from __future__ import annotations

import uuid

from fastapi import Request
from fastapi.responses import Response

from registry.console import session
from registry.console.pages import api, failed, form_text, page, render, see_other

TARGETS = ("kek", "dek", "index", "credential")


@page("GET", "/security/keys", "GET /api/v1/keys")
async def keys(request: Request) -> Response:
    session.require(request)
    client = api(request)
    answer = await client.get("/api/v1/keys")
    if not answer.ok:
        return await failed(request, client, answer)
    return await render(request, client, "keys.html", keys=answer.body, targets=TARGETS)


@page("POST", "/security/keys/rotations", "POST /api/v1/keys/rotations")
async def rotate(request: Request) -> Response:
    session.require(request)
    form = await request.form()
    session.check_form(request, form_text(form.get("csrf")))
    client = api(request)
    answer = await client.post("/api/v1/keys/rotations", json={"target": form_text(form.get("target"))})
    if not answer.ok:
        return await failed(request, client, answer)
    return see_other(f"/console/security/jobs/{answer.body['job_id']}")


@page("POST", "/security/retention", "POST /api/v1/retention/runs")
async def retention(request: Request) -> Response:
    session.require(request)
    form = await request.form()
    session.check_form(request, form_text(form.get("csrf")))
    client = api(request)
    answer = await client.post("/api/v1/retention/runs")
    if not answer.ok:
        return await failed(request, client, answer)
    return see_other(f"/console/security/jobs/{answer.body['job_id']}")


@page("GET", "/security/jobs", "GET /api/v1/jobs")
async def jobs(request: Request) -> Response:
    """Rotations, retention runs and the scheduler's sweeps (`sweep:`), newest first."""
    session.require(request)
    client = api(request)
    kind = request.query_params.get("kind") or None
    answer = await client.get("/api/v1/jobs", kind=kind, cursor=request.query_params.get("cursor"), limit=50)
    if not answer.ok:
        return await failed(request, client, answer)
    return await render(request, client, "jobs.html", page=answer.body, kind=kind)


@page("GET", "/security/jobs/{job_id}", "GET /api/v1/jobs/{job_id}")
async def job(request: Request, job_id: uuid.UUID) -> Response:
    """One job; its progress block reloads itself (htmx) until the job has finished."""
    session.require(request)
    client = api(request)
    answer = await client.get(f"/api/v1/jobs/{job_id}")
    if not answer.ok:
        return await failed(request, client, answer)
    template = "job_progress.html" if request.headers.get("hx-request") == "true" else "job.html"
    return await render(request, client, template, job=answer.body)


@page("GET", "/security/health", "GET /readyz")
async def health(request: Request) -> Response:
    session.require(request)
    client = api(request)
    answer = await client.get("/readyz")
    checks = answer.body.get("checks", {}) if isinstance(answer.body, dict) else {}
    return await render(request, client, "health.html", checks=checks, ready=answer.ok)
