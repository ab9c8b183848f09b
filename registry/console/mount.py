"""The console on the service's own app: its pages, its files, its headers and errors."""

from __future__ import annotations

import hashlib
import hmac
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.console import admin_pages, audit_pages, security_pages, session, session_pages  # noqa: F401  (routes)
from registry.console.api import SignInRequired
from registry.console.pages import draw, router, see_other

# Scripts and styles are the console's own files (htmx vendored): no inline script or
# style, no eval, nothing from another host, never framed.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # same-origin, not no-referrer: under no-referrer Chromium sends "Origin: null" with a
    # form, and the CSRF check must see the real origin. Nothing goes to another site.
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def install_console(app: FastAPI, *, secret: bytes) -> None:
    """`secret`: the service's token secret; the console's CSRF key is derived from it."""
    app.state.console_secret = hmac.new(secret, b"registry console csrf", hashlib.sha256).digest()
    app.include_router(router)
    static = StaticFiles(directory=str(resources.files("registry.console") / "static"))
    app.mount("/console/static", static, name="console_static")
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(session.CsrfRefused, _csrf_refused)
    app.add_middleware(ConsoleHeaders)


async def _sign_in(request: Request, exc: Exception) -> Response:
    response = see_other("/console/login")
    if session.token(request) is not None:  # the API refused the token sent: forget it
        session.end(response)
    # else nothing to forget: a link from another site arrives without the SameSite=Strict
    # cookie, and deleting it then would sign the user out from anywhere.
    return response


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    return draw(request, "problem.html", 403, problem="csrf-refused")


class ConsoleHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/console"):
            return await self.app(scope, receive, send)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)
