"""The console's one way to the registry: HTTP to the API in the same process, with the
signed-in user's bearer token, the client's address and the page request's id. Each page
declares the API operations it calls (`calls`); a call it did not declare is refused here,
so the list a test prints is the whole of what the console does."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Request

# "GET /console/audit/events" → ("GET /api/v1/audit/events", ...): filled by `pages.page`.
CALLS: dict[str, tuple[str, ...]] = {}


class SignInRequired(Exception):
    """No session, or the API no longer takes its token (expired, revoked): to the login page."""


class Undeclared(Exception):
    """A page called an operation it does not declare: a bug, never served."""


@dataclass
class Answer:
    status: int
    body: Any
    headers: httpx.Headers
    content: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def problem(self) -> str:
        """The API's RFC 9457 detail (or title), for the page to show."""
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or self.body.get("title") or self.status)
        return str(self.status)


def _pattern(template: str) -> re.Pattern[str]:
    method, path = template.split(" ", 1)
    parts = re.split(r"\{[^}]+\}", path)
    return re.compile(re.escape(method) + " " + "[^/]+".join(re.escape(p) for p in parts) + "$")


@dataclass
class Api:
    request: Request
    token: str | None
    made: list[str] = field(default_factory=list)  # "GET /api/v1/..." templates called, for tests

    def _allowed(self, method: str, path: str) -> None:
        route = self.request.scope.get("route")
        page = f"{self.request.method} {getattr(route, 'path', '')}"
        for template in CALLS.get(page, ()):
            if _pattern(template).match(f"{method} {path}"):
                self.made.append(template)
                return
        raise Undeclared(f"{page} does not declare {method} {path}")

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> Answer:
        if not anonymous and self.token is None:
            raise SignInRequired
        state = self.request.state
        sent = {"x-request-id": getattr(state, "request_id", "") or "", **(headers or {})}
        if not anonymous:
            sent["authorization"] = f"Bearer {self.token}"
        # The inner request's client is the page's client: its entries and the login
        # throttle see who is really asking, not the console.
        client = (getattr(state, "client_addr", None) or "127.0.0.1", 0)
        transport = httpx.ASGITransport(app=self.request.app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.internal") as http:
            params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
            outgoing = http.build_request(method, path, params=params, json=json, data=data, headers=sent)
            # Checked on the path as it will be sent (after "..", "?" and "#" are read as a
            # URL reads them), not on the string a page built.
            self._allowed(method, outgoing.url.path)
            answer = await http.send(outgoing)
        if answer.status_code == 401 and not anonymous:
            raise SignInRequired
        is_json = answer.headers.get("content-type", "").split(";")[0] in (
            "application/json",
            "application/problem+json",
        )
        body = answer.json() if is_json and answer.content else None
        return Answer(answer.status_code, body, answer.headers, answer.content)

    async def get(self, path: str, **params: Any) -> Answer:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, **kwargs: Any) -> Answer:
        return await self.call("POST", path, **kwargs)
