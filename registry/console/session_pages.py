"""Signing in and out, the home page, the language."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from registry.console import i18n, session
from registry.console.api import SignInRequired
from registry.console.pages import api, draw, form_text, page, render, see_other


@page("GET", "/login", signed_in=False)
async def login_form(request: Request) -> Response:
    response = Response()
    session.login_nonce(request, response)
    drawn = draw(request, "login.html")
    for value in response.headers.getlist("set-cookie"):
        drawn.headers.append("set-cookie", value)
    return drawn


@page("POST", "/login", "POST /api/v1/auth/token", signed_in=False)
async def login(request: Request) -> Response:
    form = await request.form()
    session.check_form(request, form_text(form.get("csrf")))
    fields = {"grant_type": "password", **{k: form_text(form.get(k)) or "" for k in ("username", "password", "otp")}}
    answer = await api(request).post("/api/v1/auth/token", data=fields, anonymous=True)
    if answer.ok and not answer.body["mfa_pending"]:
        response = see_other("/console")
        session.start(response, answer.body["access_token"], answer.body["expires_in"])
        return response
    if answer.ok:  # a password-only token: the console is for accounts with a second factor
        message = "login-enrol-first"
    elif answer.status == 429:
        message = "login-throttled"
    else:
        message = "login-refused"
    return draw(request, "login.html", 401 if answer.status != 429 else 429, message=message)


@page("POST", "/logout", "POST /api/v1/auth/sign-out", signed_in=False)
async def logout(request: Request) -> Response:
    """The API ends the token (every token of the account), then the cookie goes."""
    form = await request.form()
    session.check_form(request, form_text(form.get("csrf")))
    if session.token(request) is not None:
        client = api(request)
        try:
            answer = await client.post("/api/v1/auth/sign-out")
        except SignInRequired:
            pass  # the token was already dead
        else:
            if not answer.ok:  # the token lives on: say so, keep the session
                return draw(request, "problem.html", answer.status, problem=answer.problem)
    response = see_other("/console/login")
    session.end(response)
    return response


@page("GET", "")
async def home(request: Request) -> Response:
    session.require(request)
    return await render(request, api(request), "home.html")


@page("GET", "/language/{code}", signed_in=False)
async def choose_language(request: Request, code: str) -> Response:
    response = see_other("/console")
    if code in i18n.LANGUAGES:
        response.set_cookie(session.LANGUAGE_COOKIE, code, secure=True, samesite="strict", path="/console")
    return response
