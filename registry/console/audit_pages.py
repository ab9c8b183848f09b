"""The auditor's pages: events, one entry and its proof, a person's access report, alerts
by group, the break-glass review queue, checkpoints and the witness."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from registry.console import session
from registry.console.pages import api, failed, page, paged, posted, render, see_other, shown

EVENT_FILTERS = ("actor", "unit", "action", "outcome", "purpose", "target", "since", "until")


_LOCAL_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")


def _in_utc(filters: dict[str, str]) -> dict[str, str]:
    """The form's time fields (a browser's datetime-local, no offset) are UTC, as labelled."""
    return {k: f"{v}:00Z" if k in ("since", "until") and _LOCAL_MINUTE.match(v) else v for k, v in filters.items()}


@page("GET", "/audit/events", "GET /api/v1/audit/events")
async def events(request: Request) -> Response:
    session.require(request)
    client = api(request)
    filters = {k: request.query_params.get(k, "").strip() for k in EVENT_FILTERS}
    answer = await client.get("/api/v1/audit/events", **paged(request, **_in_utc(filters)))
    base = "/console/audit/events?" + urlencode({k: v for k, v in filters.items() if v})
    if not answer.ok:  # a filter the API refused (an unknown username, a bad time): said on the page
        return await render(
            request, client, "events.html", answer.status, filters=filters, base=base, problem=answer.problem, page=None
        )
    return await render(request, client, "events.html", filters=filters, base=base, page=answer.body, problem=None)


@page("GET", "/audit/events/{entry_id}", "GET /api/v1/audit/events/{entry_id}")
async def event(request: Request, entry_id: int) -> Response:
    return await shown(request, f"/api/v1/audit/events/{entry_id}", "event.html", name="entry")


PROOF_CALLS = (
    "GET /api/v1/audit/events/{entry_id}",
    "GET /api/v1/audit/checkpoint",
    "GET /api/v1/audit/verifier-key",
    "GET /api/v1/audit/proofs/inclusion",
    "GET /api/v1/audit/proofs/consistency",
)


@page("GET", "/audit/events/{entry_id}/proof.json", *PROOF_CALLS)
async def proof(request: Request, entry_id: int) -> Response:
    """What the page's script verifies: the entry's bytes, its inclusion proof into the
    newest checkpoint, that checkpoint's signed note, the verifier key, and (given the
    browser's pinned size as `from`) the consistency proof from the pinned tree."""
    session.require(request)
    client = api(request)
    entry = await client.get(f"/api/v1/audit/events/{entry_id}")
    checkpoint = await client.get("/api/v1/audit/checkpoint")
    key = await client.get("/api/v1/audit/verifier-key")
    for answer in (entry, checkpoint, key):
        if not answer.ok:
            return JSONResponse({"detail": answer.problem}, status_code=answer.status)
    seq, size = entry.body["seq"], checkpoint.body["size"]
    if seq is None or seq >= size:
        return JSONResponse({"detail": "not yet in a signed checkpoint: try again in a minute"}, status_code=409)
    inclusion = await client.get("/api/v1/audit/proofs/inclusion", seq=seq, size=size)
    if not inclusion.ok:
        return JSONResponse({"detail": inclusion.problem}, status_code=inclusion.status)
    consistency: dict[str, Any] | None = None
    pinned = request.query_params.get("from", "")
    if pinned.isdecimal() and 0 < int(pinned) < size:
        answer = await client.get("/api/v1/audit/proofs/consistency", **{"from": pinned, "to": size})
        consistency = answer.body if answer.ok else None
    return JSONResponse(
        {
            "entry": {"id": entry.body["id"], "seq": seq, "canonical": entry.body["canonical"]},
            "inclusion": inclusion.body,
            "checkpoint": checkpoint.body,
            "vkey": key.body["vkey"],
            "consistency": consistency,
        }
    )


@page("GET", "/audit/persons")
async def persons(request: Request) -> Response:
    session.require(request)
    asked = request.query_params.get("person_id", "").strip()
    if asked:
        try:
            return see_other(f"/console/audit/persons/{uuid.UUID(asked)}")
        except ValueError:
            pass  # not an id: the form again

    return await render(request, api(request), "accesses.html", person_id=None, page=None)


@page("GET", "/audit/persons/{person_id}", "GET /api/v1/audit/persons/{person_id}/accesses")
async def accesses(request: Request, person_id: uuid.UUID) -> Response:
    path = f"/api/v1/audit/persons/{person_id}/accesses"
    return await shown(request, path, "accesses.html", params=paged(request), person_id=person_id)


@page("GET", "/audit/persons/{person_id}/report.pdf", "GET /api/v1/audit/persons/{person_id}/documents/access-report")
async def access_report_pdf(request: Request, person_id: uuid.UUID) -> Response:
    """The printable report for a data-subject request, as the API prints it."""
    session.require(request)
    client = api(request)
    answer = await client.get(f"/api/v1/audit/persons/{person_id}/documents/access-report")
    if not answer.ok:
        return await failed(request, client, answer)
    disposition = f'attachment; filename="access-report-{person_id}.pdf"'
    return Response(answer.content, media_type="application/pdf", headers={"content-disposition": disposition})


@page("GET", "/audit/alerts", "GET /api/v1/audit/alerts/groups")
async def alerts(request: Request) -> Response:
    return await shown(request, "/api/v1/audit/alerts/groups", "alerts.html", params=paged(request))


@page("GET", "/audit/alerts/group", "GET /api/v1/audit/alerts")
async def alert_group(request: Request) -> Response:
    """One group's alerts, each with the entries it names (drill-down)."""
    chosen = {k: request.query_params.get(k) for k in ("actor", "kind", "day")}
    return await shown(
        request, "/api/v1/audit/alerts", "alert_group.html", params=paged(request, **chosen), chosen=chosen
    )


@page("GET", "/audit/reviews", "GET /api/v1/audit/reviews/queue")
async def reviews(request: Request) -> Response:
    saved = request.query_params.get("saved")
    return await shown(request, "/api/v1/audit/reviews/queue", "reviews.html", params=paged(request), saved=saved)


@page("POST", "/audit/reviews", "POST /api/v1/audit/reviews")
async def review(request: Request) -> Response:
    fields = ("grant_id", "outcome", "follow_up", "reference")
    return await posted(
        request,
        "/api/v1/audit/reviews",
        lambda _: "/console/audit/reviews?saved=1",
        lambda form: {k: form[k] for k in fields if form.get(k)},
    )


@page(
    "GET",
    "/audit/checkpoints",
    "GET /api/v1/audit/checkpoint",
    "GET /api/v1/audit/witness",
    "GET /api/v1/audit/verifier-key",
)
async def checkpoints(request: Request) -> Response:
    session.require(request)
    client = api(request)
    latest = await client.get("/api/v1/audit/checkpoint")
    witness = await client.get("/api/v1/audit/witness")
    key = await client.get("/api/v1/audit/verifier-key")
    for answer in (witness, key):
        if not answer.ok:
            return await failed(request, client, answer)
    return await render(
        request,
        client,
        "checkpoints.html",
        latest=latest.body if latest.ok else None,
        witness=witness.body,
        vkey=key.body["vkey"],
    )
