"""The console's session: the API's own bearer token in a cookie the page's scripts cannot
read (HttpOnly), sent only to this site (SameSite=Strict, `__Host-`: this host, path /,
Secure). It dies when the token does: disabling, re-roling or a password change revokes
it as it revokes any token, and logins count toward the same lockout (they are the API's).
Forms carry a CSRF token bound to the session (an HMAC of its token), and the login form
one bound to a nonce cookie of its own."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response

from registry.console import i18n
from registry.console.api import SignInRequired

SESSION_COOKIE = "__Host-registry-console"
LOGIN_COOKIE = "__Host-registry-console-login"
LANGUAGE_COOKIE = i18n.LANGUAGE_COOKIE


class CsrfRefused(Exception):
    """A form without this session's CSRF token, or from another origin."""


def _secret(request: Request) -> bytes:
    secret: bytes = request.app.state.console_secret
    return secret


def token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def _mac(request: Request, purpose: str, value: str) -> str:
    return hmac.new(_secret(request), f"{purpose}\n{value}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token a form of this session carries (the login form's before there is one)."""
    session = token(request)
    if session is not None:
        return _mac(request, "csrf", session)
    nonce = request.cookies.get(LOGIN_COOKIE) or getattr(request.state, "console_login_nonce", None)
    return _mac(request, "login", nonce) if nonce is not None else ""


def check_form(request: Request, submitted: str | None) -> None:
    """Every POST: same origin (when the browser says), and the CSRF token of this session."""
    origin = request.headers.get("origin")
    # The host, not the scheme: behind a TLS proxy the service itself is spoken to in http.
    if origin is not None and urlsplit(origin).netloc != request.url.netloc:
        raise CsrfRefused
    expected = csrf_token(request)
    if not expected or submitted is None or not hmac.compare_digest(submitted, expected):
        raise CsrfRefused


def login_nonce(request: Request, response: Response) -> None:
    """The login form's own cookie (double submit: an attacker's page cannot read or set it)."""
    if request.cookies.get(LOGIN_COOKIE) is None:
        nonce = secrets.token_urlsafe(32)
        request.state.console_login_nonce = nonce
        response.set_cookie(LOGIN_COOKIE, nonce, secure=True, httponly=True, samesite="strict", path="/")


def start(response: Response, access_token: str, lifetime_s: int) -> None:
    response.set_cookie(
        SESSION_COOKIE, access_token, max_age=lifetime_s, secure=True, httponly=True, samesite="strict", path="/"
    )
    response.delete_cookie(LOGIN_COOKIE, secure=True, httponly=True, samesite="strict", path="/")


def end(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, secure=True, httponly=True, samesite="strict", path="/")


def require(request: Request) -> str:
    found = token(request)
    if found is None:
        raise SignInRequired
    return found
