"""The administrator's pages: users (create, roles, unit, disable, unlock, reset, each a
request a second administrator approves where the API says so), approvals, the org-unit
tree, service accounts. One-time passwords and client secrets are shown once, on the
page answering the request, and kept nowhere."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from registry.console import session
from registry.console.api import Answer, Api
from registry.console.pages import api, failed, form_of, page, paged, posted, render, shown

ROLES = ("police", "civil_affairs", "corrections", "social_worker", "verifier", "auditor", "security_admin", "admin")
SERVICE_ROLES = ("verifier",)


async def _change(request: Request, method: str, path: str, body: Any = None, headers: Any = None) -> Response:
    """A change to an account: done (a one-time secret shown once, here only), or a request
    that waits for a second administrator (202); a refusal shown with its status."""
    client = api(request)
    answer = await client.call(method, path, json=body, headers=headers)
    if not answer.ok:
        return await failed(request, client, answer)
    return await _answered(request, client, answer)


async def _answered(request: Request, client: Api, answer: Answer) -> Response:
    return await render(request, client, "user_done.html", answer=answer.body, pending=answer.status == 202)


@page("GET", "/admin/users", "GET /api/v1/users")
async def users(request: Request) -> Response:
    return await shown(request, "/api/v1/users", "users.html", params=paged(request), roles=ROLES)


@page("POST", "/admin/users", "POST /api/v1/users")
async def create_user(request: Request) -> Response:
    session.require(request)
    values = await form_of(request)
    body = {
        "username": values.get("username"),
        "display_name": values.get("display_name"),
        "org_unit": values.get("org_unit") or None,
        "roles": values["roles"],
    }
    return await _change(request, "POST", "/api/v1/users", body)


@page("GET", "/admin/users/{account_id}", "GET /api/v1/users/{account_id}")
async def user(request: Request, account_id: uuid.UUID) -> Response:
    session.require(request)
    client = api(request)
    answer = await client.get(f"/api/v1/users/{account_id}")
    if not answer.ok:
        return await failed(request, client, answer)
    return await render(request, client, "user.html", user=answer.body, etag=answer.headers.get("etag"), roles=ROLES)


@page("POST", "/admin/users/{account_id}", "PATCH /api/v1/users/{account_id}")
async def update_user(request: Request, account_id: uuid.UUID) -> Response:
    """Roles, unit and status in one change, sent with the version the form was drawn from
    (If-Match): a change made meanwhile by another administrator is not overwritten."""
    session.require(request)
    values = await form_of(request)
    body = {"roles": values["roles"], "org_unit": values.get("org_unit") or None, "status": values.get("status")}
    headers = {"if-match": values.get("etag") or ""}
    return await _change(request, "PATCH", f"/api/v1/users/{account_id}", body, headers)


@page("POST", "/admin/users/{account_id}/unlock", "POST /api/v1/users/{account_id}/unlock")
async def unlock_user(request: Request, account_id: uuid.UUID) -> Response:
    return await posted(request, f"/api/v1/users/{account_id}/unlock", lambda _: f"/console/admin/users/{account_id}")


@page("POST", "/admin/users/{account_id}/password", "POST /api/v1/users/{account_id}/password")
async def reset_password(request: Request, account_id: uuid.UUID) -> Response:
    session.require(request)
    await form_of(request)
    return await _change(request, "POST", f"/api/v1/users/{account_id}/password", {})


@page("GET", "/admin/approvals", "GET /api/v1/account-approvals")
async def approvals(request: Request) -> Response:
    return await shown(request, "/api/v1/account-approvals", "approvals.html", params=paged(request))


@page("POST", "/admin/approvals/{approval_id}/approve", "POST /api/v1/account-approvals/{approval_id}/approve")
async def approve(request: Request, approval_id: uuid.UUID) -> Response:
    session.require(request)
    await form_of(request)
    return await _change(request, "POST", f"/api/v1/account-approvals/{approval_id}/approve")


@page("POST", "/admin/approvals/{approval_id}/reject", "POST /api/v1/account-approvals/{approval_id}/reject")
async def reject(request: Request, approval_id: uuid.UUID) -> Response:
    return await posted(
        request, f"/api/v1/account-approvals/{approval_id}/reject", lambda _: "/console/admin/approvals"
    )


@page("GET", "/admin/org-units", "GET /api/v1/org-units")
async def org_units(request: Request) -> Response:
    """The tree, drawn from each unit's path (all pages of it: a city has hundreds, not more)."""
    session.require(request)
    client = api(request)
    units: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = await client.get("/api/v1/org-units", cursor=cursor, limit=200)
        if not answer.ok:
            return await failed(request, client, answer)
        units += answer.body["items"]
        cursor = answer.body["next_cursor"]
        if cursor is None:
            break
    units.sort(key=lambda u: u["path"])
    for unit in units:
        unit["depth"] = unit["path"].strip("/").count("/")
    return await render(request, client, "org_units.html", units=units)


@page("POST", "/admin/org-units", "POST /api/v1/org-units")
async def create_org_unit(request: Request) -> Response:
    return await posted(
        request,
        "/api/v1/org-units",
        lambda _: "/console/admin/org-units",
        lambda form: {
            "code": form.get("code"),
            "name": form.get("name"),
            "parent_code": form.get("parent_code") or None,
        },
    )


@page("GET", "/admin/service-accounts")
async def service_accounts(request: Request) -> Response:
    session.require(request)
    return await render(request, api(request), "service_accounts.html", roles=SERVICE_ROLES, answer=None)


@page("POST", "/admin/service-accounts", "POST /api/v1/service-accounts")
async def create_service_account(request: Request) -> Response:
    session.require(request)
    values = await form_of(request)
    client = api(request)
    body = {"name": values.get("name"), "org_unit": values.get("org_unit") or None, "roles": values["roles"]}
    answer = await client.post("/api/v1/service-accounts", json=body)
    if not answer.ok:
        return await failed(request, client, answer)
    return await render(request, client, "service_accounts.html", roles=SERVICE_ROLES, answer=answer.body)
